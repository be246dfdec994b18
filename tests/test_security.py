"""Transport security, request limits and graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from certs import Pem
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.api import create_server
from rolwijzer.api.config import Limits, Tls
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import RULES_ROOT, request

BIN = Path(sys.executable).parent
NEIGHBOUR = {"relation_to_beneficiary": "neighbour", "regularity": "occasional_on_request"}
# EX51's facts: four unknown ★ facts, 300 combinations, about 35 ms of work.
EX51_FACTS = {
    "relation_to_beneficiary": "unknown",
    "helper_employment": "unknown",
    "payment": "unknown",
    "initiative": "unknown",
    "regularity": "structural",
    "hours_per_week": 14,
}


@pytest.fixture(scope="module")
def holder() -> Iterator[EngineHolder]:
    built = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
    yield built
    built.close()


def _serve(holder: EngineHolder, tls: Tls | None = None, limits: Limits | None = None) -> tuple[grpc.Server, str]:
    server, port = create_server("127.0.0.1:0", holder, limits=limits or Limits(), tls=tls)
    server.start()
    return server, f"127.0.0.1:{port}"


def _tls_channel(address: str, pki: dict[str, Pem], client: str | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].certificate.read_bytes(),
        private_key=pki[client].private_key.read_bytes() if client else None,
        certificate_chain=pki[client].certificate.read_bytes() if client else None,
    )
    return grpc.secure_channel(address, credentials)


class TestTransportSecurity:
    """TLS works; mutual TLS admits only clients whose certificate our CA signed."""

    def test_a_tls_call_works(self, holder: EngineHolder, pki: dict[str, Pem], rule_set: RuleSet) -> None:
        """A client trusting our CA gets a decision over TLS."""
        server, address = _serve(holder, Tls.from_files(pki["server"].certificate, pki["server"].private_key, None))
        try:
            with _tls_channel(address, pki, None) as channel:
                decision = pb_grpc.RolwijzerServiceStub(channel).Evaluate(request(rule_set, NEIGHBOUR), timeout=10)
            assert decision.decision.role == "SOCIAAL_NETWERK"
            with grpc.insecure_channel(address) as plain, pytest.raises(grpc.RpcError) as refused:
                pb_grpc.RolwijzerServiceStub(plain).Evaluate(request(rule_set, NEIGHBOUR), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            server.stop(grace=None)

    @pytest.mark.parametrize(
        ("client", "admitted"),
        [("client", True), (None, False), ("stranger", False)],
        ids=["our-client-certificate", "no-client-certificate", "another-cas-certificate"],
    )
    def test_mutual_tls_admits_only_our_clients(
        self, holder: EngineHolder, pki: dict[str, Pem], rule_set: RuleSet, client: str | None, admitted: bool
    ) -> None:
        """With a client CA configured, no certificate or one from another CA is refused."""
        tls = Tls.from_files(pki["server"].certificate, pki["server"].private_key, pki["ca"].certificate)
        server, address = _serve(holder, tls)
        try:
            with _tls_channel(address, pki, client) as channel:
                stub = pb_grpc.RolwijzerServiceStub(channel)
                if admitted:
                    assert stub.Evaluate(request(rule_set, NEIGHBOUR), timeout=10).decision.role
                else:
                    with pytest.raises(grpc.RpcError) as refused:
                        stub.Evaluate(request(rule_set, NEIGHBOUR), timeout=5)
                    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            server.stop(grace=None)

    def test_the_cli_speaks_mutual_tls(self, holder: EngineHolder, pki: dict[str, Pem]) -> None:
        """`rolwijzer --ca --cert --key` reaches an mTLS server; without a client certificate it cannot."""
        tls = Tls.from_files(pki["server"].certificate, pki["server"].private_key, pki["ca"].certificate)
        server, address = _serve(holder, tls)
        try:
            base = [str(BIN / "rolwijzer"), "--server", address, "--ca", str(pki["ca"].certificate)]
            client = ["--cert", str(pki["client"].certificate), "--key", str(pki["client"].private_key)]
            ok = subprocess.run([*base, *client, "rules"], capture_output=True, text=True, timeout=60, check=False)
            assert ok.returncode == 0, ok.stderr
            refused = subprocess.run([*base, "rules"], capture_output=True, text=True, timeout=60, check=False)
            assert refused.returncode == 3 and "TLS" in refused.stderr
        finally:
            server.stop(grace=None)

    def test_the_server_refuses_plaintext_on_a_network_address(self) -> None:
        """Without certificates, only loopback is served in plaintext unless --plaintext is given."""
        done = subprocess.run(
            [str(BIN / "rolwijzer-server"), "--address", "0.0.0.0:0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and "refusing plaintext" in done.stderr

    @pytest.mark.parametrize("host", ["127.attacker.example", "localhost.example", "10.0.0.1"])
    def test_only_loopback_ip_literals_and_localhost_count_as_loopback(self, host: str) -> None:
        """A name that merely starts with 127. is resolved by whoever owns it: plaintext is refused there."""
        done = subprocess.run(
            [str(BIN / "rolwijzer-server"), "--address", f"{host}:50999"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and "refusing plaintext" in done.stderr

    def test_a_key_that_does_not_match_its_certificate_is_named(self, pki: dict[str, Pem]) -> None:
        """The server's certificate with the client's key: the start fails saying the key does not belong to it."""
        done = subprocess.run(
            [
                str(BIN / "rolwijzer-server"),
                "--address",
                "127.0.0.1:0",
                "--tls-cert",
                str(pki["server"].certificate),
                "--tls-key",
                str(pki["client"].private_key),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and "does not belong to --tls-cert" in done.stderr, done.stderr


class TestLimits:
    """Every limit answers with its own status and says which limit it was."""

    def test_too_many_facts_is_an_invalid_argument(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """65 facts exceed the default of 64."""
        facts = {f"fact_{i}": pb.FactValue(symbol="x") for i in range(65)}
        with pytest.raises(grpc.RpcError) as refused:
            stub.Evaluate(pb.EvaluateRequest(facts=facts))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    def test_too_many_values_and_overlong_symbols_are_invalid_arguments(
        self, stub: pb_grpc.RolwijzerServiceStub
    ) -> None:
        """A set of 65 values, or a symbol of 500 characters, is named in a field violation."""
        for value in (pb.FactValue(symbols=pb.SymbolList(values=["household"] * 65)), pb.FactValue(symbol="x" * 500)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Evaluate(pb.EvaluateRequest(facts={"tasks": value}))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "at most" in (refused.value.details() or "") or refused.value.details()

    def test_an_oversized_request_is_resource_exhausted(self, holder: EngineHolder) -> None:
        """A request above max_request_bytes is refused by gRPC before it is read."""
        server, address = _serve(holder, limits=Limits(max_request_bytes=1024))
        try:
            with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as refused:
                pb_grpc.RolwijzerServiceStub(channel).Evaluate(pb.EvaluateRequest(case_reference="x" * 4096))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            server.stop(grace=None)

    def test_an_evaluation_beyond_the_default_deadline_is_deadline_exceeded(
        self, holder: EngineHolder, rule_set: RuleSet
    ) -> None:
        """With a default deadline of 1 ms, a request of 300 combinations is stopped with DEADLINE_EXCEEDED."""
        server, address = _serve(holder, limits=Limits(default_deadline_seconds=0.001))
        try:
            with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as refused:
                pb_grpc.RolwijzerServiceStub(channel).Evaluate(request(rule_set, EX51_FACTS), timeout=30)
            assert refused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "time ran out" in (refused.value.details() or "")
        finally:
            server.stop(grace=None)

    def test_calls_beyond_the_concurrency_limit_are_resource_exhausted(
        self, holder: EngineHolder, rule_set: RuleSet
    ) -> None:
        """With one call allowed at a time, a burst of slow calls sees RESOURCE_EXHAUSTED for some."""
        server, address = _serve(holder, limits=Limits(max_concurrent_rpcs=1))
        codes: list[grpc.StatusCode] = []
        try:
            with grpc.insecure_channel(address) as channel:
                stub = pb_grpc.RolwijzerServiceStub(channel)
                futures = [stub.Evaluate.future(request(rule_set, EX51_FACTS), timeout=30) for _ in range(8)]
                for future in futures:
                    codes.append(future.code())
        finally:
            server.stop(grace=None)
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes


def test_sigterm_drains_calls_in_flight_and_exits_0(rule_set: RuleSet) -> None:
    """On SIGTERM health turns NOT_SERVING at once, calls in flight still finish, and the process exits 0."""
    # Three expensive calls are admitted at once here: this test is about the drain, not about admission.
    process = subprocess.Popen(
        [
            str(BIN / "rolwijzer-server"),
            "--address",
            "127.0.0.1:0",
            "--expensive-concurrency",
            "3",
            "--drain-seconds",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stderr is not None
    try:
        port = json.loads(process.stderr.readline())["port"]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RolwijzerServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            # Some 2,900 combinations: each call runs for about 0.1 s, so three are in flight when the signal comes.
            facts = {
                "relation_to_beneficiary": "unknown",
                "helper_employment": "unknown",
                "payment": "unknown",
                "initiative": "unknown",
                "regularity": "unknown",
                "hours_per_week": "unknown",
            }
            results: list[str] = []
            slow = [stub.Evaluate.future(request(rule_set, facts), timeout=30) for _ in range(3)]
            time.sleep(0.03)
            process.send_signal(signal.SIGTERM)
            statuses: list[int] = []
            watcher = threading.Thread(
                target=lambda: statuses.append(
                    health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
                )
            )
            time.sleep(0.05)
            watcher.start()
            watcher.join(timeout=10)
            results = [f.result().decision.role for f in slow]
        assert results == ["ONBEPAALD"] * 3
        assert statuses == [health_pb2.HealthCheckResponse.NOT_SERVING]
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
