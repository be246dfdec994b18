"""Latency of one unary Evaluate by transport, side by side against one server on 127.0.0.1: gRPC, Connect JSON,
Connect binary protobuf and gRPC-Web (both on the HTTP port, over one kept-alive HTTP/1.1 connection).

Two workloads: a fully known situation with the decision cache off (what a caller waits for), and the same with
the cache on (the answer comes from the cache, so what is left is mostly the transport). Bounded: a fixed number of
rounds, interleaved so that a noisy moment on the machine hits every transport alike. Run by `make bench`.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from google.protobuf import json_format  # noqa: E402
from rolwijzer.logs import configure_logging  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2 as pb  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc  # noqa: E402
from web_support import SERVICE_PATH, both_ports, grpc_web  # noqa: E402

ROUNDS = 300
WARM_UP = 30
FACTS = {  # EX01: a partner caring 20 hours a week for two years; one combination
    "relation_to_beneficiary": pb.FactValue(symbol="partner"),
    "regularity": pb.FactValue(symbol="structural"),
    "hours_per_week": pb.FactValue(number=20),
    "duration_months": pb.FactValue(number=24),
    "tasks": pb.FactValue(symbols=pb.SymbolList(values=["personal_care", "household"])),
    "same_household": pb.FactValue(boolean=True),
    "helper_avp": pb.FactValue(symbol="yes"),
}


def _calls(stub: pb_grpc.RolwijzerServiceStub, web: httpx.Client) -> dict[str, Callable[[], object]]:
    """One call per transport, each checking that it got a decision (a refusal would be measured as fast)."""
    req = pb.EvaluateRequest(facts=FACTS)
    as_json, as_bytes = json_format.MessageToJson(req).encode(), req.SerializeToString()
    url = f"{SERVICE_PATH}/Evaluate"

    def over_grpc() -> object:
        return stub.Evaluate(req, timeout=30).decision.role or _fail("gRPC")

    def connect_json() -> object:
        answer = web.post(url, content=as_json, headers={"content-type": "application/json"})
        return answer.status_code == 200 or _fail(answer.text)

    def connect_proto() -> object:
        answer = web.post(url, content=as_bytes, headers={"content-type": "application/proto"})
        return answer.status_code == 200 or _fail(answer.text)

    def grpc_web_call() -> object:
        return grpc_web(web, url, req).code == 0 or _fail("gRPC-Web")

    return {
        "gRPC": over_grpc,
        "Connect JSON": connect_json,
        "Connect proto": connect_proto,
        "gRPC-Web": grpc_web_call,
    }


def _fail(what: str) -> object:
    raise SystemExit(f"a call failed: {what}")


def _measure(calls: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    for call in calls.values():
        for _ in range(WARM_UP):
            call()
    found: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            found[name].append((time.perf_counter() - started) * 1000)
    return found


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _table(title: str, timings: dict[str, list[float]]) -> None:
    print(f"{title} ({ROUNDS} rounds each, interleaved):")
    print(f"  {'transport':<14} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}   p50 vs gRPC")
    base = statistics.median(timings["gRPC"])
    for name, values in timings.items():
        ordered = sorted(values)
        p50 = statistics.median(ordered)
        print(
            f"  {name:<14} {p50:8.3f} {_percentile(ordered, 0.9):8.3f} {_percentile(ordered, 0.99):8.3f}"
            f"   x{p50 / base:4.2f}"
        )


def main() -> None:
    """Measure and print the tables."""
    configure_logging("json", logging.WARNING)  # one log line per call would drown the table
    with tempfile.TemporaryDirectory() as web_folder:
        for title, cache_size in (("EX01, cache off", 0), ("EX01, from the cache (mostly transport)", 1000)):
            with (
                both_ports(Path(web_folder), cache_size=cache_size) as ports,
                grpc.insecure_channel(ports.grpc_address) as channel,
                httpx.Client(base_url=ports.base, timeout=30) as web,
            ):
                _table(title, _measure(_calls(pb_grpc.RolwijzerServiceStub(channel), web)))


if __name__ == "__main__":
    main()
