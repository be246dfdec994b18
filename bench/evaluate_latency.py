"""How long one evaluation takes: in process (engine only) and through gRPC on 127.0.0.1.

Prints the median and p90 per workload. Bounded: a fixed number of rounds, a loopback server that stops itself.
Run by `make bench`; never by the tests.
"""

from __future__ import annotations

import functools
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rolwijzer.api import create_server  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.api.convert import facts_from_proto  # noqa: E402
from rolwijzer.cache import LruCache  # noqa: E402
from rolwijzer.engine import Engine  # noqa: E402
from rolwijzer.logs import configure_logging  # noqa: E402
from rolwijzer.reload import EngineHolder  # noqa: E402
from rolwijzer.rules import RuleSet, load_rule_sets  # noqa: E402
from rolwijzer.scenarios import load_scenarios  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc  # noqa: E402
from support import RULES_ROOT, SCENARIOS, request  # noqa: E402

ROUNDS = 200
# Fewer rounds than the 6 of before, and follow-ups timed 10 times instead of 30 (EX51 takes a second each), so
# that `make bench` as a whole ends within 10 minutes on the 2-core machine.
ANSWER_ROUNDS, ANSWER_CHUNK = 3, 1_000
FOLLOW_UP_ROUNDS = 10
WORKLOADS: dict[str, dict[str, Any]] = {
    "fully known (EX01, 1 combination)": {
        "relation_to_beneficiary": "partner",
        "regularity": "structural",
        "hours_per_week": 20,
        "duration_months": 24,
        "tasks": ["personal_care", "household"],
        "same_household": True,
        "helper_avp": "yes",
    },
    "defaults open (EX34, 36 combinations)": {
        "helper_employment": "employee",
        "payment": "paid_by_org",
        "relation_to_beneficiary": "none",
        "professional_type": "verpleegkundige",
        "tasks": ["reserved_act"],
        "reserved_act_type": "injection",
        "physician_order": True,
        "competence": "verified",
    },
    "4 unknown ★ facts (EX51, 300 combinations)": {
        "relation_to_beneficiary": "unknown",
        "helper_employment": "unknown",
        "payment": "unknown",
        "initiative": "unknown",
        "regularity": "structural",
        "hours_per_week": 14,
        "duration_months": "unknown",
        "tasks": ["personal_care"],
    },
}


def _timings(call: Callable[[], object], rounds: int = ROUNDS, warm_up: int = 10) -> list[float]:
    for _ in range(warm_up):
        call()
    found = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


def _row(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"  {name:<48} median {statistics.median(ordered):8.3f} ms   p90 {p90:8.3f} ms"


def _answer_memo(rule_set: RuleSet) -> None:
    """Distinct fully known situations over gRPC, one caller, against two servers side by side: one keeping the
    encoded answer of each decision (Engine.answers, the default), one making every answer anew."""
    rng = random.Random(1)
    relations = ["partner", "child", "neighbour", "friend", "none"]
    tasks = ["household", "personal_care", "medication_oral", "reserved_act"]
    requests = [
        request(
            rule_set,
            {
                "relation_to_beneficiary": relations[i % 5],
                "regularity": "structural",
                "hours_per_week": round(rng.uniform(0, 40), 3),
                "duration_months": round(rng.uniform(0, 60), 3),
                "tasks": rng.sample(tasks, 2),
            },
        )
        for i in range(ANSWER_ROUNDS * ANSWER_CHUNK)
    ]
    served = []
    for keep in (True, False):
        holder = EngineHolder(RULES_ROOT, 20_000, cache_size=0)
        if not keep:
            with holder.engine() as engine:
                engine.answers = LruCache(0)
        server, port = create_server("127.0.0.1:0", holder)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        served.append((keep, pb_grpc.RolwijzerServiceStub(channel), channel, server, holder))
    rates: dict[bool, list[float]] = {True: [], False: []}
    try:
        for round_ in range(ANSWER_ROUNDS):
            chunk = requests[round_ * ANSWER_CHUNK : (round_ + 1) * ANSWER_CHUNK]
            for keep, stub, *_ in served:
                started = time.perf_counter()
                for req in chunk:
                    stub.Evaluate(req, timeout=10)
                rates[keep].append(len(chunk) / (time.perf_counter() - started))
    finally:
        for _, _, channel, server, holder in served:
            channel.close()
            server.stop(grace=None)
            holder.close()
    kept, made = statistics.median(rates[True]), statistics.median(rates[False])
    print("encoded answers kept per decision (Engine.answers), distinct fully known situations, one caller:")
    print(f"  kept {kept:7.0f} calls/s   made each time {made:7.0f} calls/s   x{kept / made:4.2f}")


def _follow_ups(engine: Engine, rule_set: RuleSet) -> None:
    """Follow-up facts side by side with the plain evaluation: found anew each time (as for a situation not seen
    before; an engine that keeps none) and kept from the first time (Engine.follow_ups, a situation asked again).

    The three are timed in turn in every round, so that a load that comes and goes weighs on each alike. Plain and
    anew are decided as the first situation of their class (decision memo off): what a new situation costs.
    """
    plain_engine = Engine(engine.rule_sets, decision_memo_size=0)
    anew = Engine(engine.rule_sets, follow_up_memo_size=0, decision_memo_size=0)
    print("follow-up facts (DECISION_VIEW_FULL), side by side with the plain evaluation (medians, in turn):")
    try:
        for name, facts in WORKLOADS.items():
            inputs = facts_from_proto(request(rule_set, facts).facts)
            calls = (
                functools.partial(plain_engine.evaluate, inputs),
                functools.partial(anew.evaluate, inputs, follow_ups=True),
                functools.partial(engine.evaluate, inputs, follow_ups=True),
            )
            timings: list[list[float]] = [[], [], []]
            for round_ in range(FOLLOW_UP_ROUNDS + 3):
                for call, found in zip(calls, timings, strict=True):
                    started = time.perf_counter()
                    call()
                    if round_ >= 3:  # the first rounds warm the memos up
                        found.append((time.perf_counter() - started) * 1000)
            plain, cold, warm = (statistics.median(found) for found in timings)
            print(
                f"  {name:<44} plain {plain:7.2f} ms  with follow-ups found anew {cold:7.2f} ms  x{cold / plain:5.1f}"
                f"  kept {warm:7.2f} ms  x{warm / plain:5.2f}"
            )
    finally:
        plain_engine.close()
        anew.close()


def main() -> None:
    """Measure and print the table."""
    configure_logging("json", logging.WARNING)  # one log line per call would drown the table
    engine = Engine(load_rule_sets(RULES_ROOT))
    rule_set: RuleSet = engine.select().rule_set
    print(
        f"rule set {rule_set.id} {rule_set.version}: {len(rule_set.rules)} rules, {len(rule_set.facts)} facts, "
        f"{len(rule_set.codes) + len(rule_set.roles) + len(rule_set.deployers)} codes; {ROUNDS} rounds each"
    )
    print("engine only (in process):")
    for name, facts in WORKLOADS.items():
        inputs = facts_from_proto(request(rule_set, facts).facts)
        print(_row(name, _timings(functools.partial(engine.evaluate, inputs))))
    scenarios = [s for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)]
    all_inputs = [facts_from_proto(request(rule_set, s.facts).facts) for s in scenarios]
    per_scenario = [statistics.median(_timings(functools.partial(engine.evaluate, i), 20)) for i in all_inputs]
    print(_row(f"all {len(scenarios)} suite scenarios (median of medians)", per_scenario))
    _follow_ups(engine, rule_set)

    _answer_memo(rule_set)
    holder = EngineHolder(RULES_ROOT, engine.max_combinations)
    server, port = create_server("127.0.0.1:0", holder)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RolwijzerServiceStub(channel)
            print("unary Evaluate over gRPC on 127.0.0.1 (one caller):")
            for name, facts in WORKLOADS.items():
                req = request(rule_set, facts)
                print(_row(name, _timings(functools.partial(stub.Evaluate, req, timeout=30))))
    finally:
        server.stop(grace=None)
        holder.close()
        engine.close()


if __name__ == "__main__":
    main()
