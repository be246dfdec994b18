"""The throughput goals of issue 14 beside the figures measured in this run of `make bench`; run last by it.

Reads bench/results/latest.json (bench/load.py), log_cost.json, memory.json and impact.json. A file written before
BENCH_STARTED (seconds since the epoch, set by `make bench` when it starts) is left out, so every figure shown was
measured in the same run; without BENCH_STARTED every file counts. Nothing is measured here and no figure is
written in: a goal whose figure is missing says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FILES = ("latest", "log_cost", "memory", "impact")
MILLION = 1_000_000
STEP = 100_000


@dataclass(frozen=True)
class Goal:
    """One row: what is measured, the goal as the issue words it, and how to read the figure from the results."""

    measure: str
    goal: str
    # The figure as shown and whether the goal is met (None: measured, but not as far as the goal asks).
    read: Callable[[dict[str, Any]], tuple[str, bool | None]]


def _engine_cold(found: dict[str, Any]) -> tuple[str, bool | None]:
    median_us = found["latest"]["engine cold"]["median_ms"] * 1000
    return f"{median_us:.0f} µs{_first_of_class(found, 'engine cold', 1000, 'µs')}", median_us <= 80


def _engine_unknown(found: dict[str, Any]) -> tuple[str, bool | None]:
    median_ms = found["latest"]["engine 3 unknown"]["median_ms"]
    return f"{median_ms:.2f} ms (median){_first_of_class(found, 'engine 3 unknown', 1, 'ms')}", median_ms <= 0.6


def _first_of_class(found: dict[str, Any], name: str, scale: float, unit: str) -> str:
    """The same workload with the decision memo off (each situation decided as the first of its class), if run."""
    figure = found["latest"].get(f"{name}, decision memo off")
    if figure is None:
        return ""
    value = figure["median_ms"] * scale
    return f"; first of its class {value:.0f} {unit}" if unit == "µs" else f"; first of its class {value:.2f} {unit}"


def _share(found: dict[str, Any]) -> tuple[str, bool | None]:
    figure = found["latest"]["(a) cold, fully known, distinct c=64, 2 workers"]
    ceiling = found["latest"]["ceiling (baseline mode) c=64, 2 workers"]
    text = f"{figure['ratio']:.0%} ({figure['rps']:,.0f} of {ceiling['rps']:,.0f} calls/s, c=64)"
    return text, figure["ratio"] >= 0.5


def _p99(found: dict[str, Any]) -> tuple[str, bool | None]:
    figure = found["latest"]["(a) cold, fully known, distinct c=8, 2 workers"]
    return f"{figure['p99']:.1f} ms (p50 {figure['p50']:.1f} ms)", figure["p99"] <= 5


def _batch(found: dict[str, Any]) -> tuple[str, bool | None]:
    rate = found["latest"]["batch population 100 a message 2 workers"]["decisions_per_s"]
    codes = found["latest"]["batch population 100 a message codes 2 workers"]["decisions_per_s"]
    return f"{rate:,.0f}/s, 100 a message ({codes:,.0f}/s codes only)", rate >= 20_000


def _logging(found: dict[str, Any]) -> tuple[str, bool | None]:
    costs = found["log_cost"]["costs"]
    info, audit = costs["info"]["throughput_cost"], costs["decision log"]["throughput_cost"]
    # Calls/s is the goal's figure; the server's CPU per call, steadier on a shared machine, is shown beside it.
    cpu = f"{costs['info']['cpu_per_call_cost']:+.0%} / {costs['decision log']['cpu_per_call_cost']:+.0%}"
    return f"{info:+.1%} / {audit:+.1%} (server CPU per call {cpu})", info <= 0.05 and audit <= 0.10


def _memory(found: dict[str, Any]) -> tuple[str, bool | None]:
    engine = found["memory"]["engine"]
    rss = engine["rss_mib"]
    if str(STEP) not in rss:
        return f"{engine['evaluations']:,} evaluations in {engine['limit_seconds']:g} s: 100k not reached", None
    last = max(int(mark) for mark in rss if mark.isdigit())
    growth = rss[str(last)] / rss[str(STEP)] - 1
    sessions = found["memory"]["durable_sessions"]["rss_mib"]
    text = f"{growth:+.1%} at {last / MILLION:g}M ({rss[str(STEP)]:.0f} -> {rss[str(last)]:.0f} MiB)"
    if str(MILLION) in sessions:
        text += f"; durable-rules sessions alone {sessions[str(MILLION)] / sessions[str(STEP)] - 1:+.1%} at 1M"
    if last < MILLION:  # stopped by its time limit: growth so far can fail the goal, never meet it
        return text + f" (1M not reached in {engine['limit_seconds']:g} s)", False if growth >= 0.05 else None
    return text, growth < 0.05


def _impact(found: dict[str, Any]) -> tuple[str, bool | None]:
    impact = found["impact"]
    seconds, situations = impact["seconds"], impact["situations"]
    if impact["finished"]:
        met = seconds < 30
        return f"{seconds:.1f} s over {situations:,} situations", met if situations >= STEP or not met else None
    # Stopped at its time limit: a lower bound, which fails the goal once it reaches 30 s.
    text = (
        f"> {seconds:.0f} s (stopped: {impact['compared']:,} of {situations:,} compared; "
        f"{impact['projected_seconds']:.0f} s for all at its rate)"
    )
    return text, False if seconds >= 30 else None


GOALS = (
    Goal("engine only, cold, fully known, distinct situations: median per decision", "≤ 80 µs", _engine_cold),
    Goal("engine only, 3 unknown ★ facts", "≤ 0.6 ms", _engine_unknown),
    Goal(
        "unary Evaluate, cold, distinct, 2 workers, several connections: share of the baseline ceiling",
        "≥ 50%",
        _share,
    ),
    Goal("unary p99 at concurrency 8, cold, 2 workers", "≤ 5 ms", _p99),
    Goal("batch, many situations per message, 2 workers, population workload", "≥ 20,000 decisions/s", _batch),
    Goal("throughput cost of `info` logging / of the decision log", "≤ 5% / ≤ 10%", _logging),
    Goal("RSS after 1M evaluations vs after 100k", "+< 5% at 1M, measured", _memory),
    Goal("`rolwijzer impact` over 100,000 situations", "< 30 s", _impact),
)


def _results() -> dict[str, Any]:
    """Each results file written in this run, by name."""
    started = float(os.environ.get("BENCH_STARTED", "0"))
    found: dict[str, Any] = {}
    for name in FILES:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("written", 0) >= started:
            found[name] = data
    return found


def main() -> None:
    """Print the goals table: measure | goal | measured this run | met."""
    found = _results()
    rows = [("measure", "goal", "measured this run", "met")]
    for goal in GOALS:
        try:
            text, met = goal.read(found)
        except KeyError as missing:  # the script that measures it failed, or was not run
            text, met = f"not measured this run ({missing} missing)", None
        rows.append((goal.measure, goal.goal, text, {True: "met", False: "not met", None: "not measured"}[met]))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |" for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    print("issue 14 goals, figures from this run of `make bench`:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
