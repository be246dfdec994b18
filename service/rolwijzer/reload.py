"""Serve the current engine and replace it safely when the rules change.

A reload loads, checks and compiles every version off to the side, then swaps the new engine in with one
assignment. Calls hold the engine they started with; a replaced engine is closed when its last call ends. A bad
change is refused: the versions in service stay, the problems are logged and kept for GetStatus. The watcher
outlives every error: it reports it the same way and keeps looking.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import structlog
import watchfiles

from rolwijzer import metrics
from rolwijzer.engine import CompiledStore, Engine
from rolwijzer.rules import Problem, RuleSetError, load_rule_sets
from rolwijzer.rules.files import fingerprint as files_fingerprint
from rolwijzer.rules.validate import clip, report_lines
from rolwijzer.waiting import StopSignal

log = structlog.get_logger("rolwijzer.rules")

Fingerprint = tuple[tuple[str, str], ...]
# Without any event, the watcher still compares the files this often: some file systems (network mounts) send none.
SAFETY_LOOK_SECONDS = 30.0


@dataclass(frozen=True)
class ReloadFailure:
    """A rejected reload: when, and every problem found."""

    attempted_at: dt.datetime
    problems: tuple[str, ...]


class _Generation:
    """One engine in service, with the number of calls using it."""

    def __init__(self, engine: Engine, fingerprint: Fingerprint) -> None:
        self.engine = engine
        self.fingerprint = fingerprint
        self.loaded_at = dt.datetime.now(dt.UTC)
        self.calls = 0
        self.retired = False


def fingerprint(root: Path) -> Fingerprint:
    """Names and content hashes of the rule files under `root`: changes when any file's content does.

    Contents, not modification times: a file replaced within one clock tick, or while the clock is faked or jumps
    back, keeps its time but not its hash. A file that cannot be read (a FIFO, a dangling symlink, a file that
    vanished) is listed with its reason instead of being opened; see `rolwijzer.rules.files.fingerprint`.
    """
    return files_fingerprint(root)


# Every this many reloads, the heap is unfrozen for a full collection: what replaced engines left in reference
# cycles among frozen objects is freed only then (see _settle_heap). Counted, not measured: gc.get_freeze_count
# walks the whole frozen list (about 12 ms for the six releases of rules/), a fifth of the collection it would save.
FULL_SETTLE_EVERY = 8


def _settle_heap(full: bool = True) -> None:
    """Move the engine in service out of the garbage collector's sight.

    A full collection holds the GIL while it scans every object, and the compiled rules are most of them: frozen,
    they are never scanned again, so an evaluation's full collections stay short and health checks beside it
    answer sooner. With `full`, unfreezing first lets the collection free what earlier engines left in cycles:
    it scans the whole heap (about 60 ms for the six releases of rules/). Without, it scans only what was made
    since the last freeze (the releases rebuilt), and frozen objects are still freed when their last reference
    goes; only frozen objects in reference cycles wait for a full collection (`EngineHolder` bounds them).
    """
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


class EngineHolder:
    """The engine in service for the rules under `root`, replaced atomically on reload.

    Raises:
        RuleSetError: the first load fails (there is nothing to serve).
    """

    def __init__(self, root: Path, max_combinations: int, cache_size: int = 0) -> None:
        self.root = root
        self.max_combinations = max_combinations
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._reloading = threading.Lock()
        # Shared by every engine built here: a reload compiles only the releases (and dated stretches) whose bytes
        # changed, and a replaced engine still serving its last calls frees only what its successor does not hold.
        self._compiled = CompiledStore()
        self._current = _Generation(self._build(), fingerprint(root))
        self.last_failure: ReloadFailure | None = None
        metrics.rules_loaded(self._current.engine, self._current.loaded_at, reloaded=False)
        _settle_heap()
        self._settles_since_full = 0

    def _build(self) -> Engine:
        try:
            return Engine(
                load_rule_sets(self.root), self.max_combinations, self.cache_size, compiled_store=self._compiled
            )
        except RuleSetError:
            raise
        except Exception as err:  # a compile error in durable-rules: reported like a rule-file problem
            raise RuleSetError([Problem("-", "-", f"cannot compile: {type(err).__name__}: {err}")]) from err

    def _settle(self) -> None:
        """Settle the heap after a swap; fully on every FULL_SETTLE_EVERY-th reload only.

        A replaced engine's objects are freed by their reference counts, frozen or not (an engine and its compiled
        forms hold no reference cycles: test_reload checks it), so most reloads skip the full scan of the heap and
        pay only for the objects they made. Whatever does sit in cycles among frozen objects is freed by the next
        full collection: what reloads keep for nothing is bounded by FULL_SETTLE_EVERY reloads' worth.
        """
        self._settles_since_full += 1
        full = self._settles_since_full >= FULL_SETTLE_EVERY
        _settle_heap(full)
        if full:
            self._settles_since_full = 0

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """The engine in service; it stays usable until the block ends, even if a reload replaces it."""
        with self._lock:
            generation = self._current
            generation.calls += 1
        try:
            yield generation.engine
        finally:
            with self._lock:
                generation.calls -= 1
                close = generation.retired and generation.calls == 0
            if close:
                generation.engine.close()

    @property
    def loaded_at(self) -> dt.datetime:
        """When the engine in service was loaded."""
        return self._current.loaded_at

    def reload(self, reason: str) -> bool:
        """Load the rules again and swap them in; return False (and keep the old ones) when they are bad."""
        with self._reloading:
            started = time.perf_counter()
            print_fp = fingerprint(self.root)
            try:
                engine = self._build()
            except RuleSetError as err:
                # Bounded: at most MAX_REPORTED_PROBLEMS lines of at most MAX_PROBLEM_CHARS characters each.
                # Relative paths for any client to see; the place (line:column) is kept.
                relative = [
                    replace(p, file=_without_root(p.file, self.root), message=_without_root(p.message, self.root))
                    for p in err.problems
                ]
                problems = tuple(report_lines(relative))
                self.last_failure = ReloadFailure(dt.datetime.now(dt.UTC), problems)
                self._current.fingerprint = print_fp  # do not retry the same broken files every poll
                log.error("rules_reload_failed", reason=reason, problems=list(problems))
                metrics.rules_reload_failed()
                return False
            replacement = _Generation(engine, print_fp)
            with self._lock:
                old, self._current = self._current, replacement
                old.retired = True
                close_now = old.calls == 0
            if close_now:
                old.engine.close()
            self._settle()
            self.last_failure = None
            metrics.rules_loaded(engine, replacement.loaded_at, reloaded=True)
            log.info(
                "rules_reloaded",
                reason=reason,
                versions=[r.version for r in engine.rule_sets],
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return True

    def watch(self, interval: float, stop: StopSignal) -> threading.Thread:
        """Reload when the rule files change and then stay the same for `interval` seconds, until `stop` is set.

        The kernel tells of changes (inotify, through watchfiles), so an idle server reads no file; every
        `SAFETY_LOOK_SECONDS` it also looks without being told, for file systems that send no events (network
        mounts). A change counts only when the files' content hashes differ from those in service.
        """

        def follow() -> None:
            reported = ""
            for _changes in self._changes(interval, stop):
                try:
                    self._look(interval, stop)
                    reported = ""
                except Exception as err:  # the watcher must outlive anything: report it, look again next time
                    reason = _without_root(clip(f"{type(err).__name__}: {err}", 200), self.root)
                    self.last_failure = ReloadFailure(dt.datetime.now(dt.UTC), (f"the rules watcher failed: {reason}",))
                    metrics.rules_reload_failed()
                    if reason != reported:  # once per distinct failure, not on every look
                        log.error("rules_watch_failed", reason=reason)
                        reported = reason

        thread = threading.Thread(target=follow, name="rules-watch", daemon=True)
        thread.start()
        return thread

    def _changes(self, interval: float, stop: StopSignal) -> Iterator[object]:
        """Yield whenever the files under the root may have changed (or a safety look is due), until `stop`.

        watchfiles groups a burst of events (an editor's or a deploy's several writes) into one; where the kernel
        cannot watch (no inotify, too many watches), it polls by itself.
        """
        safety_ms = int(max(interval, SAFETY_LOOK_SECONDS) * 1000)
        while not stop.is_set():
            try:
                yield from watchfiles.watch(
                    self.root,
                    stop_event=stop,
                    debounce=max(int(interval * 1000), 50),
                    step=50,
                    rust_timeout=safety_ms,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                )
            except Exception as err:  # the root vanished or cannot be watched: report it, try again later
                reason = _without_root(clip(f"{type(err).__name__}: {err}", 200), self.root)
                log.error("rules_watch_failed", reason=reason)
                yield None
                stop.wait(interval)

    def _look(self, interval: float, stop: StopSignal) -> None:
        """One look of the watcher: reload when the files changed and then stayed the same for `interval`."""
        seen = fingerprint(self.root)
        if seen == self._current.fingerprint:
            return
        # An editor or a deploy writes several files: wait until they stop changing, then load once.
        while not stop.wait(interval):
            settled = fingerprint(self.root)
            if settled == seen:
                break
            seen = settled
        if not stop.is_set():
            self.reload("files changed")

    def close(self) -> None:
        """Close the engine in service (at shutdown, after the server stopped)."""
        with self._lock:
            self._current.retired = True
            close_now = self._current.calls == 0
        if close_now:
            self._current.engine.close()


def _without_root(line: str, root: Path) -> str:
    """A problem line with the server's own path to the rules root left out, since GetStatus answers any client:
    paths are shown relative to the root, and the root itself as "<rules>"."""
    for prefix in sorted({str(root.resolve()), str(root.absolute()), str(root)}, key=len, reverse=True):
        if prefix not in (".", ""):
            line = line.replace(prefix + "/", "").replace(prefix, "<rules>")
    return line
