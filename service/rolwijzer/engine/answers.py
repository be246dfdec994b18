"""Which answers to a fact the rules can tell apart, so follow-up questions are tried once per kind of answer.

Two answers that every test on the fact (in every rule valid on the day, predicates included) treats alike lead to
the same decision, so only one of them needs evaluating. This module only groups answers; durable-rules still
decides every answer that is tried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rolwijzer.engine.values import FactValue
from rolwijzer.rules.conditions import fact_tests
from rolwijzer.rules.model import (
    UNKNOWN,
    FactDef,
    FactOp,
    FactType,
    GroupRef,
    ParamRef,
    Rule,
    RuleSet,
)

__all__ = ["Answer", "FactAnswers", "answers_by_fact", "holds", "resolve"]

_NUMBER_OPS = {FactOp.ABOVE, FactOp.AT_LEAST, FactOp.AT_MOST, FactOp.BELOW}


@dataclass(frozen=True)
class Answer:
    """One answer to a fact as the engine holds it, with the label a caller sends for it."""

    value: FactValue
    label: str


@dataclass(frozen=True)
class FactAnswers:
    """One answer of each kind the rules tell apart, and how to tell the kind of any value."""

    fact: str
    answers: tuple[Answer, ...]
    tests: tuple[tuple[FactOp, object], ...]
    # The kind of each of `answers`, in order: read for every follow-up question, so found once.
    kinds: tuple[tuple[bool, ...], ...] = ()

    def others(self, value: FactValue | None) -> list[FactValue]:
        """The answers of every kind but the kind of `value` (all of them when None)."""
        if value is None:
            return [answer.value for answer in self.answers]
        taken = self.kind(value)
        return [answer.value for answer, kind in zip(self.answers, self.kinds, strict=True) if kind != taken]

    def kind(self, value: FactValue) -> tuple[bool, ...]:
        """The outcome of every test on the fact for `value`: equal for answers the rules cannot tell apart."""
        return tuple(holds(op, operand, value) for op, operand in self.tests)


def answers_by_fact(rule_set: RuleSet, day: dt.date, rules: Iterable[Rule]) -> dict[str, FactAnswers]:
    """For each fact with at least two kinds of answers on `day`, one answer of each kind."""
    tests: dict[str, set[tuple[FactOp, object]]] = {}
    for rule in rules:
        for test in fact_tests(rule.when):
            if test.op in (FactOp.ABSENT, FactOp.CONFLICTING) or test.fact not in rule_set.facts:
                continue
            tests.setdefault(test.fact, set()).add((test.op, resolve(rule_set, day, test.operand)))
    found = {}
    for name, on_fact in tests.items():
        ordered = tuple(sorted(on_fact, key=repr))
        kinds: dict[tuple[bool, ...], Answer] = {}
        for answer in _candidates(rule_set.facts[name], ordered):
            kinds.setdefault(tuple(holds(op, operand, answer.value) for op, operand in ordered), answer)
        if len(kinds) > 1:
            found[name] = FactAnswers(name, tuple(kinds.values()), ordered, tuple(kinds))
    return found


def resolve(rule_set: RuleSet, day: dt.date, operand: object) -> object:
    """Operands as the compiler reads them on `day`: groups and parameters become their symbols or number."""
    if isinstance(operand, GroupRef):
        return frozenset(rule_set.groups[operand.name].symbols)
    if isinstance(operand, ParamRef):
        value = rule_set.parameters[operand.name].value_on(day)
        return frozenset(value) if isinstance(value, tuple) else value
    if isinstance(operand, tuple):
        return frozenset(str(v) for v in operand)
    if isinstance(operand, bool):
        return "true" if operand else "false"
    return operand


def _candidates(fact: FactDef, tests: tuple[tuple[FactOp, object], ...]) -> Iterator[Answer]:
    plain = fact.plain_symbols
    if fact.type == FactType.SET:
        for symbol in plain:
            yield Answer(frozenset({symbol}), symbol)
    elif fact.type == FactType.NUMBER:
        thresholds = sorted({float(t) for op, t in tests if op in _NUMBER_OPS and isinstance(t, int | float)})
        numbers = {0.0, *thresholds, *(t + 1 for t in thresholds), *(t - 1 if t >= 1 else t / 2 for t in thresholds)}
        for number in sorted(n for n in numbers if n >= 0 and (fact.maximum is None or n <= fact.maximum)):
            yield Answer(number, f"{number:g}")
    else:
        for symbol in plain:
            yield Answer(symbol, symbol)


def holds(op: FactOp, operand: object, value: FactValue) -> bool:
    """A test on a plain value, as engine/compile.py encodes it (a value that is unknown or one_of is never tried)."""
    if isinstance(value, frozenset):
        symbols = operand if isinstance(operand, frozenset) else frozenset({str(operand)})
        if op == FactOp.CONTAINS:
            return str(operand) in value
        if op == FactOp.CONTAINS_ANY:
            return bool(value & symbols)
        return op == FactOp.ONLY and bool(value) and value <= symbols
    if isinstance(value, float):
        if op == FactOp.KNOWN:
            return True
        if not isinstance(operand, int | float):
            return False
        return {
            FactOp.ABOVE: value > operand,
            FactOp.AT_LEAST: value >= operand,
            FactOp.AT_MOST: value <= operand,
            FactOp.BELOW: value < operand,
        }.get(op, False)
    if op == FactOp.IS:
        return value == str(operand)
    if op == FactOp.IS_NOT:
        return value != str(operand)
    if op == FactOp.IN:
        return value in operand if isinstance(operand, frozenset) else value == str(operand)
    return op == FactOp.KNOWN and value != UNKNOWN
