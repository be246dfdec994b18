"""Stage H, part one: which values an open fact can take, and every combination of them (domain.md §6 H1-H2).

A ★ fact that is `unknown` is enumerated over its domain from the facts catalogue; any fact given as one_of is
enumerated over the values given (A6). Combinations that an H-enumeration rule excludes are dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from rolwijzer.engine.stages import CompiledRuleSet, Outcome, StageRunner
from rolwijzer.engine.values import Facts, FactValue, OneOf, is_unknown
from rolwijzer.rules.model import UNKNOWN, FactDef, FactType


@dataclass(frozen=True)
class Domain:
    """The values stage H tries for one open fact, with their labels."""

    fact: str
    values: tuple[str | float, ...]
    labels: tuple[str, ...]


class TooManyCombinations(ValueError):
    """The open facts span more combinations than the engine evaluates for one request."""

    def __init__(self, count: int, limit: int, facts: list[str]) -> None:
        self.count, self.limit, self.facts = count, limit, facts
        super().__init__(
            f"{count} combinations of open facts ({', '.join(facts)}) exceed the limit of {limit}; "
            "give some of these facts, or leave them out instead of marking them unknown"
        )


def open_domains(compiled: CompiledRuleSet, facts: Facts) -> list[Domain]:
    """The domains of the open facts of normalised `facts`, in catalogue order."""
    # Most situations have no open fact: find that out from the values alone before walking the catalogue, with
    # C-level scans (no fact value other than the string is equal to UNKNOWN; OneOf has no subclasses).
    values = facts.values()
    if UNKNOWN not in values and OneOf not in map(type, values):
        return []
    domains = []
    for name, fact in compiled.rule_set.facts.items():
        value = facts.get(name)
        if isinstance(value, OneOf):
            domains.append(Domain(name, value.values, tuple(_label(v) for v in value.values)))
        elif fact.decides_role and value is not None and is_unknown(value):
            domains.append(_enumerate(compiled, fact))
    return domains


def _enumerate(compiled: CompiledRuleSet, fact: FactDef) -> Domain:
    enumeration = fact.enumeration
    if enumeration is None:
        raise ValueError(f"★ fact {fact.name} has no enumeration")
    if enumeration.buckets:
        buckets = enumeration.buckets
        return Domain(fact.name, tuple(b.value for b in buckets), tuple(b.label for b in buckets))
    if enumeration.split_at is not None and enumeration.boundary is not None:
        parameters = compiled.rule_set.parameters
        threshold = parameters[enumeration.split_at.name].value_on(compiled.day)
        boundary = parameters[enumeration.boundary.name].value_on(compiled.day)
        if not isinstance(threshold, float):
            raise ValueError(f"split_at of {fact.name} is not a number on {compiled.day}")
        t = f"{threshold:g}"
        if boundary == "inclusive":
            below = threshold - 1 if threshold >= 1 else threshold / 2
            return Domain(fact.name, (below, threshold), (f"< {t}", f">= {t}"))
        return Domain(fact.name, (threshold, threshold + 1), (f"<= {t}", f"> {t}"))
    values = fact.plain_symbols
    if fact.type == FactType.NUMBER or not values:
        raise ValueError(f"★ fact {fact.name} needs buckets or a split to be enumerated")
    return Domain(fact.name, values, values)


def _label(value: str | float) -> str:
    return f"{value:g}" if isinstance(value, float) else value


def count_combinations(domains: list[Domain]) -> int:
    """How many combinations the domains span before any exclusion."""
    count = 1
    for domain in domains:
        count *= len(domain.values)
    return count


def combinations(
    runner: StageRunner, facts: Facts, domains: list[Domain], pruning: Outcome
) -> Iterator[tuple[tuple[str | float, ...], Facts, Outcome]]:
    """Yield (assignment, facts, A1 outcome) for every combination no H-enumeration rule excludes.

    The facts are normalised with the A1 defaults; the outcome holds the A1 rules that fired. The rules that
    excluded a combination are added to `pruning`.
    """
    names = [d.fact for d in domains]
    for assignment in itertools.product(*(d.values for d in domains)):
        combined: Facts = dict(facts)
        combined.update(zip(names, assignment, strict=True))
        outcome = Outcome()
        runner.normalise(combined, ("A1",), outcome)
        if not _excluded(runner, combined, names, pruning):
            yield assignment, combined, outcome


def _excluded(runner: StageRunner, facts: Facts, enumerated: list[str], pruning: Outcome) -> bool:
    for compiled in runner.run("H-enumeration", facts, {}):
        for name, values in compiled.rule.then.exclude.items():
            value: FactValue | None = facts.get(name)
            if name in enumerated and value in values:
                pruning.add(compiled)
                return True
    return False
