"""Check a caller's facts against the facts catalogue and turn them into engine values.

Every bad fact gets one violation naming the field and the reason; a situation with any violation is not
evaluated at all.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from rolwijzer.engine.values import FactValue, OneOf
from rolwijzer.rules.model import UNKNOWN, FactDef, FactType, RuleSet


@dataclass(frozen=True)
class SymbolInput:
    """One symbol."""

    value: str


@dataclass(frozen=True)
class BooleanInput:
    """Yes or no."""

    value: bool


@dataclass(frozen=True)
class NumberInput:
    """A number."""

    value: float


@dataclass(frozen=True)
class SetInput:
    """All symbols that apply (set facts)."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class OneOfInput:
    """Exactly one of these values holds; it is not known which."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class UnknownInput:
    """At issue but unknown."""


@dataclass(frozen=True)
class MissingInput:
    """A value without a kind (for example an empty `FactValue` on the wire)."""


FactInput = SymbolInput | BooleanInput | NumberInput | SetInput | OneOfInput | UnknownInput | MissingInput


@dataclass(frozen=True)
class Violation:
    """One bad field of a request and why it is bad."""

    field: str
    description: str


class InvalidFacts(ValueError):
    """The situation has bad facts; `violations` lists one per bad fact."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))


def check_facts(rule_set: RuleSet, inputs: Mapping[str, FactInput]) -> dict[str, FactValue]:
    """Return the engine values of `inputs`.

    Raises:
        InvalidFacts: one or more facts are unknown, of the wrong kind, or hold values that are not allowed.
    """
    values: dict[str, FactValue] = {}
    violations: list[Violation] = []
    for name in sorted(inputs):
        fact = rule_set.facts.get(name)
        if fact is None:
            close = difflib.get_close_matches(name, list(rule_set.facts), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            violations.append(Violation(f"facts.{name}", f"unknown fact {name!r}{hint}"))
            continue
        try:
            values[name] = _check(fact, inputs[name])
        except _Bad as bad:
            violations.append(Violation(f"facts.{name}", str(bad)))
    if violations:
        raise InvalidFacts(violations)
    return values


class _Bad(ValueError):
    pass


def _check(fact: FactDef, given: FactInput) -> FactValue:
    """The engine value of `given` for `fact`. Raises `_Bad` when it is not a value `fact` takes."""
    # A value of the fact's own kind, the case of nearly every fact of every request, is tried first: this runs
    # for every fact given, and the kinds it does not cover (missing, unknown, one_of) are the rarer ones.
    if isinstance(given, SymbolInput) and fact.type == FactType.SYMBOL:
        return _symbol(fact, given.value)
    if isinstance(given, BooleanInput) and fact.type == FactType.BOOLEAN:
        return "true" if given.value else "false"
    if isinstance(given, NumberInput) and fact.type == FactType.NUMBER:
        return _bounded(fact, _number(given.value))
    if isinstance(given, SetInput) and fact.type == FactType.SET:
        return _set(fact, given.values)
    match given:
        case MissingInput():
            raise _Bad("no value given: set one of symbol, boolean, number, symbols, one_of or unknown")
        case UnknownInput():
            if not fact.unknown_allowed:
                raise _Bad(f"{fact.name} does not accept unknown; {_accepts(fact)}")
            return UNKNOWN
        case OneOfInput(values):
            return _one_of(fact, values)
    raise _Bad(f"wrong kind of value: {_accepts(fact)}")


def _symbol(fact: FactDef, value: str) -> FactValue:
    """A symbol `fact` allows; one that stands for several others is one of them, not a conflicting report."""
    if value not in fact.symbol_values:
        raise _Bad(f"{value!r} is not allowed{_meant(value, fact)}; allowed: {', '.join(fact.symbol_values)}")
    meant = fact.aliases.get(value)
    return OneOf(meant, reported=False) if meant else value


def _set(fact: FactDef, values: tuple[str, ...]) -> FactValue:
    """All the symbols that apply, each one `fact` allows."""
    bad = [v for v in values if v not in fact.symbol_values]
    if bad:
        hints = "".join(_meant(v, fact) for v in bad)
        raise _Bad(f"{', '.join(map(repr, bad))} not allowed{hints}; allowed: {', '.join(fact.symbol_values)}")
    return frozenset(values)


def _one_of(fact: FactDef, raw: tuple[str, ...]) -> OneOf:
    if fact.type == FactType.SET:
        raise _Bad("a set fact takes `symbols` (all that apply), not one_of")
    distinct = tuple(dict.fromkeys(raw))
    if len(distinct) < 2:
        raise _Bad("one_of needs at least two different values; give a single value as such")
    if fact.type == FactType.NUMBER:
        try:
            return OneOf(tuple(_bounded(fact, _number(float(v))) for v in distinct))
        except ValueError:
            raise _Bad("one_of for a number fact takes decimal numbers, for example ['4', '12']") from None
    allowed = [v for v in fact.symbol_values if v != UNKNOWN]
    bad = [v for v in distinct if v not in allowed]
    if bad:
        hints = "".join(_meant(v, fact) for v in bad)
        raise _Bad(f"{', '.join(map(repr, bad))} not allowed in one_of{hints}; allowed: {', '.join(allowed)}")
    aliases = fact.aliases
    return OneOf(tuple(dict.fromkeys(m for v in distinct for m in aliases.get(v, (v,)))))


def _meant(value: str, fact: FactDef) -> str:
    """ "; did you mean 'x'?" for a symbol close to one the fact allows (a typo), else nothing."""
    close = difflib.get_close_matches(value, list(fact.symbol_values), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _number(value: float) -> float:
    if not math.isfinite(value):
        raise _Bad("must be a finite number")
    if value < 0:
        raise _Bad(f"must not be negative, got {value:g}")
    return float(value)


def _bounded(fact: FactDef, value: float) -> float:
    if fact.maximum is not None and value > fact.maximum:
        unit = f" {fact.unit.en}" if fact.unit else ""
        raise _Bad(f"must be at most {fact.maximum:g}{unit}, got {value:g}")
    return value


def _accepts(fact: FactDef) -> str:
    kinds = {
        FactType.SYMBOL: "symbol or one_of",
        FactType.BOOLEAN: "boolean or one_of",
        FactType.NUMBER: "number or one_of",
        FactType.SET: "symbols",
    }[fact.type]
    if fact.unknown_allowed:
        kinds += " or unknown"
    return f"{fact.name} takes {kinds}"
