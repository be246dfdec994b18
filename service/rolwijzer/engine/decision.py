"""The engine's answer for one situation, as codes and rule ids (texts are added by `report.py`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

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

    def __hash__(self) -> int:
        # Decisions key the service's memo of encoded answers, and one decision kept by the engine's memo is hashed
        # there for every situation of its class: a tree of frozen dataclasses costs about 3 µs to hash, so the hash
        # is worked out once per decision (it is immutable). `hash(fields)` is what the dataclass would compute.
        found: int | None = self.__dict__.get("_hash")
        if found is None:
            found = hash(tuple(getattr(self, f.name) for f in fields(self)))
            self.__dict__["_hash"] = found
        return found

    def __getstate__(self) -> dict[str, object]:
        # The hash of strings differs between processes: a pickled decision leaves its hash behind.
        return {name: value for name, value in self.__dict__.items() if name != "_hash"}

    def codes(self) -> dict[str, list[str]]:
        """The codes per output field, for comparisons and logs."""
        return {
            "liabilities": [f.code for f in self.liabilities],
            "obligations": [f.code for f in self.obligations],
            "flags": [f.code for f in self.flags],
        }
