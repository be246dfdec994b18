"""Follow-up facts: what is still worth asking once role and liability are settled.

A fact is a follow-up when the caller did not give it (it took its default, or stays open although it does not
change role, deployer or liability) and some answer to it changes the obligations or flags. Every answer that is
tried is decided by the engine itself; `answers.py` only keeps one answer of each kind the rules tell apart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from rolwijzer.engine.answers import FactAnswers
from rolwijzer.engine.decision import FollowUpFact
from rolwijzer.engine.enumeration import Domain
from rolwijzer.engine.values import Facts, FactValue, is_plain
from rolwijzer.rules.model import RuleSet

__all__ = ["Question", "absent_questions", "follow_up_facts", "open_questions"]


@dataclass(frozen=True)
class Question:
    """A fact that could be a follow-up, with how to decide the situation under each of its answers.

    `decide` returns the obligations and flags with the fact given that answer, or None when that answer cannot
    be decided cheaply enough (it then counts as changing nothing).
    """

    fact: str
    labels: tuple[str, ...]
    answers: Sequence[FactValue]
    decide: Callable[[FactValue], frozenset[str] | None]


def follow_up_facts(
    rule_set: RuleSet, before: frozenset[str], questions: Sequence[Question]
) -> tuple[FollowUpFact, ...]:
    """The questions whose answers change the obligations and flags `before`, safety first, then by how many codes
    change."""
    found = []
    for order, question in enumerate(questions):
        changed: set[str] = set()
        for answer in question.answers:
            after = question.decide(answer)
            if after is not None:
                changed |= before ^ after
        if changed:
            safety = any(rule_set.code(code).safety for code in changed)
            found.append(
                (
                    not safety,
                    -len(changed),
                    order,
                    FollowUpFact(question.fact, question.labels, tuple(sorted(changed)), safety),
                )
            )
    return tuple(item[-1] for item in sorted(found, key=lambda item: item[:3]))


def absent_questions(
    rule_set: RuleSet,
    answers: dict[str, FactAnswers],
    given: Collection[str],
    facts: Facts,
    skip: Collection[str],
    decide: Callable[[str, FactValue], frozenset[str] | None],
) -> list[Question]:
    """Questions about facts not given: one answer of each kind other than the kind of the value they took."""
    found = []
    for name, kinds in answers.items():
        if name in given or name in skip:
            continue
        current = facts.get(name)
        others = kinds.others(current if current is not None and is_plain(current) else None)
        if others:
            fact = rule_set.facts[name]
            labels = fact.plain_symbols
            found.append(Question(name, labels, others, functools.partial(decide, name)))
    return found


def open_questions(
    domains: Sequence[Domain], skip: Collection[str], restrict: Callable[[int, FactValue], frozenset[str] | None]
) -> list[Question]:
    """Questions about facts still open (unknown or one_of) that do not change role, deployer or liability."""
    return [
        Question(domain.fact, domain.labels, domain.values, functools.partial(restrict, index))
        for index, domain in enumerate(domains)
        if domain.fact not in skip
    ]
