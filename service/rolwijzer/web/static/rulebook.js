// The rulebook at /regels: every rule of a release by stage (anchor = rule id), the catalogue of facts, codes and
// parameters, and the differences between two releases chosen by the user.

import { call, isoDate } from "./api.js";
import { citationList, el, setBusy, showError } from "./dom.js";
import { applyPageStrings, currentLanguage, fieldName, stageName, t } from "./i18n.js";

const state = { language: currentLanguage(), releases: [], version: "", described: null };
const $ = (id) => document.getElementById(id);
const tr = (key, values) => t(state.language, key, values);


function applyStrings() {
  applyPageStrings(state.language, "rulebookTitle");
}

function releaseLabel(info) {
  const window_ = `${isoDate(info.validFrom)}..${isoDate(info.validUntil)}`;
  const status = info.supersededBy ? tr("supersededBy", { v: info.supersededBy }) : info.inForceToday ? tr("inForce") : "";
  return `${info.version} (${tr("covers")} ${window_})${status ? ` — ${status}` : ""}`;
}

function fillSelect(select, chosen) {
  select.replaceChildren(
    ...state.releases.map((info) =>
      el("option", { value: info.version, selected: info.version === chosen, text: releaseLabel(info) }),
    ),
  );
}

function fields(pairs) {
  const list = el("dl", { class: "fields" });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("dt", { text: label }), el("dd", {}, [value]));
  }
  return list;
}

function renderRules(described) {
  const box = $("rules");
  box.replaceChildren(el("h2", { id: "rules-heading", text: tr("rulesHeading") }));
  const stages = [];
  const byStage = new Map();
  for (const rule of described.rules || []) {
    if (!byStage.has(rule.stage)) {
      byStage.set(rule.stage, []);
      stages.push(rule.stage);
    }
    byStage.get(rule.stage).push(rule);
  }
  const toc = el("ul", { class: "stage-toc" });
  for (const stage of stages) {
    toc.append(el("li", {}, [el("a", { href: `#stage-${stage}`, text: `${tr("stage")} ${stageName(state.language, stage)}` })]));
  }
  box.append(el("nav", { class: "toc", "aria-label": tr("rulesHeading") }, [toc]));
  for (const stage of stages) {
    const section = el("section", { id: `stage-${stage}`, class: "stage", "aria-labelledby": `stage-${stage}-heading` });
    section.append(el("h3", { id: `stage-${stage}-heading`, text: `${tr("stage")} ${stageName(state.language, stage)}` }));
    for (const rule of byStage.get(stage)) {
      section.append(
        el("article", { id: rule.ruleId, class: "rule", tabindex: "-1", "aria-labelledby": `h-${rule.ruleId}` }, [
          el("h4", { id: `h-${rule.ruleId}` }, [el("a", { href: `#${rule.ruleId}`, class: "code", text: rule.ruleId })]),
          el("p", { text: rule.explanation || "" }),
          fields([
            [tr("condition"), rule.condition || ""],
            [tr("expression"), rule.expression ? el("code", { text: rule.expression }) : ""],
            [tr("conclusion"), rule.conclusion ? el("code", { text: rule.conclusion }) : ""],
            [tr("note"), rule.note || ""],
            [tr("validFrom"), isoDate(rule.validFrom)],
            [tr("validUntil"), isoDate(rule.validUntil)],
            [tr("sources"), citationList(rule.citations)],
          ]),
        ]),
      );
    }
    box.append(section);
  }
}

function renderFacts(described) {
  const box = $("facts");
  box.replaceChildren(el("h2", { id: "facts-heading", text: tr("factsHeading") }));
  for (const fact of described.facts || []) {
    const marks = [
      fact.decidesRole ? tr("decidesRole") : "",
      fact.canFollowUp ? tr("canFollowUp") : "",
      fact.unknownAllowed ? tr("unknownAllowed") : "",
    ].filter(Boolean);
    const answers = (fact.symbols || []).length
      ? el("ul", {}, fact.symbols.map((s) => el("li", {}, [el("code", { text: s.value }), ` — ${s.label || ""}`])))
      : "";
    box.append(
      el("article", { id: `fact-${fact.name}`, class: "entry", tabindex: "-1" }, [
        el("h4", {}, [el("code", { text: fact.name })]),
        fields([
          [tr("question"), fact.question || ""],
          [tr("help"), fact.help || ""],
          [tr("kind"), (fact.kind || "").replace("FACT_KIND_", "").toLowerCase()],
          [tr("answers"), answers],
          [tr("unit"), fact.unit || ""],
          [tr("defaultValue"), fact.defaultValue || ""],
          ["", marks.join(" · ")],
        ]),
      ]),
    );
  }
}

function renderCodes(described) {
  const box = $("codes");
  box.replaceChildren(el("h2", { id: "codes-heading", text: tr("codesHeading") }));
  for (const code of described.codes || []) {
    box.append(
      el("article", { id: `code-${code.code}`, class: "entry", tabindex: "-1" }, [
        el("h4", {}, [
          el("code", { text: code.code }),
          code.safetyRelated ? el("span", { class: "badge safety", text: tr("safety") }) : null,
        ]),
        el("p", { text: code.text || "" }),
        fields([
          [tr("kind"), code.kind || ""],
          [tr("party"), code.party || ""],
          [tr("sources"), citationList(code.citations)],
        ]),
      ]),
    );
  }
}

function renderParameters(described) {
  const box = $("parameters");
  box.replaceChildren(el("h2", { id: "parameters-heading", text: tr("parametersHeading") }));
  for (const parameter of described.parameters || []) {
    box.append(
      el("article", { id: `param-${parameter.name}`, class: "entry", tabindex: "-1" }, [
        el("h4", {}, [el("code", { text: parameter.name })]),
        el("p", { text: parameter.explanation || "" }),
        fields([
          [tr("valueNow"), parameter.value || ""],
          [
            tr("entries"),
            el(
              "ul",
              {},
              (parameter.values || []).map((v) => el("li", {}, [`${isoDate(v.validFrom)}: `, el("strong", { text: v.value })])),
            ),
          ],
        ]),
      ]),
    );
  }
}

/** Scroll to and highlight the element the address's #fragment names (a rule id, or fact-/code-/param- names). */
function showTarget() {
  for (const old of document.querySelectorAll(".highlighted")) old.classList.remove("highlighted");
  const id = decodeURIComponent(window.location.hash.slice(1));
  if (!id) return;
  const target = document.getElementById(id);
  if (!target) return;
  target.classList.add("highlighted");
  target.scrollIntoView({ block: "start" });
  target.focus({ preventScroll: true });
}

async function describe(version) {
  return call("DescribeRuleSet", { version, language: state.language });
}

async function showRelease(version) {
  setBusy(true);
  showError($("error"), "", null);
  try {
    const described = await describe(version);
    state.version = version;
    state.described = described;
    const info = described.ruleSet || {};
    $("release-info").replaceChildren(
      el("strong", { text: `${info.id || ""} ${info.version || ""}` }),
      ` — ${info.title || ""} (${releaseLabel(info)}) · sha256 `,
      el("code", { text: (info.sha256 || "").slice(0, 12) }),
    );
    renderRules(described);
    renderFacts(described);
    renderCodes(described);
    renderParameters(described);
    showTarget();
  } catch (err) {
    fail(err);
  } finally {
    setBusy(false);
  }
}

function fail(err) {
  showError($("error"), err && err.code === "unavailable" ? tr("unreachable") : tr("errorHeading"), {
    message: String(err && err.message ? err.message : err),
    code: err && err.code ? err.code : "",
    details: (err && err.details) || [],
  });
}

// The compared fields whose values the server sends as data, not words: a stage's tag, a yes/no as "true".
const FLAGS = new Set(["safety", "decides_role"]);

function fieldValue(field, value) {
  if (!value) return "—";
  if (field === "stage") return stageName(state.language, value);
  return FLAGS.has(field) && value === "true" ? tr("yes") : value;
}

/** One section of a CompareRuleSets answer (its JSON leaves out what is empty) as a list of changes. */
function changeList(group, section = {}) {
  const { added = [], removed = [], changed = [] } = section;
  const items = [];
  for (const [kind, list] of [["added", added], ["removed", removed]]) {
    for (const item of list) {
      items.push(
        el("li", { class: `diff-${kind}`, "data-key": item.key }, [
          el("code", { text: item.key }),
          ` — ${tr(kind)}${item.summary ? `: ${item.summary}` : ""}`,
        ]),
      );
    }
  }
  for (const change of changed) {
    const fields = change.fields || [];
    items.push(
      el("li", { class: "diff-changed", "data-key": change.key }, [
        el("code", { text: change.key }),
        ` — ${tr("changed")}: ${fields.map((f) => fieldName(state.language, f.name)).join(", ")}`,
        ...fields.map((f) =>
          el("div", { class: "was-now" }, [
            el("p", {}, [el("strong", { text: `${fieldName(state.language, f.name)} ` }), `${tr("was")}: `, fieldValue(f.name, f.before)]),
            el("p", {}, [el("strong", { text: `${fieldName(state.language, f.name)} ` }), `${tr("now")}: `, fieldValue(f.name, f.after)]),
          ]),
        ),
      ]),
    );
  }
  const count = tr("diffSummary", { added: added.length, removed: removed.length, changed: changed.length });
  return el("section", { class: "diff-group", id: `diff-${group}` }, [
    el("h3", { text: `${tr(`diff${group[0].toUpperCase()}${group.slice(1)}`)} (${count})` }),
    items.length ? el("ul", {}, items) : el("p", { class: "muted", text: tr("diffNone") }),
  ]);
}

async function compare() {
  const from = $("diff-from").value;
  const to = $("diff-to").value;
  const out = $("diff-result");
  setBusy(true);
  showError($("error"), "", null);
  try {
    // The server compares (CompareRuleSets), as for `rolwijzer rules diff`: the page only shows its answer.
    const found = await call("CompareRuleSets", { fromVersion: from, toVersion: to, language: state.language });
    out.replaceChildren(
      el("p", {}, [el("strong", { text: `${from} → ${to}` })]),
      ...["rules", "codes", "parameters", "facts", "sources"].map((group) => changeList(group, found[group])),
    );
  } catch (err) {
    fail(err);
  } finally {
    setBusy(false);
  }
}

async function start() {
  applyStrings();
  setBusy(true);
  try {
    state.releases = (await call("ListRuleSets", {})).ruleSets || [];
  } catch (err) {
    setBusy(false);
    fail(err);
    return;
  }
  const asked = new URLSearchParams(window.location.search).get("versie");
  const today = state.releases.find((r) => r.inForceToday) || state.releases[state.releases.length - 1];
  const chosen = state.releases.some((r) => r.version === asked) ? asked : today ? today.version : "";
  fillSelect($("release"), chosen);
  const previous = state.releases[Math.max(0, state.releases.findIndex((r) => r.version === chosen) - 1)];
  fillSelect($("diff-from"), previous ? previous.version : chosen);
  fillSelect($("diff-to"), chosen);
  $("release").addEventListener("change", (event) => showRelease(event.target.value));
  $("diff-form").addEventListener("submit", (event) => {
    event.preventDefault();
    compare();
  });
  $("language-toggle").addEventListener("click", async () => {
    state.language = state.language === "nl" ? "en" : "nl";
    applyStrings();
    for (const id of ["release", "diff-from", "diff-to"]) fillSelect($(id), $(id).value);
    await showRelease(state.version || chosen);
    if ($("diff-result").childElementCount) await compare();
  });
  window.addEventListener("hashchange", showTarget);
  await showRelease(chosen);
}

start();
