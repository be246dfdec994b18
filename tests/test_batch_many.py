"""EvaluateBatch messages that carry many situations, and the codes-only view, against a real server."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from rolwijzer.client import BatchRefused, evaluate_many
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CHEAP_FACTS, FOUR_HOURS_ONE_MONTH, request

DAY = dt.date(2026, 6, 1)


def _situations(rule_set: RuleSet, count: int) -> list[tuple[str, pb.EvaluateRequest]]:
    """Alternately a neighbour and a child, each with its own hours so no answer comes from the cache."""
    found = []
    for index in range(count):
        facts = dict(CHEAP_FACTS if index % 2 else FOUR_HOURS_ONE_MONTH, hours_per_week=1 + index / 100)
        found.append((f"s{index}", request(rule_set, facts, reference_date=DAY)))
    return found


class TestManySituationsPerMessage:
    """One message, many items: one answer message with a result per item, in their order."""

    def test_every_item_is_answered_in_order_with_its_id(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        situations = _situations(rule_set, 250)
        answers = list(evaluate_many(stub, situations, per_message=100, timeout=60))
        assert [item_id for item_id, _ in answers] == [item_id for item_id, _ in situations]
        roles = [answer.role for _, answer in answers if isinstance(answer, pb.Decision)]
        assert len(roles) == 250 and set(roles) == {"SOCIAAL_NETWERK"}
        one = stub.Evaluate(situations[7][1], timeout=10).decision
        assert answers[7][1].role == one.role and list(answers[7][1].obligations) == list(one.obligations)

    def test_a_bad_item_gets_its_own_status_and_the_others_their_decisions(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        situations = _situations(rule_set, 5)
        bad = pb.EvaluateRequest()
        bad.facts["hours_per_weak"].number = 4
        situations[2] = ("bad", bad)
        answers = dict(evaluate_many(stub, situations, timeout=30))
        refused = answers.pop("bad")
        assert not isinstance(refused, pb.Decision)
        assert refused.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "hours_per_weak" in refused.message or refused.details
        assert all(isinstance(answer, pb.Decision) for answer in answers.values())

    def test_a_message_over_the_item_limit_is_refused_whole_naming_the_field(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        with pytest.raises(BatchRefused) as refused:
            list(evaluate_many(stub, _situations(rule_set, 201), per_message=201, timeout=30))
        assert refused.value.status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "items" in str(refused.value.status.details[0].value)

    def test_a_message_with_items_and_an_item_of_its_own_is_refused(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        item_id, situation = _situations(rule_set, 1)[0]
        message = pb.EvaluateBatchRequest(item_id="x", items=[pb.BatchItem(item_id=item_id, request=situation)])
        (answer,) = list(stub.EvaluateBatch(iter([message]), timeout=30))
        assert answer.status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and not answer.results

    def test_the_one_item_form_still_works_beside_it(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        (item_id, situation), (other_id, other) = _situations(rule_set, 2)
        messages = [
            pb.EvaluateBatchRequest(item_id=item_id, request=situation),
            pb.EvaluateBatchRequest(items=[pb.BatchItem(item_id=other_id, request=other)]),
        ]
        single, many = list(stub.EvaluateBatch(iter(messages), timeout=30))
        assert single.item_id == item_id and single.decision.role
        assert [r.item_id for r in many.results] == [other_id]


class TestCodesView:
    """DECISION_VIEW_CODES: the same codes and rules, without texts, citations or questions."""

    def test_the_codes_are_those_of_the_full_answer_and_no_text_is_sent(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        situation = request(rule_set, {"relation_to_beneficiary": "child"}, reference_date=DAY)
        full = stub.Evaluate(situation, timeout=10).decision
        situation.view = pb.DECISION_VIEW_CODES
        codes = stub.Evaluate(situation, timeout=10).decision
        for name in ("liabilities", "obligations", "flags"):
            assert [(f.code, list(f.rule_ids)) for f in getattr(codes, name)] == [
                (f.code, list(f.rule_ids)) for f in getattr(full, name)
            ]
            assert all(not f.text and not f.citations for f in getattr(codes, name))
        assert codes.role == full.role and not codes.role_text
        assert [(r.rule_id, r.stage) for r in codes.fired_rules] == [(r.rule_id, r.stage) for r in full.fired_rules]
        assert [m.fact for m in codes.missing_facts] == [m.fact for m in full.missing_facts]
        assert all(not m.question for m in codes.missing_facts)
        assert codes.decision_id and codes.rule_set.sha256 == full.rule_set.sha256
        assert codes.ByteSize() * 4 < full.ByteSize()
