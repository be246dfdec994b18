"""The server as any gRPC tool sees it: health, reflection, buf curl; and as an operator runs it: logs, signals."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rolwijzer.api import SERVICE_NAME
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import Scenario, decision_sets, differences, load_scenarios
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import SCENARIOS, request

BIN = Path(sys.executable).parent


class TestStandardServices:
    """Health and reflection are on, so tools need no copy of our protos."""

    def test_health_reports_serving_for_the_server_and_the_service(self, channel: grpc.Channel) -> None:
        """grpc.health.v1 answers SERVING for "" and for rolwijzer.v1.RolwijzerService."""
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING

    def test_reflection_lists_the_service(self, channel: grpc.Channel) -> None:
        """Server reflection names RolwijzerService, health and reflection itself."""
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for answer in answers for s in answer.list_services_response.service}
        assert SERVICE_NAME in names and "grpc.health.v1.Health" in names

    def test_health_lists_every_service_it_advertises(self, channel: grpc.Channel) -> None:
        """Health's List (advertised by reflection) answers every service with its status, not UNIMPLEMENTED."""
        listed = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
        statuses = {name: answer.status for name, answer in listed.statuses.items()}
        assert statuses == {
            "": health_pb2.HealthCheckResponse.SERVING,
            SERVICE_NAME: health_pb2.HealthCheckResponse.SERVING,
        }

    @pytest.mark.parametrize("protocol", ["grpc-v1", "grpc-v1alpha"])
    def test_buf_curl_lists_the_services_over_each_reflection_version(self, server_address: str, protocol: str) -> None:
        """`buf curl --reflect-protocol grpc-v1` (what current grpcurl and buf ask first) and v1alpha both work."""
        done = _buf_curl("--reflect-protocol", protocol, "--list-methods", f"http://{server_address}")
        assert done.returncode == 0, done.stderr
        methods = set(done.stdout.split())
        assert {f"{SERVICE_NAME}/Evaluate", "grpc.health.v1.Health/List"} <= methods, done.stdout


def _buf_curl(*args: str) -> subprocess.CompletedProcess[str]:
    """`buf curl` over gRPC in plaintext HTTP/2, a client none of us wrote."""
    command = [str(BIN / "buf"), "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _edge_case_scenarios() -> list[Scenario]:
    """One scenario per edge case of domain.md §8 (the first tagged with it)."""
    chosen: dict[int, Scenario] = {}
    for scenario in load_scenarios(SCENARIOS / "rules.yaml"):
        tags = scenario.raw.get("edge_case", [])
        for tag in tags if isinstance(tags, list) else [tags]:
            chosen.setdefault(tag, scenario)
    return list({id(s): s for s in chosen.values()}.values())


@pytest.mark.parametrize("scenario", _edge_case_scenarios(), ids=lambda s: s.id)
def test_buf_curl_with_reflection_gets_the_decision_of_each_edge_case(
    scenario: Scenario, server_address: str, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
) -> None:
    """`buf curl --protocol grpc --http2-prior-knowledge` decides the §8 situations like the generated client."""
    req = request(rule_set, scenario.facts)
    done = _buf_curl("--data", json_format.MessageToJson(req), f"http://{server_address}/{SERVICE_NAME}/Evaluate")
    assert done.returncode == 0, done.stderr
    via_curl = json_format.Parse(done.stdout, pb.EvaluateResponse()).decision
    via_client = stub.Evaluate(req).decision
    assert decision_sets(via_curl) == decision_sets(via_client)
    assert differences(scenario, via_curl) == []


class _Server:
    """`rolwijzer-server` in a subprocess on a free loopback port; stderr lines are read by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.process = subprocess.Popen(
            [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0", *args],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def next_line(self, timeout: float = 30) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


class TestOperation:
    """Logs and shutdown of the real command."""

    def test_one_json_line_per_decision_without_fact_values(self, rule_set: RuleSet) -> None:
        """A decision logs id, case reference, rule set version, role, fired rules and duration; no fact values."""
        server = _Server()
        try:
            started = json.loads(server.next_line())
            assert started["event"] == "server_started"
            with grpc.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
                facts = {
                    "relation_to_beneficiary": "neighbour",
                    "regularity": "occasional_on_request",
                    "tasks": ["household"],
                }
                answer = pb_grpc.RolwijzerServiceStub(channel).Evaluate(
                    request(rule_set, facts, case_reference="case-42"), timeout=10
                )
            line = server.next_line()
            logged = json.loads(line)
        finally:
            assert server.stop() == 0
        assert logged["event"] == "decision_made"
        assert logged["decision_id"] == answer.decision.decision_id
        assert logged["case_reference"] == "case-42"
        assert logged["rule_set_version"] == rule_set.version
        assert logged["role"] == "SOCIAAL_NETWERK"
        assert "R6b" in logged["rule_ids"] and logged["duration_ms"] > 0
        assert logged["fact_names"] == ["regularity", "relation_to_beneficiary", "tasks"]
        for value in ("neighbour", "occasional_on_request", "household"):
            assert value not in line

    def test_a_stop_right_after_the_last_answer_loses_no_line_and_keeps_their_order(self, rule_set: RuleSet) -> None:
        """`info` lines wait up to 50 ms for the log's writer thread (rolwijzer.logs): stopped the moment its last
        answer arrives, the server has still written every decision's line, whole and in the order of the
        decisions, and `server_stopped` last."""
        server = _Server()
        facts = {"relation_to_beneficiary": "neighbour", "regularity": "one_off", "tasks": ["household"]}
        sent = [f"case-{number}" for number in range(40)]
        try:
            started = json.loads(server.next_line())
            with grpc.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
                stub = pb_grpc.RolwijzerServiceStub(channel)
                for reference in sent:
                    stub.Evaluate(request(rule_set, facts, case_reference=reference), timeout=10)
        finally:
            assert server.stop() == 0
        events = [json.loads(server.next_line(timeout=10))]  # queue.Empty: a line, or server_stopped, was lost
        while events[-1]["event"] != "server_stopped":
            events.append(json.loads(server.next_line(timeout=10)))
        assert [event["case_reference"] for event in events if event["event"] == "decision_made"] == sent

    def test_a_batch_stream_still_open_after_the_grace_is_cancelled_and_the_server_exits(
        self, rule_set: RuleSet
    ) -> None:
        """SIGTERM with an EvaluateBatch stream open that sends nothing more: after the grace (5 s) the server cancels
        it and exits 0, long before the stream's idle limit (120 s). On a faked clock too, where gRPC's own cancel
        after the grace, a timed wait, never comes (CI runs this under faketime)."""
        server = _Server("--stream-idle-seconds", "120", "--drain-seconds", "0")
        release = threading.Event()

        def items() -> Iterator[pb.EvaluateBatchRequest]:
            facts = {"relation_to_beneficiary": "neighbour", "regularity": "one_off"}
            yield pb.EvaluateBatchRequest(item_id="1", request=request(rule_set, facts))
            release.wait()  # the stream stays open, silent, until the test ends

        try:
            port = json.loads(server.next_line())["port"]
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                answers = pb_grpc.RolwijzerServiceStub(channel).EvaluateBatch(items(), timeout=60)
                assert next(iter(answers)).item_id == "1"  # the stream is open on the server
                started = time.monotonic()
                assert server.stop() == 0
                assert time.monotonic() - started < 20
        finally:
            release.set()
            if server.process.poll() is None:
                server.process.kill()

    @pytest.mark.parametrize("value", ["-1", "soon", "nan"])
    def test_drain_seconds_that_are_no_duration_are_refused_naming_the_flag(self, value: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "rolwijzer.api.server", "--address", "127.0.0.1:0", f"--drain-seconds={value}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and "argument --drain-seconds:" in done.stderr, done.stderr

    def test_every_flag_has_its_environment_variable_and_the_flag_wins(self, rule_set: RuleSet) -> None:
        """ROLWIJZER_MAX_FACTS=2 limits the facts of a request (a flag that never had a variable written out); a
        flag given too wins; an empty variable counts as unset; ROLWIJZER_LOG_FORMAT=console switches the format."""
        facts = {"relation_to_beneficiary": "neighbour", "regularity": "one_off", "tasks": ["household"]}
        limited = {"ROLWIJZER_MAX_FACTS": "2", "ROLWIJZER_AUDIT_LOG": "", "ROLWIJZER_LOG_FORMAT": "console"}
        for extra, refused in (((), True), (("--max-facts", "3"), False)):
            server = _Server(*extra, "--log-format", "json", env=limited)
            try:
                started = json.loads(server.next_line())
                with grpc.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
                    stub = pb_grpc.RolwijzerServiceStub(channel)
                    try:
                        stub.Evaluate(request(rule_set, facts), timeout=10)
                        code = grpc.StatusCode.OK
                    except grpc.RpcError as err:
                        code = err.code()
                        assert "facts" in (err.details() or "")
            finally:
                assert server.stop() == 0
            assert code == (grpc.StatusCode.INVALID_ARGUMENT if refused else grpc.StatusCode.OK)
        console = _Server(env={"ROLWIJZER_LOG_FORMAT": "console"})
        try:
            line = console.next_line()
        finally:
            assert console.stop() == 0
        assert "server_started" in line and not line.lstrip().startswith("{")

    def test_a_stop_while_the_server_starts_ends_it_without_a_traceback(self) -> None:
        """Ctrl-C while Python loads the server ends it quietly with 130; a SIGINT or SIGTERM once it reads its
        rules is kept, and acted on as soon as it has started: the usual drain, `server_stopped`, exit 0. Sent at
        shares of this machine's own start-up time, measured first (before, both printed a KeyboardInterrupt
        traceback from whatever was loading)."""
        server_command = [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"]
        # As a terminal's Ctrl-C finds it, SIGINT not ignored (a suite run in the background passes it on ignored):
        # set to its default, which an exec keeps, by a small launcher (preexec_fn is unsafe beside threads).
        restore = (
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
        )
        command = [sys.executable, "-c", restore, *server_command]
        began = time.monotonic()
        server = _Server("--http-address", "127.0.0.1:0")
        try:
            assert json.loads(server.next_line())["event"] == "server_started"
            startup = time.monotonic() - began
        finally:
            assert server.stop() == 0
        for sig, share in ((signal.SIGINT, 0.15), (signal.SIGINT, 0.8), (signal.SIGTERM, 0.8)):
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            time.sleep(startup * share)
            process.send_signal(sig)
            try:
                output, _ = process.communicate(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
            assert "Traceback" not in output, output
            if "server_started" in output:
                assert process.returncode == 0 and "server_stopped" in output, output
            else:  # still loading Python: SIGTERM's default ends it, as it does every process
                assert process.returncode == (130 if sig == signal.SIGINT else -signal.SIGTERM), output

    @pytest.mark.parametrize("flag", ["--address", "--http-address", "--health-address"])
    def test_an_address_in_use_is_refused_naming_the_flag_and_why(self, flag: str) -> None:
        """Something else listens there (another program on 8080, `make run` twice): exit 2 with a line naming the
        flag, the address and the reason, where gRPC said only "Failed to bind to address" and cheroot "No socket
        could be created"."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            address = f"127.0.0.1:{taken.getsockname()[1]}"
            flags = {"--address": "127.0.0.1:0", "--http-address": "0", "--metrics-address": "0", flag: address}
            done = subprocess.run(
                [str(BIN / "rolwijzer-server"), *(part for item in flags.items() for part in item)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        assert done.returncode == 2, done.stderr
        expected = f"rolwijzer-server: {flag} {address}: cannot listen there (address already in use); give another"
        assert expected in done.stderr

    def test_the_console_format_is_readable_text(self) -> None:
        """--log-format console prints the start as a plain line, not JSON."""
        server = _Server("--log-format", "console")
        try:
            line = server.next_line()
        finally:
            assert server.stop() == 0
        assert "server_started" in line and not line.lstrip().startswith("{")


class TestBrokenLogSink:
    """A log that cannot be written never fails a call or the shutdown."""

    def test_calls_and_shutdown_succeed_after_stderr_breaks(self, rule_set: RuleSet) -> None:
        """With the reader of the server's stderr gone (EPIPE on every log line), calls answer and SIGTERM exits 0."""
        process = subprocess.Popen(
            [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0"],
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        assert process.stderr is not None
        try:
            port = json.loads(process.stderr.readline())["port"]
            process.stderr.close()
            facts = {"relation_to_beneficiary": "neighbour", "regularity": "one_off", "tasks": ["household"]}
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.RolwijzerServiceStub(channel)
                roles = [stub.Evaluate(request(rule_set, facts), timeout=10).decision.role for _ in range(3)]
            assert roles == ["SOCIAAL_NETWERK"] * 3
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
        assert code == 0
