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
from rolwijzer.rules.model import CodeKind


@dataclass(frozen=True, slots=True)
class Combination:
    """One combination of stage H: the values given to the open facts, and what the stages concluded."""

    assignment: tuple[str | float, ...]
    outcome: Outcome


# The codes of one outcome, grouped by their kind (`_by_kind`).
CodesByKind = Mapping[CodeKind, frozenset[str]]
_NO_CODES: frozenset[str] = frozenset()


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
    compiled = runner.compiled
    kind_of = compiled.code_kinds
    outcomes = [c.outcome for c in combinations]
    # Each outcome's codes are grouped by kind once here, and read by kind below.
    grouped = [_by_kind(kind_of, o) for o in outcomes]
    roles = {o.role for o in outcomes}
    deployers = {o.volunteer_deployer for o in outcomes}
    all_volunteer = roles == {"VRIJWILLIGER"}
    verdict = _verdict(runner, outcomes, grouped)
    role = next(iter(roles)) if len(roles) == 1 else ("VRIJWILLIGER" if all_volunteer else verdict.role)
    if not role:
        raise EvaluationError("the roles differ between combinations but no stage H rule concluded a role")
    verdict_codes = _by_kind(kind_of, verdict)
    liabilities = _in_all(grouped, CodeKind.LIABILITY) | _of(verdict_codes, CodeKind.LIABILITY)
    obligations = _obligations(grouped)
    flags = _flags(compiled.any_codes, _by_kind(kind_of, normalised), outcomes, grouped, verdict_codes)
    producers = _producers([normalised, *outcomes, verdict])
    deployer = ""
    if role == "VRIJWILLIGER":
        deployer = next(iter(deployers)) if len(deployers) == 1 else verdict.volunteer_deployer
    return Decision(
        role=role,
        volunteer_deployer=deployer,
        role_candidates=tuple(sorted(roles)) if len(roles) > 1 and not all_volunteer else (),
        liabilities=_findings(liabilities, producers),
        obligations=_findings(obligations, producers),
        flags=_findings(flags, producers),
        missing_facts=_missing_facts(domains, combinations, grouped),
        fired_rules=_fired(runner, normalised, outcomes, verdict),
        combinations=len(combinations),
        rule_set=rule_set_ref,
    )


def supervision(runner: StageRunner, normalised: Outcome, outcomes: Sequence[Outcome]) -> frozenset[str]:
    """The obligations and flags `combine` would give for these outcomes, without the rest of the decision."""
    compiled = runner.compiled
    kind_of = compiled.code_kinds
    grouped = [_by_kind(kind_of, o) for o in outcomes]
    verdict = _by_kind(kind_of, _verdict(runner, outcomes, grouped))
    return _obligations(grouped) | _flags(compiled.any_codes, _by_kind(kind_of, normalised), outcomes, grouped, verdict)


def _verdict(runner: StageRunner, outcomes: Sequence[Outcome], grouped: Sequence[CodesByKind]) -> Outcome:
    """What stage H concludes from what the combinations `outcomes` (their codes `grouped`) have in common."""
    roles = {o.role for o in outcomes}
    all_volunteer = roles == {"VRIJWILLIGER"}
    aggregates = {
        "role_determined": len(roles) == 1,
        "deployer_determined": not all_volunteer or len({o.volunteer_deployer for o in outcomes}) == 1,
        "liability_determined": len({_of(codes, CodeKind.LIABILITY) for codes in grouped}) == 1,
        "all_volunteer": all_volunteer,
    }
    verdict = Outcome()
    derived = {aggregate_attribute(name): YES if value else NO for name, value in aggregates.items()}
    for compiled in runner.run("H", {}, derived):
        verdict.add(compiled)
        verdict.role = compiled.rule.then.role or verdict.role
        verdict.volunteer_deployer = compiled.rule.then.volunteer_deployer or verdict.volunteer_deployer
    return verdict


def _obligations(grouped: Sequence[CodesByKind]) -> frozenset[str]:
    return _NO_CODES.union(*(_of(codes, CodeKind.OBLIGATION) for codes in grouped))


def _flags(
    any_codes: frozenset[str],
    normalised: CodesByKind,
    outcomes: Sequence[Outcome],
    grouped: Sequence[CodesByKind],
    verdict: CodesByKind,
) -> frozenset[str]:
    """The flags and context codes: the normalisation's, those of every combination, those of any combination
    whose catalogue entry says `aggregate: any` (`any_codes`), and stage H's."""
    kinds = (CodeKind.FLAG, CodeKind.CONTEXT)
    any_flags = _NO_CODES.union(*(any_codes.intersection(o.codes) for o in outcomes))
    return _of(normalised, *kinds) | _in_all(grouped, *kinds) | any_flags | _of(verdict, *kinds)


def _by_kind(kind_of: Mapping[str, CodeKind], outcome: Outcome) -> CodesByKind:
    """The codes of `outcome` by kind; `kind_of` is the compiled rule set's kind of every code it concludes."""
    found: dict[CodeKind, set[str]] = {}
    for code in outcome.codes:
        kind = kind_of[code]
        if kind in found:
            found[kind].add(code)
        else:
            found[kind] = {code}
    return {kind: frozenset(codes) for kind, codes in found.items()}


def _of(codes: CodesByKind, *kinds: CodeKind) -> frozenset[str]:
    """The codes of these kinds."""
    if len(kinds) == 1:
        return codes.get(kinds[0], _NO_CODES)
    return _NO_CODES.union(*(codes.get(kind, _NO_CODES) for kind in kinds))


def _in_all(grouped: Sequence[CodesByKind], *kinds: CodeKind) -> frozenset[str]:
    """The codes of these kinds that every outcome (its codes `grouped`) concluded."""
    return frozenset.intersection(*(_of(codes, *kinds) for codes in grouped))


def _producers(contributors: Sequence[Outcome]) -> dict[str, list[str]]:
    """Every code of the contributing outcomes, with every rule that concluded it in any of them, in order."""
    producers: dict[str, list[str]] = {}
    for outcome in contributors:
        for code, rule_ids in outcome.codes.items():
            found = producers.get(code)
            if found is None:
                producers[code] = list(rule_ids)  # an outcome names each rule once per code (`Outcome.add`)
            else:
                found.extend(r for r in rule_ids if r not in found)
    return producers


def _findings(selected: frozenset[str], producers: Mapping[str, list[str]]) -> tuple[Finding, ...]:
    """The selected codes, each with every rule that concluded it (`_producers` of the contributing outcomes)."""
    found = tuple((code, tuple(producers.get(code, ()))) for code in sorted(selected))
    kept = _findings_kept.get(found)
    if kept is None:
        if len(_findings_kept) >= _FINDINGS_KEPT:
            _findings_kept.clear()  # several threads may clear at once: harmless, each only makes new findings
        kept = _findings_kept[found] = tuple(Finding(code, rule_ids) for code, rule_ids in found)
    return kept


# Findings are values, and the same few recur in decision after decision: one tuple of them is kept for each list
# of codes and rules and shared, so the decisions an engine keeps (`Engine.decisions`) hold few objects of their
# own for the garbage collector's full passes to walk (measured: those passes took a fifth of a decision's time).
# Bounded: emptied when full, which costs only new objects.
_FINDINGS_KEPT = 10_000
_findings_kept: dict[tuple[tuple[str, tuple[str, ...]], ...], tuple[Finding, ...]] = {}


def _missing_facts(
    domains: Sequence[Domain], combinations: Sequence[Combination], grouped: Sequence[CodesByKind]
) -> tuple[MissingFact, ...]:
    """Facts where changing only that fact changes role, deployer or liability, most decisive first.

    A fact's decisiveness is the share of the other facts' combinations in which its value matters. `grouped`
    holds the codes of each combination's outcome by kind.
    """
    if not domains:
        return ()  # nothing is open: no fact to change
    keys = [
        (c.outcome.role, c.outcome.volunteer_deployer, _of(codes, CodeKind.LIABILITY))
        for c, codes in zip(combinations, grouped, strict=True)
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
    return tuple(sorted(seen, key=runner.compiled.rule_order.__getitem__))
