// What differs between two releases, computed from two DescribeRuleSet answers: rules, codes, parameters and facts
// added, removed or changed, each change with the fields that differ and their old and new values.

import { isoDate } from "./api.js";

/**
 * @typedef {{field: string, was: string, now: string}} FieldChange
 * @typedef {{key: string, fields: FieldChange[]}} Changed
 * @typedef {{added: string[], removed: string[], changed: Changed[]}} GroupDiff
 */

const citations = (list) => (list || []).map((c) => c.reference || c.source || "").join("; ");
const symbols = (list) => (list || []).map((s) => `${s.value} (${s.label || ""})`).join(", ");
const entries = (list) => (list || []).map((v) => `${isoDate(v.validFrom)}: ${v.value}`).join("; ");
const flag = (value) => (value ? "true" : "false");

/** The fields compared for each kind of item, as readable text. */
const FIELDS = {
  rules: {
    stage: (r) => r.stage || "",
    condition: (r) => r.condition || "",
    expression: (r) => r.expression || "",
    conclusion: (r) => r.conclusion || "",
    explanation: (r) => r.explanation || "",
    citations: (r) => citations(r.citations),
    note: (r) => r.note || "",
    valid_from: (r) => isoDate(r.validFrom),
    valid_until: (r) => isoDate(r.validUntil),
  },
  codes: {
    kind: (c) => c.kind || "",
    text: (c) => c.text || "",
    party: (c) => c.party || "",
    citations: (c) => citations(c.citations),
    safety_related: (c) => flag(c.safetyRelated),
  },
  parameters: {
    explanation: (p) => p.explanation || "",
    values: (p) => entries(p.values),
  },
  facts: {
    kind: (f) => f.kind || "",
    question: (f) => f.question || "",
    help: (f) => f.help || "",
    symbols: (f) => symbols(f.symbols),
    unknown_allowed: (f) => flag(f.unknownAllowed),
    default_value: (f) => f.defaultValue || "",
    decides_role: (f) => flag(f.decidesRole),
    unit: (f) => f.unit || "",
    can_follow_up: (f) => flag(f.canFollowUp),
  },
};
const KEYS = { rules: "ruleId", codes: "code", parameters: "name", facts: "name" };

/**
 * Compare one group of items (rules, codes, parameters or facts) of two releases.
 * @param {"rules" | "codes" | "parameters" | "facts"} group
 * @param {object[]} before the items of the first release
 * @param {object[]} after the items of the second release
 * @returns {GroupDiff}
 */
export function diffGroup(group, before, after) {
  const key = KEYS[group];
  const fields = FIELDS[group];
  const old = new Map((before || []).map((item) => [item[key], item]));
  const now = new Map((after || []).map((item) => [item[key], item]));
  const added = [...now.keys()].filter((k) => !old.has(k));
  const removed = [...old.keys()].filter((k) => !now.has(k));
  const changed = [];
  for (const [k, item] of now) {
    if (!old.has(k)) continue;
    const differing = [];
    for (const [field, read] of Object.entries(fields)) {
      const was = read(old.get(k));
      const is = read(item);
      if (was !== is) differing.push({ field, was, now: is });
    }
    if (differing.length) changed.push({ key: k, fields: differing });
  }
  return { added, removed, changed };
}

/**
 * Every difference between two DescribeRuleSet answers.
 * @param {object} before the first release's DescribeRuleSetResponse (camelCase)
 * @param {object} after the second release's
 * @returns {{rules: GroupDiff, codes: GroupDiff, parameters: GroupDiff, facts: GroupDiff}}
 */
export function diffReleases(before, after) {
  return {
    rules: diffGroup("rules", before.rules, after.rules),
    codes: diffGroup("codes", before.codes, after.codes),
    parameters: diffGroup("parameters", before.parameters, after.parameters),
    facts: diffGroup("facts", before.facts, after.facts),
  };
}
