// The pages' own words, in Dutch and English. Everything about facts, answers, codes and rules comes from the API
// in the chosen language; only these few interface strings live here.

const STRINGS = {
  nl: {
    intakeTitle: "Rolwijzer — intake",
    rulebookTitle: "Rolwijzer — regelboek",
    skipLink: "Naar de inhoud",
    navIntake: "Intake",
    navRules: "Regelboek",
    switchLanguage: "English",
    switchLanguageLabel: "Switch to English",
    loading: "Bezig…",
    next: "Volgende",
    dontKnow: "weet niet",
    done: "Klaar: stop met vragen",
    resume: "Verder vragen",
    cancel: "Annuleer",
    change: "Wijzig",
    remove: "Wis",
    changeAnswer: "Wijzig het antwoord op: {q}",
    removeAnswer: "Wis het antwoord op: {q}",
    restart: "Opnieuw beginnen",
    questionHeading: "Vraag",
    editingHeading: "Antwoord wijzigen",
    followUpIntro: "Rol en aansprakelijkheid staan vast. Vervolgvragen bepalen het toezicht en de verplichtingen.",
    safety: "veiligheid",
    noneApply: "Vink alles aan wat van toepassing is; niets aanvinken betekent: geen van deze.",
    numberLabel: "Getal",
    numberHint: "Een getal, bijvoorbeeld 1,5",
    numberInvalid: "'{text}' is geen getal.",
    numberNegative: "Een getal van 0 of meer.",
    chooseOne: "Kies een antwoord.",
    finished: "Alle vragen zijn beantwoord.",
    stopped: "Gestopt met vragen; vervolgvragen die nog openstaan staan bij het besluit.",
    answersHeading: "Gegeven antwoorden",
    noAnswers: "Nog geen antwoorden.",
    none: "geen",
    decisionHeading: "Besluit",
    roleHeading: "Rol",
    deployer: "Ingezet door",
    candidates: "Mogelijke rollen",
    stillUnknown: "Nog onbekend (beslissend voor rol of aansprakelijkheid)",
    openFollowUps: "Vervolgvragen die nog openstaan",
    openOn: "Hangt nog af van",
    liabilities: "Aansprakelijkheid",
    obligations: "Verplichtingen en toezicht",
    flags: "Signalen",
    party: "Partij",
    sources: "Bronnen",
    rules: "regels",
    defaulted: "Aangenomen (niet gegeven, standaardwaarde)",
    defaultValue: "standaard",
    conditional: "afgeleid door een regel",
    firedRules: "Toegepaste regels",
    combinations: "Toegepaste regels (in {n} doorgerekende combinaties; niet noodzakelijk alle samen)",
    release: "Regelset",
    referenceDate: "Peildatum",
    exportHeading: "Scenario voor rolwijzer test",
    exportButton: "Kopieer als scenario",
    exportDownload: "Download scenario (.yaml)",
    exportCopied: "Gekopieerd naar het klembord.",
    exportNotCopied: "Kopiëren lukte niet; kopieer de tekst hieronder of download het bestand.",
    exportText: "Scenario (YAML)",
    exportName: "Intake van {date}",
    errorHeading: "Fout van de server",
    unreachable: "De server is niet bereikbaar",
    // rulebook
    releaseLabel: "Release",
    inForce: "geldend",
    supersededBy: "vervangen door {v}",
    covers: "geldt",
    contents: "Inhoud",
    rulesHeading: "Regels per fase",
    stage: "Fase",
    condition: "Voorwaarde",
    expression: "In de regelbestanden",
    conclusion: "Conclusie",
    explanation: "Uitleg",
    note: "Noot",
    validFrom: "geldt vanaf",
    validUntil: "geldt tot en met",
    factsHeading: "Feiten (vragen)",
    factName: "Feit",
    question: "Vraag",
    help: "Toelichting",
    answers: "Antwoorden",
    unit: "Eenheid",
    decidesRole: "bepaalt de rol (★)",
    canFollowUp: "kan vervolgvraag zijn",
    unknownAllowed: "'weet niet' toegestaan",
    codesHeading: "Codes",
    kind: "Soort",
    parametersHeading: "Parameters",
    valueNow: "Waarde",
    entries: "Gedateerde waarden",
    diffHeading: "Verschillen tussen twee releases",
    diffFrom: "Van release",
    diffTo: "Naar release",
    diffButton: "Vergelijk",
    diffNone: "Geen verschillen.",
    added: "toegevoegd",
    removed: "verwijderd",
    changed: "gewijzigd",
    was: "was",
    now: "nu",
    diffRules: "Regels",
    diffCodes: "Codes",
    diffParameters: "Parameters",
    diffFacts: "Feiten",
    diffSources: "Bronnen",
    diffSummary: "{added} toegevoegd, {removed} verwijderd, {changed} gewijzigd",
    stageNames: { "H-enumeration": "H (opsomming)", "B-context": "B (context)" },
    yes: "ja",
    no: "nee",
  },
  en: {
    intakeTitle: "Rolwijzer — intake",
    rulebookTitle: "Rolwijzer — rulebook",
    skipLink: "Skip to content",
    navIntake: "Intake",
    navRules: "Rulebook",
    switchLanguage: "Nederlands",
    switchLanguageLabel: "Schakel naar Nederlands",
    loading: "Working…",
    next: "Next",
    dontKnow: "don't know",
    done: "Done: stop asking",
    resume: "Continue asking",
    cancel: "Cancel",
    change: "Change",
    remove: "Clear",
    changeAnswer: "Change the answer to: {q}",
    removeAnswer: "Clear the answer to: {q}",
    restart: "Start again",
    questionHeading: "Question",
    editingHeading: "Change an answer",
    followUpIntro: "Role and liability are settled. Follow-up questions decide the supervision and obligations.",
    safety: "safety",
    noneApply: "Tick all that apply; ticking nothing means: none of these.",
    numberLabel: "Number",
    numberHint: "A number, for example 1.5 or 1,5",
    numberInvalid: "'{text}' is not a number.",
    numberNegative: "A number of 0 or more.",
    chooseOne: "Choose an answer.",
    finished: "Every question has been answered.",
    stopped: "Stopped asking; follow-up questions still open are listed with the decision.",
    answersHeading: "Answers given",
    noAnswers: "No answers yet.",
    none: "none",
    decisionHeading: "Decision",
    roleHeading: "Role",
    deployer: "Deployed by",
    candidates: "Possible roles",
    stillUnknown: "Still unknown (decisive for role or liability)",
    openFollowUps: "Follow-up questions still open",
    openOn: "Still depends on",
    liabilities: "Liability",
    obligations: "Obligations and supervision",
    flags: "Flags",
    party: "Party",
    sources: "Sources",
    rules: "rules",
    defaulted: "Assumed (not given, default value)",
    defaultValue: "default",
    conditional: "derived by a rule",
    firedRules: "Rules applied",
    combinations: "Rules applied (in {n} combinations worked through; not necessarily all together)",
    release: "Rule set",
    referenceDate: "Reference date",
    exportHeading: "Scenario for rolwijzer test",
    exportButton: "Copy as scenario",
    exportDownload: "Download scenario (.yaml)",
    exportCopied: "Copied to the clipboard.",
    exportNotCopied: "Copying failed; copy the text below or download the file.",
    exportText: "Scenario (YAML)",
    exportName: "Intake of {date}",
    errorHeading: "Error from the server",
    unreachable: "The server cannot be reached",
    releaseLabel: "Release",
    inForce: "in force",
    supersededBy: "superseded by {v}",
    covers: "covers",
    contents: "Contents",
    rulesHeading: "Rules by stage",
    stage: "Stage",
    condition: "Condition",
    expression: "In the rule files",
    conclusion: "Conclusion",
    explanation: "Explanation",
    note: "Note",
    validFrom: "applies from",
    validUntil: "applies until",
    factsHeading: "Facts (questions)",
    factName: "Fact",
    question: "Question",
    help: "Help",
    answers: "Answers",
    unit: "Unit",
    decidesRole: "decides the role (★)",
    canFollowUp: "can be a follow-up question",
    unknownAllowed: "'don't know' allowed",
    codesHeading: "Codes",
    kind: "Kind",
    parametersHeading: "Parameters",
    valueNow: "Value",
    entries: "Dated values",
    diffHeading: "Differences between two releases",
    diffFrom: "From release",
    diffTo: "To release",
    diffButton: "Compare",
    diffNone: "No differences.",
    added: "added",
    removed: "removed",
    changed: "changed",
    was: "was",
    now: "now",
    diffRules: "Rules",
    diffCodes: "Codes",
    diffParameters: "Parameters",
    diffFacts: "Facts",
    diffSources: "Sources",
    diffSummary: "{added} added, {removed} removed, {changed} changed",
    stageNames: { "H-enumeration": "H (enumeration)", "B-context": "B (context)" },
    yes: "yes",
    no: "no",
  },
};

const KEY = "rolwijzer.language";

/**
 * The page language: "nl" (default) or "en", from ?lang= or the last choice on this browser.
 * @returns {"nl" | "en"}
 */
export function currentLanguage() {
  const asked = new URLSearchParams(window.location.search).get("lang");
  let stored = null;
  try {
    stored = window.localStorage.getItem(KEY);
  } catch {
    stored = null;
  }
  const chosen = asked || stored;
  return chosen === "en" ? "en" : "nl";
}

/**
 * Remember the language and set the document's lang attribute.
 * @param {"nl" | "en"} language
 */
export function setLanguage(language) {
  try {
    window.localStorage.setItem(KEY, language);
  } catch {
    // storage may be off; the page still switches
  }
  document.documentElement.lang = language;
}

// The names of the fields a release comparison reports (CompareRuleSets' FieldChange.name), as a reader says them.
const FIELD_NAMES = {
  nl: {
    stage: "fase", condition: "voorwaarde", expression: "in de regelbestanden", conclusion: "conclusie",
    explanation: "uitleg", citations: "bronnen", note: "notitie", valid_from: "geldt vanaf",
    valid_until: "geldt tot en met", kind: "soort", text: "tekst", party: "partij", safety: "veiligheid",
    values: "gedateerde waarden", question: "vraag", help: "toelichting", answers: "antwoorden",
    default: "standaardwaarde", decides_role: "bepaalt de rol (★)", unit: "eenheid", title: "titel",
  },
  en: {
    stage: "stage", condition: "condition", expression: "in the rule files", conclusion: "conclusion",
    explanation: "explanation", citations: "sources", note: "note", valid_from: "applies from",
    valid_until: "applies until", kind: "kind", text: "text", party: "party", safety: "safety",
    values: "dated values", question: "question", help: "help", answers: "answers",
    default: "default", decides_role: "decides the role (★)", unit: "unit", title: "title",
  },
};

/**
 * The name of a compared field in `language`; the field's own name when none is written.
 * @param {"nl" | "en"} language
 * @param {string} field a FieldChange.name of a CompareRuleSets answer
 * @returns {string}
 */
export function fieldName(language, field) {
  return (FIELD_NAMES[language] || FIELD_NAMES.nl)[field] || field;
}

/**
 * One interface string in `language`, with {name} placeholders filled from `values`.
 * @param {"nl" | "en"} language
 * @param {string} key a key of the table above
 * @param {Record<string, string | number>} [values]
 * @returns {any} the string (or, for stageNames, the table)
 */
export function t(language, key, values = {}) {
  const table = STRINGS[language] || STRINGS.nl;
  const text = key in table ? table[key] : STRINGS.nl[key];
  if (typeof text !== "string") return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

/**
 * A stage tag of the rule files as a reader says it ("H-enumeration" is "H (opsomming)").
 * @param {"nl" | "en"} language
 * @param {string} stage
 * @returns {string}
 */
export function stageName(language, stage) {
  return t(language, "stageNames")[stage] || stage;
}

/**
 * Set a page's own words in `language`: the document language and title, every element marked `data-i18n`, and
 * the language toggle (which names the other language).
 * @param {"nl" | "en"} language
 * @param {string} titleKey the string key of the page title
 */
export function applyPageStrings(language, titleKey) {
  setLanguage(language);
  document.title = t(language, titleKey);
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(language, node.dataset.i18n);
  const toggle = document.getElementById("language-toggle");
  toggle.textContent = t(language, "switchLanguage");
  toggle.setAttribute("aria-label", t(language, "switchLanguageLabel"));
  toggle.setAttribute("lang", language === "nl" ? "en" : "nl");
}
