"""What logging costs: unary Evaluate calls per second with the line per decision (`--log-level info`) and with the
decision log (`--audit-log`), each against the same server logging at `warning` with no decision log.

Three servers (1 worker, the default cache, otherwise bench/load.py's flags) run at once and are loaded in turn, a
slice of BENCH_SECONDS each, for ROUNDS rounds: the noise of a shared machine falls on all three alike. The load is
bench/load.py's (8 callers over 4 connections, in its own process) on the cold workload (fully known, all distinct):
each round starts further on in the situations, so no call is answered from the cache and every call is logged.
Calls per second move by 10-20% between runs on a shared 2-core machine; the server's own CPU time per call
(utime + stime from /proc) moves much less, so it is printed beside them. Writes bench/results/log_cost.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rolwijzer.engine import Engine
from rolwijzer.rules import load_rule_sets

from bench.load import REPO, SECONDS, Server, _load, _requests, cpu_seconds

ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONCURRENCY = 8
WARM_UP_SECONDS = 0.5
RESULTS = REPO / "bench" / "results" / "log_cost.json"


def main() -> None:
    """Run the rounds, print calls/s and CPU per call per mode, write the costs."""
    written = time.time()
    engine = Engine(load_rule_sets(REPO / "rules"))
    cold = _requests(engine.select().rule_set)["cold"]
    engine.close()
    folder = Path(tempfile.mkdtemp(prefix="rolwijzer-log-cost-"))
    modes = {
        "warning": ("--log-level", "warning"),
        "info": ("--log-level", "info"),
        "decision log": ("--log-level", "warning", "--audit-log", str(folder / "decisions.jsonl")),
    }
    servers = {mode: Server(*flags) for mode, flags in modes.items()}
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    costs: dict[str, list[float]] = {mode: [] for mode in modes}
    # Each slice sends at most about 2,000 calls a second; a round's slices all start at the same place.
    stride = int(2_000 * SECONDS) + 1
    try:
        for server in servers.values():  # connections, threads and the stage memo set up before any slice counts
            _load(server.address, cold, CONCURRENCY, start=len(cold) - 2_000, seconds=WARM_UP_SECONDS)
        for round_number in range(ROUNDS):
            start = (round_number * stride) % (len(cold) - 2_000)
            for mode, server in servers.items():
                before = cpu_seconds(server.process.pid)
                figure = _load(server.address, cold, CONCURRENCY, start=start)
                used = cpu_seconds(server.process.pid) - before
                rates[mode].append(figure["rps"])
                costs[mode].append(used / (figure["rps"] * SECONDS) * 1e6)  # the load runs SECONDS: close enough
                print(
                    f"round {round_number + 1} {mode:>12}: {figure['rps']:6.0f} calls/s  p50 {figure['p50']:.2f} ms  "
                    f"p99 {figure['p99']:.2f} ms  errors {figure['errors']:.0f}  "
                    f"server CPU {costs[mode][-1]:.0f} us/call",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    rate = {mode: statistics.mean(values) for mode, values in rates.items()}
    cpu = {mode: statistics.mean(values) for mode, values in costs.items()}
    found: dict[str, dict[str, float]] = {}
    print(f"cold Evaluate, c={CONCURRENCY}, 1 worker, {SECONDS:g} s x {ROUNDS} rounds, interleaved:")
    for mode in ("info", "decision log"):
        cost = 1 - rate[mode] / rate["warning"]
        cpu_cost = cpu[mode] / cpu["warning"] - 1
        found[mode] = {"throughput_cost": cost, "cpu_per_call_cost": cpu_cost}
        print(
            f"  {mode:>12}: {rate[mode]:6.0f} calls/s against {rate['warning']:.0f} at warning: cost {cost:+.1%} of "
            f"throughput; server CPU per call {cpu[mode]:.0f} us against {cpu['warning']:.0f} ({cpu_cost:+.1%})"
        )
    result = {
        "written": written,
        "rounds": ROUNDS,
        "seconds_per_slice": SECONDS,
        "costs": found,
        "calls_per_s": rate,
        "cpu_us_per_call": cpu,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
