"""One caller must not starve the others: silent or stalled batch streams and expensive requests against a real
server on 127.0.0.1 (issue: no caller takes the service down). Latency figures are in bench/attack.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from rolwijzer.api import create_server
from rolwijzer.api.config import Limits
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CHEAP_FACTS, RULES_ROOT, request

IDLE_SECONDS = 0.5
# Some 2,900 combinations of open facts: well over the expensive threshold, about 0.3 s each.
EXPENSIVE = dict.fromkeys(
    ["relation_to_beneficiary", "helper_employment", "payment", "initiative", "regularity", "hours_per_week"],
    "unknown",
)


@pytest.fixture()
def guarded() -> Iterator[grpc.Channel]:
    """A server with the default admission limits but a short idle-stream timeout, and a channel to it."""
    holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
    server, port = create_server("127.0.0.1:0", holder, limits=Limits(stream_idle_seconds=IDLE_SECONDS))
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(grace=None)
    holder.close()


def _healthy(channel: grpc.Channel) -> bool:
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _silence(until: threading.Event) -> Iterator[pb.EvaluateBatchRequest]:
    """A request stream that sends nothing until `until` is set."""
    until.wait()
    yield from ()


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    return cast(grpc.Call, error).code()


class TestBatchStreams:
    """Streams get a few slots of their own; a silent one is closed, a stalled one keeps to its slot."""

    def test_two_silent_streams_leave_health_and_cheap_calls_alone(
        self, guarded: grpc.Channel, rule_set: RuleSet
    ) -> None:
        """Two opened streams that never send: health and a cheap call still answer, a third stream is refused
        at once, and the silent ones end with DEADLINE_EXCEEDED."""
        stub = pb_grpc.RolwijzerServiceStub(guarded)
        release = threading.Event()
        try:
            silent = [stub.EvaluateBatch(_silence(release), timeout=30) for _ in range(2)]
            assert _healthy(guarded)
            assert stub.Evaluate(request(rule_set, CHEAP_FACTS), timeout=5).decision.role == "SOCIAAL_NETWERK"
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.EvaluateBatch(_silence(release), timeout=5))
            assert _code(refused.value) == grpc.StatusCode.RESOURCE_EXHAUSTED
            for stream in silent:
                with pytest.raises(grpc.RpcError) as ended:
                    list(stream)
                assert _code(ended.value) == grpc.StatusCode.DEADLINE_EXCEEDED
                assert "no item for 0.5 s" in (cast(grpc.Call, ended.value).details() or "")
        finally:
            release.set()
        answered = list(stub.EvaluateBatch(iter([pb.EvaluateBatchRequest(item_id="after")]), timeout=5))
        assert [a.item_id for a in answered] == ["after"], "the slots are free again"

    def test_a_stream_whose_answers_are_never_read_keeps_to_its_slot(
        self, guarded: grpc.Channel, rule_set: RuleSet
    ) -> None:
        """A caller that sends thousands of items and reads no answer: health and cheap calls still answer."""
        stub = pb_grpc.RolwijzerServiceStub(guarded)
        item = pb.EvaluateBatchRequest(item_id="x", request=request(rule_set, CHEAP_FACTS))
        stalled = stub.EvaluateBatch(iter([item] * 3_000), timeout=30)
        try:
            for _ in range(3):
                assert _healthy(guarded)
                assert stub.Evaluate(request(rule_set, CHEAP_FACTS), timeout=5).decision.role == "SOCIAAL_NETWERK"
        finally:
            cast("grpc.Future[object]", stalled).cancel()


class TestAdmissionByCost:
    """Expensive requests share a small budget; past it they are refused at once, with a time to retry."""

    def test_many_expensive_callers_leave_health_and_cheap_calls_alone(
        self, guarded: grpc.Channel, rule_set: RuleSet
    ) -> None:
        """Six concurrent expensive calls: one budget slot, the others refused with RetryInfo; health and a
        cheap call answer meanwhile."""
        stub = pb_grpc.RolwijzerServiceStub(guarded)
        futures = [stub.Evaluate.future(request(rule_set, EXPENSIVE), timeout=30) for _ in range(6)]
        assert _healthy(guarded)
        assert stub.Evaluate(request(rule_set, CHEAP_FACTS), timeout=5).decision.role == "SOCIAAL_NETWERK"
        outcomes: list[Any] = []
        for future in futures:
            try:
                outcomes.append(future.result().decision.combinations_evaluated)
            except grpc.RpcError as err:
                outcomes.append(err)
        refused = [o for o in outcomes if isinstance(o, grpc.RpcError)]
        assert refused and len(refused) < len(outcomes), outcomes
        for error in refused:
            assert _code(error) == grpc.StatusCode.RESOURCE_EXHAUSTED
            status = rpc_status.from_call(cast(grpc.Call, error))
            assert status is not None
            retry = error_details_pb2.RetryInfo()
            assert any(detail.Unpack(retry) for detail in status.details)
            assert retry.retry_delay.seconds == 1
