"""How fact values are held inside the engine once the input is checked."""

from __future__ import annotations

from dataclasses import dataclass

from rolwijzer.rules.model import UNKNOWN


@dataclass(frozen=True)
class OneOf:
    """Exactly one of `values` holds, but it is not known which.

    `reported` is True for conflicting reports (the caller gave one_of) and False for a catalogue symbol that
    means one of several (for example `contracted`), which raises no conflict flag.
    """

    values: tuple[str | float, ...]
    reported: bool = True


# A symbol or boolean ("true"/"false"/"unknown"), a number (or "unknown"), a set of symbols, or a OneOf.
FactValue = str | float | frozenset[str] | OneOf

Facts = dict[str, FactValue]


def is_unknown(value: FactValue) -> bool:
    """True for the literal value `unknown`."""
    return isinstance(value, str) and value == UNKNOWN


def is_plain(value: FactValue | None) -> bool:
    """A value a situation is decided on as it is: neither absent, unknown nor one of several."""
    return value is not None and not isinstance(value, OneOf) and not is_unknown(value)
