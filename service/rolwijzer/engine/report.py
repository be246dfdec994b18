"""Turn a decision's codes into texts and citations in one language, from the rule set's catalogues."""

from __future__ import annotations

from dataclasses import dataclass

from rolwijzer.engine.decision import Decision, Finding
from rolwijzer.rules.model import LANGUAGES, Citation, RuleSet


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
class TextRule:
    """A fired rule with its explanation and citations."""

    rule_id: str
    stage: str
    explanation: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class Report:
    """A decision with every text in one language."""

    decision: Decision
    language: str
    role_text: str
    liabilities: tuple[TextFinding, ...]
    obligations: tuple[TextFinding, ...]
    flags: tuple[TextFinding, ...]
    missing_facts: tuple[TextMissingFact, ...]
    fired_rules: tuple[TextRule, ...]


class UnsupportedLanguage(ValueError):
    """The requested language is not one the rule set is written in."""


def report(rule_set: RuleSet, decision: Decision, language: str) -> Report:
    """Attach the texts of `language` ("nl" or "en") to `decision`.

    Raises:
        UnsupportedLanguage: `language` is not "nl" or "en".
    """
    if language not in LANGUAGES:
        raise UnsupportedLanguage(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")

    def finding(found: Finding) -> TextFinding:
        entry = rule_set.code(found.code)
        fact = found.code.removeprefix("CONFLICT_").lower()
        text = entry.text.get(language).replace("{fact}", fact) if entry.pattern else entry.text.get(language)
        party = entry.party.get(language) if entry.party else ""
        return TextFinding(found.code, text, party, entry.citations, found.rule_ids)

    def missing(fact_name: str, values: tuple[str, ...]) -> TextMissingFact:
        fact = rule_set.facts[fact_name]
        return TextMissingFact(fact_name, fact.question.get(language), fact.help.get(language), values)

    def rule_text(rule_id: str) -> TextRule:
        rule = rule_set.rule(rule_id)
        return TextRule(rule.id, rule.stage, rule.explain.get(language), rule.citations)

    return Report(
        decision=decision,
        language=language,
        role_text=rule_set.roles[decision.role].text.get(language),
        liabilities=tuple(finding(f) for f in decision.liabilities),
        obligations=tuple(finding(f) for f in decision.obligations),
        flags=tuple(finding(f) for f in decision.flags),
        missing_facts=tuple(missing(m.fact, m.values) for m in decision.missing_facts),
        fired_rules=tuple(rule_text(r) for r in decision.fired_rules),
    )
