// Answers of an intake: from what the user chose in a question to the request value (proto3 JSON FactValue), the
// plain value of a scenario file, and a readable label. Facts are described by DescribeRuleSet's catalogue.

/** The symbol the catalogue uses for "at issue but unknown". */
export const UNKNOWN = "unknown";

/**
 * Read a typed number: a decimal comma or point, spaces allowed around it.
 * @param {string} text
 * @returns {number | null} the number, or null when the text is no number
 */
export function parseNumber(text) {
  const cleaned = text.trim().replace(",", ".");
  if (!/^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$/.test(cleaned)) return null;
  const number = Number(cleaned);
  return Number.isFinite(number) ? number : null;
}

/**
 * One answer to one fact.
 * @param {object} fact the fact's FactDescription (camelCase)
 * @param {string | number | string[]} chosen "unknown", a symbol (booleans "true"/"false"), a number, or the
 *   symbols of a set fact
 * @returns {{fact: string, value: object, plain: unknown, chosen: string | number | string[]}}
 */
export function makeAnswer(fact, chosen) {
  const name = fact.name;
  if (chosen === UNKNOWN) return { fact: name, value: { unknown: {} }, plain: UNKNOWN, chosen };
  switch (fact.kind) {
    case "FACT_KIND_SET": {
      const values = Array.isArray(chosen) ? [...chosen] : [String(chosen)];
      return { fact: name, value: { symbols: { values } }, plain: values, chosen: values };
    }
    case "FACT_KIND_BOOLEAN":
      return { fact: name, value: { boolean: chosen === "true" }, plain: chosen === "true", chosen };
    case "FACT_KIND_NUMBER":
      return { fact: name, value: { number: Number(chosen) }, plain: Number(chosen), chosen: Number(chosen) };
    default:
      return { fact: name, value: { symbol: String(chosen) }, plain: String(chosen), chosen };
  }
}

/**
 * The label of one symbol of a fact, from the catalogue; the symbol itself when it has none.
 * @param {object} fact
 * @param {string} symbol
 * @returns {string}
 */
export function symbolLabel(fact, symbol) {
  const found = (fact.symbols || []).find((s) => s.value === symbol);
  return found && found.label ? found.label : symbol;
}

/**
 * An answer as people read it: the labels of the catalogue, a number with its unit, or "weet niet".
 * @param {object} fact
 * @param {{chosen: string | number | string[]}} answer
 * @param {{dontKnow: string, none: string}} words the page's words for "don't know" and "none"
 * @returns {string}
 */
export function answerLabel(fact, answer, words) {
  const chosen = answer.chosen;
  if (chosen === UNKNOWN) return symbolLabel(fact, UNKNOWN) === UNKNOWN ? words.dontKnow : symbolLabel(fact, UNKNOWN);
  if (Array.isArray(chosen)) return chosen.length ? chosen.map((s) => symbolLabel(fact, s)).join(", ") : words.none;
  if (fact.kind === "FACT_KIND_NUMBER") {
    return `${String(chosen).replace(".", words.decimal || ".")}${fact.unit ? ` ${fact.unit}` : ""}`;
  }
  return symbolLabel(fact, String(chosen));
}
