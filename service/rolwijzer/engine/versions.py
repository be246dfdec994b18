"""Releases over time: which release, and which of its dated entries, decide on a given day.

A release is one immutable rule set. The newest release that covers a day decides it; a release that a loaded
release supersedes is chosen only when a request pins its version. Inside a release, changes in the law are dated
entries (parameter values, rules with `valid_from` / `valid_until`). Every release is compiled when it is loaded,
once for each stretch of its window in which its dated entries keep one state, so a request never compiles and a
compile error is found before a release serves.

Engines built from one `CompiledStore` (an `EngineHolder` keeps one for all the engines it builds) share the
compiled forms of the releases they have in common, so a reload compiles only what changed.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from rolwijzer.cache import LruCache
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


class CompiledStore:
    """Compiled forms shared by the `Versions` built from this store, each freed when the last one lets go of it.

    A compiled form is a pure function of its release's content, its name (the folder it is shown under), the
    state of its dated entries and the stage memo's size: that is its key here, so a release whose bytes did not
    change is compiled once however many engines take it. Each `acquire` counts one holder and each `release` one
    less; at zero its durable-rules rulesets are closed. An engine replaced by a reload serves its last calls with
    the compiled forms it shares with its successor, and closing it frees only those no one else holds.
    Thread-safe: compiling happens outside the lock, so a release by a finishing call never waits for a compile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[_Key, tuple[CompiledRuleSet, int]] = {}
        self._keys: dict[int, _Key] = {}  # by CompiledRuleSet.serial
        self.compiles = 0  # compiled forms built, over the store's life
        self.reuses = 0  # times a compiled form held already was taken again

    def acquire(self, rule_set: RuleSet, day: dt.date, memo_size: int) -> CompiledRuleSet:
        """The compiled form of `rule_set` for the dated state of `day`, built unless held already; count a holder.

        A compiled form taken again has its stage memo emptied (a reload empties the memo, issue 14). Calls of an
        older engine may still use it meanwhile: they only ask durable-rules again.

        Raises:
            CompileError, DurableError: the release cannot be compiled; nothing is held.
        """
        key = _key(rule_set, day, memo_size)
        with self._lock:
            found = self._take(key)
        if found is not None:
            found.memo.clear()
            return found
        built = CompiledRuleSet(rule_set, day, memo_size)
        with self._lock:
            found = self._take(key)  # another thread may have built it meanwhile
            if found is None:
                self._held[key] = (built, 1)
                self._keys[built.serial] = key
                self.compiles += 1
                return built
        built.close()
        found.memo.clear()
        return found

    def _take(self, key: _Key) -> CompiledRuleSet | None:
        """Count one more holder of the compiled form under `key`, if held. The caller holds the lock."""
        held = self._held.get(key)
        if held is None:
            return None
        self._held[key] = (held[0], held[1] + 1)
        self.reuses += 1
        return held[0]

    def release(self, compiled: CompiledRuleSet) -> None:
        """Count one holder less of `compiled` (from `acquire`); close its rulesets when none is left."""
        with self._lock:
            key = self._keys[compiled.serial]
            held, count = self._held[key]
            if count > 1:
                self._held[key] = (held, count - 1)
                return
            del self._held[key], self._keys[compiled.serial]
        held.close()

    def __len__(self) -> int:
        """How many compiled forms are held."""
        with self._lock:
            return len(self._held)


# Selections kept per `Versions` by (day, pinned version): requests name few days, but a caller may send any.
_SELECTIONS_KEPT = 512


class Versions:
    """The loaded versions, compiled, and the choice between them by date or by pin.

    With `store`, compiled forms are taken from it and shared with the other `Versions` built from it; without,
    this one compiles and frees its own. `close` lets go of them either way.
    """

    def __init__(self, rule_sets: Sequence[RuleSet], memo_size: int = 0, store: CompiledStore | None = None) -> None:
        self.memo_size = memo_size
        self._store = store if store is not None else CompiledStore()
        self.rule_sets = tuple(sorted(rule_sets, key=lambda r: version_key(r.version)))
        self.superseded_by = {old: r.version for r in self.rule_sets for old in r.supersedes}
        # Newest first, so the first current release that covers a day decides it.
        self._current = sorted(
            (r for r in self.rule_sets if r.version not in self.superseded_by),
            key=lambda r: version_key(r.version),
            reverse=True,
        )
        self._compiled: dict[_Key, CompiledRuleSet] = {}
        # A selection is a pure function of the day and the pin, since the loaded versions never change: finding
        # it again (the dated state of every parameter and rule) cost 4% of a decision.
        self._selections: LruCache[tuple[dt.date, str | None], Selection] = LruCache(_SELECTIONS_KEPT)
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
        key = (day, version or None)
        found = self._selections.get(key)
        if found is None:
            found = self._select(day, version)
            self._selections.put(key, found)
        return found

    def _select(self, day: dt.date, version: str | None) -> Selection:
        """What `select` returns, found afresh."""
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
        key = _key(rule_set, day, self.memo_size)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._store.acquire(rule_set, day, self.memo_size)
        return found

    def compiled_count(self) -> int:
        """How many compiled forms are held (one per version and stretch of constant parameters)."""
        return len(self._compiled)

    def close(self) -> None:
        """Let go of every compiled form: each is freed unless another `Versions` of the same store holds it."""
        held, self._compiled = list(self._compiled.values()), {}
        self._selections = LruCache(_SELECTIONS_KEPT)
        for compiled in held:
            self._store.release(compiled)


_State = tuple[tuple[tuple[str, str], ...], frozenset[str]]
# What a compiled form is a function of: the release's content (sha256) and name, the dated state, the memo size.
_Key = tuple[str, str, _State, int]


def _key(rule_set: RuleSet, day: dt.date, memo_size: int) -> _Key:
    return rule_set.sha256, rule_set.folder, _state_on(rule_set, day), memo_size


def _state_on(rule_set: RuleSet, day: dt.date) -> _State:
    """What the dated entries say on `day`: every parameter's value and the dated rules in force."""
    values = tuple((name, repr(p.value_on(day))) for name, p in sorted(rule_set.parameters.items()))
    dated = frozenset(r.id for r in rule_set.rules if (r.valid_from or r.valid_until) and r.in_force_on(day))
    return values, dated
