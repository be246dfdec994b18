"""Stage H, part two: judge the combinations together (domain.md §6 H3-H6).

Role: one role in every combination is asserted; all volunteer but with different deployers gives deployer
ONBEPAALD; otherwise the stage H rules conclude ONBEPAALD. Liabilities: the intersection (plus what stage H
concludes when they differ). Obligations: the union (the stricter regime until the facts are clear). Flags: those
of every combination, plus those whose catalogue entry says `aggregate: any` when one combination raises them.
Missing facts: a fact is missing when changing only that fact changes role, deployer or liability.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rolwijzer.engine.compile import NO, YES, aggregate_attribute
from rolwijzer.engine.decision import Decision, Finding, MissingFact
from rolwijzer.engine.enumeration import Domain
from rolwijzer.engine.stages import EvaluationError, Outcome, StageRunner
from rolwijzer.engine.versions import RuleSetRef
from rolwijzer.rules.model import Aggregate, CodeKind, RuleSet


@dataclass(frozen=True, slots=True)
class Combination:
    """One combination of stage H: the values given to the open facts, and what the stages concluded."""

    assignment: tuple[str | float, ...]
    outcome: Outcome


def combine(
    runner: StageRunner,
    normalised: Outcome,
    domains: Sequence[Domain],
    combinations: Sequence[Combination],
    rule_set_ref: RuleSetRef,
) -> Decision:
    """Build the decision from the input's normalisation and the outcome of every combination."""
    if not combinations:
        raise EvaluationError("stage H excluded every combination of the open facts")
    rs = runner.compiled.rule_set
    outcomes = [c.outcome for c in combinations]
    roles = {o.role for o in outcomes}
    deployers = {o.volunteer_deployer for o in outcomes}
    all_volunteer = roles == {"VRIJWILLIGER"}
    verdict = _verdict(runner, outcomes)
    role = next(iter(roles)) if len(roles) == 1 else ("VRIJWILLIGER" if all_volunteer else verdict.role)
    if not role:
        raise EvaluationError("the roles differ between combinations but no stage H rule concluded a role")
    kind_of = runner.compiled.code_kinds
    liabilities = _in_all(kind_of, outcomes, CodeKind.LIABILITY) | _codes_of(kind_of, verdict, CodeKind.LIABILITY)
    obligations, flags = _obligations(kind_of, outcomes), _flags(rs, kind_of, normalised, outcomes, verdict)
    contributors = [normalised, *outcomes, verdict]
    deployer = ""
    if role == "VRIJWILLIGER":
        deployer = next(iter(deployers)) if len(deployers) == 1 else verdict.volunteer_deployer
    return Decision(
        role=role,
        volunteer_deployer=deployer,
        role_candidates=tuple(sorted(roles)) if len(roles) > 1 and not all_volunteer else (),
        liabilities=_findings(liabilities, contributors),
        obligations=_findings(obligations, contributors),
        flags=_findings(flags, contributors),
        missing_facts=_missing_facts(kind_of, domains, combinations),
        fired_rules=_fired(runner, normalised, outcomes, verdict),
        combinations=len(combinations),
        rule_set=rule_set_ref,
    )


def supervision(runner: StageRunner, normalised: Outcome, outcomes: Sequence[Outcome]) -> frozenset[str]:
    """The obligations and flags `combine` would give for these outcomes, without the rest of the decision."""
    rs, kind_of = runner.compiled.rule_set, runner.compiled.code_kinds
    return _obligations(kind_of, outcomes) | _flags(rs, kind_of, normalised, outcomes, _verdict(runner, outcomes))


def _verdict(runner: StageRunner, outcomes: Sequence[Outcome]) -> Outcome:
    """What stage H concludes from what the combinations have in common."""
    kind_of = runner.compiled.code_kinds
    roles = {o.role for o in outcomes}
    all_volunteer = roles == {"VRIJWILLIGER"}
    aggregates = {
        "role_determined": len(roles) == 1,
        "deployer_determined": not all_volunteer or len({o.volunteer_deployer for o in outcomes}) == 1,
        "liability_determined": len({_codes_of(kind_of, o, CodeKind.LIABILITY) for o in outcomes}) == 1,
        "all_volunteer": all_volunteer,
    }
    verdict = Outcome()
    derived = {aggregate_attribute(name): YES if value else NO for name, value in aggregates.items()}
    for compiled in runner.run("H", {}, derived):
        verdict.add(compiled)
        verdict.role = compiled.rule.then.role or verdict.role
        verdict.volunteer_deployer = compiled.rule.then.volunteer_deployer or verdict.volunteer_deployer
    return verdict


def _obligations(kind_of: Mapping[str, CodeKind], outcomes: Sequence[Outcome]) -> frozenset[str]:
    return frozenset().union(*(_codes_of(kind_of, o, CodeKind.OBLIGATION) for o in outcomes))


def _flags(
    rs: RuleSet, kind_of: Mapping[str, CodeKind], normalised: Outcome, outcomes: Sequence[Outcome], verdict: Outcome
) -> frozenset[str]:
    kinds = (CodeKind.FLAG, CodeKind.CONTEXT)
    any_flags = {c for o in outcomes for c in o.codes if c in rs.codes and rs.codes[c].aggregate == Aggregate.ANY}
    return (
        _codes_of(kind_of, normalised, *kinds)
        | _in_all(kind_of, outcomes, *kinds)
        | frozenset(any_flags)
        | _codes_of(kind_of, verdict, *kinds)
    )


def _codes_of(kind_of: Mapping[str, CodeKind], outcome: Outcome, *kinds: CodeKind) -> frozenset[str]:
    """The codes of `outcome` of these kinds; `kind_of` is the compiled rule set's kind of every code it concludes."""
    return frozenset(code for code in outcome.codes if kind_of[code] in kinds)


def _in_all(kind_of: Mapping[str, CodeKind], outcomes: Sequence[Outcome], *kinds: CodeKind) -> frozenset[str]:
    return frozenset.intersection(*(_codes_of(kind_of, o, *kinds) for o in outcomes))


def _findings(selected: frozenset[str], contributors: Sequence[Outcome]) -> tuple[Finding, ...]:
    """The selected codes, each with every rule that concluded it in any contributing outcome."""
    producers: dict[str, list[str]] = {code: [] for code in selected}
    for outcome in contributors:
        for code, rule_ids in outcome.codes.items():
            if code in producers:
                producers[code].extend(r for r in rule_ids if r not in producers[code])
    return tuple(Finding(code, tuple(producers[code])) for code in sorted(selected))


def _missing_facts(
    kind_of: Mapping[str, CodeKind], domains: Sequence[Domain], combinations: Sequence[Combination]
) -> tuple[MissingFact, ...]:
    """Facts where changing only that fact changes role, deployer or liability, most decisive first.

    A fact's decisiveness is the share of the other facts' combinations in which its value matters.
    """
    keys = [
        (c.outcome.role, c.outcome.volunteer_deployer, _codes_of(kind_of, c.outcome, CodeKind.LIABILITY))
        for c in combinations
    ]
    scored = []
    for index, domain in enumerate(domains):
        groups: dict[tuple[str | float, ...], set[object]] = defaultdict(set)
        for combination, key in zip(combinations, keys, strict=True):
            rest = combination.assignment[:index] + combination.assignment[index + 1 :]
            groups[rest].add(key)
        deciding = sum(1 for outcomes in groups.values() if len(outcomes) > 1)
        if deciding:
            # Values that stage H excluded everywhere are not offered as answers.
            seen = {c.assignment[index] for c in combinations}
            labels = tuple(label for value, label in zip(domain.values, domain.labels, strict=True) if value in seen)
            scored.append((-deciding / len(groups), index, MissingFact(domain.fact, labels)))
    return tuple(missing for _, _, missing in sorted(scored, key=lambda s: (s[0], s[1])))


def _fired(runner: StageRunner, normalised: Outcome, outcomes: Sequence[Outcome], verdict: Outcome) -> tuple[str, ...]:
    seen = {rule_id for o in [normalised, *outcomes, verdict] for rule_id in o.fired}
    order = runner.compiled.rule_order
    return tuple(sorted(seen, key=lambda rule_id: order[rule_id]))
