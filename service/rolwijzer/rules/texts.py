"""Texts that follow the parameters in force: placeholders, and the texts of a release rendered for one day.

A text may name a parameter in braces. `{intensity_hours}` is the parameter's value on the reference date ("8");
a name a parameter defines under `texts` is the wording of the value in force, for example `{hours}` is
"meer dan 8 uur" under intensity_boundary `strict` and "minimaal 8 uur" under `inclusive`. The wording lives in
parameters.yaml, never in code; the loader refuses a placeholder nobody defines. `{fact}` is kept for the
CONFLICT_<FACT> pattern code, whose report fills it in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping

from rolwijzer.rules.model import LANGUAGES, RuleSet, Text

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PATTERN_PLACEHOLDER = "fact"


def placeholders_in(text: str) -> set[str]:
    """The placeholder names a text uses."""
    return set(PLACEHOLDER.findall(text)) if "{" in text else set()


def render(template: str, values: Mapping[str, str]) -> str:
    """`template` with every placeholder of `values` filled in; other braces stay as they are."""
    if "{" not in template:
        return template
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def texts_of(rule_set: RuleSet) -> Iterator[tuple[str, str, Text]]:
    """Every text of a release a reader sees, with the file and entry it is written in."""
    for rule in rule_set.rules:
        yield rule.file, rule.id, rule.explain
    for predicate in rule_set.predicates.values():
        yield "predicates.yaml", predicate.name, predicate.explain
    for parameter in rule_set.parameters.values():
        yield "parameters.yaml", parameter.name, parameter.explain
    for fact in rule_set.facts.values():
        yield "facts.yaml", fact.name, fact.question
        yield "facts.yaml", fact.name, fact.help
        if fact.unit is not None:
            yield "facts.yaml", fact.name, fact.unit
        for symbol in fact.symbols:
            yield "facts.yaml", fact.name, symbol.label
    for group in rule_set.groups.values():
        yield "facts.yaml", group.name, group.explain
    for role in (*rule_set.roles.values(), *rule_set.deployers.values()):
        yield "codes.yaml", role.code, role.text
    for code in rule_set.codes.values():
        yield "codes.yaml", code.code, code.text
        if code.party is not None:
            yield "codes.yaml", code.code, code.party


def placeholder_values(rule_set: RuleSet, day: dt.date, language: str) -> dict[str, str]:
    """What each placeholder says on `day` in `language`: parameter values, and the wordings of the values in force."""
    values = {
        name: _value_text(value, language)
        for name, parameter in rule_set.parameters.items()
        if (value := parameter.value_on(day)) is not None
    }
    worded: dict[str, str] = {}
    for parameter in rule_set.parameters.values():
        current = parameter.value_on(day)
        for placeholder, by_value in parameter.texts.items():
            text = by_value.get(str(current))
            if text is not None:
                worded[placeholder] = render(text.get(language), values)
    return values | worded


class RenderedTexts:
    """The texts of one release with the parameters in force on one day; each text is rendered once per language.

    `key` differs whenever a rendered text can differ: the release's sha256 and what its placeholders say.
    """

    def __init__(self, rule_set: RuleSet, day: dt.date) -> None:
        self.values = {language: placeholder_values(rule_set, day, language) for language in LANGUAGES}
        digest = hashlib.sha256(repr(sorted((k, sorted(v.items())) for k, v in self.values.items())).encode())
        self.key = f"{rule_set.sha256}:{digest.hexdigest()[:16]}"
        self._rendered: dict[tuple[Text, str], str] = {}

    def get(self, text: Text, language: str) -> str:
        """`text` in `language` ("nl" or "en", as Text.get), its placeholders filled in."""
        key = (text, language)
        found = self._rendered.get(key)
        if found is None:
            found = self._rendered[key] = render(text.get(language), self.values["en" if language == "en" else "nl"])
        return found


def _value_text(value: object, language: str) -> str:
    if isinstance(value, float):
        shown = f"{value:g}"
        return shown.replace(".", ",") if language == "nl" else shown
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
