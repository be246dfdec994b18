"""Random and malformed requests through a real server: every answer is a decision or INVALID_ARGUMENT with field
violations, and the server stays healthy. Bounded by example counts (about 20 s in all); `make attack` runs it
with FUZZ_EXAMPLES=5000 for minutes."""

from __future__ import annotations

import os
from typing import cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rolwijzer.rules import RuleSet, load_rule_set
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import RULES, examples

ROLES = {
    "MANTELZORGER",
    "SOCIAAL_NETWERK",
    "VRIJWILLIGER",
    "BEROEPSKRACHT",
    "PGB_ZORGVERLENER",
    "OVERIG_DERDE",
    "ONBEPAALD",
}
FUZZ = settings(
    max_examples=examples(int(os.environ.get("FUZZ_EXAMPLES", "250"))),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _catalogue() -> tuple[list[str], list[str]]:
    rule_set = load_rule_set(RULES)
    names = list(rule_set.facts)
    symbols = sorted({s for f in rule_set.facts.values() for s in f.symbol_values})
    return names, symbols


NAMES, SYMBOLS = _catalogue()
texts = st.one_of(
    st.sampled_from(SYMBOLS),
    st.text(max_size=20),
    st.text(min_size=1000, max_size=3000, alphabet="xyz\u00e9\U0001f600"),
)
values = st.one_of(
    st.builds(lambda t: pb.FactValue(symbol=t), texts),
    st.builds(lambda b: pb.FactValue(boolean=b), st.booleans()),
    st.builds(lambda n: pb.FactValue(number=n), st.floats(allow_nan=True, allow_infinity=True)),
    # Numbers Python writes in exponent form, which durable-rules' parser rejects unless they are written out.
    st.builds(lambda n: pb.FactValue(number=n), st.sampled_from([1e-05, 5e-324, 1e16, 2.5e-7, 1e300, -1e-9])),
    st.builds(lambda v: pb.FactValue(symbols=pb.SymbolList(values=v)), st.lists(texts, max_size=8)),
    st.builds(lambda v: pb.FactValue(one_of=pb.SymbolList(values=v)), st.lists(texts, max_size=8)),
    st.just(pb.FactValue(unknown=pb.Unknown())),
    st.just(pb.FactValue()),
)
requests = st.builds(
    lambda facts, language, reference: pb.EvaluateRequest(facts=facts, language=language, case_reference=reference),
    st.dictionaries(
        st.one_of(st.sampled_from(NAMES), st.text(max_size=30), st.text(min_size=200, max_size=20_000, alphabet="nx")),
        values,
        max_size=12,
    ),
    st.one_of(st.sampled_from(["", "nl", "en"]), st.text(max_size=5)),
    st.text(max_size=40),
)


def _check_answer(call: object) -> None:
    """A decision, or INVALID_ARGUMENT carrying at least one field violation."""
    if isinstance(call, pb.EvaluateResponse):
        assert call.decision.role in ROLES
        return
    error = cast(grpc.Call, call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    status = rpc_status.from_call(error)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad) and bad.field_violations


def _healthy(channel: grpc.Channel, stub: pb_grpc.RolwijzerServiceStub) -> None:
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    facts = {
        "relation_to_beneficiary": pb.FactValue(symbol="neighbour"),
        "regularity": pb.FactValue(symbol="occasional_on_request"),
    }
    assert stub.Evaluate(pb.EvaluateRequest(facts=facts), timeout=10).decision.role == "SOCIAAL_NETWERK"


@FUZZ
@given(request=requests)
def test_random_requests_get_a_decision_or_field_violations(
    request: pb.EvaluateRequest, stub: pb_grpc.RolwijzerServiceStub, channel: grpc.Channel, rule_set: RuleSet
) -> None:
    """Unknown facts, wrong kinds, huge strings, NaN: never anything but a decision or INVALID_ARGUMENT."""
    try:
        answer: object = stub.Evaluate(request, timeout=30)
    except grpc.RpcError as err:
        answer = err
    _check_answer(answer)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_on_the_wire_are_refused_as_invalid_arguments(
    data: bytes, channel: grpc.Channel, stub: pb_grpc.RolwijzerServiceStub
) -> None:
    """Bytes that are no EvaluateRequest are INVALID_ARGUMENT; bytes that happen to decode are answered."""
    raw = channel.unary_unary(
        "/rolwijzer.v1.RolwijzerService/Evaluate",
        request_serializer=None,
        response_deserializer=pb.EvaluateResponse.FromString,
    )
    try:
        answer: object = raw(data, timeout=30)
    except grpc.RpcError as err:
        answer = err
    _check_answer(answer)


def test_the_server_is_healthy_after_the_fuzzing(channel: grpc.Channel, stub: pb_grpc.RolwijzerServiceStub) -> None:
    """After the fuzz tests health is SERVING and an ordinary situation is decided."""
    _healthy(channel, stub)


@pytest.fixture(autouse=True, scope="module")
def _healthy_after_module(channel: grpc.Channel, stub: pb_grpc.RolwijzerServiceStub) -> object:
    yield None
    _healthy(channel, stub)
