"""Follow-up facts and defaulted facts, asked of a real server and checked against its own answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rolwijzer.api.convert import facts_from_proto
from rolwijzer.engine import Engine, InvalidFacts
from rolwijzer.engine.enumeration import TooManyCombinations
from rolwijzer.rules import FactType, RuleSet, load_rule_sets
from rolwijzer.scenarios import load_scenarios
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import RELEASES, RULES_ROOT, SCENARIOS, request

DAY = dt.date(2026, 6, 1)
EXAMPLES = load_scenarios(SCENARIOS / "examples.yaml")
# A daughter who helps her father at home 10 hours a week for half a year; nothing said about what she does.
DAUGHTER = {"relation_to_beneficiary": "child", "regularity": "structural", "hours_per_week": 10, "duration_months": 6}


def _decide(
    stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, facts: Mapping[str, Any], full: bool = True
) -> pb.Decision:
    built = request(rule_set, facts, reference_date=DAY)
    built.view = pb.DECISION_VIEW_FULL if full else pb.DECISION_VIEW_BASIC
    response: pb.EvaluateResponse = stub.Evaluate(built, timeout=30)
    return response.decision


def _supervision(decision: pb.Decision) -> set[str]:
    return {f.code for f in (*decision.obligations, *decision.flags)}


def _answers(rule_set: RuleSet, follow_up: pb.FollowUpFact) -> list[Any]:
    """The follow-up's answers as a scenario writes them (a bucket label such as "< 8" as a number in it)."""
    fact = rule_set.facts[follow_up.fact]
    if fact.type == FactType.SET:
        return [[value] for value in follow_up.values]
    if fact.type == FactType.BOOLEAN:
        return [value == "true" for value in follow_up.values]
    if fact.type == FactType.NUMBER:
        return [_number(label) for label in follow_up.values]
    return list(follow_up.values)


def _number(label: str) -> float:
    operator, _, number = label.partition(" ")
    value = float(number)
    return {"<": value - 1, ">": value + 1}.get(operator, value)


class TestFollowUpFacts:
    """DECISION_VIEW_FULL adds the facts whose answer changes obligations or flags, and only those."""

    @pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
    def test_each_follow_up_of_a_shared_example_changes_the_supervision_for_some_answer(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, example: Any
    ) -> None:
        decision = _decide(stub, rule_set, example.facts)
        before = _supervision(decision)
        for follow_up in decision.follow_up_facts:
            assert follow_up.fact not in example.facts
            assert follow_up.fact not in {m.fact for m in decision.missing_facts}
            changed = [
                answer
                for answer in _answers(rule_set, follow_up)
                if _supervision(_decide(stub, rule_set, {**example.facts, follow_up.fact: answer}, full=False))
                != before
            ]
            assert changed, f"{follow_up.fact}: no answer changes the obligations or flags"

    def test_missing_facts_are_the_same_with_and_without_follow_ups_on_every_repository_scenario(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        for path in sorted(SCENARIOS.glob("*.yaml")):
            for scenario in load_scenarios(path):
                basic = _decide(stub, rule_set, scenario.facts, full=False)
                full = _decide(stub, rule_set, scenario.facts)
                assert list(full.missing_facts) == list(basic.missing_facts), scenario.id
                assert not basic.follow_up_facts

    def test_a_relative_without_tasks_is_asked_about_the_tasks_and_they_touch_safety(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        decision = _decide(stub, rule_set, DAUGHTER)
        follow_ups = {f.fact: f for f in decision.follow_up_facts}
        assert {"RISICOGESPREK", "BEKWAAMHEID_CHECK", "TOEZICHT_VBH_INFORMEEL"} <= set(follow_ups["tasks"].codes)
        # The code catalogue marks those as safety: tasks is asked first, before every administrative question.
        assert decision.follow_up_facts[0].fact == "tasks" and follow_ups["tasks"].safety_related
        flags = [f.safety_related for f in decision.follow_up_facts]
        assert flags == sorted(flags, reverse=True)
        assert "reserved_act" in follow_ups["tasks"].values
        assert follow_ups["tasks"].question

    def test_a_daughter_giving_injections_is_asked_about_competence_risk_talk_and_care_plan(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        follow_ups = {
            f.fact: f for f in _decide(stub, rule_set, {**DAUGHTER, "tasks": ["reserved_act"]}).follow_up_facts
        }
        assert {"competence", "risk_conversation_held", "agreed_in_zorgleefplan"} <= set(follow_ups)
        assert "OPEN_BEKWAAMHEID" in follow_ups["competence"].codes
        assert "tasks" not in follow_ups

    def test_answering_every_follow_up_leaves_none(self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet) -> None:
        facts: dict[str, Any] = dict(DAUGHTER)
        for _ in range(len(rule_set.facts)):
            decision = _decide(stub, rule_set, facts)
            if not decision.follow_up_facts:
                break
            first = decision.follow_up_facts[0]
            facts[first.fact] = _answers(rule_set, first)[-1]
        else:
            pytest.fail(f"follow-up facts left after answering {len(facts)} facts")
        assert len(facts) > len(DAUGHTER)


class TestDefaultedFacts:
    """Every decision names the facts that took their default, so "no tasks" differs from "never asked"."""

    def test_tasks_never_given_are_listed_as_defaulted(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        decision = _decide(stub, rule_set, DAUGHTER, full=False)
        assert "tasks" in decision.defaulted_facts
        assert "initiative" in decision.defaulted_facts  # a default stage A1 derives for a relative
        assert not set(DAUGHTER) & set(decision.defaulted_facts)

    def test_tasks_given_as_none_are_not_defaulted(self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet) -> None:
        decision = _decide(stub, rule_set, {**DAUGHTER, "tasks": []}, full=False)
        assert "tasks" not in decision.defaulted_facts

    def test_a_fact_given_as_unknown_is_not_defaulted(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        decision = _decide(stub, rule_set, {**DAUGHTER, "payment": "unknown"}, full=False)
        assert "payment" not in decision.defaulted_facts


class TestTheShortCutChangesNothing:
    """With one combination, an answer is decided by re-running only the stages it changes; that gives the same
    follow-up facts as deciding every answer from scratch."""

    @given(data=st.data())
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_follow_ups_of_known_situations_are_those_of_deciding_each_answer_afresh(
        self, engine: Engine, rule_set: RuleSet, data: st.DataObject
    ) -> None:
        chosen = data.draw(st.lists(st.sampled_from(sorted(KNOWN_CHOICES)), unique=True, max_size=8))
        facts = {**DAUGHTER, **{name: data.draw(st.sampled_from(KNOWN_CHOICES[name])) for name in chosen}}
        inputs = facts_from_proto(request(rule_set, facts, reference_date=DAY).facts)
        selection = engine.select(DAY)
        short = engine.evaluate(inputs, selection, follow_ups=True)
        afresh = engine.run(engine.plan(inputs, selection, follow_ups=True, exhaustive=True))
        assert short.combinations == 1
        assert short.follow_up_facts == afresh.follow_up_facts, facts


# Plain answers to facts a daughter's intake may hold: the situation stays one combination.
KNOWN_CHOICES: dict[str, list[Any]] = {
    "tasks": [[], ["reserved_act"], ["medication_oral", "household"], ["risky_act"], ["personal_care"]],
    "payment": ["unpaid", "pgb_paid", "expense_allowance"],
    "emergency": [True, False],
    "signals_overload": [True, False],
    "signals_shortcoming": [True, False],
    "competence": ["verified", "doubtful"],
    "risk_conversation_held": [True, False],
    "agreed_in_zorgleefplan": [True, False],
    "client_age_group": ["adult", "under_12"],
    "helper_age_group": ["adult", "14_15"],
    "info_flow_recipient": ["helper", "none"],
    "same_household": [True, False],
}


# Dates on both sides of the dated boundary of 2027-01-01, and one that only the older releases cover.
SHORTCUT_DAYS = (dt.date(2019, 6, 1), dt.date(2026, 6, 1), dt.date(2027, 3, 1))
# Numbers on, just beside and between the thresholds of the catalogue's parameters (8 hours, 3 months, ...).
NUMBERS = st.one_of(st.integers(min_value=0, max_value=40), st.sampled_from([2.5, 2.99, 3.01, 7.5, 7.99, 8.01, 8.5]))
# The reference decides every answer over every combination: few combinations keep it to seconds.
ORACLE_COMBINATIONS = 40


@pytest.fixture(scope="module")
def small_engine() -> Iterator[Engine]:
    engine = Engine(load_rule_sets(RULES_ROOT), max_combinations=ORACLE_COMBINATIONS)
    yield engine
    engine.close()


def _value(rule_set: RuleSet, name: str) -> st.SearchStrategy[Any]:
    fact = rule_set.facts[name]
    symbols = [s for s in fact.symbol_values if s not in fact.aliases]
    if fact.type == FactType.SET:
        return st.lists(st.sampled_from(symbols), unique=True, max_size=3)
    if fact.type == FactType.NUMBER:
        return st.one_of(NUMBERS, *([st.just("unknown")] if fact.unknown_allowed else []))
    if fact.type == FactType.BOOLEAN:
        return st.sampled_from([True, False, *(["unknown"] if fact.unknown_allowed else [])])
    return st.sampled_from(symbols)


# Situations to start from: none, a daughter's intake (many follow-ups) and every repository scenario.
STARTS: list[Mapping[str, Any]] = [
    {},
    DAUGHTER,
    *(scenario.facts for path in sorted(SCENARIOS.glob("*.yaml")) for scenario in load_scenarios(path)),
]


@st.composite
def _situations(draw: st.DrawFn, rule_set: RuleSet) -> dict[str, Any]:
    """A situation to start from with some facts changed, and often a ★ fact or two unknown: several
    combinations, in which an answer can change whether the combinations agree."""
    start = {name: value for name, value in draw(st.sampled_from(STARTS)).items() if name in rule_set.facts}
    chosen = draw(st.lists(st.sampled_from(list(rule_set.facts)), unique=True, max_size=6))
    stars = sorted(f.name for f in rule_set.facts.values() if f.decides_role and f.unknown_allowed)
    unknown = draw(st.lists(st.sampled_from(stars), unique=True, max_size=2))
    return {**start, **{name: draw(_value(rule_set, name)) for name in chosen}, **dict.fromkeys(unknown, "unknown")}


class TestFollowUpsAreThoseOfDecidingEveryAnswer:
    """The shortcuts of `_follow_ups` (which answers to try, which stages to run again, what to keep) find exactly
    the follow-up facts that deciding every answer of every fact not given afresh finds (`Plan.exhaustive`), on
    every release, before and after its dated boundaries."""

    @given(day=st.sampled_from(SHORTCUT_DAYS), data=st.data(), repeat=st.booleans())
    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_the_shortcuts_find_what_deciding_every_answer_finds(
        self, small_engine: Engine, day: dt.date, data: st.DataObject, repeat: bool
    ) -> None:
        in_force = [r.version for r in small_engine.rule_sets if r.in_force_on(day) and r.version in RELEASES]
        selection = small_engine.select(day, data.draw(st.sampled_from(in_force), label="release"))
        facts = data.draw(_situations(selection.rule_set), label="facts")
        inputs = facts_from_proto(request(selection.rule_set, facts).facts)
        try:
            fast = small_engine.run(small_engine.plan(inputs, selection, follow_ups=True))
        except (TooManyCombinations, InvalidFacts):  # a scenario's value an older release does not know
            assume(False)
        if repeat:  # a second time, from whatever the first one kept
            assert small_engine.run(small_engine.plan(inputs, selection, follow_ups=True)) == fast
        reference = small_engine.run(small_engine.plan(inputs, selection, follow_ups=True, exhaustive=True))
        assert fast == reference, facts

    def test_an_answer_that_makes_liability_differ_between_combinations_is_found(self, small_engine: Engine) -> None:
        # An off-duty nurse: whether she acted with intent is open, so liability is decided per combination, and
        # the setting (read only by liability rules) can make the combinations disagree, which stage H flags.
        facts = {
            "relation_to_beneficiary": "child",
            "helper_employment": "employee",
            "acting_capacity": "private",
            "professional_type": "verpleegkundige",
            "task_owner": "org",
            "regularity": "structural",
            "hours_per_week": 4,
            "duration_months": 6,
            "tasks": ["reserved_act"],
            "reserved_act_type": "injection",
            "agreed_in_zorgleefplan": True,
            "helper_intent_or_gross_recklessness": "unknown",
        }
        selection = small_engine.select(DAY)
        inputs = facts_from_proto(request(selection.rule_set, facts).facts)
        fast = small_engine.run(small_engine.plan(inputs, selection, follow_ups=True))
        reference = small_engine.run(small_engine.plan(inputs, selection, follow_ups=True, exhaustive=True))
        assert fast.combinations > 1
        assert fast.follow_up_facts == reference.follow_up_facts
