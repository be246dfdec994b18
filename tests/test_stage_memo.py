"""The process-wide stage memo changes no decision: memoized and fresh engines agree on whatever hypothesis draws,
for every release on the dates it covers, before and after the dated boundary of 2027-01-01."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rolwijzer.api.convert import facts_from_proto
from rolwijzer.engine import Engine, Known
from rolwijzer.engine.enumeration import TooManyCombinations
from rolwijzer.engine.stages import CompiledRuleSet
from rolwijzer.rules import FactType, RuleSet, load_rule_sets
from rolwijzer.rules.model import FactDef
from support import RULES_ROOT, examples, request

DAYS = (dt.date(2026, 6, 1), dt.date(2026, 12, 31), dt.date(2027, 3, 1))
# Numbers on, just beside and between the thresholds of the catalogue's parameters (8 hours, 3 months, ...).
NUMBERS = st.one_of(st.integers(min_value=0, max_value=40), st.sampled_from([2.5, 2.99, 3.01, 7.5, 7.99, 8.01, 8.5]))
AGREEMENT = settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[Engine, Engine]]:
    """A fresh engine (each evaluation keeps its own memo of exact messages) and one whose memo is small enough to
    be emptied many times during the test."""
    rule_sets = load_rule_sets(RULES_ROOT)
    fresh, memoized = Engine(rule_sets, stage_memo_size=0), Engine(rule_sets, stage_memo_size=64)
    yield fresh, memoized
    fresh.close()
    memoized.close()


def _value(rule_set: RuleSet, name: str) -> st.SearchStrategy[Any]:
    fact = rule_set.facts[name]
    symbols = [s for s in fact.symbol_values if s not in fact.aliases]
    if fact.type == FactType.SET:
        return st.lists(st.sampled_from(symbols), unique=True, max_size=3)
    if fact.type == FactType.NUMBER:
        return NUMBERS
    if fact.type == FactType.BOOLEAN:
        return st.sampled_from([True, False, *(["unknown"] if fact.unknown_allowed else [])])
    # `unknown` for at most a few facts keeps the combinations (and the test's time) small.
    return st.sampled_from([s for s in symbols if s != "unknown"]) if len(symbols) > 2 else st.sampled_from(symbols)


def _sibling(facts: dict[str, Any], rule_set: RuleSet, thresholds: Mapping[str, tuple[float, ...]]) -> dict[str, Any]:
    """`facts` with each number moved halfway to the next number the rules compare it with (or one up, within its
    maximum): another situation of the same class, on the same side of every threshold."""
    moved = dict(facts)
    for name, value in facts.items():
        if rule_set.facts[name].type != FactType.NUMBER or isinstance(value, str) or value in thresholds.get(name, ()):
            continue
        above = [t for t in thresholds.get(name, ()) if t > value]
        maximum = rule_set.facts[name].maximum
        upper = above[0] if above else value + 2 if maximum is None else min(value + 2, maximum)
        moved[name] = (value + upper) / 2
    return moved


def _same_kind(facts: dict[str, Any], rule_set: RuleSet, compiled: CompiledRuleSet) -> dict[str, Any]:
    """`facts` with each symbol and set replaced by another value that no rule tells apart from it (the first such
    in catalogue order, when there is one): another situation of the same class, with other symbols."""
    moved = dict(facts)
    for name, value in facts.items():
        fact = rule_set.facts[name]
        if fact.type in (FactType.NUMBER, FactType.BOOLEAN) or value == "unknown":
            continue
        kind = compiled.kind_of(name, _as_held(value))
        moved[name] = next((o for o in _others(fact, value) if compiled.kind_of(name, _as_held(o)) == kind), value)
    return moved


def _others(fact: FactDef, value: Any) -> Iterator[Any]:
    """Other values of `fact`: another symbol; for a set, the set with one symbol swapped or one added."""
    symbols = [s for s in fact.symbol_values if s not in fact.aliases and s != "unknown"]
    if fact.type != FactType.SET:
        yield from (s for s in symbols if s != value)
        return
    for index in range(len(value)):
        yield from ([*value[:index], s, *value[index + 1 :]] for s in symbols if s not in value)
    yield from ([*value, s] for s in symbols if s not in value)


def _as_held(value: Any) -> Any:
    """A symbol or a set as the engine holds it once checked."""
    return frozenset(value) if isinstance(value, list) else value


def _across(facts: dict[str, Any], rule_set: RuleSet, thresholds: Mapping[str, tuple[float, ...]]) -> dict[str, Any]:
    """`facts` with each number that a rule compares moved into another class: onto the first number it is compared
    with, or half past it when it is on it already."""
    moved = dict(facts)
    for name, value in facts.items():
        compared = thresholds.get(name, ())
        if rule_set.facts[name].type == FactType.NUMBER and not isinstance(value, str) and compared:
            moved[name] = compared[0] + 0.5 if value == compared[0] else compared[0]
    return moved


@st.composite
def _situations(draw: st.DrawFn, rule_set: RuleSet) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(list(rule_set.facts)), unique=True, max_size=12))
    return {name: draw(_value(rule_set, name)) for name in chosen}


class TestStageMemo:
    """Memoized evaluation is fresh evaluation, on every release and date."""

    @pytest.mark.parametrize("day", DAYS, ids=[d.isoformat() for d in DAYS])
    def test_memoized_and_fresh_engines_decide_alike(self, engines: tuple[Engine, Engine], day: dt.date) -> None:
        fresh, memoized = engines
        in_force = [r for r in fresh.rule_sets if r.in_force_on(day)]
        assert len(in_force) >= 2  # a superseded release and the current one, so both kinds are tried

        @given(version=st.sampled_from([r.version for r in in_force]), data=st.data())
        @AGREEMENT
        def check(version: str, data: st.DataObject) -> None:
            rule_set = next(r for r in in_force if r.version == version)
            facts = data.draw(_situations(rule_set), label="facts")
            follow_ups = data.draw(st.sampled_from([False, False, False, True]), label="follow_ups")
            inputs = facts_from_proto(request(rule_set, facts).facts)
            decided = []
            for engine in (fresh, memoized):
                try:
                    decided.append(engine.evaluate(inputs, engine.select(day, version), follow_ups=follow_ups))
                except TooManyCombinations:
                    assume(False)
            assert decided[0] == decided[1], facts
            # The same situation class with other numbers and symbols: the memoized engine answers from its decision
            # memo (it keeps no new entry, and plans it as `Known`), and says what the fresh engine says for those
            # numbers and symbols.
            selection = memoized.select(day, version)
            sibling = _same_kind(_sibling(facts, rule_set, selection.compiled.thresholds), rule_set, selection.compiled)
            sibling_inputs = facts_from_proto(request(rule_set, sibling).facts)
            kept = len(memoized.decisions)
            # Planned as a class decided before: nothing is normalised or evaluated.
            assert isinstance(memoized.plan(sibling_inputs, selection, follow_ups=follow_ups), Known), sibling
            again = memoized.evaluate(sibling_inputs, selection, follow_ups=follow_ups)
            assert len(memoized.decisions) == kept, (facts, sibling)
            assert again == fresh.evaluate(sibling_inputs, fresh.select(day, version), follow_ups=follow_ups), sibling
            # Another class, everything else alike: each number moved onto or past the first threshold it is compared
            # with. The memo must not answer it with the decision of the first class.
            across = _across(facts, rule_set, selection.compiled.thresholds)
            across_inputs = facts_from_proto(request(rule_set, across).facts)
            assert memoized.evaluate(across_inputs, selection, follow_ups=follow_ups) == fresh.evaluate(
                across_inputs, fresh.select(day, version), follow_ups=follow_ups
            ), across

        check()

    def test_situations_that_differ_only_in_a_set_facts_symbols_are_decided_each_on_its_own(
        self, engines: tuple[Engine, Engine]
    ) -> None:
        """The decision memo tells the symbols of a set fact apart (and their absence from an empty set)."""
        fresh, memoized = engines
        selection = memoized.select(DAYS[1])
        rule_set = selection.rule_set
        situation = {"relation_to_beneficiary": "child", "regularity": "structural", "hours_per_week": 12}
        decided = []
        for tasks in (["household"], ["reserved_act"], ["household", "reserved_act"], []):
            inputs = facts_from_proto(request(rule_set, {**situation, "tasks": tasks}).facts)
            decision = memoized.evaluate(inputs, selection)
            assert decision == fresh.evaluate(inputs, fresh.select(DAYS[1])), tasks
            decided.append(decision)
        assert len({repr(d.codes()) for d in decided}) > 1, "test setup: the tasks change the decision"

    def test_numbers_on_the_same_side_of_every_threshold_share_an_entry(self) -> None:
        """9 and 30 hours a week fall on the same side of every threshold: the second asks durable-rules nothing new."""
        memoized = Engine(load_rule_sets(RULES_ROOT))
        selection = memoized.select(DAYS[0])
        rule_set = selection.rule_set
        situation = {"relation_to_beneficiary": "child", "regularity": "structural", "duration_months": 6}
        first = facts_from_proto(request(rule_set, {**situation, "hours_per_week": 9}).facts)
        second = facts_from_proto(request(rule_set, {**situation, "hours_per_week": 30}).facts)
        memoized.evaluate(first, selection)
        held = len(selection.compiled.memo)
        assert memoized.evaluate(second, selection).role == memoized.evaluate(first, selection).role
        assert len(selection.compiled.memo) == held
        memoized.close()


class TestSharedFindings:
    """Decisions share their findings (one tuple per list of codes and rules, aggregate.py): each decision still
    names, for every code, exactly the rules of its own that concluded it."""

    def test_every_finding_names_the_rules_that_fired_and_concluded_its_code(self) -> None:
        engine = Engine(load_rule_sets(RULES_ROOT))

        @given(day=st.sampled_from(DAYS), data=st.data())
        @AGREEMENT
        def check(day: dt.date, data: st.DataObject) -> None:
            selection = engine.select(day)
            facts = data.draw(_situations(selection.rule_set), label="facts")
            try:
                decision = engine.evaluate(facts_from_proto(request(selection.rule_set, facts).facts), selection)
            except TooManyCombinations:
                assume(False)
            # The codes each rule concludes in its compiled forms (a rule on every fact has one form per fact).
            forms: dict[str, list[frozenset[str]]] = {}
            for stage in selection.compiled.stages.values():
                for compiled in stage.rules.values():
                    forms.setdefault(compiled.rule.id, []).append(frozenset(compiled.codes))
            fired = set(decision.fired_rules)
            for finding in (*decision.liabilities, *decision.obligations, *decision.flags):
                named = set(finding.rule_ids)
                assert named <= fired, (facts, finding)
                assert all(any(finding.code in codes for codes in forms[rule_id]) for rule_id in named), finding
                always = {r for r in fired if all(finding.code in codes for codes in forms.get(r, [frozenset()]))}
                assert always <= named, (facts, finding)

        check()
        engine.close()
