"""A client's explicit objection to sharing is never overridden, whatever else the situation holds (domain.md §11.3
F1/F3, §11.7): hypothesis draws every other fact of the catalogue and asks a real server."""

from __future__ import annotations

from typing import Any, cast

import grpc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rolwijzer.rules import FactType, RuleSet
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import examples, request

# The objection itself, held fixed: the client objects, and his capacity is established or not yet assessed.
FIXED = ("info_objection_by", "client_capacity", "info_flow_recipient", "client_age_group")
SHARING = {"DELEN_BETROKKEN_HULPVERLENERS", "DOSSIER_TOEGANG_MET_TOESTEMMING", "DOSSIER_VERTEGENWOORDIGER"}
OBJECTION = settings(
    max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _value(rule_set: RuleSet, name: str) -> st.SearchStrategy[Any]:
    """Any value a scenario file could give the fact: a symbol, a number, a set, or a conflicting list."""
    fact = rule_set.facts[name]
    symbols = [s for s in fact.symbol_values if s not in fact.aliases]
    if fact.type == FactType.SET:
        return st.lists(st.sampled_from(symbols), unique=True, max_size=4)
    if fact.type == FactType.NUMBER:
        plain = st.integers(min_value=0, max_value=40)
        return st.one_of(plain, st.just("unknown")) if fact.unknown_allowed else plain
    if fact.type == FactType.BOOLEAN:
        return st.sampled_from([True, False, *(["unknown"] if fact.unknown_allowed else [])])
    plain_symbols = [s for s in symbols if s != "unknown"]
    conflicting = st.lists(st.sampled_from(plain_symbols), unique=True, min_size=2, max_size=2)
    return st.one_of(st.sampled_from(symbols), conflicting) if len(plain_symbols) > 1 else st.sampled_from(symbols)


@st.composite
def _other_facts(draw: st.DrawFn, rule_set: RuleSet) -> dict[str, Any]:
    names = [n for n in rule_set.facts if n not in FIXED]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    return {name: draw(_value(rule_set, name)) for name in chosen}


class TestClientObjection:
    """The client's explicit objection binds in every combination of the other facts."""

    @pytest.mark.parametrize("recipient", ["involved_professional", "helper", "other_relative"])
    @pytest.mark.parametrize("capacity", ["capable", "unknown"])
    def test_nothing_is_shared_against_the_clients_objection(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, recipient: str, capacity: str
    ) -> None:
        """Whatever the role, tasks, consent or anything else, no sharing code appears and DOSSIER_NIET_DELEN does."""

        @given(others=_other_facts(rule_set), client_age=st.sampled_from(["adult", "16_17", "12_15"]))
        @OBJECTION
        def check(others: dict[str, Any], client_age: str) -> None:
            facts = dict(
                others,
                info_objection_by="client",
                client_capacity=capacity,
                info_flow_recipient=recipient,
                client_age_group=client_age,
            )
            try:
                decision = stub.Evaluate(request(rule_set, facts)).decision
            except grpc.RpcError as err:
                # Too many open facts to enumerate is refused before anything is decided: not this property.
                assume(cast(grpc.Call, err).code() != grpc.StatusCode.INVALID_ARGUMENT)
                raise
            obligations = {f.code for f in decision.obligations}
            assert not obligations & SHARING, (facts, obligations)
            assert "DOSSIER_NIET_DELEN" in obligations, (facts, obligations)

        check()
