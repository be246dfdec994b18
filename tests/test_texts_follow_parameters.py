"""Explanations follow the parameters in force (domain.md §11.5): a text that states the intensity threshold says
what its release decides on the reference date, "meer dan 8 uur" under the strict boundary and "minimaal 8 uur"
under the inclusive one, with the numbers in force.

Every current release is walked over every date on which one of its dated entries takes effect. The superseded
releases 1.0.0 and 1.1.0 are published and immutable: their texts carry fixed numbers and are not walked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from google.type import date_pb2
from rolwijzer.engine import Engine
from rolwijzer.rules import RuleSet
from rolwijzer.rules.model import AllOf, AnyOf, Condition, FactOp, FactTest, Named, Not, ParamRef, ParamTest
from rolwijzer.rules.texts import RenderedTexts, texts_of
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import request

BOUNDARY, HOURS, MONTHS = "intensity_boundary", "intensity_hours", "intensity_months"
# How the threshold reads under each boundary, in the words of domain.md §11.5 (Dutch, English).
WORDING = {
    "strict": {
        HOURS: ("meer dan {} uur", "more than {} hours"),
        MONTHS: ("langer dan {} maanden", "longer than {} months"),
    },
    "inclusive": {
        HOURS: ("minimaal {} uur", "at least {} hours"),
        MONTHS: ("minimaal {} maanden", "at least {} months"),
    },
}
# A comparison with the threshold as a text states it, and any number of hours or months.
COMPARISON = re.compile(r"(meer dan|langer dan|minimaal|more than|longer than|at least) (\d+(?:[.,]\d+)?) (\w+)")
NUMBER = re.compile(r"\b(\d+(?:[.,]\d+)?) (uur|maanden|hours|months)\b")
UNITS = {"uur": HOURS, "hours": HOURS, "maanden": MONTHS, "months": MONTHS}
# A rule whose condition compares with the threshold itself, outside the boundary: `above` reads as under strict.
FIXED_OPS = {FactOp.ABOVE: "strict", FactOp.AT_LEAST: "inclusive"}
AT_THE_THRESHOLD = {
    "relation_to_beneficiary": "child",
    "regularity": "structural",
    "hours_per_week": 8,
    "duration_months": 3,
    "tasks": ["household"],
}


def _current(engine: Engine) -> list[RuleSet]:
    return [r for r in engine.rule_sets if r.version not in engine.versions.superseded_by]


def _dated(engine: Engine) -> Iterator[tuple[RuleSet, dt.date, RenderedTexts]]:
    """Every current release on every date a dated entry of it takes effect, with its texts of that date."""
    for rule_set in _current(engine):
        for day in sorted(rule_set.change_dates()):
            yield rule_set, day, engine.select(day, rule_set.version).compiled.texts


def _fixed(cond: Condition, guarded: bool = False) -> dict[str, str]:
    """The threshold parameters a condition compares with outside a boundary test, and how that comparison reads."""
    match cond:
        case AllOf(items):
            inner = guarded or any(isinstance(i, ParamTest) and i.param == BOUNDARY for i in items)
            return {k: v for item in items for k, v in _fixed(item, inner).items()}
        case AnyOf(items):
            return {k: v for item in items for k, v in _fixed(item, guarded).items()}
        case Not(item) | Named(_, item):
            return _fixed(item, guarded)
        case FactTest(_, op, ParamRef(name)) if not guarded and op in FIXED_OPS:
            return {name: FIXED_OPS[op]}
    return {}


def _reading(rule_set: RuleSet) -> dict[tuple[str, str], dict[str, str]]:
    """For each text entry whose rule compares with the threshold itself, how it must read; others follow the boundary.

    A code reads as the rules that conclude it.
    """
    found: dict[tuple[str, str], dict[str, str]] = {}
    for rule in rule_set.rules:
        fixed = _fixed(rule.when)
        if fixed:
            found[(rule.file, rule.id)] = fixed
            for code in rule.then.codes:
                found.setdefault(("codes.yaml", code), {}).update(fixed)
    for predicate in rule_set.predicates.values():
        if fixed := _fixed(predicate.when):
            found[("predicates.yaml", predicate.name)] = fixed
    return found


def _number(text: str) -> float:
    return float(text.replace(",", "."))


class TestEveryTextStatesTheValueInForce:
    """On every date a parameter changes, each text of a current release reads as the decision it explains."""

    def test_the_comparison_with_the_threshold_is_worded_as_the_boundary_in_force(self, engine: Engine) -> None:
        """Under strict no text says "minimaal" for the threshold, under inclusive none "meer dan" or "langer dan"."""
        checked = 0
        for rule_set, day, texts in _dated(engine):
            boundary = str(rule_set.parameters[BOUNDARY].value_on(day))
            values = {name: rule_set.parameters[name].value_on(day) for name in (HOURS, MONTHS)}
            reading = _reading(rule_set)
            for file, item, text in texts_of(rule_set):
                for index, language in enumerate(("nl", "en")):
                    rendered = texts.get(text, language)
                    for word, number, unit in COMPARISON.findall(rendered):
                        param = UNITS.get(unit)
                        if param is None:
                            continue
                        reads_as = reading.get((file, item), {}).get(param, boundary)
                        expected = WORDING[reads_as][param][index].format(number)
                        where = f"{rule_set.version} {day} {file} {item} ({language}): {rendered!r}"
                        assert f"{word} {number} {unit}" == expected, where
                        assert _number(number) == values[param], where
                        checked += 1
        assert checked, "no text states the threshold: the walk checked nothing"

    def test_every_number_of_hours_or_months_is_the_one_in_force(self, engine: Engine) -> None:
        """A rendered text never names another threshold than intensity_hours and intensity_months of its date."""
        for rule_set, day, texts in _dated(engine):
            values = {name: rule_set.parameters[name].value_on(day) for name in (HOURS, MONTHS)}
            for file, item, text in texts_of(rule_set):
                for language in ("nl", "en"):
                    rendered = texts.get(text, language)
                    for number, unit in NUMBER.findall(rendered):
                        assert _number(number) == values[UNITS[unit]], f"{day} {file} {item}: {rendered!r}"

    def test_the_role_rules_state_the_threshold_of_their_date(self, engine: Engine) -> None:
        """R6c (mantelzorg) and R6d (below the threshold) name hours and months as the boundary of the date has them."""
        for rule_set, day, texts in _dated(engine):
            boundary = str(rule_set.parameters[BOUNDARY].value_on(day))
            for rule_id in ("R6c", "R6d"):
                for index, language in enumerate(("nl", "en")):
                    rendered = texts.get(rule_set.rule(rule_id).explain, language)
                    for param in (HOURS, MONTHS):
                        value = rule_set.parameters[param].value_on(day)
                        assert isinstance(value, float)
                        assert WORDING[boundary][param][index].format(f"{value:g}") in rendered, (day, rule_id)


class TestTheRuleFilesWriteNoThresholdOfTheirOwn:
    """A threshold reaches a text only through a placeholder."""

    def test_no_text_of_a_current_release_writes_a_number_of_hours_or_months(self, engine: Engine) -> None:
        """Numbers of hours and months come from {intensity_hours}, {intensity_months}, {hours} and {months}."""
        for rule_set in _current(engine):
            for file, item, text in texts_of(rule_set):
                for language_text in (text.nl, text.en):
                    assert not NUMBER.search(language_text), f"{rule_set.version} {file} {item}: {language_text!r}"

    def test_the_renderer_is_reused_for_every_day_of_a_stretch(self, engine: Engine) -> None:
        """Days with the same dated entries share one set of rendered texts; the boundary change gives another."""
        before = engine.select(dt.date(2020, 6, 1)).compiled.texts
        assert engine.select(dt.date(2026, 12, 31)).compiled.texts is before
        after = engine.select(dt.date(2027, 1, 1)).compiled.texts
        assert after is not before and after.key != before.key


def _on(rule_set: RuleSet, day: dt.date, facts: dict[str, object], language: str) -> pb.EvaluateRequest:
    req = request(rule_set, facts, language=language)
    req.reference_date.CopyFrom(date_pb2.Date(year=day.year, month=day.month, day=day.day))
    return req


def _role_rule(decision: pb.Decision) -> pb.FiredRule:
    return next(r for r in decision.fired_rules if r.stage == "B")


@pytest.mark.parametrize(
    ("language", "strict", "inclusive"),
    [("nl", "meer dan 8 uur", "minimaal 8 uur"), ("en", "more than 8 hours", "at least 8 hours")],
)
class TestThroughTheServer:
    """The served decision and catalogue explain with the parameters of the reference date."""

    def test_8_hours_for_3_months_is_explained_with_the_boundary_of_the_day(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, language: str, strict: str, inclusive: str
    ) -> None:
        """On 2026-12-31 the role rule says "meer dan 8 uur", on 2027-01-01 "minimaal 8 uur"."""
        before = stub.Evaluate(_on(rule_set, dt.date(2026, 12, 31), AT_THE_THRESHOLD, language)).decision
        after = stub.Evaluate(_on(rule_set, dt.date(2027, 1, 1), AT_THE_THRESHOLD, language)).decision
        assert (before.role, _role_rule(before).rule_id) == ("SOCIAAL_NETWERK", "R6d")
        assert (after.role, _role_rule(after).rule_id) == ("MANTELZORGER", "R6c")
        assert strict in _role_rule(before).explanation and inclusive not in _role_rule(before).explanation
        assert inclusive in _role_rule(after).explanation and strict not in _role_rule(after).explanation

    def test_one_rule_explains_itself_per_date_in_one_release(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, language: str, strict: str, inclusive: str
    ) -> None:
        """20 hours a week makes R6c fire on both sides of 2027; its text changes with the date, not only its role."""
        facts = {**AT_THE_THRESHOLD, "hours_per_week": 20}
        texts = [
            _role_rule(stub.Evaluate(_on(rule_set, day, facts, language)).decision).explanation
            for day in (dt.date(2026, 12, 31), dt.date(2027, 1, 1), dt.date(2026, 12, 31))
        ]
        assert strict in texts[0] and inclusive in texts[1] and texts[2] == texts[0]

    def test_describe_explains_with_the_parameters_of_the_date_asked_for(
        self, stub: pb_grpc.RolwijzerServiceStub, language: str, strict: str, inclusive: str
    ) -> None:
        """`rolwijzer explain` reads DescribeRuleSet: rules and questions say what the date in question decides."""
        described = {
            day: stub.DescribeRuleSet(
                pb.DescribeRuleSetRequest(
                    reference_date=date_pb2.Date(year=day.year, month=day.month, day=day.day), language=language
                )
            )
            for day in (dt.date(2026, 12, 31), dt.date(2027, 1, 1))
        }
        for day, expected in ((dt.date(2026, 12, 31), strict), (dt.date(2027, 1, 1), inclusive)):
            rules = {r.rule_id: r.explanation for r in described[day].rules}
            facts = {f.name: f.help for f in described[day].facts}
            assert expected in rules["R6c"] and expected in facts["hours_per_week"], day
