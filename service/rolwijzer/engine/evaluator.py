"""The engine's public entry point: decide one situation with a compiled rule set."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from rolwijzer.engine.aggregate import Combination, combine
from rolwijzer.engine.decision import Decision
from rolwijzer.engine.enumeration import TooManyCombinations, combinations, count_combinations, open_domains
from rolwijzer.engine.inputs import FactInput, check_facts
from rolwijzer.engine.stages import NORMALISE_INPUT, CompiledRuleSet, Outcome, StageRunner
from rolwijzer.engine.values import Facts
from rolwijzer.rules.model import FactType, RuleSet

DEFAULT_MAX_COMBINATIONS = 20_000  # about 2 s of evaluation on the 2-core machine (0.11 ms each)


class Engine:
    """Decides situations against one rule set, compiled once for the parameters in force on `day`.

    Thread-safe: every evaluation has its own durable-rules sessions and memo.

    Args:
        rule_set: a loaded, validated rule set.
        day: the date whose parameter values apply (today when None).
        max_combinations: the most combinations of open facts one evaluation may span.
    """

    def __init__(
        self, rule_set: RuleSet, day: dt.date | None = None, max_combinations: int = DEFAULT_MAX_COMBINATIONS
    ) -> None:
        self.rule_set = rule_set
        self.compiled = CompiledRuleSet(rule_set, day or dt.date.today())
        self.max_combinations = max_combinations

    def check(self, inputs: Mapping[str, FactInput]) -> None:
        """Check `inputs` against the facts catalogue without evaluating.

        Raises:
            InvalidFacts: one violation per bad fact.
        """
        check_facts(self.rule_set, inputs)

    def evaluate(self, inputs: Mapping[str, FactInput]) -> Decision:
        """Decide the situation described by `inputs` (fact name to value; absent facts take their default).

        Raises:
            InvalidFacts: a fact is unknown, of the wrong kind, or not allowed; nothing was evaluated.
            TooManyCombinations: the open facts span more combinations than `max_combinations`.
            EvaluationError: the rule set could not decide (a defect, never the caller's fault).
        """
        facts = self._with_defaults(check_facts(self.rule_set, inputs))
        runner = StageRunner(self.compiled)
        normalised = Outcome()
        runner.normalise(facts, NORMALISE_INPUT, normalised)
        domains = open_domains(self.compiled, facts)
        count = count_combinations(domains)
        if count > self.max_combinations:
            raise TooManyCombinations(count, self.max_combinations, [d.fact for d in domains])
        decided = [
            Combination(assignment, runner.decide(combined, outcome))
            for assignment, combined, outcome in combinations(runner, facts, domains, normalised)
        ]
        return combine(runner, normalised, domains, decided)

    def _with_defaults(self, facts: Facts) -> Facts:
        for name, fact in self.rule_set.facts.items():
            if name not in facts and fact.default is not None:
                facts[name] = fact.default
            elif name not in facts and fact.type == FactType.SET:
                facts[name] = frozenset()
        return facts

    def close(self) -> None:
        """Free the compiled rulesets; the engine must not be used afterwards."""
        self.compiled.close()
