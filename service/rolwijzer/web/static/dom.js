// Small DOM helpers shared by both pages. Every text from the API is set as text, never as HTML.

/**
 * Create an element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string | boolean | number | null | undefined>} [attrs] attributes; `class` and `text` too
 * @param {Array<Node | string | null | undefined | false>} [children]
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/**
 * A list of citations: each its title and its reference.
 * @param {Array<{source?: string, reference?: string, title?: string}> | undefined} citations
 * @returns {HTMLElement | null} a <ul class="citations">, or null when there are none
 */
export function citationList(citations) {
  if (!citations || citations.length === 0) return null;
  return el(
    "ul",
    { class: "citations" },
    citations.map((c) =>
      el("li", {}, [el("cite", { text: c.title || c.source || "" }), c.reference ? ` — ${c.reference}` : ""]),
    ),
  );
}

/**
 * Show an API error (its message and detail lines) in the page's alert region.
 * @param {HTMLElement} region an element with role="alert"
 * @param {string} heading
 * @param {{message: string, code?: string, details?: string[]} | null} error null clears the region
 */
export function showError(region, heading, error) {
  region.replaceChildren();
  region.hidden = !error;
  if (!error) return;
  region.append(
    el("h2", { text: heading }),
    el("p", { class: "error-message" }, [error.message, error.code ? ` (${error.code})` : ""]),
  );
  if (error.details && error.details.length) {
    region.append(el("ul", {}, error.details.map((line) => el("li", { text: line }))));
  }
}

/**
 * Mark the page busy (a call is under way) or ready: for assistive technology (`aria-busy`), the visible
 * "busy" line, and tests (`data-state` on the body).
 * @param {boolean} busy
 */
export function setBusy(busy) {
  document.body.dataset.state = busy ? "busy" : "ready";
  document.getElementById("main").setAttribute("aria-busy", busy ? "true" : "false");
  document.getElementById("busy").hidden = !busy;
}
