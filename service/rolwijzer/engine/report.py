"""Turn a decision's codes into texts and citations in one language, from the rule set's catalogues.

Texts are those of the decision's reference date: a placeholder says what the parameters in force say
(rolwijzer.rules.texts), so "meer dan 8 uur" under the strict boundary and "minimaal 8 uur" under the inclusive one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rolwijzer.engine.decision import Decision, Finding
from rolwijzer.engine.versions import Selection
from rolwijzer.rules.model import LANGUAGES, Citation
from rolwijzer.rules.texts import PATTERN_PLACEHOLDER


@dataclass(frozen=True)
class TextFinding:
    """A finding with its text, party (liabilities), citations and producing rules."""

    code: str
    text: str
    party: str
    citations: tuple[Citation, ...]
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class TextMissingFact:
    """A missing fact with its question and help text."""

    fact: str
    question: str
    help: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class TextFollowUpFact:
    """A follow-up fact with its question and help text."""

    fact: str
    question: str
    help: str
    values: tuple[str, ...]
    codes: tuple[str, ...]
    safety: bool


@dataclass(frozen=True)
class TextRule:
    """A fired rule with its explanation and citations."""

    rule_id: str
    stage: str
    explanation: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class Report:
    """A decision with every text in one language; `texts_key` tells apart releases and dated states of its texts."""

    decision: Decision
    language: str
    texts_key: str
    role_text: str
    liabilities: tuple[TextFinding, ...]
    obligations: tuple[TextFinding, ...]
    flags: tuple[TextFinding, ...]
    missing_facts: tuple[TextMissingFact, ...]
    fired_rules: tuple[TextRule, ...]
    follow_up_facts: tuple[TextFollowUpFact, ...] = ()


class UnsupportedLanguage(ValueError):
    """The requested language is not one the rule set is written in."""


def report(selection: Selection, decision: Decision, language: str) -> Report:
    """Attach the texts of `language` ("nl" or "en") to `decision`, made with `selection`, as on its reference date.

    Raises:
        UnsupportedLanguage: `language` is not "nl" or "en".
    """
    if language not in LANGUAGES:
        raise UnsupportedLanguage(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    rule_set, texts = selection.rule_set, selection.compiled.texts

    def finding(found: Finding) -> TextFinding:
        entry = rule_set.code(found.code)
        text = texts.get(entry.text, language)
        if entry.pattern:
            text = text.replace(f"{{{PATTERN_PLACEHOLDER}}}", found.code.removeprefix("CONFLICT_").lower())
        party = texts.get(entry.party, language) if entry.party else ""
        return TextFinding(found.code, text, party, entry.citations, found.rule_ids)

    def missing(fact_name: str, values: tuple[str, ...]) -> TextMissingFact:
        fact = rule_set.facts[fact_name]
        return TextMissingFact(fact_name, texts.get(fact.question, language), texts.get(fact.help, language), values)

    def rule_text(rule_id: str) -> TextRule:
        rule = rule_set.rule(rule_id)
        return TextRule(rule.id, rule.stage, texts.get(rule.explain, language), rule.citations)

    return Report(
        decision=decision,
        language=language,
        texts_key=texts.key,
        role_text=texts.get(rule_set.roles[decision.role].text, language),
        liabilities=tuple(finding(f) for f in decision.liabilities),
        obligations=tuple(finding(f) for f in decision.obligations),
        flags=tuple(finding(f) for f in decision.flags),
        missing_facts=tuple(missing(m.fact, m.values) for m in decision.missing_facts),
        fired_rules=tuple(rule_text(r) for r in decision.fired_rules),
        follow_up_facts=tuple(
            TextFollowUpFact(f.fact, m.question, m.help, f.values, f.codes, f.safety)
            for f in decision.follow_up_facts
            for m in [missing(f.fact, f.values)]
        ),
    )
