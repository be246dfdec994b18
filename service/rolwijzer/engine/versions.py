"""Releases over time: which release, and which of its dated entries, decide on a given day.

A release is one immutable rule set. The newest release that covers a day decides it; a release that a loaded
release supersedes is chosen only when a request pins its version. Inside a release, changes in the law are dated
entries (parameter values, rules with `valid_from` / `valid_until`). Every release is compiled when it is loaded,
once for each stretch of its window in which its dated entries keep one state, so a request never compiles and a
compile error is found before a release serves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rolwijzer.engine.stages import CompiledRuleSet
from rolwijzer.rules.model import RuleSet, version_key


@dataclass(frozen=True)
class RuleSetRef:
    """Which rule-set version decided, its validity window, and the reference date it was applied for."""

    id: str
    version: str
    sha256: str
    valid_from: dt.date
    valid_until: dt.date | None
    reference_date: dt.date


@dataclass(frozen=True)
class Selection:
    """A version chosen for a request, compiled for the parameters in force on the reference date."""

    rule_set: RuleSet
    compiled: CompiledRuleSet
    ref: RuleSetRef


class NoRuleSetInForce(LookupError):
    """No loaded version is in force on the reference date (or the pinned version is not)."""

    def __init__(self, day: dt.date, windows: dict[str, str], pinned: str | None = None) -> None:
        self.day, self.windows, self.pinned = day, windows, pinned
        which = f"version {pinned} is not" if pinned else "no rule-set version is"
        covered = ", ".join(f"{v}: {w}" for v, w in windows.items())
        super().__init__(f"{which} in force on {day.isoformat()}; covered: {covered}")


class UnknownVersion(LookupError):
    """The pinned version is not loaded."""

    def __init__(self, version: str, known: list[str]) -> None:
        self.version, self.known = version, known
        super().__init__(f"rule-set version {version!r} is not loaded; loaded: {', '.join(known)}")


class Versions:
    """The loaded versions, compiled, and the choice between them by date or by pin."""

    def __init__(self, rule_sets: Sequence[RuleSet], memo_size: int = 0) -> None:
        self.memo_size = memo_size
        self.rule_sets = tuple(sorted(rule_sets, key=lambda r: version_key(r.version)))
        self.superseded_by = {old: r.version for r in self.rule_sets for old in r.supersedes}
        # Newest first, so the first current release that covers a day decides it.
        self._current = sorted(
            (r for r in self.rule_sets if r.version not in self.superseded_by),
            key=lambda r: version_key(r.version),
            reverse=True,
        )
        self._compiled: dict[tuple[str, _State], CompiledRuleSet] = {}
        try:
            for rule_set in self.rule_sets:
                for day in sorted(rule_set.change_dates()):
                    self._compiled_for(rule_set, day)
        except Exception:
            self.close()
            raise

    def windows(self) -> dict[str, str]:
        """Each release that is chosen by date, with the window it covers."""
        return {r.version: r.window() for r in sorted(self._current, key=lambda r: r.valid_from)}

    def select(self, day: dt.date | None = None, version: str | None = None) -> Selection:
        """The version for `day` (today when None), or the pinned `version`, which must be in force on `day`.

        Raises:
            UnknownVersion: `version` is not loaded.
            NoRuleSetInForce: nothing (or not the pinned version) is in force on the day.
        """
        day = day or dt.date.today()
        if version:
            matches = [r for r in self.rule_sets if r.version == version]
            if not matches:
                raise UnknownVersion(version, [r.version for r in self.rule_sets])
            candidates = matches
        else:
            candidates = self._current
        chosen = next((r for r in candidates if r.in_force_on(day)), None)
        if chosen is None:
            windows = {version: candidates[0].window()} if version else self.windows()
            raise NoRuleSetInForce(day, windows, version)
        ref = RuleSetRef(chosen.id, chosen.version, chosen.sha256, chosen.valid_from, chosen.valid_until, day)
        return Selection(chosen, self._compiled_for(chosen, day), ref)

    def _compiled_for(self, rule_set: RuleSet, day: dt.date) -> CompiledRuleSet:
        key = (rule_set.sha256, _state_on(rule_set, day))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = CompiledRuleSet(rule_set, day, self.memo_size)
        return found

    def compiled_count(self) -> int:
        """How many compiled forms are held (one per version and stretch of constant parameters)."""
        return len(self._compiled)

    def close(self) -> None:
        """Free every compiled ruleset."""
        for compiled in self._compiled.values():
            compiled.close()
        self._compiled.clear()


_State = tuple[tuple[tuple[str, str], ...], frozenset[str]]


def _state_on(rule_set: RuleSet, day: dt.date) -> _State:
    """What the dated entries say on `day`: every parameter's value and the dated rules in force."""
    values = tuple((name, repr(p.value_on(day))) for name, p in sorted(rule_set.parameters.items()))
    dated = frozenset(r.id for r in rule_set.rules if (r.valid_from or r.valid_until) and r.in_force_on(day))
    return values, dated
