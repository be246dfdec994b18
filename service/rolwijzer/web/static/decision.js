// How the intake shows a decision: the role, the findings with their sources, what is still unknown or assumed,
// the rules applied (each linking to the rulebook) and the release.

import { isoDate } from "./api.js";
import { citationList, el } from "./dom.js";
import { stageName, t } from "./i18n.js";
import { symbolLabel } from "./answers.js";

/**
 * Where the rulebook shows one rule: its anchor on the /regels page.
 * @param {string} ruleId
 * @returns {string} a link relative to the intake page
 */
export function ruleLink(ruleId) {
  return `regels#${encodeURIComponent(ruleId)}`;
}

/**
 * One list of findings (liabilities, obligations or flags).
 * @param {"nl" | "en"} language
 * @param {string} heading
 * @param {string} id the heading's id
 * @param {object[]} items the findings (camelCase proto3 JSON)
 * @param {Map<string, object[]>} openOn for each code an open follow-up question can still change: those questions
 * @returns {HTMLElement}
 */
function findings(language, heading, id, items, openOn) {
  const section = el("section", { class: "findings", "aria-labelledby": id });
  section.append(el("h3", { id, text: heading }));
  if (!items || items.length === 0) {
    section.append(el("p", { class: "muted", text: t(language, "none") }));
    return section;
  }
  const list = el("ul", { class: "finding-list" });
  for (const finding of items) {
    const rules = (finding.ruleIds || []).map((ruleId, index) => [
      index ? ", " : "",
      el("a", { href: ruleLink(ruleId), text: ruleId }),
    ]);
    list.append(
      el("li", { class: "finding", "data-code": finding.code }, [
        el("p", { class: "finding-head" }, [el("code", { class: "code", text: finding.code })]),
        el("p", { text: finding.text || "" }),
        finding.party ? el("p", { class: "muted" }, [`${t(language, "party")}: `, finding.party]) : null,
        citationList(finding.citations),
        rules.length ? el("p", { class: "muted rule-refs" }, [`${t(language, "rules")}: `, ...rules.flat()]) : null,
        dependsOn(language, openOn.get(finding.code)),
      ]),
    );
  }
  section.append(list);
  return section;
}

// Not settled yet: the follow-up questions still open whose answer can add or remove this finding (as the CLI's
// "hangt nog af van"), so a reader does not take an obligation for final while the intake was stopped early.
function dependsOn(language, questions) {
  if (!questions || questions.length === 0) return null;
  return el("p", { class: "open-on", "data-open-on": questions.map((f) => f.fact).join(" ") }, [
    `${t(language, "openOn")}: `,
    questions.map((f) => f.question || f.fact).join("; "),
  ]);
}

/**
 * For each obligation or flag an open follow-up question can still change: those questions, in the server's order
 * (most decisive first).
 * @param {object[]} open the follow-up facts not answered
 * @returns {Map<string, object[]>}
 */
function openCodes(open) {
  const found = new Map();
  for (const followUp of open) {
    for (const code of followUp.codes || []) {
      if (!found.has(code)) found.set(code, []);
      found.get(code).push(followUp);
    }
  }
  return found;
}

function defaultText(language, fact) {
  const value = fact.defaultValue || "";
  if (value === "conditional") return t(language, "conditional");
  if (fact.kind === "FACT_KIND_NUMBER" || fact.kind === "FACT_KIND_SET") return value;
  return symbolLabel(fact, value);
}

/**
 * The decision as page content.
 * @param {"nl" | "en"} language
 * @param {object} decision the Decision (camelCase proto3 JSON)
 * @param {Map<string, object>} catalogue facts by name (DescribeRuleSet)
 * @param {{stopped: boolean, answered: Set<string>}} intake whether the user stopped, and the facts answered
 * @returns {HTMLElement[]} the parts, in reading order
 */
export function renderDecision(language, decision, catalogue, intake) {
  const parts = [];
  const role = el("section", { class: "role-box", "aria-labelledby": "role-heading" }, [
    el("h3", { id: "role-heading", text: t(language, "roleHeading") }),
    el("p", { class: "role" }, [el("span", { id: "role-code", class: "role-code", text: decision.role || "" })]),
    el("p", { id: "role-text", class: "role-text", text: decision.roleText || "" }),
  ]);
  if (decision.volunteerDeployer) {
    role.append(el("p", {}, [`${t(language, "deployer")}: `, el("code", { text: decision.volunteerDeployer })]));
  }
  if (decision.roleCandidates && decision.roleCandidates.length) {
    role.append(
      el("p", { id: "role-candidates" }, [
        `${t(language, "candidates")}: `,
        ...decision.roleCandidates.flatMap((c, i) => [i ? ", " : "", el("code", { text: c })]),
      ]),
    );
  }
  parts.push(role);

  const missing = decision.missingFacts || [];
  if (missing.length) {
    parts.push(
      el("section", { id: "still-unknown", class: "attention", "aria-labelledby": "unknown-heading" }, [
        el("h3", { id: "unknown-heading", text: t(language, "stillUnknown") }),
        el(
          "ul",
          {},
          missing.map((m) =>
            el("li", { "data-fact": m.fact }, [m.question || m.fact, " ", el("code", { text: `(${m.fact})` })]),
          ),
        ),
      ]),
    );
  }
  const open = (decision.followUpFacts || []).filter((f) => !intake.answered.has(f.fact));
  if (intake.stopped && open.length) {
    parts.push(
      el("section", { id: "open-follow-ups", "aria-labelledby": "open-heading" }, [
        el("h3", { id: "open-heading", text: t(language, "openFollowUps") }),
        el(
          "ul",
          {},
          open.map((f) =>
            el("li", { "data-fact": f.fact }, [
              f.question || f.fact,
              f.safetyRelated ? el("span", { class: "badge safety", text: t(language, "safety") }) : null,
            ]),
          ),
        ),
      ]),
    );
  }
  const openOn = openCodes(open);
  parts.push(findings(language, t(language, "liabilities"), "liabilities-heading", decision.liabilities, openOn));
  parts.push(findings(language, t(language, "obligations"), "obligations-heading", decision.obligations, openOn));
  parts.push(findings(language, t(language, "flags"), "flags-heading", decision.flags, openOn));

  const defaulted = decision.defaultedFacts || [];
  parts.push(
    el("section", { id: "defaulted", "aria-labelledby": "defaulted-heading" }, [
      el("h3", { id: "defaulted-heading", text: t(language, "defaulted") }),
      defaulted.length
        ? el(
            "ul",
            {},
            defaulted.map((name) => {
              const fact = catalogue.get(name);
              return el("li", { "data-fact": name }, [
                fact ? fact.question : name,
                " ",
                el("span", { class: "muted" }, [
                  `— ${t(language, "defaultValue")}: `,
                  fact ? defaultText(language, fact) : "",
                  " ",
                ]),
                el("code", { text: `(${name})` }),
              ]);
            }),
          )
        : el("p", { class: "muted", text: t(language, "none") }),
    ]),
  );

  const fired = decision.firedRules || [];
  const combinations = decision.combinationsEvaluated || 1;
  parts.push(
    el("section", { id: "fired-rules", "aria-labelledby": "fired-heading" }, [
      el("h3", {
        id: "fired-heading",
        text: combinations > 1 ? t(language, "combinations", { n: combinations }) : t(language, "firedRules"),
      }),
      el(
        "ol",
        { class: "rule-list" },
        fired.map((rule) =>
          el("li", {}, [
            el("a", { href: ruleLink(rule.ruleId), class: "rule-link", text: rule.ruleId }),
            el("span", { class: "muted", text: ` (${stageName(language, rule.stage)}) ` }),
            rule.explanation || "",
          ]),
        ),
      ),
    ]),
  );
  const ref = decision.ruleSet || {};
  parts.push(
    el("p", { id: "release", class: "release" }, [
      `${t(language, "release")}: `,
      el("code", { text: `${ref.id || ""} ${ref.version || ""}`.trim() }),
      ` · ${t(language, "referenceDate")}: `,
      el("time", { datetime: isoDate(ref.referenceDate), text: isoDate(ref.referenceDate) }),
    ]),
  );
  return parts;
}
