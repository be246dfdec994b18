// The situation of an intake as a scenario file for `rolwijzer test` (the format of tests/scenarios/*.yaml), with
// the decision as its expected result, as `rolwijzer ask --save` writes it.

/**
 * The scenario document of an intake: one scenario with its facts and the decision as `expected`
 * (`compare: all`: every field compared, a missing one meaning empty).
 * @param {string} id the scenario id
 * @param {string} name a readable name
 * @param {Array<[string, unknown]>} facts the plain answers in the order given: a symbol, true/false, a number,
 *   a list for a set fact, or "unknown"
 * @param {object} decision the last decision (camelCase proto3 JSON)
 * @param {string} [referenceDate] YYYY-MM-DD the decision was made for; kept so the scenario is decided on it again
 * @returns {object} the document, ready for {@link toYaml}
 */
export function scenarioDocument(id, name, facts, decision, referenceDate) {
  const codes = (findings) => (findings || []).map((f) => f.code).sort();
  const expected = {
    role: decision.role,
    liable: codes(decision.liabilities),
    obligations: codes(decision.obligations),
    flags: codes(decision.flags),
  };
  if (decision.volunteerDeployer) expected.volunteer_deployer = decision.volunteerDeployer;
  if (decision.roleCandidates && decision.roleCandidates.length) {
    expected.role_candidates = [...decision.roleCandidates].sort();
  }
  if (decision.missingFacts && decision.missingFacts.length) {
    expected.missing_facts = decision.missingFacts.map((m) => m.fact).sort();
  }
  const scenario = { id, name };
  if (referenceDate) scenario.reference_date = referenceDate;
  scenario.facts = Object.fromEntries(facts);
  scenario.compare = "all";
  scenario.expected = expected;
  return { scenarios: [scenario] };
}

// Words YAML 1.1 (PyYAML) reads as something other than a string, and anything that looks like a number or date.
const RESERVED = /^(?:y|n|yes|no|on|off|true|false|null|~|)$/i;
const NUMBERISH = /^[-+.]?(?:\d|\.\d)|^\.(?:inf|nan)$/i;
const PLAIN = /^[A-Za-z_][A-Za-z0-9_\-./ ()]*$/;

/**
 * A string as a YAML scalar: plain when that is safe, otherwise single-quoted.
 * @param {string} text
 * @returns {string}
 */
export function yamlString(text) {
  const plain = PLAIN.test(text) && !RESERVED.test(text) && !NUMBERISH.test(text) && !/ $|: | #/.test(text);
  return plain ? text : `'${text.replace(/'/g, "''")}'`;
}

function scalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return Number.isInteger(value) ? String(value) : String(value).replace(/^(-?)\./, "$10.");
  }
  return yamlString(String(value));
}

/**
 * A value as block-style YAML (as PyYAML's safe_dump with sort_keys=False writes it: list items at their key's
 * indent, empty lists as []).
 * @param {unknown} value objects, arrays, strings, numbers, booleans
 * @param {number} [indent] spaces before each key of this mapping
 * @returns {string} the YAML text, ending with a newline
 */
export function toYaml(value, indent = 0) {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    return value
      .map((item) => {
        if (item !== null && typeof item === "object" && !Array.isArray(item)) {
          const inner = toYaml(item, indent + 2);
          return `${pad}- ${inner.slice(indent + 2)}`;
        }
        return `${pad}- ${scalar(item)}\n`;
      })
      .join("");
  }
  if (value !== null && typeof value === "object") {
    return Object.entries(value)
      .map(([key, inner]) => {
        const name = yamlString(key);
        if (Array.isArray(inner)) {
          return inner.length === 0 ? `${pad}${name}: []\n` : `${pad}${name}:\n${toYaml(inner, indent)}`;
        }
        if (inner !== null && typeof inner === "object") {
          return Object.keys(inner).length === 0
            ? `${pad}${name}: {}\n`
            : `${pad}${name}:\n${toYaml(inner, indent + 2)}`;
        }
        return `${pad}${name}: ${scalar(inner)}\n`;
      })
      .join("");
  }
  return `${pad}${scalar(value)}\n`;
}
