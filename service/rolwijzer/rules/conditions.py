"""Parse the condition language of the rule files into condition objects.

A condition is one of:
  {all: [...]}, {any: [...]}, {not: {...}}, {predicate: NAME}, {param: NAME, is: VALUE},
  {role: CODE | [CODES]}, {volunteer_deployer: CODE | [CODES]}, {code: CODE | [CODES]},
  {aggregate: NAME, is: BOOL}, or {fact: NAME, <op>: OPERAND} with one op of `FactOp`.
Parsing checks the shape only; `validate.py` checks names against the catalogues.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any as AnyType

from rolwijzer.rules.model import (
    AggregateTest,
    AllOf,
    AnyOf,
    CodeTest,
    Condition,
    DeployerTest,
    FactOp,
    FactTest,
    GroupRef,
    Named,
    Not,
    NumberOperand,
    ParamRef,
    ParamTest,
    RoleTest,
    Scalar,
    SymbolsOperand,
)

_NUMBER_OPS = {FactOp.ABOVE, FactOp.AT_LEAST, FactOp.AT_MOST, FactOp.BELOW}
_SYMBOLS_OPS = {FactOp.IN, FactOp.CONTAINS_ANY, FactOp.ONLY}
_FLAG_OPS = {FactOp.KNOWN, FactOp.ABSENT, FactOp.CONFLICTING}


class ConditionError(ValueError):
    """A condition is not written in the condition language."""


def fact_tests(cond: Condition) -> Iterator[FactTest]:
    """Every test on a fact inside `cond`, predicates included."""
    match cond:
        case AllOf(items) | AnyOf(items):
            for item in items:
                yield from fact_tests(item)
        case Not(item) | Named(_, item):
            yield from fact_tests(item)
        case FactTest():
            yield cond


def parse_condition(raw: object, predicates: Mapping[str, Condition]) -> Condition:
    """Parse one condition, inlining predicates from `predicates`.

    Raises:
        ConditionError: the condition is malformed or names an unknown predicate.
    """
    if not isinstance(raw, dict) or not raw:
        raise ConditionError(f"a condition must be a non-empty mapping, got {raw!r}")
    keys = set(raw)
    if keys in ({"all"}, {"any"}):
        items = raw["all"] if "all" in raw else raw["any"]
        if not isinstance(items, list) or not items:
            raise ConditionError("'all' and 'any' take a non-empty list of conditions")
        parsed = tuple(parse_condition(item, predicates) for item in items)
        return AllOf(parsed) if "all" in raw else AnyOf(parsed)
    if keys == {"not"}:
        return Not(parse_condition(raw["not"], predicates))
    if keys == {"predicate"}:
        name = raw["predicate"]
        if name not in predicates:
            raise ConditionError(f"unknown predicate {name!r}")
        return Named(str(name), predicates[name])
    if keys == {"param", "is"}:
        return ParamTest(str(raw["param"]), _scalar_text(raw["is"]))
    if keys == {"role"}:
        return RoleTest(_codes(raw["role"]))
    if keys == {"volunteer_deployer"}:
        return DeployerTest(_codes(raw["volunteer_deployer"]))
    if keys == {"code"}:
        return CodeTest(_codes(raw["code"]))
    if keys == {"aggregate", "is"}:
        value = raw["is"]
        if not isinstance(value, bool):
            raise ConditionError("an aggregate test takes is: true or is: false")
        return AggregateTest(str(raw["aggregate"]), value)
    if "fact" in keys and len(keys) == 2:
        return _fact_test(raw)
    raise ConditionError(f"unrecognised condition with keys {sorted(keys)}")


def _fact_test(raw: dict[str, AnyType]) -> FactTest:
    fact = str(raw["fact"])
    (op_name,) = (k for k in raw if k != "fact")
    try:
        op = FactOp(op_name)
    except ValueError:
        raise ConditionError(f"unknown test {op_name!r} on fact {fact!r}") from None
    operand = raw[op_name]
    if op in _NUMBER_OPS:
        return FactTest(fact, op, _number_operand(operand))
    if op in _SYMBOLS_OPS:
        return FactTest(fact, op, _symbols_operand(operand))
    if op in _FLAG_OPS:
        if operand is not True:
            raise ConditionError(f"'{op}' takes the value true")
        return FactTest(fact, op, True)
    return FactTest(fact, op, _scalar_value(operand))


def _codes(raw: object) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) for v in values):
        raise ConditionError(f"expected a code or a list of codes, got {raw!r}")
    return tuple(values)


def _scalar_text(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _scalar_value(raw: object) -> Scalar:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        return raw
    raise ConditionError(f"expected a symbol, boolean or number, got {raw!r}")


def _number_operand(raw: object) -> NumberOperand:
    if isinstance(raw, dict) and set(raw) == {"param"}:
        return ParamRef(str(raw["param"]))
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    raise ConditionError(f"expected a number or {{param: NAME}}, got {raw!r}")


def _symbols_operand(raw: object) -> SymbolsOperand:
    if isinstance(raw, dict) and set(raw) == {"group"}:
        return GroupRef(str(raw["group"]))
    if isinstance(raw, dict) and set(raw) == {"param"}:
        return ParamRef(str(raw["param"]))
    if isinstance(raw, list) and raw:
        return tuple(_scalar_text(v) for v in raw)
    raise ConditionError(f"expected a list of symbols, {{group: NAME}} or {{param: NAME}}, got {raw!r}")
