"""Which facts a situation's follow-ups need not try: those every rule testing them ignores, whatever they are.

A rule's condition is read three-valued on the facts of a situation with one fact left open, and on what the
stages before the rule's own derived for it (role, deployer, codes): when it comes out true or false, no answer
to that fact changes whether the rule matches. When that holds for every rule that tests the fact, no answer
changes what any stage concludes (stage by stage, each one is told what it was told before and matches the same
rules), and the fact's answers need not be decided. Anything not known for sure reads as open (aggregates,
values that are not plain, tests on a fact's markers), so the reading only ever leaves answers to try.
Durable-rules still decides every answer that is tried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from rolwijzer.engine.answers import holds, resolve
from rolwijzer.engine.compile import DEPLOYER, NO, ROLE, YES, CompiledRule, code_attribute, derive
from rolwijzer.engine.values import FactValue, is_plain
from rolwijzer.rules.conditions import fact_tests
from rolwijzer.rules.model import (
    AllOf,
    AnyOf,
    CodeTest,
    Condition,
    DeployerTest,
    FactOp,
    FactTest,
    Named,
    Not,
    ParamTest,
    RoleTest,
    Rule,
    RuleSet,
)

__all__ = ["Derived", "Readers", "Truth", "derived_by_stage", "readers_by_fact", "settled"]

# The rules of one stage that matched, in priority order (as stages.Matched).
Matched = tuple[CompiledRule, ...]

# What the stages before one stage derived for it, by message attribute (`_role`, `_code_X`, ...); absent is NO
# as in the message, and None marks an attribute that is not known for sure.
Derived = Mapping[str, str | None]
# A condition's truth on known facts with the named facts open, and on what earlier stages derived (None: nothing
# known of it): None when it may go either way.
Truth = Callable[[Mapping[str, FactValue], Collection[str], Derived | None], bool | None]
# The conditions that test one fact, with the stage of each and whether it is inert (`readers_by_fact`).
Readers = tuple[tuple[str, Truth, bool], ...]


def readers_by_fact(
    rule_set: RuleSet, day: dt.date, rules: Iterable[Rule], inert: Collection[str]
) -> dict[str, Readers]:
    """For each fact, the conditions of `rules` that test it, ready to be read three-valued on `day`.

    The rules named in `inert` conclude nothing that a later stage reads or that changes obligations or flags when
    there is one combination (liability codes nothing reads): with one combination they need not be settled.
    """
    found: dict[str, dict[str, tuple[str, Truth, bool]]] = {}
    for rule in rules:
        tested = {test.fact for test in fact_tests(rule.when)}
        if not tested:
            continue
        truth = _compile(rule_set, day, rule.when)
        for fact in tested:
            found.setdefault(fact, {})[rule.id] = (rule.stage, truth, rule.id in inert)
    return {fact: tuple(by_rule.values()) for fact, by_rule in found.items()}


def settled(
    readers: Readers, facts: Mapping[str, FactValue], fact: str, derived: Mapping[str, Derived], single: bool
) -> bool:
    """Whether every one of `readers` (but the inert ones when `single`, one combination) is true or false on
    `facts` whatever `fact` is, with `derived` what the earlier stages derived for each stage (a stage not in it:
    nothing known)."""
    open_ = (fact,)
    return all(
        (single and inert) or truth(facts, open_, derived.get(stage)) is not None for stage, truth, inert in readers
    )


def derived_by_stage(stages: Sequence[str], traces: Iterable[Sequence[Matched]]) -> dict[str, Derived]:
    """What the stages before each of `stages` derived for it, in every trace alike (None where traces differ).

    Each trace holds the rules each of `stages` matched, in order, as `StageRunner.decide` records them.
    """
    found: dict[str, dict[str, str | None]] = {}
    for trace in traces:
        derived: dict[str, str] = {}
        for stage, matched in zip(stages, trace, strict=True):
            seen = found.get(stage)
            if seen is None:
                found[stage] = dict(derived)
            else:
                for attribute in seen.keys() | derived.keys():
                    if seen.get(attribute, NO) != derived.get(attribute, NO):
                        seen[attribute] = None
            derive(matched, derived)
    return dict(found)


def _compile(rule_set: RuleSet, day: dt.date, cond: Condition) -> Truth:
    match cond:
        case AllOf(items):
            parts = tuple(_compile(rule_set, day, item) for item in items)
            return lambda facts, open_, derived: _all(part(facts, open_, derived) for part in parts)
        case AnyOf(items):
            parts = tuple(_compile(rule_set, day, item) for item in items)
            return lambda facts, open_, derived: _any(part(facts, open_, derived) for part in parts)
        case Not(item):
            inner = _compile(rule_set, day, item)
            return lambda facts, open_, derived: _not(inner(facts, open_, derived))
        case Named(_, item):
            return _compile(rule_set, day, item)
        case ParamTest(param, value):
            fixed = rule_set.parameters[param].value_on(day) == value
            return lambda facts, open_, derived: fixed
        case FactTest(fact, op, operand) if fact in rule_set.facts and op not in (FactOp.ABSENT, FactOp.CONFLICTING):
            resolved = resolve(rule_set, day, operand)

            def test(facts: Mapping[str, FactValue], open_: Collection[str], derived: Derived | None) -> bool | None:
                value = facts.get(fact)
                if fact in open_ or value is None or not is_plain(value):
                    return None
                if op == FactOp.KNOWN and not isinstance(value, float):
                    return None  # the message says whether a number is known, nothing of other facts
                return holds(op, resolved, value)

            return test
        case RoleTest(roles):
            return lambda facts, open_, derived: _one_of(derived, ROLE, roles)
        case DeployerTest(deployers):
            return lambda facts, open_, derived: _one_of(derived, DEPLOYER, deployers)
        case CodeTest(codes):
            attributes = tuple(code_attribute(code) for code in codes)
            return lambda facts, open_, derived: _any(_one_of(derived, a, (YES,)) for a in attributes)
    # Aggregates are stage H's; tests on absent or conflicting facts read what durable-rules is told of a fact's
    # markers: open here.
    return lambda facts, open_, derived: None


def _one_of(derived: Derived | None, attribute: str, values: tuple[str, ...]) -> bool | None:
    """Whether the derived `attribute` (NO when absent, as in the message) is one of `values`."""
    value = None if derived is None else derived.get(attribute, NO)
    return None if value is None else value in values


def _all(truths: Iterable[bool | None]) -> bool | None:
    found: bool | None = True
    for truth in truths:
        if truth is False:
            return False
        if truth is None:
            found = None
    return found


def _any(truths: Iterable[bool | None]) -> bool | None:
    found: bool | None = False
    for truth in truths:
        if truth is True:
            return True
        if truth is None:
            found = None
    return found


def _not(truth: bool | None) -> bool | None:
    return None if truth is None else not truth
