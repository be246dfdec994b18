"""Throughput and latency against the ceiling of the stack, and engine-only figures (memory: bench/memory.py).

Every server runs on 127.0.0.1 in a subprocess and is stopped at the end; every load is bounded by a request
count and a time limit. The ceiling is the same server in baseline mode (a fixed response, no evaluation),
driven by the same load generator in the same run: ratios hold on a noisy machine, absolute figures do not.
Prints a table and writes bench/results/latest.json. Run by `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rolwijzer.api.convert import facts_from_proto  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.engine import Engine  # noqa: E402
from rolwijzer.rules import RuleSet, load_rule_sets  # noqa: E402
from rolwijzer.scenarios import load_scenarios  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2 as pb  # noqa: E402
from support import RULES_ROOT, SCENARIOS, request  # noqa: E402

sys.path.insert(0, str(REPO))
from bench.population import population  # noqa: E402

# 2 s a load run (4 before): with the goals' benchmarks, `make bench` ends within 10 minutes on 2 cores.
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
MAX_REQUESTS = 200_000
# Items per batch stream: 4 streams of it stay within the 20,000 distinct situations of a workload. Fewer than the
# 20,000 a stream before, so that `make bench` as a whole ends within 10 minutes on the 2-core machine.
BATCH_ITEMS = 3_750
CONNECTIONS = 4
CONCURRENCIES = (1, 8, 64)
EVALUATE = "/rolwijzer.v1.RolwijzerService/Evaluate"
BATCH = "/rolwijzer.v1.RolwijzerService/EvaluateBatch"
RESULTS = REPO / "bench" / "results" / "latest.json"
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


# --- workloads ---------------------------------------------------------------------------------------------


def _requests(rule_set: RuleSet) -> dict[str, list[bytes]]:
    rng = random.Random(7)
    relations = ["partner", "child", "neighbour", "friend", "none"]
    cold = []
    for i in range(20_000):  # fully known and all distinct: a new number of hours each time
        facts = {
            "relation_to_beneficiary": relations[i % 5],
            "initiative": "client_or_family",
            "regularity": "structural",
            "hours_per_week": round(rng.uniform(0, 40), 4),
            "duration_months": round(rng.uniform(0, 60), 4),
            "tasks": rng.sample(["household", "personal_care", "medication_oral", "reserved_act"], 2),
        }
        cold.append(request(rule_set, facts).SerializeToString())
    suites = [s for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)]
    warm = [request(rule_set, s.facts).SerializeToString() for s in suites]
    starred = ["relation_to_beneficiary", "payment", "initiative"]
    unknown: dict[str, list[bytes]] = {}
    for count in (1, 2, 3):
        group = []
        for i in range(2_000):
            open_facts: dict[str, Any] = {
                "relation_to_beneficiary": "child",
                "payment": "unpaid",
                "initiative": "client_or_family",
                "regularity": "structural",
                "hours_per_week": round(rng.uniform(0, 6), 4),
                "duration_months": 12 + i % 1000,
                "tasks": ["personal_care"],
            }
            for name in starred[:count]:
                open_facts[name] = "unknown"
            group.append(request(rule_set, open_facts).SerializeToString())
        unknown[f"{count} unknown"] = group
    # A synthetic caseload (bench/population.py): distinct situations, a few with facts not known yet.
    people = [request(rule_set, facts).SerializeToString() for facts in population(rule_set, 20_000)]
    return {"cold": cold, "warm": warm, "population": people, **unknown}


# --- the load generator (a separate process) --------------------------------------------------------------


def _client(
    address: str, payloads: list[bytes], concurrency: int, seconds: float, start: int, queue: Queue[Any]
) -> None:
    async def run() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        # Several connections: SO_REUSEPORT spreads connections, not calls, over the workers. Channels with the same
        # target share one connection unless each keeps its own subchannel pool (then 2 workers did 1.9x one).
        channels = [grpc.aio.insecure_channel(address, options=OWN_CONNECTION) for _ in range(CONNECTIONS)]
        calls = [c.unary_unary(EVALUATE, request_serializer=None, response_deserializer=None) for c in channels]
        stop_at = time.monotonic() + seconds
        sent = 0

        async def caller(seed: int) -> None:
            nonlocal errors, sent
            index = start + seed
            call = calls[seed % len(calls)]
            while time.monotonic() < stop_at and sent < MAX_REQUESTS:
                sent += 1
                started = time.perf_counter()
                try:
                    await call(payloads[index % len(payloads)], timeout=30)
                    latencies.append((time.perf_counter() - started) * 1000)
                except grpc.RpcError:
                    errors += 1
                index += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        for channel in channels:
            await channel.close(None)
        return latencies, errors, elapsed

    queue.put(asyncio.run(run()))


def _batch_client(
    address: str, payloads: list[bytes], first: int, items: int, per_message: int, codes: bool, queue: Queue[Any]
) -> None:
    def situation(i: int) -> pb.EvaluateRequest:
        request = pb.EvaluateRequest.FromString(payloads[(first + i) % len(payloads)])
        if codes:
            request.view = pb.DECISION_VIEW_CODES
        return request

    def requests() -> Iterator[bytes]:
        if per_message == 1:
            for i in range(items):
                yield pb.EvaluateBatchRequest(item_id=str(i), request=situation(i)).SerializeToString()
            return
        for start in range(0, items, per_message):
            chunk = [pb.BatchItem(item_id=str(i), request=situation(i)) for i in range(start, start + per_message)]
            yield pb.EvaluateBatchRequest(items=chunk).SerializeToString()

    with grpc.insecure_channel(address, options=OWN_CONNECTION) as channel:
        stream = channel.stream_stream(BATCH, request_serializer=None, response_deserializer=None)
        started = time.perf_counter()
        # Items answered: one per response in the one-item form, len(results) in the many-item form.
        count = sum(max(1, len(pb.EvaluateBatchResponse.FromString(raw).results)) for raw in stream(requests()))
        queue.put((count, time.perf_counter() - started))


def _load(
    address: str, payloads: list[bytes], concurrency: int, start: int = 0, seconds: float = SECONDS
) -> dict[str, float]:
    """`concurrency` callers for `seconds`, sending payloads from index `start` on: a run that must stay cold on a
    server with a cache starts where no earlier run on that server has been."""
    queue: Any = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=_client, args=(address, payloads, concurrency, seconds, start, queue)
    )
    process.start()
    latencies, errors, elapsed = queue.get(timeout=seconds + 120)
    process.join(timeout=30)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")

    return {"rps": len(latencies) / elapsed, "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "errors": errors}


def _batch(
    address: str,
    payloads: list[bytes],
    streams: int,
    items: int = BATCH_ITEMS,
    per_message: int = 1,
    codes: bool = False,
    start: int = 0,
) -> dict[str, float]:
    """`streams` streams of `items` each; stream k sends the payloads from `start + k * items` on, so distinct
    payloads stay distinct across streams (the same ones on every stream would be answered from the cache)."""
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    processes = [
        context.Process(
            target=_batch_client, args=(address, payloads, start + k * items, items, per_message, codes, queue)
        )
        for k in range(streams)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    decided = sum(r[0] for r in results)
    return {"decisions_per_s": decided / max(r[1] for r in results), "items": decided}


# --- servers ----------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def children(pid: int) -> list[int]:
    """The processes `pid` started (a server's workers, under its supervisor), from /proc."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


class Server:
    """rolwijzer-server in a subprocess on a fixed free port; stopped by `stop`."""

    def __init__(self, *args: str, workers: int = 1) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(suffix=".log")[1])
        command = [
            str(Path(sys.executable).parent / "rolwijzer-server"),
            "--address",
            self.address,
            "--log-level",
            "warning",
            "--http-address",
            "0",  # gRPC is measured; a fixed HTTP port would also clash with any other server on this machine
            "--workers",
            str(workers),
            "--max-concurrent-rpcs",
            "100000",  # measure throughput, not the limits (tests/test_security.py and
            "--max-streams",  # tests/test_availability_attacks.py test them)
            "4",
            *args,
        ]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stderr=log, stdout=log)
        deadline = time.monotonic() + 60
        while not self._ready(workers):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"server did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def _ready(self, _workers: int) -> bool:
        # With warning level nothing is logged at start: poll the port until a worker answers health.
        try:
            with grpc.insecure_channel(self.address) as channel:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return True
        except grpc.RpcError:
            return False

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.unlink(missing_ok=True)


def _spread(payloads: list[bytes]) -> dict[str, int]:
    """How a short load over CONNECTIONS connections spreads over 2 workers, from their `decision_made` lines."""
    server = Server("--log-level", "info", workers=2)
    try:
        _load(server.address, payloads[:4000], 8)
        counts: dict[str, int] = {}
        for line in server.log.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "decision_made":
                worker = f"worker {event.get('worker', '?')}"
                counts[worker] = counts.get(worker, 0) + 1
        return dict(sorted(counts.items()))
    finally:
        server.stop()


# --- engine only ------------------------------------------------------------------------------------------


def _engine_rate(engine: Engine, payloads: list[bytes], seconds: float = 2.0) -> dict[str, float]:
    inputs = [facts_from_proto(pb.EvaluateRequest.FromString(p).facts) for p in payloads]
    selection = engine.select()
    timings = []
    stop_at = time.monotonic() + seconds
    index = 0
    while time.monotonic() < stop_at and index < MAX_REQUESTS:
        started = time.perf_counter()
        engine.evaluate(inputs[index % len(inputs)], selection)
        timings.append((time.perf_counter() - started) * 1000)
        index += 1
    return {"per_s": len(timings) / sum(t / 1000 for t in timings), "median_ms": statistics.median(timings)}


# --- the run ----------------------------------------------------------------------------------------------


def main() -> None:
    """Measure everything and print the table."""
    rule_sets = load_rule_sets(RULES_ROOT)
    engine = Engine(rule_sets)
    rule_set = engine.select().rule_set
    workloads = _requests(rule_set)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seconds_per_run": SECONDS,
        "written": time.time(),  # bench/goals.py takes figures from this run only
    }
    table: list[tuple[str, str]] = []

    def row(name: str, figure: dict[str, float], ceiling: dict[str, float] | None) -> None:
        ratio = f"  {figure['rps'] / ceiling['rps']:5.0%} of ceiling" if ceiling else ""
        table.append(
            (
                name,
                f"{figure['rps']:8.0f} req/s  p50 {figure['p50']:6.2f}  p90 {figure['p90']:6.2f}  "
                f"p99 {figure['p99']:6.2f} ms  errors {figure['errors']:.0f}{ratio}",
            )
        )
        results[name] = dict(figure, ratio=figure["rps"] / ceiling["rps"] if ceiling else 1.0)

    baseline = Server("--baseline")
    try:
        ceilings = {c: _load(baseline.address, workloads["warm"], c) for c in CONCURRENCIES}
        for c, figure in ceilings.items():
            row(f"ceiling (baseline mode) c={c}", figure, None)
        ceiling_batch = _batch(baseline.address, workloads["warm"], streams=2)
    finally:
        baseline.stop()
    results["ceiling batch"] = ceiling_batch

    server = Server("--cache-size", "10000")
    try:
        for c in CONCURRENCIES:
            row(f"(a) cold, fully known, distinct c={c}", _load(server.address, workloads["cold"], c), ceilings[c])
        for c in CONCURRENCIES:
            row(f"(b) warm, suite mix repeated c={c}", _load(server.address, workloads["warm"], c), ceilings[c])
        for count in (1, 2, 3):
            name = f"{count} unknown"
            row(f"(c) {count} unknown ★ facts c=8", _load(server.address, workloads[name], 8), ceilings[8])
        batch_1 = _batch(server.address, workloads["warm"], streams=2)
    finally:
        server.stop()
    results["batch warm 1 worker"] = batch_1

    baseline_two = Server("--baseline", workers=2)
    try:
        ceiling_two = _load(baseline_two.address, workloads["warm"], 64)
        row("ceiling (baseline mode) c=64, 2 workers", ceiling_two, None)
    finally:
        baseline_two.stop()
    one = Server("--cache-size", "10000")
    try:
        row("(d) population, distinct c=8, 1 worker", _load(one.address, workloads["population"], 8), ceilings[8])
    finally:
        one.stop()
    two = Server("--cache-size", "10000", workers=2)
    try:
        row("(b) warm c=64, 2 workers", _load(two.address, workloads["warm"], 64), ceiling_two)
        row("(d) population, distinct c=64, 2 workers", _load(two.address, workloads["population"], 64), ceiling_two)
        # Cold on a server with a cache: the c=8 run starts halfway through the situations, past the c=64 run's.
        cold = workloads["cold"]
        row("(a) cold, fully known, distinct c=64, 2 workers", _load(two.address, cold, 64), ceiling_two)
        name = "(a) cold, fully known, distinct c=8, 2 workers"
        row(name, _load(two.address, cold, 8, len(cold) // 2), None)
        del results[name]["ratio"]  # no 2-worker ceiling at c=8 is measured: its p99 is the figure wanted
        batch_2 = _batch(two.address, workloads["warm"], streams=4)
        # Past the first 5,000 situations, which the unary population run above sent to this server and its cache.
        people = workloads["population"]
        many_2 = _batch(two.address, people, streams=4, per_message=100, start=5_000)
        codes_2 = _batch(two.address, people, streams=4, per_message=100, codes=True, start=5_000)
    finally:
        two.stop()
    results["batch warm 2 workers"] = batch_2
    results["batch population 100 a message 2 workers"] = many_2
    results["batch population 100 a message codes 2 workers"] = codes_2
    table.append(
        (
            "EvaluateBatch warm, 1 worker",
            f"{batch_1['decisions_per_s']:8.0f} decisions/s  "
            f"({batch_1['decisions_per_s'] / ceiling_batch['decisions_per_s']:.0%} of the baseline batch)",
        )
    )
    table.append(("EvaluateBatch warm, 2 workers", f"{batch_2['decisions_per_s']:8.0f} decisions/s"))
    table.append(
        ("EvaluateBatch population, 100 a message, 2 workers", f"{many_2['decisions_per_s']:8.0f} decisions/s")
    )
    table.append(("  the same, DECISION_VIEW_CODES", f"{codes_2['decisions_per_s']:8.0f} decisions/s"))

    spread = _spread(workloads["population"])
    results["spread over 2 workers"] = spread
    table.append(("calls per worker, 2 workers, 4 connections", ", ".join(f"{w}: {n}" for w, n in spread.items())))

    for name in ("cold", "population", "warm", "1 unknown", "2 unknown", "3 unknown"):
        figure = _engine_rate(engine, workloads[name])
        results[f"engine {name}"] = figure
        table.append(
            (f"engine only: {name}", f"{figure['per_s']:8.0f} evaluations/s  median {figure['median_ms']:.3f} ms")
        )
    engine.close()
    # What a situation of a class not seen before costs: the decision memo off, the stage memo on as served.
    first_of_class = Engine(rule_sets, decision_memo_size=0)
    for name in ("cold", "3 unknown"):
        figure = _engine_rate(first_of_class, workloads[name])
        results[f"engine {name}, decision memo off"] = figure
        table.append(
            (
                f"engine only: {name}, decision memo off",
                f"{figure['per_s']:8.0f} evaluations/s  median {figure['median_ms']:.3f} ms",
            )
        )
    first_of_class.close()

    width = max(len(name) for name, _ in table)
    print(f"bench/load.py on {os.cpu_count()} cores, Python {platform.python_version()}, {SECONDS:.0f} s per run")
    for name, text in table:
        print(f"  {name:<{width}}  {text}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
