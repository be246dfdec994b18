"""Fixtures: the shipped rule set, and a real server on 127.0.0.1 with a generated client."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from rolwijzer.api import create_server
from rolwijzer.engine import Engine
from rolwijzer.rules import RuleSet, load_rule_set
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import RULES


@pytest.fixture(scope="session")
def rule_set() -> RuleSet:
    """The default rule set as shipped in rules/."""
    return load_rule_set(RULES)


@pytest.fixture(scope="session")
def engine(rule_set: RuleSet) -> Iterator[Engine]:
    """An engine compiled for today."""
    built = Engine(rule_set)
    yield built
    built.close()


@pytest.fixture(scope="session")
def server_address(engine: Engine) -> Iterator[str]:
    """The address of a running server on 127.0.0.1 and a free port."""
    server, port = create_server("127.0.0.1:0", engine)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="session")
def channel(server_address: str) -> Iterator[grpc.Channel]:
    """A plaintext channel to the test server."""
    with grpc.insecure_channel(server_address) as opened:
        yield opened


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> pb_grpc.RolwijzerServiceStub:
    """The generated client of RolwijzerService."""
    return pb_grpc.RolwijzerServiceStub(channel)
