"""What the metrics cost: warm Evaluate calls per second, and the server's CPU time per call, with metrics on and
off, side by side.

The same server (1 worker, cache on, logging at warning) is started alternately with `--metrics-address 0` (no
interceptor, nothing served) and with metrics on a free port, for ROUNDS rounds of BENCH_SECONDS each at 8 callers
over 4 connections (bench/load.py's load generator, in its own process). Alternating spreads the noise of a shared
machine over both. Calls per second move by 10-20% between runs on a shared 2-core machine; the server's own CPU
time per call (utime + stime from /proc) moves much less, so it is the figure to compare. Bounded: ROUNDS x 2 runs.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rolwijzer.engine import Engine
from rolwijzer.rules import load_rule_sets

from bench.load import REPO, SECONDS, Server, _load, _requests

ROUNDS = int(os.environ.get("ROUNDS", "3"))
TICKS = os.sysconf("SC_CLK_TCK")
CONCURRENCY = 8
MODES = {"off": ("--metrics-address", "0"), "on": ("--metrics-address", "127.0.0.1:0")}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def main() -> None:
    """Run the rounds and print calls/s per mode."""
    engine = Engine(load_rule_sets(REPO / "rules"))
    warm = _requests(engine.select().rule_set)["warm"]
    engine.close()
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    costs: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_number in range(1, ROUNDS + 1):
        for mode, flags in MODES.items():
            server = Server("--cache-size", "10000", *flags)
            try:
                _load(server.address, warm, CONCURRENCY)  # warm the cache and the connections
                before = _cpu_seconds(server.process.pid)
                figure = _load(server.address, warm, CONCURRENCY)
                cpu = _cpu_seconds(server.process.pid) - before
            finally:
                server.stop()
            rates[mode].append(figure["rps"])
            calls = figure["rps"] * SECONDS  # close enough: the load runs SECONDS
            costs[mode].append(cpu / calls * 1e6)
            print(
                f"round {round_number} metrics {mode:>3}: {figure['rps']:7.0f} calls/s  p50 {figure['p50']:.2f} ms  "
                f"p99 {figure['p99']:.2f} ms  errors {figure['errors']:.0f}  server CPU {costs[mode][-1]:.0f} us/call",
                flush=True,
            )
    off, on = statistics.mean(rates["off"]), statistics.mean(rates["on"])
    print(f"warm Evaluate, c={CONCURRENCY}, {SECONDS:g} s x {ROUNDS} rounds: off {off:.0f}, on {on:.0f} calls/s")
    print(f"metrics cost {1 - on / off:+.1%} of throughput (negative: on was faster, i.e. noise)")
    cpu_off, cpu_on = statistics.mean(costs["off"]), statistics.mean(costs["on"])
    print(f"server CPU per call: off {cpu_off:.0f} us, on {cpu_on:.0f} us ({cpu_on / cpu_off - 1:+.1%})")


if __name__ == "__main__":
    main()
