"""Run the stages of the decision procedure on one set of facts (one combination of stage H).

The strategy lives here and only here: stages in the order of `STAGE_IDS`, first match for the role (stage B),
forward chaining from the role and earlier codes into stages B-context to G. What the stages conclude comes from
the rule files.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import dataclass, field

from rolwijzer.engine.answers import answers_by_fact
from rolwijzer.engine.compile import (
    DEPLOYER,
    FIRST_MATCH_STAGES,
    ROLE,
    YES,
    CompiledRule,
    CompiledStage,
    code_attribute,
    compile_stage,
    derive,
)
from rolwijzer.engine.relevance import readers_by_fact
from rolwijzer.engine.values import Facts, FactValue, OneOf, is_unknown
from rolwijzer.rules.model import STAGE_IDS, Aggregate, CodeKind, FactType, RuleSet
from rolwijzer.rules.texts import RenderedTexts

NORMALISE_INPUT = ("A1", "A")
COMBINATION_STAGES = ("B", "B-context", "C", "D1", "D2", "D", "E", "F", "G")
_MAX_NORMALISE_ROUNDS = 8


_serials = itertools.count(1)
# Kinds of values kept per compiled form (CompiledRuleSet.kind_of).
_KINDS_KEPT = 4096


class EvaluationError(RuntimeError):
    """The rule set could not decide a situation (a defect of the rule set or the engine, not of the input)."""


class CompiledRuleSet:
    """Every stage of a rule set, compiled for the parameters in force on one day, and its texts for that day."""

    def __init__(self, rule_set: RuleSet, day: dt.date, memo_size: int = 0) -> None:
        self.rule_set = rule_set
        self.day = day
        self.memo = StageMemo(memo_size)
        # One per release and stretch of constant dated entries (Versions keeps one compiled form per stretch), so
        # each text is rendered once per stretch and language, and then looked up.
        self.texts = RenderedTexts(rule_set, day)
        self.serial = next(_serials)  # unique for the life of the process, unlike id()
        self.stages: dict[str, CompiledStage] = {stage: compile_stage(rule_set, stage, day) for stage in STAGE_IDS}
        rules = [compiled.rule for stage in self.stages.values() for compiled in stage.rules.values()]
        self.answers = answers_by_fact(rule_set, day, rules)
        self._kinds: dict[tuple[str, FactValue], Hashable] = {}
        normalising = [self.stages[stage] for stage in NORMALISE_INPUT]
        # The facts that stages A1 and A may set, whose values those stages do not read as given.
        self.set_facts = frozenset().union(
            *(c.rule.then.set_facts.keys() for stage in normalising for c in stage.rules.values())
        )
        # The facts whose value stages A1 and A read, or that they set: a change from one value to another, neither
        # one_of, of any other fact leaves their work as it was (stage A reads every fact's one_of marker, A6).
        self.normalising_facts = self.set_facts.union(*(stage.encoder.values_read for stage in normalising))
        # For each fact, the conditions that test it in any stage (see relevance.py).
        every_rule = {c.rule.id: c.rule for stage in self.stages.values() for c in stage.rules.values()}
        derived_read = frozenset().union(*(stage.encoder.derived_read for stage in self.stages.values()))
        inert = {
            c.rule.id
            for stage in COMBINATION_STAGES
            if stage not in FIRST_MATCH_STAGES
            for c in self.stages[stage].rules.values()
            if c.rule.then.role is None
            and not c.rule.then.set_facts
            and not c.rule.then.exclude
            and all(
                rule_set.code(code).kind == CodeKind.LIABILITY and code_attribute(code) not in derived_read
                for code in c.codes
            )
        }
        self.readers = readers_by_fact(rule_set, day, every_rule.values(), inert)
        # Every number each number fact is compared with, in any stage, in order.
        self.thresholds = {
            name: tuple(sorted({t for stage in self.stages.values() for t in stage.encoder.thresholds.get(name, ())}))
            for name in {name for stage in self.stages.values() for name in stage.encoder.thresholds}
        }
        # The facts whose value decides which combinations of open facts stage H drops.
        self.enumerating_facts = self.stages["H-enumeration"].encoder.values_read
        order = {stage: index for index, stage in enumerate(STAGE_IDS)}
        self.rule_order = {rule.id: (order[rule.stage], i) for i, rule in enumerate(rule_set.rules)}
        # Looked up for every evaluation: the ★ facts (the only ones a combination must have settled), and the kind
        # of each code a rule can conclude (a CONFLICT_<FACT> code has the kind of its pattern).
        self.star_facts = tuple(name for name, fact in rule_set.facts.items() if fact.decides_role)
        # Each fact's value when it is not given, in catalogue order: its default, or no symbols for a set fact.
        self.defaults: dict[str, FactValue] = {}
        for name, fact in rule_set.facts.items():
            if fact.default is not None:
                self.defaults[name] = fact.default
            elif fact.type == FactType.SET:
                self.defaults[name] = frozenset()
        self.code_kinds: dict[str, CodeKind] = {code: rule_set.code(code).kind for code in self._concluded_codes()}
        # The codes a rule can conclude whose catalogue entry (not a pattern's) says `aggregate: any`: stage H
        # reports them when any one combination concludes them.
        self.any_codes = frozenset(
            code
            for code in self.code_kinds
            if code in rule_set.codes and rule_set.codes[code].aggregate == Aggregate.ANY
        )

    def _concluded_codes(self) -> set[str]:
        return {code for stage in self.stages.values() for compiled in stage.rules.values() for code in compiled.codes}

    def kind_of(self, name: str, value: FactValue) -> Hashable:
        """What the rules of this compiled form can tell of the plain `value` of fact `name`: the outcome of every
        test on the fact in any rule (`FactAnswers.kind`), so that two values of one kind match the same rules
        everywhere; for a fact that no test tells values of apart, the value itself (a set as a sorted tuple).

        Kept per value (bounded, emptied when full: the values are the catalogue's symbols and the sets callers
        send): a kind reads every test on the fact, some twenty for the tasks.
        """
        key = (name, value)
        found = self._kinds.get(key)
        if found is None:
            answers = self.answers.get(name)
            if answers is not None:
                found = answers.kind(value)
            else:
                found = tuple(sorted(value)) if isinstance(value, frozenset) else value
            if len(self._kinds) >= _KINDS_KEPT:
                self._kinds.clear()  # several threads may clear at once: harmless, each only finds kinds again
            self._kinds[key] = found
        return found

    def fireable_rule_ids(self) -> set[str]:
        """The ids of the rules that can fire on this day (a rule whose parameters exclude it cannot)."""
        return {cr.rule.id for stage in self.stages.values() for cr in stage.rules.values()}

    def close(self) -> None:
        """Free the durable-rules rulesets."""
        for stage in self.stages.values():
            stage.ruleset.close()


@dataclass
class Outcome:
    """What the stages concluded for one combination of facts."""

    role: str = ""
    volunteer_deployer: str = ""
    codes: dict[str, list[str]] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)

    def copy(self) -> Outcome:
        """An outcome that can be added to without changing this one."""
        codes = {code: list(rule_ids) for code, rule_ids in self.codes.items()}
        return Outcome(self.role, self.volunteer_deployer, codes, list(self.fired))

    def key(self) -> tuple[object, ...]:
        """Equal for outcomes that concluded the same, so that equal ones can be shared."""
        codes = tuple((code, tuple(rule_ids)) for code, rule_ids in self.codes.items())
        return (self.role, self.volunteer_deployer, codes, tuple(self.fired))

    def add(self, compiled: CompiledRule) -> None:
        rule_id = compiled.rule.id
        if rule_id not in self.fired:
            self.fired.append(rule_id)
        for code in compiled.codes:
            producers = self.codes.setdefault(code, [])
            if rule_id not in producers:
                producers.append(rule_id)


class StageMemo:
    """What durable-rules answered for each stage message, kept across evaluations of one compiled rule set.

    Keyed by the stage and the message with numbers reduced to their side of each threshold in force
    (`Encoder.key`), so every entry is durable-rules' own answer for a message that matches exactly the same
    rules. It belongs to one release and stretch of dated entries, so it never outlives the rules it answered for;
    a reload that reuses the compiled form empties it (`CompiledStore.acquire`). Bounded: when full it is emptied,
    which costs only re-asking. Size 0 turns it off (each evaluation then keeps its own memo of exact messages).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._found: dict[tuple[str, tuple[str | float, ...]], tuple[CompiledRule, ...]] = {}
        # The answer for a key, or None. The dict's own `get`, bound once (the dict is emptied, never replaced): it
        # is called for every stage of every combination, and a method around it cost 2% of a decision.
        self.get: Callable[[tuple[str, tuple[str | float, ...]]], tuple[CompiledRule, ...] | None] = self._found.get

    def put(self, key: tuple[str, tuple[str | float, ...]], found: tuple[CompiledRule, ...]) -> None:
        if len(self._found) >= self.size:
            self._found.clear()  # several threads may clear at once: harmless, each only re-asks
        self._found[key] = found

    def clear(self) -> None:
        """Forget every answer. Safe while evaluations use the memo: one dict operation, atomic under the GIL; an
        evaluation still running only asks durable-rules again, and what it puts back is the same compiled form's
        own answer."""
        self._found.clear()

    def __len__(self) -> int:
        return len(self._found)


# The rules of one stage that matched, in priority order.
Matched = tuple[CompiledRule, ...]


@dataclass(frozen=True)
class Decided:
    """The facts of one combination, what stage A1 concluded on them, and the rules each of stages B to G matched
    for them (`StageRunner.decide`)."""

    facts: Facts
    normalised: Outcome
    trace: tuple[Matched, ...]


def differing(facts: Facts, other: Facts) -> set[str]:
    """The names of the facts whose values differ between `facts` and `other` (absent in one counts)."""
    return {name for name in facts.keys() | other.keys() if facts.get(name) != other.get(name)}


def _derived(matched: Matched) -> set[tuple[str, str]]:
    """The attributes (with values) that matching these rules gives later stages."""
    found = set()
    for compiled in matched:
        then = compiled.rule.then
        if then.role is not None:
            found |= {(ROLE, then.role), (DEPLOYER, then.volunteer_deployer or "")}
        found |= {(code_attribute(code), YES) for code in compiled.codes}
    return found


def replay(outcome: Outcome, trace: Iterable[Matched]) -> Outcome:
    """Add to `outcome` what the stages concluded by matching the rules of `trace`, as `StageRunner.decide` does."""
    for matched in trace:
        for compiled in matched:
            outcome.add(compiled)
            then = compiled.rule.then
            if then.role is not None:
                outcome.role = then.role
                outcome.volunteer_deployer = then.volunteer_deployer or ""
    return outcome


class StageRunner:
    """Runs stages for one evaluation, asking durable-rules once per distinct stage message."""

    def __init__(self, compiled: CompiledRuleSet) -> None:
        self.compiled = compiled
        self._memo = compiled.memo
        self._shared = compiled.memo.size > 0
        self._own: dict[tuple[str, tuple[str | float, ...]], tuple[CompiledRule, ...]] = {}

    def run(self, stage: str, facts: Facts, derived: dict[str, str]) -> tuple[CompiledRule, ...]:
        """Return the rules of `stage` that match, in priority order."""
        compiled = self.compiled.stages[stage]
        encoder = compiled.encoder
        values = encoder.values(facts, derived)
        if self._shared:
            key = (stage, encoder.key(values))
            found = self._memo.get(key)
        else:
            key = (stage, values)
            found = self._own.get(key)
        if found is None:
            found = tuple(compiled.rules[name] for name in compiled.ruleset.matching_rules(encoder.message(values)))
            if self._shared:
                self._memo.put(key, found)
            else:
                self._own[key] = found
        return found

    def normalise(self, facts: Facts, stages: Iterable[str], outcome: Outcome) -> None:
        """Apply the normalising stages to `facts` in place until no rule changes a fact."""
        stages = tuple(stages)
        for _ in range(_MAX_NORMALISE_ROUNDS):
            changed = False
            for stage in stages:
                for compiled in self.run(stage, facts, {}):
                    outcome.add(compiled)
                    for name, value in compiled.rule.then.set_facts.items():
                        if facts.get(name) != value:
                            facts[name] = value
                            changed = True
            if not changed:
                return
        raise EvaluationError(f"stages {', '.join(stages)} keep changing the facts; check their `set` rules")

    def decide(
        self,
        facts: Facts,
        outcome: Outcome,
        trace: list[Matched] | None = None,
        like: Decided | None = None,
        changed: Collection[str] | None = None,
    ) -> Outcome:
        """Run stages B to G on the normalised facts of one combination, adding to `outcome`.

        With `trace`, each stage's matching rules are appended to it. With `like` (facts decided before and their
        trace), a stage whose message cannot differ from theirs (it reads no fact and no derived attribute that
        differs) takes their matching rules without being asked again: the answer is the same by construction.
        `changed`, when the caller knows it, names every fact that differs from `like`'s (found otherwise).
        """
        if like is None:
            self._require_known(facts, self.compiled.star_facts)
            changed = set()
        else:
            changed = differing(facts, like.facts) if changed is None else set(changed)
            self._require_known(facts, changed)  # `like`'s facts were checked when it was decided
        derived: dict[str, str] = {}
        changed_derived: set[str] = set()
        for index, stage in enumerate(COMBINATION_STAGES):
            if like is None:
                matched = self.run(stage, facts, derived)
            else:
                before = like.trace[index]
                encoder = self.compiled.stages[stage].encoder
                if encoder.facts_read.isdisjoint(changed) and encoder.derived_read.isdisjoint(changed_derived):
                    matched = before
                else:
                    matched = self.run(stage, facts, derived)
                    if matched != before:
                        changed_derived |= {attribute for attribute, _ in _derived(matched) ^ _derived(before)}
            if trace is not None:
                trace.append(matched)
            replay(outcome, (matched,))
            derive(matched, derived)
            if stage == "B" and not outcome.role:
                raise EvaluationError("no stage B rule decided the role; stage B must end with a catch-all rule")
        return outcome

    def retrace(self, facts: Facts, like: Decided, changed: Collection[str]) -> tuple[Matched, ...]:
        """The rules each of stages B to G matches for `facts`, which differ from `like`'s facts in `changed` only.

        What `decide(facts, ..., trace=...)` would put in its trace, without building an outcome: a stage whose
        message cannot differ from `like`'s keeps its matching rules, and the stages that are asked again are
        asked with the role and codes the new trace derives before them. A trace equal to `like.trace` means
        the same outcome.
        """
        self._require_known(facts, changed)
        trace = list(like.trace)
        changed_derived: set[str] = set()
        for index, stage in enumerate(COMBINATION_STAGES):
            encoder = self.compiled.stages[stage].encoder
            if encoder.facts_read.isdisjoint(changed) and encoder.derived_read.isdisjoint(changed_derived):
                continue
            derived: dict[str, str] = {}
            for earlier in trace[:index]:
                derive(earlier, derived)
            matched = self.run(stage, facts, derived)
            before = trace[index]
            if matched != before:
                if stage == "B" and not any(compiled.rule.then.role is not None for compiled in matched):
                    raise EvaluationError("no stage B rule decided the role; stage B must end with a catch-all rule")
                changed_derived |= {attribute for attribute, _ in _derived(matched) ^ _derived(before)}
                trace[index] = matched
        return tuple(trace)

    def _require_known(self, facts: Facts, names: Iterable[str]) -> None:
        catalogue = self.compiled.rule_set.facts
        for name in names:
            value: FactValue | None = facts.get(name)
            # The value first: it is known for nearly every fact, and the catalogue's entry is only read when not.
            if (value is None or isinstance(value, OneOf) or is_unknown(value)) and catalogue[name].decides_role:
                raise EvaluationError(f"★ fact {name} is still open in a combination of stage H")
