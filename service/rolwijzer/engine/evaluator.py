"""The engine's public entry point: decide one situation with the rule-set version in force."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

from rolwijzer import tracing
from rolwijzer.cache import LruCache
from rolwijzer.engine.aggregate import Combination, combine, supervision
from rolwijzer.engine.compile import side
from rolwijzer.engine.decision import Decision, FollowUpFact
from rolwijzer.engine.enumeration import (
    Domain,
    TooManyCombinations,
    combinations,
    count_combinations,
    open_domains,
)
from rolwijzer.engine.follow_up import absent_questions, follow_up_facts, open_questions
from rolwijzer.engine.inputs import FactInput, check_facts
from rolwijzer.engine.relevance import Derived, derived_by_stage, settled
from rolwijzer.engine.stages import (
    COMBINATION_STAGES,
    NORMALISE_INPUT,
    CompiledRuleSet,
    Decided,
    Matched,
    Outcome,
    StageRunner,
    differing,
    replay,
)
from rolwijzer.engine.values import Facts, FactValue, is_plain
from rolwijzer.engine.versions import CompiledStore, Selection, Versions
from rolwijzer.rules.model import RuleSet


class DeadlineExceeded(TimeoutError):
    """The evaluation did not finish by its deadline; nothing is returned."""


@dataclass(frozen=True)
class Plan:
    """A checked, normalised situation and the combinations of its open facts, ready to be evaluated."""

    selection: Selection
    runner: StageRunner
    facts: Facts
    normalised: Outcome
    domains: list[Domain]
    combinations: int
    # The facts the caller gave, and every fact with its default before stage A normalised them.
    given: frozenset[str]
    before_normalising: Facts
    # Whether `run` also finds the follow-up facts (each answer of each fact not given is decided).
    follow_ups: bool = False
    # Whether it finds them the straightforward way, every answer of every fact not given decided afresh over all
    # its combinations, with no shortcut: the reference the shortcuts are tested against (far slower).
    exhaustive: bool = False
    # The situation's class (`_situation_key`) when a memo is asked for it.
    key: Hashable | None = None

    @property
    def cost(self) -> int:
        """Combinations to evaluate, counting those of the follow-up answers: what admission control weighs."""
        if not self.follow_ups:
            return self.combinations
        answers = self.selection.compiled.answers
        tried = sum(len(a.answers) for name, a in answers.items() if name not in self.given)
        return self.combinations * (1 + tried + sum(len(d.values) for d in self.domains))


@dataclass(frozen=True)
class Known:
    """A situation of a class the engine has decided before (with its follow-up facts when they are asked for):
    `Engine.run` returns the decision it kept, and nothing is normalised or evaluated."""

    decision: Decision

    @property
    def combinations(self) -> int:
        """The combinations the decision spans (none is evaluated again)."""
        return self.decision.combinations

    @property
    def cost(self) -> int:
        """Nothing to evaluate: what admission control weighs."""
        return 0


YIELD_EVERY = 8  # combinations, about 1 ms of evaluation
# Stage messages kept per compiled rule set. An entry is a key of a few dozen short strings and a tuple of rules:
# about 1 KB, so at most about 100 MB per compiled rule set in the worst case, and far less in practice because
# messages repeat (the intake of one situation reuses most of them).
DEFAULT_STAGE_MEMO = 100_000
DEFAULT_MAX_COMBINATIONS = 20_000  # about 2 s of evaluation on the 2-core machine (0.11 ms each)
# Encoded answers kept per engine (`Engine.answers`): 8-27 KB each, so at most about 25 MB.
DEFAULT_ANSWER_MEMO = 1_000
# Follow-up facts kept per engine (`Engine.follow_ups`): a key of a few dozen fact values and a dozen follow-ups,
# about 3 KB each, so at most about 12 MB.
DEFAULT_FOLLOW_UP_MEMO = 4_096
# Decisions kept per engine (`Engine.decisions`) by situation class: a key of a few dozen fact values and a decision
# of a few dozen codes and rule ids, about 3 KB each, so at most about 25 MB.
DEFAULT_DECISION_MEMO = 8_192


class Engine:
    """Decides situations against loaded rule-set versions, each compiled once when the engine is built.

    Thread-safe: every evaluation has its own durable-rules sessions and memo.

    Args:
        rule_sets: the loaded, validated versions (their validity windows must not overlap).
        max_combinations: the most combinations of open facts one evaluation may span.
        cache_size: how many finished decisions callers may keep in `cache` (0: none).
        stage_memo_size: how many stage messages each compiled version keeps with what durable-rules answered
            for them, across evaluations (0: each evaluation keeps its own).
        follow_up_memo_size: how many situations' follow-up facts the engine keeps (0: none).
        decision_memo_size: how many decisions the engine keeps by situation class (see `decisions`); None: the
            default when stage messages are memoized, and none when they are not (`stage_memo_size` 0 is the
            engine that asks durable-rules for everything).
        compiled_store: where to take compiled forms from and share them with the other engines built from it
            (see `CompiledStore`); None: this engine compiles its own.

    Raises:
        CompileError, DurableError: a version cannot be compiled; nothing is kept.
    """

    def __init__(
        self,
        rule_sets: Sequence[RuleSet],
        max_combinations: int = DEFAULT_MAX_COMBINATIONS,
        cache_size: int = 0,
        stage_memo_size: int = DEFAULT_STAGE_MEMO,
        follow_up_memo_size: int = DEFAULT_FOLLOW_UP_MEMO,
        compiled_store: CompiledStore | None = None,
        decision_memo_size: int | None = None,
    ) -> None:
        self.versions = Versions(rule_sets, stage_memo_size, compiled_store)
        self.max_combinations = max_combinations
        # Decisions are a pure function of the request and the compiled version, so callers may keep them here;
        # a reload builds a new engine, which starts with an empty cache.
        self.cache: LruCache[Hashable, tuple[object, int]] = LruCache(cache_size)
        # A decision's texts are a pure function of the decision, the language and the release's rendered texts,
        # and many situations share a decision: callers may keep what they made of one here (the service keeps
        # the encoded answer, which costs more to make than the evaluation of a fully known situation).
        self.answers: LruCache[Hashable, bytes] = LruCache(DEFAULT_ANSWER_MEMO)
        # Follow-up facts are a pure function of the compiled version and the situation as given (the facts with
        # their defaults, and which were given), and finding them costs many evaluations: a situation asked again
        # (a form filled in step by step asks for them after every answer) finds them here.
        self.follow_ups: LruCache[Hashable, tuple[FollowUpFact, ...]] = LruCache(follow_up_memo_size)
        # A decision (without follow-ups) is a pure function of the compiled version, the reference date and the
        # situation class of `_situation_key`: the facts as given with their defaults, each number reduced to its
        # side of every number the rules compare it with. Two situations of one class tell every stage the same
        # message (`Encoder.key`, as the stage memo relies on), so durable-rules matches the same rules for both and
        # everything after is computed from those rules; no number of a fully known situation appears in a
        # decision, and a one_of keeps its exact values in the key. Distinct situations of one class (20.5 and 21
        # hours a week) are decided once. A reload builds a new engine, which starts empty.
        if decision_memo_size is None:
            decision_memo_size = DEFAULT_DECISION_MEMO if stage_memo_size > 0 else 0
        self.decisions: LruCache[Hashable, Decision] = LruCache(decision_memo_size)

    @property
    def rule_sets(self) -> tuple[RuleSet, ...]:
        """The loaded versions, oldest first."""
        return self.versions.rule_sets

    def select(self, reference_date: dt.date | None = None, version: str | None = None) -> Selection:
        """The version that decides on `reference_date` (today when None), or the pinned `version`.

        Raises:
            UnknownVersion, NoRuleSetInForce: see `Versions.select`.
        """
        return self.versions.select(reference_date, version)

    def check(self, inputs: Mapping[str, FactInput], selection: Selection | None = None) -> None:
        """Check `inputs` against the facts catalogue of the selected version without evaluating.

        Raises:
            InvalidFacts: one violation per bad fact.
        """
        check_facts((selection or self.select()).rule_set, inputs)

    def evaluate(
        self,
        inputs: Mapping[str, FactInput],
        selection: Selection | None = None,
        deadline: float | None = None,
        follow_ups: bool = False,
    ) -> Decision:
        """Decide the situation described by `inputs` (fact name to value; absent facts take their default).

        Args:
            inputs: the facts.
            selection: the version to apply (from `select`); the version in force today when None.
            deadline: a `time.monotonic()` value by which the evaluation must end; none when None.
            follow_ups: also find the follow-up facts (many times the cost of the evaluation itself).

        Raises:
            InvalidFacts: a fact is unknown, of the wrong kind, or not allowed; nothing was evaluated.
            TooManyCombinations: the open facts span more combinations than `max_combinations`.
            DeadlineExceeded: the deadline passed before every combination was evaluated.
            EvaluationError: the rule set could not decide (a defect, never the caller's fault).
        """
        return self.run(self.plan(inputs, selection, follow_ups), deadline)

    def plan(
        self,
        inputs: Mapping[str, FactInput],
        selection: Selection | None = None,
        follow_ups: bool = False,
        exhaustive: bool = False,
    ) -> Plan | Known:
        """Check and normalise `inputs` and count the combinations to evaluate, without evaluating them; or, for a
        situation of a class decided before, check `inputs` and take the kept decision (`Known`).

        A caller can weigh the cost (`cost`) before it spends it with `run`. With `exhaustive`, the follow-up facts
        are found the straightforward way (`Plan.exhaustive`) and no memo is read.

        Raises:
            InvalidFacts: a fact is unknown, of the wrong kind, or not allowed.
            TooManyCombinations: the open facts span more combinations than `max_combinations`.
        """
        selection = selection or self.select()
        checked = check_facts(selection.rule_set, inputs)
        given = frozenset(checked)
        facts = _with_defaults(selection.compiled, checked)
        key = None
        if not exhaustive and (follow_ups or self.decisions.size):
            # The class is read before normalising: a kept decision needs none of the work below (about half of a
            # decision the memo knows, measured).
            key = _situation_key(selection, facts, given)
            known = self._known(key, selection, follow_ups)
            if known is not None:
                return Known(known)
        before_normalising = dict(facts)
        runner = StageRunner(selection.compiled)
        normalised = Outcome()
        runner.normalise(facts, NORMALISE_INPUT, normalised)
        domains = open_domains(selection.compiled, facts)
        count = count_combinations(domains)
        if count > self.max_combinations:
            raise TooManyCombinations(count, self.max_combinations, [d.fact for d in domains])
        return Plan(
            selection, runner, facts, normalised, domains, count, given, before_normalising, follow_ups, exhaustive, key
        )

    def _known(self, key: Hashable, selection: Selection, follow_ups: bool) -> Decision | None:
        """The decision kept for situations of class `key`, with their follow-up facts when `follow_ups`; None when
        the memos do not hold all of it."""
        known = self.decisions.get((key, selection.ref)) if self.decisions.size else None
        if known is None or not follow_ups:
            return known
        kept = self.follow_ups.get(key)
        return None if kept is None else replace(known, follow_up_facts=kept)

    def run(self, plan: Plan | Known, deadline: float | None = None) -> Decision:
        """Evaluate every combination of a plan and judge them together (stage H), then find the follow-up facts;
        for a `Known` situation, return the decision kept.

        Raises:
            DeadlineExceeded: the deadline (a `time.monotonic()` value) passed first.
            EvaluationError: the rule set could not decide (a defect, never the caller's fault).
        """
        if isinstance(plan, Known):
            return plan.decision
        key = plan.key
        shortcuts = key is not None and plan.follow_ups
        # `plan` looked the class up in the decision memo already (what it kept came back as Known); a decision
        # kept since (by a call of the same class meanwhile) is simply made again.
        decision_key = (key, plan.selection.ref) if key is not None and self.decisions.size else None
        kept = self.follow_ups.get(key) if shortcuts else None
        # The follow-ups, unless kept, start from each combination's trace.
        bases: list[Decided] | None = [] if shortcuts and kept is None else None
        with tracing.span("enumeration", **{"rolwijzer.combinations": plan.combinations}):
            decided = _decide_each(
                plan.runner, plan.facts, plan.domains, plan.normalised, plan.combinations, deadline, bases
            )
        with tracing.span("aggregation"):
            decision = combine(plan.runner, plan.normalised, plan.domains, decided, plan.selection.ref)
        rule_set = plan.selection.rule_set
        defaulted = tuple(name for name in rule_set.facts if name not in plan.given and is_plain(plan.facts.get(name)))
        decision = replace(decision, defaulted_facts=defaulted)
        if decision_key is not None:
            self.decisions.put(decision_key, decision)
        if not plan.follow_ups:
            return decision
        with tracing.span("follow_ups", **{"rolwijzer.follow_ups_kept": int(kept is not None)}):
            if plan.exhaustive:
                found = _exhaustive_follow_ups(plan, decision, decided, deadline)
            elif kept is not None:
                found = kept
            else:
                found = _follow_ups(plan, decision, decided, bases or [], deadline)
                self.follow_ups.put(key, found)
            return replace(decision, follow_up_facts=found)

    def close(self) -> None:
        """Let go of the compiled rulesets (freed unless another engine of the same store holds them); the engine
        must not be used afterwards."""
        self.versions.close()


def _follow_ups(
    plan: Plan, decision: Decision, decided: list[Combination], bases: list[Decided], deadline: float | None
) -> tuple[FollowUpFact, ...]:
    """The follow-up facts of `decision`, decided from `plan`, its combinations `decided` and their traces `bases`.

    Finds what `_exhaustive_follow_ups` finds. Each combination of an answer is traced again from the base
    combination with the same values of the open facts (only the stages whose message the answer changes are
    asked again), and an answer whose combinations all match the rules their bases matched changes nothing.
    An answer to a fact that no normalising or enumerating stage reads leaves the combinations and their stage-A
    work as they were, so it skips normalising. When every rule that tests a fact is surely true or surely false
    whatever the fact is, on what all combinations hold alike (relevance.py), no answer to it is tried; when that
    holds in some combinations (read on each group that matched alike), those are not traced again. An answer
    that changes the open facts is decided afresh.
    """
    runner, compiled = plan.runner, plan.selection.compiled
    before = frozenset(f.code for f in (*decision.obligations, *decision.flags))
    fixed = compiled.normalising_facts | (compiled.enumerating_facts if plan.domains else frozenset())
    by_assignment = {c.assignment: (base, c.outcome) for c, base in zip(decided, bases, strict=True)}

    quiet = _quiet(compiled, bases)

    def retraced(name: str, value: FactValue) -> frozenset[str]:
        after, changed = [], False
        for base, combination, unmoved in zip(bases, decided, quiet(name), strict=True):
            trace = base.trace if unmoved else runner.retrace({**base.facts, name: value}, base, (name,))
            if trace == base.trace:
                after.append(combination.outcome)
            else:
                after.append(replay(base.normalised.copy(), trace))
                changed = True
        return supervision(runner, plan.normalised, after) if changed else before

    def renormalised(facts: Facts, normalised: Outcome, domains: list[Domain]) -> frozenset[str]:
        # The same open facts as the base: the same assignments, though stage H may drop others.
        after, changed = [], normalised.codes.keys() != plan.normalised.codes.keys()
        # With no open fact, stage H has nothing to drop.
        each = combinations(runner, facts, domains, normalised) if domains else [((), *_one_combination(runner, facts))]
        for index, (assignment, combined, outcome) in enumerate(each):
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"stopped after {index} combinations of a follow-up answer: the time ran out")
            found = by_assignment.get(assignment)
            if found is None:
                after.append(runner.decide(combined, outcome))
                changed = True
                continue
            base, base_outcome = found
            trace = runner.retrace(combined, base, differing(combined, base.facts))
            if trace == base.trace and outcome.key() == base.normalised.key():
                after.append(base_outcome)
            else:
                after.append(replay(outcome, trace))
                changed = True
        if not changed and len(after) == len(bases):
            return before
        return supervision(runner, normalised, after)

    ignorable = _ignorable(plan, bases, fixed)

    def answered(name: str, value: FactValue) -> frozenset[str] | None:
        if ignorable(name):
            return before
        if name not in fixed:
            return retraced(name, value)
        given = _given_afresh(plan, name, value)
        if given is None:
            return None
        facts, normalised, domains, count = given
        if domains == plan.domains:
            return renormalised(facts, normalised, domains)
        each = _decide_each(runner, facts, domains, normalised, count, deadline)
        return supervision(runner, normalised, [c.outcome for c in each])

    return _ask_each(plan, decision, decided, answered)


def _ask_each(
    plan: Plan,
    decision: Decision,
    decided: list[Combination],
    answered: Callable[[str, FactValue], frozenset[str] | None],
) -> tuple[FollowUpFact, ...]:
    """The follow-up facts: facts not given decided by `answered` for each of their answers, and facts still open
    read from the combinations `decided` that gave each of their values."""
    rule_set, runner = plan.selection.rule_set, plan.runner

    def restricted(index: int, value: FactValue) -> frozenset[str] | None:
        chosen = [c.outcome for c in decided if c.assignment[index] == value]
        return supervision(runner, plan.normalised, chosen) if chosen else None

    missing = {m.fact for m in decision.missing_facts}
    enumerated = {d.fact for d in plan.domains}
    answers = plan.selection.compiled.answers
    questions = [
        *absent_questions(rule_set, answers, plan.given, plan.facts, missing | enumerated, answered),
        *open_questions(plan.domains, missing, restricted),
    ]
    before = frozenset(f.code for f in (*decision.obligations, *decision.flags))
    return follow_up_facts(rule_set, before, questions)


def _ignorable(plan: Plan, bases: Sequence[Decided], fixed: frozenset[str]) -> Callable[[str], bool]:
    """Whether no answer to a fact changes what any stage of any combination concludes (see relevance.py).

    `fixed` are the facts stages A1, A or H-enumeration read: their readers are read on the facts that stages A1
    and A cannot set (which hold throughout normalising), those of other facts on every fact the combinations
    hold alike.
    """
    compiled = plan.selection.compiled
    shared = _shared_facts(bases)
    unset = {name: value for name, value in shared.items() if name not in compiled.set_facts}
    derived = _derived_by_stage(bases)
    found: dict[str, bool] = {}

    def ignorable(name: str) -> bool:
        if name not in found:
            readers = compiled.readers.get(name, ())
            found[name] = settled(readers, unset if name in fixed else shared, name, derived, not plan.domains)
        return found[name]

    return ignorable


def _quiet(compiled: CompiledRuleSet, bases: Sequence[Decided]) -> Callable[[str], list[bool]]:
    """For a fact no normalising or enumerating stage reads, whether each combination surely matches what it
    matched whatever the fact is (see relevance.py): read on each group of combinations that matched alike, with
    the facts the group holds alike and what its stages derived."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, base in enumerate(bases):
        groups.setdefault(tuple(map(id, base.trace)), []).append(index)
    readings = [
        (members, _shared_facts([bases[i] for i in members]), _derived_by_stage([bases[members[0]]]))
        for members in groups.values()
    ]
    found: dict[str, list[bool]] = {}

    def quiet(name: str) -> list[bool]:
        if name not in found:
            flags = [False] * len(bases)
            for members, shared, derived in readings:
                if settled(compiled.readers.get(name, ()), shared, name, derived, single=False):
                    for index in members:
                        flags[index] = True
            found[name] = flags
        return found[name]

    return quiet


def _one_combination(runner: StageRunner, facts: Facts) -> tuple[Facts, Outcome]:
    """The only combination of facts with no open fact, normalised by stage A1 as `combinations` does."""
    combined, outcome = dict(facts), Outcome()
    runner.normalise(combined, ("A1",), outcome)
    return combined, outcome


def _shared_facts(bases: Sequence[Decided]) -> Facts:
    """The facts every combination holds alike, with their values."""
    shared = dict(bases[0].facts) if bases else {}
    for base in bases[1:]:
        shared = {name: value for name, value in shared.items() if base.facts.get(name) == value}
    return shared


def _derived_by_stage(bases: Sequence[Decided]) -> dict[str, Derived]:
    """What the stages before each stage derived for it, alike in every combination (see relevance.py)."""
    # Stages that share a result share the object (the stage memo answers alike): one reading per distinct trace.
    traces = {tuple(map(id, base.trace)): base.trace for base in bases}
    return {stage: {} for stage in (*NORMALISE_INPUT, "H-enumeration")} | derived_by_stage(
        COMBINATION_STAGES, traces.values()
    )


def _given_afresh(plan: Plan, name: str, value: FactValue) -> tuple[Facts, Outcome, list[Domain], int] | None:
    """The facts with `name` given `value`, normalised as a request would be, their open facts and how many
    combinations those span; None when that is more than the plan's own (an answer that opens more questions is
    not tried, so the cost stays bounded)."""
    facts = {**plan.before_normalising, name: value}
    normalised = Outcome()
    plan.runner.normalise(facts, NORMALISE_INPUT, normalised)
    domains = open_domains(plan.selection.compiled, facts)
    count = count_combinations(domains)
    return None if count > plan.combinations else (facts, normalised, domains, count)


def _exhaustive_follow_ups(
    plan: Plan, decision: Decision, decided: list[Combination], deadline: float | None
) -> tuple[FollowUpFact, ...]:
    """The follow-up facts of `decision` with every answer decided from its facts alone, as a caller would by
    asking again with the answer given: what `_follow_ups` must find, by definition."""
    runner = plan.runner

    def answered(name: str, value: FactValue) -> frozenset[str] | None:
        given = _given_afresh(plan, name, value)
        if given is None:
            return None
        facts, normalised, domains, count = given
        each = _decide_each(runner, facts, domains, normalised, count, deadline)
        return supervision(runner, normalised, [c.outcome for c in each])

    return _ask_each(plan, decision, decided, answered)


def _decide_each(
    runner: StageRunner,
    facts: Facts,
    domains: list[Domain],
    normalised: Outcome,
    count: int,
    deadline: float | None,
    bases: list[Decided] | None = None,
) -> list[Combination]:
    """Decide every combination; with `bases`, append each one's facts, stage-A1 outcome and trace to it."""
    decided: list[Combination] = []
    # Many combinations conclude the same; keeping one outcome object for each keeps the heap small, and with
    # it the pauses of the garbage collector's full passes, which hold the GIL (measured on 17,280
    # combinations: 87 ms at the longest when each kept its own, blocking every health check meanwhile).
    distinct: dict[tuple[object, ...], Outcome] = {}
    for assignment, combined, outcome in combinations(runner, facts, domains, normalised):
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceeded(f"stopped after {len(decided)} of {count} combinations: the time ran out")
        if bases is None:
            concluded = runner.decide(combined, outcome)
        else:
            trace: list[Matched] = []
            normalised_here = outcome.copy()
            concluded = runner.decide(combined, outcome, trace=trace)
            bases.append(Decided(combined, normalised_here, tuple(trace)))
        decided.append(Combination(assignment, distinct.setdefault(concluded.key(), concluded)))
        if len(decided) % YIELD_EVERY == 0:
            # A long evaluation keeps the GIL for whole switch intervals (5 ms), and a short call beside it
            # needs the GIL back a dozen times: give it away about every millisecond instead.
            time.sleep(0)
    return decided


def _situation_key(selection: Selection, before: Facts, given: frozenset[str]) -> Hashable:
    """Equal for situations whose decisions and follow-up facts are equal, read from the facts with their defaults
    (`before`, not yet normalised) and the names of those given: the same compiled version, the same facts given,
    and the same facts with their defaults, each plain value reduced to its kind: a number to its side of every
    number the rules compare it with, a symbol, a yes/no or a set to the outcome of every test any rule makes on its
    fact (`CompiledRuleSet.kind_of`). Values that are not plain (unknown, one_of) are kept as they are: the
    combinations, the missing facts and their answers are made of them.

    Every condition of every rule tests facts only through such tests (a test on a fact's absence or conflict reads
    whether it was given or is one_of, both in the key), so every stage of two such situations matches the same
    rules, and they come to the same decision; their answers are of the same kinds, so they have the same
    follow-ups. Measured on 20,000 population situations: 16,615 classes by exact symbols, 3,720 by kind.

    Sets (the facts given, a set's symbols) are written as sorted tuples, which hold only strings: the garbage
    collector stops tracking such a key, and the memos keep thousands (measured: 6.0 -> 2.2 objects it tracks per
    decision kept; its full passes over what the memos keep had taken a fifth of a decision's time).
    """
    compiled = selection.compiled
    values: list[object] = []
    for name in selection.rule_set.facts:
        value = before.get(name)
        if isinstance(value, float):
            values.append(side(compiled.thresholds.get(name, ()), value))
        elif value is not None and is_plain(value):
            values.append(compiled.kind_of(name, value))
        else:
            values.append(value)
    return (compiled.serial, tuple(sorted(given)), tuple(values))


def _with_defaults(compiled: CompiledRuleSet, facts: Facts) -> Facts:
    """`facts`, completed in place with the default of every fact not given (`CompiledRuleSet.defaults`)."""
    for name, default in compiled.defaults.items():
        if name not in facts:
            facts[name] = default
    return facts
