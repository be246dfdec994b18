"""Compile the rules of one stage into a durable-rules ruleset, and encode facts as its messages.

A message is a flat JSON object. Symbol and boolean facts are strings (absent or conflicting ones carry a marker);
a number fact is a number plus `<fact>__known`; a set fact is one `<fact>__<symbol>` flag per symbol; the role,
deployer, earlier codes and stage-H aggregates are `_role`, `_deployer`, `_code_<CODE>` and `_agg_<name>`.
Parameters are decided at compile time for the evaluation date, so a rule that cannot fire on that date is left
out. Only the attributes a stage's rules read are put in its messages.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any as AnyType

from rolwijzer.engine.durable_session import CATCH_ALL_ATTRIBUTE, DurableRuleset
from rolwijzer.engine.values import FactValue, OneOf
from rolwijzer.rules.model import (
    AggregateTest,
    AllOf,
    AnyOf,
    CodeTest,
    Condition,
    DeployerTest,
    FactOp,
    FactTest,
    FactType,
    GroupRef,
    Named,
    Not,
    ParamRef,
    ParamTest,
    RoleTest,
    Rule,
    RuleSet,
    conflict_code,
)

ABSENT = "~absent"
CONFLICTING = "~one_of"
YES, NO = "y", "n"
ROLE, DEPLOYER = "_role", "_deployer"
FIRST_MATCH_STAGES = frozenset({"B"})

Json = dict[str, AnyType]


class CompileError(ValueError):
    """A rule cannot be compiled; the message names the rule."""


@dataclass(frozen=True)
class CompiledRule:
    """A rule as registered in durable-rules. One rule may register under several names (the A6 expansion)."""

    rule: Rule
    codes: tuple[str, ...]


@dataclass(frozen=True)
class CompiledStage:
    """A stage ready to evaluate: its durable ruleset, its rules by name, and the encoder of its messages."""

    stage: str
    ruleset: DurableRuleset
    rules: Mapping[str, CompiledRule]
    encoder: Encoder


def code_attribute(code: str) -> str:
    """The message attribute that says whether an earlier stage concluded `code`."""
    return f"_code_{code}"


def derive(matched: Sequence[CompiledRule], derived: dict[str, str]) -> None:
    """Add to `derived` the attributes (role, deployer, codes) that matching these rules gives later stages."""
    for compiled in matched:
        then = compiled.rule.then
        if then.role is not None:
            derived[ROLE] = then.role
            derived[DEPLOYER] = then.volunteer_deployer or ""
        for code in compiled.codes:
            derived[code_attribute(code)] = YES


def aggregate_attribute(name: str) -> str:
    """The message attribute of a stage-H aggregate."""
    return f"_agg_{name}"


def compile_stage(rule_set: RuleSet, stage: str, day: dt.date) -> CompiledStage:
    """Compile every rule of `stage` with the parameters in force on `day`.

    Raises:
        CompileError: a rule refers to a parameter with no value on `day`.
    """
    compiler = _Compiler(rule_set, day)
    definitions: dict[str, Json] = {}
    compiled: dict[str, CompiledRule] = {}
    for priority, rule in enumerate(rule_set.stage_rules(stage, day), start=1):
        for name, expression, codes in compiler.expand(rule):
            if expression is False:
                continue
            body = {CATCH_ALL_ATTRIBUTE: 1} if expression is True else expression
            definitions[name] = {"all": [{"m": body}], "pri": priority}
            compiled[name] = CompiledRule(rule, codes)
    ruleset = DurableRuleset(f"{rule_set.id}:{rule_set.version}:{stage}", definitions, stage in FIRST_MATCH_STAGES)
    encoder = Encoder(rule_set, frozenset(compiler.attributes), compiler.thresholds)
    return CompiledStage(stage, ruleset, compiled, encoder)


class _Compiler:
    """Turns conditions into durable-rules expressions in negation normal form (durable has no `$not`)."""

    def __init__(self, rule_set: RuleSet, day: dt.date) -> None:
        self.rs = rule_set
        self.day = day
        self.attributes: set[str] = set()
        # The numbers each number fact is compared with: all a stage's rules can tell of a number is its side of each.
        self.thresholds: dict[str, set[float]] = {}
        self._rule_id = ""

    def expand(self, rule: Rule) -> list[tuple[str, Json | bool, tuple[str, ...]]]:
        self._rule_id = rule.id
        when = rule.when
        if isinstance(when, FactTest) and when.fact == "*":
            return [
                (f"{rule.id}|{name}", self._attr_test(f"{name}__one_of", YES), (conflict_code(name),))
                for name, fact in self.rs.facts.items()
                if fact.type != FactType.SET
            ]
        return [(rule.id, self.condition(when, negated=False), rule.then.codes)]

    def condition(self, cond: Condition, negated: bool) -> Json | bool:
        match cond:
            case AllOf(items):
                parts = [self.condition(c, negated) for c in items]
                return _disjunction(parts) if negated else _conjunction(parts)
            case AnyOf(items):
                parts = [self.condition(c, negated) for c in items]
                return _conjunction(parts) if negated else _disjunction(parts)
            case Not(item):
                return self.condition(item, not negated)
            case Named(_, item):
                return self.condition(item, negated)
            case ParamTest(param, value):
                return (self._param(param) == value) != negated
            case RoleTest(codes):
                return self._one_of(ROLE, codes, negated)
            case DeployerTest(codes):
                return self._one_of(DEPLOYER, codes, negated)
            case CodeTest(codes):
                flags = [self._attr_test(code_attribute(c), NO if negated else YES) for c in codes]
                return _conjunction(flags) if negated else _disjunction(flags)
            case AggregateTest(name, value):
                return self._attr_test(aggregate_attribute(name), YES if value != negated else NO)
            case FactTest():
                return self._fact(cond, negated)
        raise CompileError(f"{self._rule_id}: cannot compile {cond!r}")

    def _fact(self, test: FactTest, negated: bool) -> Json | bool:
        fact, op = test.fact, test.op
        if op in (FactOp.IS, FactOp.IS_NOT):
            return self._one_of(fact, (str(test.operand),), negated != (op == FactOp.IS_NOT))
        if op == FactOp.IN:
            return self._one_of(fact, self._symbols(test), negated)
        if op == FactOp.ABSENT:
            return self._one_of(fact, (ABSENT,), negated)
        if op == FactOp.KNOWN:
            return self._attr_test(f"{fact}__known", NO if negated else YES)
        if op in _COMPARISONS:
            threshold = self._number(test)
            operator, opposite = _COMPARISONS[op]
            self.attributes.add(fact)
            self.thresholds.setdefault(fact, set()).add(threshold)
            if negated:
                return _disjunction([self._attr_test(f"{fact}__known", NO), {opposite: {fact: threshold}}])
            return _conjunction([self._attr_test(f"{fact}__known", YES), {operator: {fact: threshold}}])
        if op == FactOp.CONTAINS:
            return self._member(fact, str(test.operand), not negated)
        if op == FactOp.CONTAINS_ANY:
            members = [self._member(fact, s, not negated) for s in self._symbols(test)]
            return _conjunction(members) if negated else _disjunction(members)
        if op == FactOp.ONLY:
            allowed = set(self._symbols(test))
            others = [s for s in self.rs.facts[fact].symbol_values if s not in allowed]
            some = [self._member(fact, s, True) for s in sorted(allowed)]
            if negated:
                none_of = [self._member(fact, s, False) for s in sorted(allowed)]
                return _disjunction([_conjunction(none_of), *(self._member(fact, s, True) for s in others)])
            return _conjunction([_disjunction(some), *(self._member(fact, s, False) for s in others)])
        raise CompileError(f"{self._rule_id}: test {op} cannot be compiled")

    def _one_of(self, attribute: str, values: tuple[str, ...], negated: bool) -> Json | bool:
        if negated:
            self.attributes.add(attribute)
            return _conjunction([{"$neq": {attribute: v}} for v in values])
        return _disjunction([self._attr_test(attribute, v) for v in values])

    def _attr_test(self, attribute: str, value: str) -> Json:
        self.attributes.add(attribute)
        return {attribute: value}

    def _member(self, fact: str, symbol: str, present: bool) -> Json:
        return self._attr_test(f"{fact}__{symbol}", YES if present else NO)

    def _param(self, name: str) -> object:
        value = self.rs.parameters[name].value_on(self.day)
        if value is None:
            raise CompileError(f"{self._rule_id}: parameter {name} has no value on {self.day}")
        return value

    def _number(self, test: FactTest) -> float:
        operand = test.operand
        value = self._param(operand.name) if isinstance(operand, ParamRef) else operand
        if not isinstance(value, float):
            raise CompileError(f"{self._rule_id}: {test.fact} is compared with a non-number")
        return value

    def _symbols(self, test: FactTest) -> tuple[str, ...]:
        operand = test.operand
        if isinstance(operand, GroupRef):
            return tuple(sorted(self.rs.groups[operand.name].symbols))
        if isinstance(operand, ParamRef):
            value = self._param(operand.name)
            if not isinstance(value, tuple):
                raise CompileError(f"{self._rule_id}: parameter {operand.name} is not a list of symbols")
            return value
        if isinstance(operand, tuple):
            return operand
        return (str(operand),)


_COMPARISONS = {
    FactOp.ABOVE: ("$gt", "$lte"),
    FactOp.AT_LEAST: ("$gte", "$lt"),
    FactOp.AT_MOST: ("$lte", "$gt"),
    FactOp.BELOW: ("$lt", "$gte"),
}


def _conjunction(parts: Sequence[Json | bool]) -> Json | bool:
    return _combine(parts, "$and", absorbing=False)


def _disjunction(parts: Sequence[Json | bool]) -> Json | bool:
    return _combine(parts, "$or", absorbing=True)


def _combine(parts: Sequence[Json | bool], operator: str, absorbing: bool) -> Json | bool:
    """Join parts with `operator`, folding constants: `absorbing` decides the whole, its opposite drops out."""
    if any(part is absorbing for part in parts):
        return absorbing
    kept = [part for part in parts if not isinstance(part, bool)]
    if not kept:
        return not absorbing
    return kept[0] if len(kept) == 1 else {operator: kept}


class Encoder:
    """Builds a stage's message from facts and derived attributes, in a fixed attribute order.

    The plan is made once per stage at compile time; `values` is on the hot path of every evaluation.
    """

    _DERIVED, _NUMBER, _SCALAR, _KNOWN, _ONE_OF, _MEMBER = range(6)

    def __init__(
        self, rule_set: RuleSet, attributes: frozenset[str], thresholds: Mapping[str, set[float]] | None = None
    ) -> None:
        self.names = tuple(sorted(attributes))
        # What the messages read: facts (by name) and attributes that earlier stages derive (role, codes).
        self.facts_read = frozenset(name.partition("__")[0] for name in self.names if not name.startswith("_"))
        self.derived_read = frozenset(name for name in self.names if name.startswith("_"))
        # The facts whose value the messages read, not only whether they were given as one_of: for two values that
        # are neither one_of, a stage that reads no other fact of theirs sees the same message.
        self.values_read = frozenset(
            name.partition("__")[0] for name in self.names if not name.startswith("_") and not name.endswith("__one_of")
        )
        # The numbers the stage compares each number fact with, in order.
        self.thresholds: Mapping[str, tuple[float, ...]] = {
            name: tuple(sorted(found)) for name, found in (thresholds or {}).items()
        }
        # Where the numbers sit in `values`, with the thresholds the stage compares each with, in order.
        self._numbers = tuple(
            (index, tuple(sorted((thresholds or {}).get(name, ()))))
            for index, name in enumerate(self.names)
            if not name.startswith("_") and "__" not in name and rule_set.facts[name].type == FactType.NUMBER
        )
        plan: list[tuple[int, str, str]] = []
        for attribute in self.names:
            if attribute.startswith("_"):
                plan.append((self._DERIVED, attribute, ""))
                continue
            name, _, suffix = attribute.partition("__")
            if not suffix:
                kind = self._NUMBER if rule_set.facts[name].type == FactType.NUMBER else self._SCALAR
                plan.append((kind, name, ""))
            elif suffix == "known":
                plan.append((self._KNOWN, name, ""))
            elif suffix == "one_of":
                plan.append((self._ONE_OF, name, ""))
            else:
                plan.append((self._MEMBER, name, suffix))
        self._plan = tuple(plan)
        self.values: Callable[[Mapping[str, FactValue], Mapping[str, str]], tuple[str | float, ...]] = _values_function(
            self._plan
        )
        """The attribute values for these facts and derived attributes, in the order of `names`."""

    def key(self, values: tuple[str | float, ...]) -> tuple[str | float, ...]:
        """`values` with each number replaced by its side of every threshold the stage compares it with.

        Two messages with the same key match the same rules: the rules compare numbers only with those thresholds.
        """
        if not self._numbers:
            return values
        reduced = list(values)
        for index, thresholds in self._numbers:
            number = values[index]
            if not isinstance(number, float):  # never: the attribute is 0.0 when the number is not known
                continue
            reduced[index] = side(thresholds, number)
        return tuple(reduced)

    def message(self, values: tuple[str | float, ...]) -> dict[str, str | float]:
        """The durable-rules message for `values`."""
        return dict(zip(self.names, values, strict=True))


def side(thresholds: Sequence[float], number: float) -> float:
    """Where `number` sits among the ordered `thresholds`: equal for numbers no comparison with them tells apart."""
    below = bisect.bisect_left(thresholds, number)
    on = below < len(thresholds) and thresholds[below] == number
    return float(2 * below + on)


def _values_function(
    plan: Sequence[tuple[int, str, str]],
) -> Callable[[Mapping[str, FactValue], Mapping[str, str]], tuple[str | float, ...]]:
    """A function that builds a stage's message values by `plan`, written out as one expression per attribute.

    It runs for every stage of every combination, so it is generated once per stage at compile time instead of
    looping over the plan and dispatching on each attribute's kind at every call (measured 2-3 times faster).
    Names from the rule files appear only as `repr` literals, never as code.
    """
    reads = sorted({name for kind, name, _ in plan if kind != Encoder._DERIVED})
    local = {name: f"v{index}" for index, name in enumerate(reads)}
    parts = []
    for kind, name, symbol in plan:
        if kind == Encoder._DERIVED:
            parts.append(f"derived_get({name!r}, NO)")
            continue
        v = local[name]
        if kind == Encoder._SCALAR:
            parts.append(f"(ABSENT if {v} is None else {v} if isinstance({v}, str) else CONFLICTING)")
        elif kind == Encoder._NUMBER:
            parts.append(f"({v} if isinstance({v}, float) else 0.0)")
        elif kind == Encoder._KNOWN:
            parts.append(f"(YES if isinstance({v}, float) else NO)")
        elif kind == Encoder._ONE_OF:
            parts.append(f"(YES if isinstance({v}, OneOf) and {v}.reported else NO)")
        else:
            parts.append(f"(YES if isinstance({v}, frozenset) and {symbol!r} in {v} else NO)")
    lines = [
        "def values(facts, derived):",
        "    get = facts.get",
        "    derived_get = derived.get",
        *(f"    {local[name]} = get({name!r})" for name in reads),
        f"    return ({''.join(part + ', ' for part in parts)})",
    ]
    namespace: dict[str, AnyType] = {
        "ABSENT": ABSENT,
        "CONFLICTING": CONFLICTING,
        "YES": YES,
        "NO": NO,
        "OneOf": OneOf,
    }
    # Defined into a dict of its own, not into its globals: a function in its own globals is a reference cycle,
    # which only a full collection frees, and a reload frees the compiled forms it replaced without one (reload.py).
    defined: dict[str, AnyType] = {}
    exec(compile("\n".join(lines), "<stage message values>", "exec"), namespace, defined)  # names only as literals
    built: Callable[[Mapping[str, FactValue], Mapping[str, str]], tuple[str | float, ...]] = defined["values"]
    return built
