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

    def codes(self) -> dict[str, list[str]]:
        """The codes per output field, for comparisons and logs."""
        return {
            "liabilities": [f.code for f in self.liabilities],
            "obligations": [f.code for f in self.obligations],
            "flags": [f.code for f in self.flags],
        }
