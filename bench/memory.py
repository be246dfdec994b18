"""Memory over many evaluations: the resident size (RSS) of a process that only evaluates, engine only, distinct
situations from the synthetic population, read at 100,000 evaluations and at every further 100,000.

Its own process (`make bench` runs it as a script), so nothing the load benchmarks allocated is counted. The
situations are the fully known ones among the population's first 20,000 (bench/population.py; about 6 in 7): the
cheapest honest path to many evaluations, since the few with unknown facts cost several times more each and would
halve the count reached in the time. Each pass over them nudges the hours per week (or, when those are unknown,
the duration) by a millionth, so no situation repeats and the engine's stage memo meets new messages throughout,
as it would in production. Bounded: MEMORY_EVALUATIONS (default 1,000,000) or MEMORY_SECONDS (default 80) of
evaluating, whichever ends first; the figures say which. 1,000,000 takes 5-10 minutes on the shared 2-core machine,
more than `make bench` has in all, so there it stops at the time limit and says how far it came.

Then the part written in C, which leaks when sessions are not deleted: 1,000,000 durable-rules sessions alone,
RSS at 100,000 and at 1,000,000. Writes bench/results/memory.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from rolwijzer.api.convert import facts_from_proto  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.engine import Engine, FactInput, NumberInput  # noqa: E402
from rolwijzer.engine.durable_session import DurableRuleset  # noqa: E402
from rolwijzer.rules import load_rule_sets  # noqa: E402
from support import RULES_ROOT, request  # noqa: E402

from bench.population import population  # noqa: E402

EVALUATIONS = int(os.environ.get("MEMORY_EVALUATIONS", "1000000"))
SECONDS = float(os.environ.get("MEMORY_SECONDS", "80"))
SESSIONS = int(os.environ.get("MEMORY_SESSIONS", "1000000"))
STEP = 100_000
BASE = 20_000
RESULTS = REPO / "bench" / "results" / "memory.json"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _nudged(facts: Mapping[str, FactInput], step: int) -> Mapping[str, FactInput]:
    """The same situation with one number a millionth smaller per step: still valid (never above a maximum),
    never equal to an earlier step's."""
    if step == 0:
        return facts
    for name in ("hours_per_week", "duration_months"):
        value = facts.get(name)
        if isinstance(value, NumberInput) and value.value > 0:
            return {**facts, name: dataclasses.replace(value, value=value.value * (1 - step * 1e-6))}
    return facts


def _engine() -> dict[str, Any]:
    engine = Engine(load_rule_sets(RULES_ROOT))
    selection = engine.select()
    rule_set = selection.rule_set
    known = [facts for facts in population(rule_set, BASE) if "unknown" not in facts.values()]
    base = [facts_from_proto(request(rule_set, facts).facts) for facts in known]
    rss: dict[str, float] = {"before": _rss_mib()}
    started = time.monotonic()
    stop_at = started + SECONDS
    done = 0
    while done < EVALUATIONS:
        # Time is checked every thousand evaluations; a mark is read only when reached exactly.
        for _ in range(1000):
            engine.evaluate(_nudged(base[done % len(base)], done // len(base)), selection)
            done += 1
            if done % STEP == 0:
                rss[str(done)] = _rss_mib()
        if time.monotonic() > stop_at:
            break
    seconds = time.monotonic() - started
    rss[str(done)] = _rss_mib()  # where it stopped, between two marks when the time ran out
    engine.close()
    return {"evaluations": done, "seconds": seconds, "limit_seconds": SECONDS, "rss_mib": rss}


def _sessions() -> dict[str, Any]:
    ruleset = DurableRuleset("bench-memory", {"r": {"all": [{"m": {"a": "x"}}], "pri": 1}}, first_match=False)
    rss: dict[str, float] = {"before": _rss_mib()}
    started = time.monotonic()
    for count in range(1, SESSIONS + 1):
        ruleset.matching_rules({"a": "x" if count % 2 else "y"})
        if count % STEP == 0:
            rss[str(count)] = _rss_mib()
    seconds = time.monotonic() - started
    ruleset.close()
    return {"sessions": SESSIONS, "seconds": seconds, "rss_mib": rss}


def main() -> None:
    """Measure, print and write bench/results/memory.json."""
    written = time.time()
    engine = _engine()
    sessions = _sessions()
    done, rss = engine["evaluations"], engine["rss_mib"]
    print("bench/memory.py: RSS of a process that only evaluates (engine only, distinct population situations)")
    marks = [key for key in rss if key.isdigit()]
    print("  after " + ", ".join(f"{int(key):,}: {rss[key]:.1f} MiB" for key in marks))
    reached = "all" if done >= EVALUATIONS else f"stopped at {SECONDS:g} s"
    print(f"  {done:,} evaluations in {engine['seconds']:.0f} s ({reached})")
    grown = sessions["rss_mib"]
    print(
        f"  durable-rules sessions alone: {STEP:,} {grown[str(STEP)]:.1f} MiB, {SESSIONS:,} "
        f"{grown[str(SESSIONS)]:.1f} MiB ({sessions['seconds']:.0f} s)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {"written": written, "engine": engine, "durable_sessions": sessions}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
