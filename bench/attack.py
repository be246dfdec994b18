"""Availability under attack: health and cheap-call latency while costly callers or silent streams press a server.

For each attack it starts `rolwijzer-server` on 127.0.0.1 side by side in one run: with the default admission
limits, with admission by cost lifted (`--expensive-concurrency 64`), and, given `--before DIR` (a checkout of
the code before admission control, with its generated protos), that server too. Attacks: 8 callers each sending
requests of 17,280 combinations (about 1.8 s; all different, so the decision cache does not answer them) in
a loop; 2 `EvaluateBatch` streams that are opened and never send. Meanwhile one prober alternates a health check
and a cheap Evaluate (timeout 1 s each) for `--seconds`, and the figures are printed: answered, failed, p50, p99
and max latency. Bounded: every loop stops after `--seconds`.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rolwijzer.rules import load_rule_set  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.v1 import rolwijzer_pb2 as pb  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc  # noqa: E402
from support import CHEAP_FACTS, RULES, request  # noqa: E402

# 17,280 combinations both in the current release and in 1.0.0 (for the comparison with the code before).
COSTLY_FACTS = [
    "relation_to_beneficiary",
    "naaste_of_other_client",
    "initiative",
    "registered_volunteer",
    "acting_capacity",
    "payment",
    "regularity",
    "hours_per_week",
    "duration_months",
    "setting",
]
LIFTED = ["--expensive-concurrency", "64"]


class Server:
    """`rolwijzer-server` in its own process on a free port of 127.0.0.1."""

    def __init__(self, extra: list[str], code: Path | None = None) -> None:
        with socket.socket() as probe:  # a free port; SO_REUSEPORT is off, so a clash would fail loudly
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "rolwijzer.api.server", "--address", f"127.0.0.1:{self.port}"]
        command += ["--log-level", "warning", *extra]
        env = dict(os.environ, PYTHONPATH=str(code / "service")) if code else None
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _probe(channel: grpc.Channel, seconds: float, cheap: pb.EvaluateRequest) -> dict[str, list[float] | int]:
    health = health_pb2_grpc.HealthStub(channel)
    stub = pb_grpc.RolwijzerServiceStub(channel)
    times: dict[str, list[float]] = {"health": [], "cheap": []}
    failed = {"health": 0, "cheap": 0}
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        for name, call in (
            ("health", lambda: health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)),
            ("cheap", lambda: stub.Evaluate(cheap, timeout=1)),
        ):
            started = time.perf_counter()
            try:
                call()
                times[name].append((time.perf_counter() - started) * 1000)
            except grpc.RpcError:
                failed[name] += 1
        time.sleep(0.02)
    return {**times, "health_failed": failed["health"], "cheap_failed": failed["cheap"]}


def _costly_requests() -> Iterator[pb.EvaluateRequest]:
    """Requests of 17,280 combinations, each different in facts that do not change the cost."""
    rule_set = load_rule_set(RULES)
    variations = itertools.product(["present", "absent"], ["yes", "no"], [True, False], [True, False], range(40))
    for vog, avp, household, overload, shortcoming in itertools.cycle(variations):
        facts: dict[str, object] = dict.fromkeys(COSTLY_FACTS, "unknown")
        facts.update(vog=vog, helper_avp=avp, same_household=household, signals_overload=overload)
        facts.update(signals_shortcoming=bool(shortcoming % 2), case_reference=str(shortcoming))
        built = request(rule_set, {k: v for k, v in facts.items() if k != "case_reference"})
        built.language = "en" if shortcoming >= 20 else "nl"
        yield built


def _costly_process(port: int, seconds: float, results: multiprocessing.Queue[list[int]]) -> None:
    """In a process of its own (so the prober's latency is not the load generator's): 8 threads calling distinct
    costly requests for `seconds`; puts [answered, refused]."""
    stop = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        counts = _costly_callers(channel, stop)
        time.sleep(seconds)
        stop.set()
    results.put(counts)


def _costly_callers(channel: grpc.Channel, stop: threading.Event) -> list[int]:
    """8 threads calling distinct costly requests until `stop`; returns [answered, refused] counts."""
    counts = [0, 0]
    stub = pb_grpc.RolwijzerServiceStub(channel)
    costly = _costly_requests()
    lock = threading.Lock()

    def caller() -> None:
        while not stop.is_set():
            with lock:
                next_request = next(costly)
            try:
                stub.Evaluate(next_request, timeout=30)
                counts[0] += 1
            except grpc.RpcError:
                counts[1] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    return counts


def _silence(stop: threading.Event) -> Iterator[pb.EvaluateBatchRequest]:
    stop.wait()
    yield from ()


def _report(label: str, probe: dict[str, list[float] | int], extra: str = "") -> None:
    for name in ("health", "cheap"):
        times = probe[name]
        assert isinstance(times, list)
        failed = probe[f"{name}_failed"]
        if times:
            ordered = sorted(times)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            figures = f"p50 {statistics.median(ordered):7.1f} ms  p99 {p99:7.1f} ms  max {ordered[-1]:7.1f} ms"
        else:
            figures = "no answer"
        print(f"  {label:<34} {name:<6} answered {len(times):4d}  failed {failed:4d}  {figures}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--before", type=Path, help="a checkout of the code before admission control")
    args = parser.parse_args()
    cheap = request(load_rule_set(RULES), CHEAP_FACTS)
    variants: list[tuple[str, list[str], Path | None]] = [
        ("admission limits (default)", [], None),
        ("admission by cost lifted", LIFTED, None),
    ]
    if args.before:
        variants.append(("code before (--before)", [], args.before))
    print(f"availability under attack, {args.seconds:g} s per run (probe: health then a cheap call, 1 s timeout)")
    for attack in ("8 costly callers", "2 silent streams"):
        for label, extra, code in variants:
            server = Server(extra, code)
            stop = threading.Event()
            try:
                with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                    note = ""
                    if attack == "8 costly callers":
                        results: multiprocessing.Queue[list[int]] = multiprocessing.Queue()
                        load = multiprocessing.Process(
                            target=_costly_process, args=(server.port, args.seconds + 0.5, results)
                        )
                        load.start()
                    else:
                        stub = pb_grpc.RolwijzerServiceStub(channel)
                        streams = [stub.EvaluateBatch(_silence(stop), timeout=args.seconds + 5) for _ in range(2)]
                    time.sleep(0.5)
                    probe = _probe(channel, args.seconds, cheap)
                    stop.set()
                    if attack == "8 costly callers":
                        counts = results.get(timeout=120)
                        load.join(timeout=60)
                        note = f"   (costly: {counts[0]} answered, {counts[1]} refused)"
                    else:
                        for stream in streams:
                            cast("grpc.Future[object]", stream).cancel()
                    _report(f"{attack}, {label}", probe, note)
            finally:
                stop.set()
                server.stop()


if __name__ == "__main__":
    main()
