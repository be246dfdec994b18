"""What a rule reload costs: its own duration, the delay until a changed file serves, and its effect under load.

A reload with unchanged files and one after an edit of one release are timed apart, each with its parts (files
hashed, releases loaded, engine built, heap settled), since a reload rebuilds only what changed (issue 15). The
memory a long run of reloads keeps is measured too: RSS, frozen objects, and what a last full collection finds.
Bounded: fixed rounds and durations; the server listens on 127.0.0.1 and stops itself. Run by `make bench`.
"""

from __future__ import annotations

import gc
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rolwijzer import reload as reload_module  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.api import create_server  # noqa: E402
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS  # noqa: E402
from rolwijzer.logs import configure_logging  # noqa: E402
from rolwijzer.reload import EngineHolder  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc  # noqa: E402
from rolwijzer.waiting import StopSignal  # noqa: E402
from support import RULES_ROOT, request  # noqa: E402

RELOADS = 10
# Reloads after an edit of one release, for the memory they keep (each edit is a new release to parse and compile).
MEMORY_RELOADS = 50
# The parts of EngineHolder.reload timed apart, by their names in rolwijzer.reload.
PARTS = ("fingerprint", "load_rule_sets", "Engine", "_settle_heap")
LOAD_SECONDS = 8.0
CALLERS = 4
FACTS = {
    "relation_to_beneficiary": "child",
    "regularity": "structural",
    "hours_per_week": 4,
    "duration_months": 1,
    "tasks": ["household"],
}


def _touch_version(root: Path, counter: int) -> None:
    """Change one file, as an edit would: a new comment line in 1.1.0's ruleset.yaml."""
    path = root / "informele-zorg" / "1.1.0" / "ruleset.yaml"
    path.write_text(path.read_text(encoding="utf-8") + f"# edit {counter}\n", encoding="utf-8")


def main() -> None:
    """Measure and print."""
    configure_logging("json", logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rules"
        shutil.copytree(RULES_ROOT, root, ignore=shutil.ignore_patterns("README.md", "manifest.yaml"))
        holder = EngineHolder(root, DEFAULT_MAX_COMBINATIONS)
        _timed_reloads(holder, "reload, files unchanged", lambda _: None)
        _timed_reloads(holder, "reload, one release edited", lambda counter: _touch_version(root, 1000 + counter))
        _memory(holder, root)

        stop_watch = StopSignal()
        holder.watch(1.0, stop_watch)
        delays = []
        for counter in range(3):
            before = holder.loaded_at
            written = time.perf_counter()
            _touch_version(root, counter)
            deadline = written + 10
            while holder.loaded_at == before and time.perf_counter() < deadline:
                time.sleep(0.005)
            delays.append(time.perf_counter() - written)
        print(
            f"file change to new rules in service, watch interval 1 s (poll + 1 s settle + reload): "
            f"{', '.join(f'{d:.2f}' for d in delays)} s"
        )

        server, port = create_server("127.0.0.1:0", holder)
        server.start()
        try:
            _under_load(holder, port)
        finally:
            stop_watch.set()
            server.stop(grace=None)
            holder.close()


def _timed_reloads(holder: EngineHolder, what: str, change: Callable[[int], None]) -> None:
    """Reload RELOADS times, `change` before each; print the median and max, and the median of each part."""
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    originals: dict[str, Callable[..., object]] = {name: getattr(reload_module, name) for name in PARTS}

    def timed(name: str) -> Callable[..., object]:
        def run(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                parts[name].append((time.perf_counter() - started) * 1000)

        return run

    durations = []
    for name in PARTS:
        setattr(reload_module, name, timed(name))
    try:
        for counter in range(RELOADS):
            change(counter)
            started = time.perf_counter()
            assert holder.reload("bench")
            durations.append((time.perf_counter() - started) * 1000)
    finally:
        for name, original in originals.items():
            setattr(reload_module, name, original)
    split = ", ".join(f"{name} {statistics.median(times):.1f}" for name, times in parts.items() if times)
    print(
        f"{what}: median {statistics.median(durations):.0f} ms, max {max(durations):.0f} ms over {RELOADS} "
        f"(median ms: {split})"
    )


def _memory(holder: EngineHolder, root: Path) -> None:
    """What MEMORY_RELOADS reloads, each after an edit of one release, keep: RSS, frozen objects, cyclic garbage."""
    assert holder.reload("bench")
    rss, frozen = _rss_mib(), gc.get_freeze_count()
    for counter in range(MEMORY_RELOADS):
        _touch_version(root, 2000 + counter)
        assert holder.reload("bench")
    gc.unfreeze()
    garbage = gc.collect()  # what the reloads left in reference cycles, frozen or not
    gc.freeze()
    print(
        f"memory over {MEMORY_RELOADS} reloads, one release edited each: RSS {rss:.0f} -> {_rss_mib():.0f} MiB, "
        f"frozen objects {frozen} -> {gc.get_freeze_count()}, {garbage} objects in cycles at the end"
    )


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _under_load(holder: EngineHolder, port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.RolwijzerServiceStub(channel)
        with holder.engine() as engine:
            req = request(engine.select().rule_set, FACTS)
        samples: list[tuple[float, float]] = []
        errors = [0]
        stop = threading.Event()

        def caller() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    stub.Evaluate(req, timeout=10)
                except grpc.RpcError:
                    errors[0] += 1
                samples.append((started, (time.perf_counter() - started) * 1000))

        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        begin = time.perf_counter()
        for thread in threads:
            thread.start()
        reload_windows = []
        half = begin + LOAD_SECONDS / 2
        while time.perf_counter() < half:
            time.sleep(0.05)
        while time.perf_counter() < begin + LOAD_SECONDS:
            started = time.perf_counter()
            holder.reload("bench under load")
            reload_windows.append((started, time.perf_counter()))
            time.sleep(0.25)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    def in_reload(t: float) -> bool:
        return any(a <= t <= b for a, b in reload_windows)

    quiet = sorted(ms for t, ms in samples if t < half)
    during = sorted(ms for t, ms in samples if in_reload(t))
    quiet_rate = len(quiet) / (half - begin)
    reload_time = sum(b - a for a, b in reload_windows)
    during_rate = len(during) / reload_time if reload_time else 0.0
    print(
        f"under load ({CALLERS} callers, {LOAD_SECONDS:.0f} s, {len(reload_windows)} reloads in the second half): "
        f"{errors[0]} failed calls"
    )
    print(f"  without reload: {quiet_rate:7.0f} calls/s  p50 {_pct(quiet, 50):.2f} ms  p99 {_pct(quiet, 99):.2f} ms")
    print(f"  during reloads: {during_rate:7.0f} calls/s  p50 {_pct(during, 50):.2f} ms  p99 {_pct(during, 99):.2f} ms")


def _pct(values: list[float], pct: int) -> float:
    return values[min(len(values) - 1, len(values) * pct // 100)] if values else float("nan")


if __name__ == "__main__":
    main()
