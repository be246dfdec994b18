"""Prometheus metrics: a real server's /metrics, scraped over HTTP and parsed, counts exactly the calls made to it.

Servers run as `python -m rolwijzer.api.server` on 127.0.0.1 with free ports; every wait is a bounded sleep loop
(timed waits on locks never elapse under faketime). The exact codes an interceptor finds (aborts raise inside the
handler) are checked in process against a probe service that answers each code on purpose.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rolwijzer.api.errors import as_grpc, deadline_exceeded, internal, invalid_argument, resource_exhausted
from rolwijzer.api.rpc_metrics import MetricsInterceptor
from rolwijzer.engine import Violation
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CHEAP_FACTS, CURRENT_RELEASE, REPO, RULES_ROOT, request

DASHBOARD = REPO / "deploy" / "grafana" / "rolwijzer.json"
SERVICE = "rolwijzer.v1.RolwijzerService"
# About 2,900 combinations of open facts: 0.2 s and more, well past the 0.1 s deadline the counting server gets.
SLOW = dict.fromkeys(
    ["relation_to_beneficiary", "helper_employment", "payment", "initiative", "regularity", "hours_per_week"],
    "unknown",
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class _Server:
    """`python -m rolwijzer.api.server` with `args`, its JSON log lines in a file."""

    def __init__(self, log_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rolwijzer.api.server", *args],
            stderr=self._log,
            env=dict(env if env is not None else os.environ, PYTHONUNBUFFERED="1"),
        )

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == name]

    def wait_for(self, event: str, count: int = 1) -> list[dict[str, Any]]:
        def logged() -> bool:
            assert self.process.poll() is None, self.log_path.read_text()
            return len(self.events(event)) >= count

        _wait_for(logged, f"{count} x {event}")
        return self.events(event)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self._log.close()


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _rpcs(samples: Samples, method: str, code: str) -> float:
    return _value(samples, "rolwijzer_rpcs_total", service=SERVICE, method=method, code=code)


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its socket inodes matched against /proc/net/tcp and tcp6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


# --- one server, many kinds of calls, exact counts ---------------------------------------------------------


def _hold_open(first: list[pb.EvaluateBatchRequest], release: threading.Event) -> Iterator[pb.EvaluateBatchRequest]:
    yield from first
    release.wait()  # untimed: elapses on any clock; set by the test


@pytest.fixture(scope="module")
def exercised(rule_set: RuleSet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Samples, pb.Decision]]:
    """A server that was called in every way the test below counts; its scrape once the decision log is written,
    and the decision the cheap calls got."""
    folder = tmp_path_factory.mktemp("counted")
    server = _Server(
        folder / "server.log",
        "--address",
        "127.0.0.1:0",
        "--metrics-address",
        "127.0.0.1:0",
        "--default-deadline",
        "0.1",
        "--max-streams",
        "1",
        "--watch-interval",
        "0",
        "--audit-log",
        str(folder / "decisions.jsonl"),
    )
    try:
        started = server.wait_for("server_started")[0]
        metrics_port = _port_of(started["metrics"])
        with grpc.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
            stub = pb_grpc.RolwijzerServiceStub(channel)
            # 3 x OK: one evaluation, then two cache hits (the case reference is not part of the cache key).
            answers = [
                stub.Evaluate(request(rule_set, CHEAP_FACTS, case_reference=f"case-{n}"), timeout=30) for n in range(3)
            ]
            refusals = [
                request(rule_set, CHEAP_FACTS, language="xx"),  # invalid_language, before the cache
                request(rule_set, {**CHEAP_FACTS, "no_such_fact": "x"}),  # invalid_facts, after a cache miss
            ]
            for refused in refusals:
                with pytest.raises(grpc.RpcError) as error:
                    stub.Evaluate(refused, timeout=30)
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            raw = channel.unary_unary(f"/{SERVICE}/Evaluate", request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as error:
                raw(b"\xff\xff\xff", timeout=30)  # undecodable
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.RpcError) as error:
                stub.Evaluate(request(rule_set, SLOW), timeout=30)  # a cache miss, then out of time
            assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # A stream holds the only stream slot: a cache hit and a refused item; a second stream is refused.
            release = threading.Event()
            items = [
                pb.EvaluateBatchRequest(item_id="hit", request=request(rule_set, CHEAP_FACTS)),
                pb.EvaluateBatchRequest(item_id="bad", request=request(rule_set, CHEAP_FACTS, language="xx")),
            ]
            stream = iter(stub.EvaluateBatch(_hold_open(items, release), timeout=60))
            batch = [next(stream), next(stream)]
            with pytest.raises(grpc.RpcError) as error:
                list(stub.EvaluateBatch(iter(items), timeout=30))
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            release.set()
            assert list(stream) == []
        assert batch[0].HasField("decision") and batch[1].status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        _wait_for(
            lambda: _value(_scrape(metrics_port), "rolwijzer_decision_log_records_written_total") >= 4,
            "the decision log to be written",
        )
        yield _scrape(metrics_port), answers[0].decision
    finally:
        assert server.stop() == 0


class TestCounts:
    """Every kind of call shows once, under its method, code and reason."""

    def test_calls_by_method_and_code(self, exercised: tuple[Samples, pb.Decision]) -> None:
        samples, _ = exercised
        assert _rpcs(samples, "Evaluate", "OK") == 3
        assert _rpcs(samples, "Evaluate", "INVALID_ARGUMENT") == 3
        assert _rpcs(samples, "Evaluate", "DEADLINE_EXCEEDED") == 1
        assert _rpcs(samples, "EvaluateBatch", "OK") == 1
        assert _rpcs(samples, "EvaluateBatch", "RESOURCE_EXHAUSTED") == 1
        calls = {
            (dict(labels)["method"], dict(labels)["code"]): value
            for (name, labels), value in samples.items()
            if name == "rolwijzer_rpcs_total"
        }
        assert sum(calls.values()) == 9, calls
        labels = {"service": SERVICE}
        assert _value(samples, "rolwijzer_rpc_duration_seconds_count", method="Evaluate", **labels) == 7
        assert _value(samples, "rolwijzer_rpc_duration_seconds_count", method="EvaluateBatch", **labels) == 2
        assert _value(samples, "rolwijzer_rpcs_in_flight", method="Evaluate", **labels) == 0
        assert _value(samples, "rolwijzer_rpcs_in_flight", method="EvaluateBatch", **labels) == 0

    def test_decisions_rules_and_combinations(self, exercised: tuple[Samples, pb.Decision]) -> None:
        """3 calls and 1 batch item decided, by one evaluation (the rest were cache hits): each rule it fired counts
        once, and so does its one combination."""
        samples, decision = exercised
        assert _value(samples, "rolwijzer_decisions_total", role=decision.role) == 4
        decided = [v for (name, _), v in samples.items() if name == "rolwijzer_decisions_total"]
        assert sum(decided) == 4
        fired = {r.rule_id for r in decision.fired_rules}
        firings = {dict(k)["rule_id"]: v for (name, k), v in samples.items() if name == "rolwijzer_rule_firings_total"}
        assert firings == dict.fromkeys(fired, 1.0)
        assert _value(samples, "rolwijzer_evaluation_combinations_count") == 1  # the slow one ran out of time
        assert _value(samples, "rolwijzer_evaluation_combinations_sum") == decision.combinations_evaluated == 1

    def test_refusals_by_reason(self, exercised: tuple[Samples, pb.Decision]) -> None:
        samples, _ = exercised
        reasons = {
            dict(k)["reason"]: v for (name, k), v in samples.items() if name == "rolwijzer_requests_rejected_total"
        }
        assert reasons == {
            "invalid_language": 2,  # a call and a batch item
            "invalid_facts": 1,
            "undecodable": 1,
            "deadline": 1,
            "too_many_streams": 1,
        }

    def test_cache_hits_and_misses(self, exercised: tuple[Samples, pb.Decision]) -> None:
        """Hits: the 2nd and 3rd call and the batch item. Misses: the 1st call, the unknown fact, the slow call
        (a request with a bad language is refused before the cache is asked)."""
        samples, _ = exercised
        assert _value(samples, "rolwijzer_decision_cache_lookups_total", result="hit") == 3
        assert _value(samples, "rolwijzer_decision_cache_lookups_total", result="miss") == 3

    def test_decision_log(self, exercised: tuple[Samples, pb.Decision]) -> None:
        """The 4 decisions are written and fsynced; nothing waits and nothing failed."""
        samples, _ = exercised
        assert _value(samples, "rolwijzer_decision_log_records_written_total") == 4
        assert _value(samples, "rolwijzer_decision_log_fsync_duration_seconds_count") >= 1
        assert _value(samples, "rolwijzer_decision_log_pending_records") == 0
        assert _value(samples, "rolwijzer_decision_log_write_failures_total") == 0

    def test_releases_in_service(self, exercised: tuple[Samples, pb.Decision]) -> None:
        samples, decision = exercised
        releases = {dict(k)["version"]: v for (name, k), v in samples.items() if name == "rolwijzer_release_info"}
        assert releases[CURRENT_RELEASE] == 1 and decision.rule_set.version == CURRENT_RELEASE
        assert _value(samples, "rolwijzer_rules_last_reload_successful") == 1

    def test_no_case_reference_fact_value_or_decision_id_in_any_label(
        self, exercised: tuple[Samples, pb.Decision]
    ) -> None:
        samples, decision = exercised
        values = {value for _, labels in samples for _, value in labels}
        for secret in ("case-0", "neighbour", "household", "no_such_fact", "xx", decision.decision_id):
            assert secret not in values


# --- reloads -----------------------------------------------------------------------------------------------


def test_reloads_show_success_failure_and_time(tmp_path: Path) -> None:
    """SIGHUP reloads: a success moves the time of the last success; a broken file is a failure that leaves it."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES_ROOT, rules)
    server = _Server(
        tmp_path / "server.log",
        *("--address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0"),
        *("--rules", str(rules), "--watch-interval", "0"),
    )
    try:
        port = _port_of(server.wait_for("server_started")[0]["metrics"])
        before = _scrape(port)
        assert _value(before, "rolwijzer_rules_reloads_total", result="success") == 0
        assert _value(before, "rolwijzer_rules_reloads_total", result="failure") == 0
        loaded = _value(before, "rolwijzer_rules_last_reload_success_timestamp_seconds")
        assert loaded > 0 and _value(before, "rolwijzer_rules_last_reload_successful") == 1

        server.process.send_signal(signal.SIGHUP)
        server.wait_for("rules_reloaded")
        reloaded = _scrape(port)
        assert _value(reloaded, "rolwijzer_rules_reloads_total", result="success") == 1
        assert _value(reloaded, "rolwijzer_rules_last_reload_success_timestamp_seconds") > loaded
        assert _value(reloaded, "rolwijzer_rules_last_reload_successful") == 1

        stage_e = rules / "informele-zorg" / CURRENT_RELEASE / "stage-e.yaml"
        stage_e.write_text(stage_e.read_text(encoding="utf-8") + "\n# not in the manifest\n", encoding="utf-8")
        server.process.send_signal(signal.SIGHUP)
        server.wait_for("rules_reload_failed")
        failed = _scrape(port)
        assert _value(failed, "rolwijzer_rules_reloads_total", result="success") == 1
        assert _value(failed, "rolwijzer_rules_reloads_total", result="failure") == 1
        assert _value(failed, "rolwijzer_rules_last_reload_successful") == 0
        assert _value(failed, "rolwijzer_rules_last_reload_success_timestamp_seconds") == _value(
            reloaded, "rolwijzer_rules_last_reload_success_timestamp_seconds"
        )
        assert _value(failed, "rolwijzer_release_info", rule_set="informele-zorg", version=CURRENT_RELEASE,
                      superseded_by="") == 1  # fmt: skip
    finally:
        assert server.stop() == 0


# --- workers -----------------------------------------------------------------------------------------------


def test_two_workers_are_summed_and_only_the_supervisor_serves_metrics(rule_set: RuleSet, tmp_path: Path) -> None:
    """Calls over many connections reach both workers; the supervisor's scrape is their sum, it alone listens on
    the metrics port, the sum survives a killed worker, and the workers' metric files go with the supervisor."""
    grpc_port = _free_port()
    server = _Server(
        tmp_path / "server.log",
        *("--address", f"127.0.0.1:{grpc_port}", "--metrics-address", "127.0.0.1:0", "--workers", "2"),
    )
    try:
        metrics_port = _port_of(server.wait_for("metrics_serving")[0]["address"])
        started = server.wait_for("server_started", 2)
        http_ports = {line["http_port"] for line in started}
        assert len(http_ports) == 1, "the workers share one HTTP port, chosen once by the supervisor"
        calls = 30
        for _ in range(calls):  # a connection of its own each time: SO_REUSEPORT spreads connections, not calls
            options = [("grpc.use_local_subchannel_pool", 1)]
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=options) as channel:
                pb_grpc.RolwijzerServiceStub(channel).Evaluate(request(rule_set, CHEAP_FACTS), timeout=30)
        # Every decision's line, written within 50 ms (rolwijzer.logs), tells which worker decided it.
        workers = {line.get("worker") for line in server.wait_for("decision_made", calls)}
        assert workers == {1, 2}, "both workers must have decided for the sum to mean anything"

        samples = _scrape(metrics_port)
        assert _rpcs(samples, "Evaluate", "OK") == calls
        assert sum(v for (name, _), v in samples.items() if name == "rolwijzer_decisions_total") == calls
        # Each worker has a cache of its own: its first call misses.
        assert _value(samples, "rolwijzer_decision_cache_lookups_total", result="miss") == 2
        assert _value(samples, "rolwijzer_decision_cache_lookups_total", result="hit") == calls - 2

        pids = _worker_pids(server.process.pid)
        assert len(pids) == 2
        assert metrics_port in _listening_ports(server.process.pid)
        for pid in pids:
            assert _listening_ports(pid) == {grpc_port, *http_ports}
        files = Path(
            next(
                entry.split(b"=", 1)[1].decode()
                for entry in Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
                if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
            )
        )
        assert files.is_dir()

        os.kill(pids[0], signal.SIGKILL)
        server.wait_for("server_started", 3)
        after = _scrape(metrics_port)
        assert _rpcs(after, "Evaluate", "OK") == calls  # the dead worker's counts stay in the sum
        assert _value(after, "rolwijzer_rules_last_reload_successful") == 1
        assert _value(after, "rolwijzer_rpcs_in_flight", service=SERVICE, method="Evaluate") == 0
    finally:
        assert server.stop() == 0
    assert not files.exists()


# --- switched off, and a taken port ------------------------------------------------------------------------


def test_every_result_of_a_many_situation_message_is_counted(rule_set: RuleSet, tmp_path: Path) -> None:
    """One EvaluateBatch message of four situations, one refused: three decisions and one refusal are counted, and
    the rules fired by the two the engine evaluated (the third is of a class its memo knows by then)."""
    server = _Server(
        tmp_path / "server.log", "--address", "127.0.0.1:0", "--metrics-address", f"127.0.0.1:{_free_port()}"
    )
    try:
        started = server.wait_for("server_started")[0]
        items = [
            pb.BatchItem(item_id="a", request=request(rule_set, CHEAP_FACTS)),
            pb.BatchItem(item_id="b", request=request(rule_set, CHEAP_FACTS, language="xx")),
            # 2 hours a week instead of 3: on the same side of every threshold, so the same class as "a".
            pb.BatchItem(item_id="c", request=request(rule_set, {**CHEAP_FACTS, "hours_per_week": 2})),
            pb.BatchItem(item_id="d", request=request(rule_set, {**CHEAP_FACTS, "hours_per_week": 12})),
        ]
        with grpc.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
            stub = pb_grpc.RolwijzerServiceStub(channel)
            (answer,) = list(stub.EvaluateBatch(iter([pb.EvaluateBatchRequest(items=items)]), timeout=30))
        a, b, c, d = answer.results
        assert [r.HasField("decision") for r in (a, b, c, d)] == [True, False, True, True]
        samples = _scrape(_port_of(started["metrics"]))
        assert sum(v for (name, _), v in samples.items() if name == "rolwijzer_decisions_total") == 3
        assert sum(v for (name, _), v in samples.items() if name == "rolwijzer_requests_rejected_total") == 1
        # Each rule fired by the two evaluations, counted once per firing (the message's firings are added up at its
        # end, once per rule); "c" came from the memo, which fires none.
        assert c.decision.fired_rules == a.decision.fired_rules and d.decision.fired_rules != a.decision.fired_rules
        fired = collections.Counter(r.rule_id for result in (a, d) for r in result.decision.fired_rules)
        firings = "rolwijzer_rule_firings_total"
        counted = {dict(labels)["rule_id"]: v for (name, labels), v in samples.items() if name == firings}
        assert counted == fired
        assert _value(samples, "rolwijzer_evaluation_combinations_count") == 2
        # Looked up in the cache, counted at the message's end too (the refused one is not looked up).
        assert _value(samples, "rolwijzer_decision_cache_lookups_total", result="miss") == 3
    finally:
        assert server.stop() == 0


def test_metrics_address_0_serves_nothing(tmp_path: Path) -> None:
    """--metrics-address 0: the server listens on its gRPC and HTTP ports only."""
    server = _Server(tmp_path / "server.log", "--address", "127.0.0.1:0", "--metrics-address", "0")
    try:
        started = server.wait_for("server_started")[0]
        assert started["metrics"] is None
        assert _listening_ports(server.process.pid) == {started["port"], started["http_port"]}
    finally:
        assert server.stop() == 0


def test_a_taken_port_given_fails_and_a_taken_default_is_logged(tmp_path: Path) -> None:
    """An address asked for must be served (exit 2, like --address); the default port being taken (another server
    on this machine) leaves a server that decides and says metrics_unavailable."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "rolwijzer.api.server", "--address", "127.0.0.1:0"],
            env=dict(os.environ, ROLWIJZER_METRICS_ADDRESS=f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr

    with socket.socket() as default:
        default.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            default.bind(("127.0.0.1", 9464))
            default.listen()
        except OSError:
            pass  # taken by someone else already: just as good
        env = {k: v for k, v in os.environ.items() if k != "ROLWIJZER_METRICS_ADDRESS"}
        server = _Server(tmp_path / "server.log", "--address", "127.0.0.1:0", env=env)
        try:
            started = server.wait_for("server_started")[0]
            assert started["metrics"] is None
            assert server.events("metrics_unavailable")[0]["address"] == "127.0.0.1:9464"
        finally:
            assert server.stop() == 0


# --- the final code of each kind of ending, in process -----------------------------------------------------

PROBE = "test.Probe"


def _probe_handlers() -> grpc.GenericRpcHandler[Any, Any]:
    def refuse(status: grpc.Status) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(_request: bytes, context: grpc.ServicerContext) -> bytes:
            context.abort_with_status(status)
            raise AssertionError("unreachable")

        return handle

    def crash(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        raise RuntimeError("a bug")

    def not_found(_request: bytes, context: grpc.ServicerContext) -> bytes:
        context.set_code(grpc.StatusCode.NOT_FOUND)
        return b""

    def two(_request: bytes, _context: grpc.ServicerContext) -> Iterator[bytes]:
        yield b"a"
        yield b"b"

    def busy_midway(_requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        yield b"a"
        context.abort_with_status(as_grpc(resource_exhausted("busy", "EXPENSIVE_REQUESTS_BUSY", 1)))

    def endless(_request: bytes, _context: grpc.ServicerContext) -> Iterator[bytes]:
        for _ in range(10_000):
            yield b"x"
            time.sleep(0.01)

    unary = {
        "Ok": lambda _request, _context: b"ok",
        "Invalid": refuse(as_grpc(invalid_argument([Violation("case_reference", "too long")]))),
        "Busy": refuse(as_grpc(resource_exhausted("busy", "EXPENSIVE_REQUESTS_BUSY", 1))),
        "Slow": refuse(as_grpc(deadline_exceeded("slow"))),
        "Failed": refuse(as_grpc(internal("failed", "EVALUATION_FAILED", {"decision_id": "d-1"}))),
        "Crash": crash,
        "NotFound": not_found,
    }
    handlers = {name: grpc.unary_unary_rpc_method_handler(h) for name, h in unary.items()}
    handlers["Two"] = grpc.unary_stream_rpc_method_handler(two)
    handlers["BusyMidway"] = grpc.stream_stream_rpc_method_handler(busy_midway)
    handlers["Endless"] = grpc.unary_stream_rpc_method_handler(endless)
    return grpc.method_handlers_generic_handler(PROBE, handlers)


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_interceptor_finds_the_final_code_of_every_ending() -> None:
    """Returned, aborted with each status, crashed, set_code, streamed, aborted midway, left by the caller."""
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=[MetricsInterceptor()])
    server.add_generic_rpc_handlers((_probe_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    expected = {
        "Ok": "OK",
        "Invalid": "INVALID_ARGUMENT",
        "Busy": "RESOURCE_EXHAUSTED",
        "Slow": "DEADLINE_EXCEEDED",
        "Failed": "INTERNAL",
        "Crash": "UNKNOWN",
        "NotFound": "NOT_FOUND",
        "Two": "OK",
        "BusyMidway": "RESOURCE_EXHAUSTED",
        "Endless": "CANCELLED",
    }

    raw: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}

    def counts() -> dict[str, float]:
        return {m: _count("rolwijzer_rpcs_total", service=PROBE, method=m, code=c) for m, c in expected.items()}

    reasons = ("invalid_case_reference", "expensive_busy", "deadline", "internal")
    before, rejected_before = counts(), {r: _count("rolwijzer_requests_rejected_total", reason=r) for r in reasons}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            for name in ("Ok", "Invalid", "Busy", "Slow", "Failed", "Crash", "NotFound"):
                call = channel.unary_unary(f"/{PROBE}/{name}", **raw)
                try:
                    call(b"", timeout=10)
                except grpc.RpcError as error:
                    assert error.code().name == expected[name]
            assert list(channel.unary_stream(f"/{PROBE}/Two", **raw)(b"", timeout=10)) == [b"a", b"b"]
            with pytest.raises(grpc.RpcError):
                list(channel.stream_stream(f"/{PROBE}/BusyMidway", **raw)(iter([b"x"]), timeout=10))
            endless = channel.unary_stream(f"/{PROBE}/Endless", **raw)(b"", timeout=30)
            next(iter(endless))
            endless.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves Call.cancel untyped
            with pytest.raises(grpc.RpcError):
                channel.unary_unary(f"/{PROBE}/NoSuchMethod", **raw)(b"", timeout=10)
        _wait_for(lambda: counts()["Endless"] > before["Endless"], "the cancelled stream to be counted", 30)
    finally:
        server.stop(grace=None)
    assert {m: counts()[m] - before[m] for m in expected} == dict.fromkeys(expected, 1.0)
    rejected = {r: _count("rolwijzer_requests_rejected_total", reason=r) - rejected_before[r] for r in reasons}
    assert rejected == {"invalid_case_reference": 1, "expensive_busy": 2, "deadline": 1, "internal": 1}
    assert not any(
        sample.labels.get("method") == "NoSuchMethod" for family in REGISTRY.collect() for sample in family.samples
    )
    assert _count("rolwijzer_rpcs_in_flight", service=PROBE, method="Ok") == 0


# --- the dashboard -----------------------------------------------------------------------------------------


def _expressions(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def test_every_metric_of_the_dashboard_is_in_a_scrape(exercised: tuple[Samples, pb.Decision]) -> None:
    """deploy/grafana/rolwijzer.json uses only series the server exports (names as scraped: _total, _bucket...)."""
    samples, _ = exercised
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = list(_expressions(dashboard))
    assert len(expressions) >= 10 and dashboard["panels"]
    used = {name for expr in expressions for name in re.findall(r"\brolwijzer_[a-z0-9_]+", expr)}
    scraped = {name for name, _ in samples}
    assert used and used <= scraped, sorted(used - scraped)
