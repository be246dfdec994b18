"""The engine's answer for one situation, as codes and rule ids (texts are added by `report.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from rolwijzer.engine.versions import RuleSetRef


@dataclass(frozen=True)
class Finding:
    """One output code and the rules that concluded it."""

    code: str
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class MissingFact:
    """A fact whose answer changes the role, the deployer or the liability, with the answers considered."""

    fact: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class FollowUpFact:
    """A fact not given whose answer changes the obligations or flags (not role, deployer or liability).

    `values` are the answers a caller may give; `codes` the obligations and flags some answer adds or removes;
    `safety` is True when one of them is about safety (the code catalogue says which).
    """

    fact: str
    values: tuple[str, ...]
    codes: tuple[str, ...]
    safety: bool


@dataclass(frozen=True)
class Decision:
    """The complete decision of domain.md §6 for one situation.

    `role` is ONBEPAALD when the known facts do not settle it; `role_candidates` then lists every role some
    completion of the missing facts leads to. `missing_facts` is ordered most decisive first. `fired_rules`
    follows the order of the decision procedure.
    """

    role: str
    volunteer_deployer: str
    role_candidates: tuple[str, ...]
    liabilities: tuple[Finding, ...]
    obligations: tuple[Finding, ...]
    flags: tuple[Finding, ...]
    missing_facts: tuple[MissingFact, ...]
    fired_rules: tuple[str, ...]
    combinations: int
    rule_set: RuleSetRef
    # Facts not given whose answer changes obligations or flags, safety first, then most decisive first.
    follow_up_facts: tuple[FollowUpFact, ...] = ()
    # Facts the caller did not give that took their default (or a default stage A1 derived).
    defaulted_facts: tuple[str, ...] = ()

    def codes(self) -> dict[str, list[str]]:
        """The codes per output field, for comparisons and logs."""
        return {
            "liabilities": [f.code for f in self.liabilities],
            "obligations": [f.code for f in self.obligations],
            "flags": [f.code for f in self.flags],
        }
