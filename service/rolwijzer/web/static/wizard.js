// The intake wizard: asks the first missing fact of the last decision, then the follow-up facts (safety first, as
// the server orders them) until none is left or the user is done; every answer can be changed or cleared.

import { ApiError, call, isoDate } from "./api.js";
import { UNKNOWN, answerLabel, makeAnswer, parseNumber } from "./answers.js";
import { renderDecision } from "./decision.js";
import { el, setBusy, showError } from "./dom.js";
import { applyPageStrings, currentLanguage, t } from "./i18n.js";
import { scenarioDocument, toYaml } from "./scenario.js";

const state = {
  language: currentLanguage(),
  /** @type {Map<string, object>} */ catalogue: new Map(),
  /** @type {Map<string, {fact: string, value: object, plain: unknown, chosen: any}>} */ answers: new Map(),
  decision: null,
  following: false, // role and liability are settled: the decisions carry follow-up facts (DECISION_VIEW_FULL)
  stopped: false, // the user chose "done"
  editing: null, // the fact whose answer is being changed
  current: null, // {fact, followUp, safety}: the question asked now
};

const $ = (id) => document.getElementById(id);

function words() {
  return {
    dontKnow: t(state.language, "dontKnow"),
    none: t(state.language, "none"),
    decimal: state.language === "nl" ? "," : ".",
  };
}


function applyStrings() {
  applyPageStrings(state.language, "intakeTitle");
}

async function loadCatalogue() {
  const described = await call("DescribeRuleSet", { language: state.language });
  state.catalogue = new Map((described.facts || []).map((f) => [f.name, f]));
}

async function evaluate(full) {
  const facts = {};
  for (const [name, answer] of state.answers) facts[name] = answer.value;
  const request = { facts, language: state.language, view: full ? "DECISION_VIEW_FULL" : "DECISION_VIEW_BASIC" };
  return (await call("Evaluate", request)).decision || {};
}

/** Decide on the answers so far and choose the next question. */
async function advance() {
  setBusy(true);
  showError($("error"), "", null);
  try {
    const unanswered = (items) => (items || []).filter((m) => !state.answers.has(m.fact));
    let decision = await evaluate(state.following);
    let pending = unanswered(decision.missingFacts);
    if (pending.length) {
      state.following = false;
    } else if (!state.following) {
      state.following = true;
      decision = await evaluate(true);
      pending = unanswered(decision.missingFacts);
    }
    state.decision = decision;
    if (pending.length) {
      state.current = { fact: pending[0].fact, followUp: false, safety: false };
    } else {
      const next = state.stopped ? [] : unanswered(decision.followUpFacts);
      state.current = next.length ? { fact: next[0].fact, followUp: true, safety: !!next[0].safetyRelated } : null;
    }
    render();
  } catch (err) {
    fail(err);
  } finally {
    setBusy(false);
  }
}

function fail(err) {
  const error =
    err instanceof ApiError
      ? err
      : { message: String(err && err.message ? err.message : err), code: "", details: [] };
  const heading = error.code === "unavailable" ? t(state.language, "unreachable") : t(state.language, "errorHeading");
  showError($("error"), heading, error);
  $("error").focus();
}

function render() {
  renderQuestion();
  renderAnswers();
  renderDecisionPart();
}

function renderQuestion() {
  const box = $("question");
  box.replaceChildren();
  const name = state.editing || (state.current && state.current.fact);
  const status = $("status");
  if (!name) {
    status.textContent = state.decision ? t(state.language, state.stopped ? "stopped" : "finished") : "";
    const actions = el("div", { class: "actions" });
    const open = (state.decision && state.decision.followUpFacts) || [];
    if (state.stopped && open.some((f) => !state.answers.has(f.fact))) {
      const resume = el("button", { type: "button", id: "resume", text: t(state.language, "resume") });
      resume.addEventListener("click", () => {
        state.stopped = false;
        advance();
      });
      actions.append(resume);
    }
    if (actions.childElementCount) box.append(actions);
    return;
  }
  status.textContent = "";
  const fact = state.catalogue.get(name);
  if (!fact) {
    fail(new ApiError("not_found", `${name}: not in the facts catalogue`));
    return;
  }
  box.append(questionForm(fact, state.editing ? state.answers.get(name) : null));
}

function questionForm(fact, previous) {
  const lang = state.language;
  const editing = !!state.editing;
  const form = el("form", { id: "question-form", "data-fact": fact.name, novalidate: true });
  const heading = el("h2", {
    id: "question-heading",
    tabindex: "-1",
    text: t(lang, editing ? "editingHeading" : "questionHeading"),
  });
  const fieldset = el("fieldset", { "aria-describedby": fact.help ? "question-help" : null });
  const legend = el("legend", { id: "question-text", text: fact.question || fact.name });
  fieldset.append(legend);
  let intro = null;
  if (!editing && state.current && state.current.followUp) {
    intro = el("p", { class: "muted", id: "follow-up-intro", text: t(lang, "followUpIntro") });
    if (state.current.safety) fieldset.append(el("span", { class: "badge safety", text: t(lang, "safety") }));
  }
  if (fact.help) fieldset.append(el("p", { id: "question-help", class: "help", text: fact.help }));
  const problem = el("p", { id: "question-problem", class: "problem", role: "alert", hidden: true });
  const unknownLabel =
    (fact.symbols || []).find((s) => s.value === UNKNOWN)?.label || t(lang, "dontKnow");
  const symbols = (fact.symbols || []).filter((s) => s.value !== UNKNOWN);
  const before = previous ? previous.chosen : undefined;
  const actions = el("div", { class: "actions" });
  const submit = el("button", { type: "submit", class: "primary", id: "next", text: t(lang, "next") });
  actions.append(submit);
  let unknownButton = null;

  if (fact.kind === "FACT_KIND_NUMBER") {
    const input = el("input", {
      id: "number-input",
      name: "number",
      type: "text",
      inputmode: "decimal",
      autocomplete: "off",
      "aria-describedby": "number-hint question-problem",
      value: typeof before === "number" ? String(before).replace(".", lang === "nl" ? "," : ".") : "",
    });
    fieldset.append(
      el("div", { class: "number-row" }, [
        el("label", { for: "number-input", text: `${t(lang, "numberLabel")}${fact.unit ? ` (${fact.unit})` : ""}` }),
        input,
        fact.unit ? el("span", { class: "unit", "aria-hidden": "true", text: fact.unit }) : null,
      ]),
      el("p", { id: "number-hint", class: "muted", text: t(lang, "numberHint") }),
    );
  } else if (fact.kind === "FACT_KIND_SET") {
    const chosen = new Set(Array.isArray(before) ? before : []);
    fieldset.append(el("p", { class: "muted", text: t(lang, "noneApply") }));
    symbols.forEach((symbol, index) => {
      const id = `choice-${index}`;
      fieldset.append(
        el("div", { class: "choice" }, [
          el("input", { type: "checkbox", id, name: "choice", value: symbol.value, checked: chosen.has(symbol.value) }),
          el("label", { for: id, text: symbol.label || symbol.value }),
        ]),
      );
    });
  } else {
    const choices = symbols.map((s) => [s.value, s.label || s.value]);
    if (fact.unknownAllowed) choices.push([UNKNOWN, unknownLabel]);
    choices.forEach(([value, label], index) => {
      const id = `choice-${index}`;
      fieldset.append(
        el("div", { class: "choice" }, [
          el("input", { type: "radio", id, name: "choice", value, checked: before === value }),
          el("label", { for: id, text: label }),
        ]),
      );
    });
  }
  if (fact.unknownAllowed && (fact.kind === "FACT_KIND_NUMBER" || fact.kind === "FACT_KIND_SET")) {
    unknownButton = el("button", { type: "submit", id: "dont-know", value: UNKNOWN, text: unknownLabel });
    actions.append(unknownButton);
  }
  if (editing) {
    const cancel = el("button", { type: "button", id: "cancel", text: t(lang, "cancel") });
    cancel.addEventListener("click", () => {
      state.editing = null;
      render();
    });
    actions.append(cancel);
  } else if (state.current && state.current.followUp) {
    const stop = el("button", { type: "button", id: "stop", text: t(lang, "done") });
    stop.addEventListener("click", () => {
      state.stopped = true;
      state.current = null;
      render();
      $("decision-heading").focus();
    });
    actions.append(stop);
  }
  form.append(heading, intro || "", fieldset, problem, actions);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const said = (text) => {
      problem.textContent = text;
      problem.hidden = false;
    };
    let chosen;
    if (event.submitter && event.submitter.value === UNKNOWN) {
      chosen = UNKNOWN;
    } else if (fact.kind === "FACT_KIND_NUMBER") {
      const input = form.querySelector("#number-input");
      const number = parseNumber(input.value);
      if (number === null || number < 0) {
        input.setAttribute("aria-invalid", "true");
        said(number === null ? t(lang, "numberInvalid", { text: input.value.trim() }) : t(lang, "numberNegative"));
        input.focus();
        return;
      }
      chosen = number;
    } else if (fact.kind === "FACT_KIND_SET") {
      chosen = [...form.querySelectorAll("input[name=choice]:checked")].map((box) => box.value);
    } else {
      const picked = form.querySelector("input[name=choice]:checked");
      if (!picked) {
        said(t(lang, "chooseOne"));
        form.querySelector("input[name=choice]")?.focus();
        return;
      }
      chosen = picked.value;
    }
    state.answers.set(fact.name, makeAnswer(fact, chosen));
    state.editing = null;
    advance().then(() => ($("question-heading") || $("decision-heading")).focus());
  });
  return form;
}

function renderAnswers() {
  const list = $("answers-list");
  list.replaceChildren();
  $("no-answers").hidden = state.answers.size > 0;
  for (const [name, answer] of state.answers) {
    const fact = state.catalogue.get(name) || { name, question: name, symbols: [] };
    const change = el("button", {
      type: "button",
      class: "small",
      "data-action": "change",
      "aria-label": t(state.language, "changeAnswer", { q: fact.question }),
      text: t(state.language, "change"),
    });
    change.addEventListener("click", () => {
      state.editing = name;
      renderQuestion();
      $("question-heading")?.focus();
    });
    const remove = el("button", {
      type: "button",
      class: "small",
      "data-action": "remove",
      "aria-label": t(state.language, "removeAnswer", { q: fact.question }),
      text: t(state.language, "remove"),
    });
    remove.addEventListener("click", () => {
      state.answers.delete(name);
      if (state.editing === name) state.editing = null;
      advance();
    });
    list.append(
      el("li", { "data-fact": name }, [
        el("span", { class: "answer-question", text: fact.question }),
        el("strong", { class: "answer-value", text: answerLabel(fact, answer, words()) }),
        el("span", { class: "answer-actions" }, [change, remove]),
      ]),
    );
  }
}

function renderDecisionPart() {
  const box = $("decision");
  const body = $("decision-body");
  if (!state.decision) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  body.replaceChildren(
    ...renderDecision(state.language, state.decision, state.catalogue, {
      stopped: state.stopped || !state.current,
      answered: new Set(state.answers.keys()),
    }),
  );
  $("export").hidden = false;
  $("export-status").textContent = "";
  $("export-text").value = scenarioYaml();
  updateDownload();
}

function scenarioYaml() {
  const now = new Date();
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const day = isoDate(state.decision.ruleSet && state.decision.ruleSet.referenceDate);
  const facts = [...state.answers].map(([name, answer]) => [name, answer.plain]);
  const document_ = scenarioDocument(
    `intake-${stamp}`,
    t(state.language, "exportName", { date: day || now.toISOString().slice(0, 10) }),
    facts,
    state.decision,
    day,
  );
  return toYaml(document_);
}

let downloadUrl = null;
function updateDownload() {
  const text = $("export-text").value;
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
  const link = $("export-download");
  link.href = downloadUrl;
  const id = (text.match(/^- id: (\S+)/m) || [])[1] || "intake";
  link.setAttribute("download", `${id}.yaml`);
}

async function copyScenario() {
  const text = scenarioYaml();
  $("export-text").value = text;
  updateDownload();
  const status = $("export-status");
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = t(state.language, "exportCopied");
  } catch {
    $("export-text").select();
    status.textContent = t(state.language, "exportNotCopied");
  }
}

/** Load the questions in the page's language, then ask the next one (or show the decision). */
async function loadAndAdvance() {
  setBusy(true);
  try {
    await loadCatalogue();
  } catch (err) {
    setBusy(false);
    fail(err);
    return;
  }
  await advance();
}

async function switchLanguage() {
  state.language = state.language === "nl" ? "en" : "nl";
  applyStrings();
  await loadAndAdvance();
}

async function start() {
  applyStrings();
  $("language-toggle").addEventListener("click", switchLanguage);
  $("restart").addEventListener("click", () => {
    state.answers.clear();
    Object.assign(state, { following: false, stopped: false, editing: null, current: null, decision: null });
    advance();
  });
  $("export-copy").addEventListener("click", copyScenario);
  await loadAndAdvance();
}

start();
