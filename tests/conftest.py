"""Fixtures: the shipped rule set, and a real server on 127.0.0.1 with a generated client."""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import pytest
from certs import Authority, Pem
from rolwijzer.api import create_server
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS, Engine
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet, load_rule_sets
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CURRENT_RELEASE, RULES_ROOT

# Every server a test starts serves its metrics on a free port of its own (the interceptor is on, as by default),
# so servers of this suite, of other suites on the machine or of `make run` never fight over the default 9464.
os.environ.setdefault("ROLWIJZER_METRICS_ADDRESS", "127.0.0.1:0")
# Likewise the HTTP port (Connect, gRPC-Web, the pages): never the default 8080.
os.environ.setdefault("ROLWIJZER_HTTP_ADDRESS", "127.0.0.1:0")
# A stopped server says NOT_SERVING for --drain-seconds (1 s) before it refuses calls, for balancers; no balancer
# watches the servers of this suite, so they stop at once. The tests of the drain itself ask for it.
os.environ.setdefault("ROLWIJZER_DRAIN_SECONDS", "0")
# A process that does not stop in time gets SIGABRT from support.stop_process; with the fault handler on, it says
# where each of its threads stood (a rare hang at shutdown was seen in a full run, never alone).
os.environ.setdefault("PYTHONFAULTHANDLER", "1")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """An engine with every shipped rule-set version."""
    built = Engine(load_rule_sets(RULES_ROOT))
    yield built
    built.close()


@pytest.fixture(scope="session")
def rule_set(engine: Engine) -> RuleSet:
    """The current shipped release (the one that decides when no version is pinned), whatever today is."""
    return next(r for r in engine.rule_sets if r.version == CURRENT_RELEASE)


@pytest.fixture(scope="session")
def server_address() -> Iterator[str]:
    """The address of a running server on 127.0.0.1 and a free port, serving the shipped rules/."""
    holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
    server, port = create_server("127.0.0.1:0", holder)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)
    holder.close()


@pytest.fixture(scope="session")
def channel(server_address: str) -> Iterator[grpc.Channel]:
    """A plaintext channel to the test server."""
    with grpc.insecure_channel(server_address) as opened:
        yield opened


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> pb_grpc.RolwijzerServiceStub:
    """The generated client of RolwijzerService."""
    return pb_grpc.RolwijzerServiceStub(channel)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pem]:
    """A CA with a server and a client certificate, and a second CA with its own client certificate."""
    folder = tmp_path_factory.mktemp("pki")
    ours, theirs = Authority(folder, "ours"), Authority(folder, "theirs")
    return {
        "ca": ours.pem,
        "server": ours.issue("server", server=True),
        "client": ours.issue("client", server=False),
        "stranger": theirs.issue("client", server=False),
    }
