"""EvaluateBatch streams decisions item by item; the decision cache answers repeats without changing answers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2
from rolwijzer.api import create_server
from rolwijzer.cache import LruCache
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import load_scenarios
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import RULES_ROOT, SCENARIOS, request


@pytest.fixture(scope="module")
def cached() -> Iterator[tuple[EngineHolder, pb_grpc.RolwijzerServiceStub]]:
    """A server whose engine keeps up to 1,000 decisions."""
    holder = EngineHolder(RULES_ROOT, 20_000, cache_size=1_000)
    server, port = create_server("127.0.0.1:0", holder)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield holder, pb_grpc.RolwijzerServiceStub(channel)
    server.stop(grace=None)
    holder.close()


def _without_ids(decision: pb.Decision) -> dict[str, object]:
    found = json_format.MessageToDict(decision)
    found.pop("decisionId")
    found.pop("caseReference", None)
    return found


class TestBatch:
    """One stream, many situations, one answer per item in order."""

    def test_each_item_is_answered_in_order_and_a_bad_item_gets_its_own_status(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """52 scenarios with a bad item in the middle: 53 answers, the bad one INVALID_ARGUMENT, the rest decided."""
        scenarios = [s for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)]
        items = [pb.EvaluateBatchRequest(item_id=s.id, request=request(rule_set, s.facts)) for s in scenarios]
        bad = pb.EvaluateBatchRequest(item_id="bad", request=request(rule_set, {"relation_to_beneficiary": "cousin"}))
        items.insert(10, bad)
        answers = list(stub.EvaluateBatch(iter(items), timeout=60))
        assert [a.item_id for a in answers] == [i.item_id for i in items]
        failed = answers[10]
        assert failed.WhichOneof("result") == "status" and failed.status.code == code_pb2.INVALID_ARGUMENT
        violations = error_details_pb2.BadRequest()
        assert failed.status.details[0].Unpack(violations)
        assert violations.field_violations[0].field == "facts.relation_to_beneficiary"
        for answer, item in zip(answers, items, strict=True):
            if item.item_id != "bad":
                assert answer.decision == stub.Evaluate(item.request).decision or _without_ids(
                    answer.decision
                ) == _without_ids(stub.Evaluate(item.request).decision)

    def test_an_empty_batch_is_an_empty_stream(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """No items, no answers, no error."""
        assert list(stub.EvaluateBatch(iter([]), timeout=10)) == []


class TestCache:
    """Repeats are answered from the cache with the same decision, their own id and case reference."""

    def test_a_repeat_is_a_cache_hit_with_the_same_decision(
        self, cached: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub], rule_set: RuleSet
    ) -> None:
        """The second identical situation (another case reference) hits the cache and differs only in its ids."""
        holder, stub = cached
        facts = {
            "relation_to_beneficiary": "child",
            "regularity": "structural",
            "hours_per_week": 9,
            "tasks": ["medication_oral"],
        }
        with holder.engine() as engine:
            hits = engine.cache.hits
        first = stub.Evaluate(request(rule_set, facts, case_reference="a")).decision
        second = stub.Evaluate(request(rule_set, facts, case_reference="b")).decision
        with holder.engine() as engine:
            assert engine.cache.hits == hits + 1
        assert (first.case_reference, second.case_reference) == ("a", "b")
        assert first.decision_id != second.decision_id
        assert _without_ids(first) == _without_ids(second)

    def test_language_and_date_are_part_of_the_key(
        self, cached: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub], rule_set: RuleSet
    ) -> None:
        """The same facts in English, or on another date, are decided again, not taken from the cache."""
        _, stub = cached
        facts = {"relation_to_beneficiary": "friend", "regularity": "occasional_on_request"}
        dutch = stub.Evaluate(request(rule_set, facts)).decision
        english = stub.Evaluate(request(rule_set, facts, language="en")).decision
        assert dutch.role_text != english.role_text

    def test_situations_with_one_decision_share_its_answer_per_language_and_view(
        self, cached: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub], rule_set: RuleSet
    ) -> None:
        """Hours of 20 and 30 a week decide alike: the second is answered from the first one's encoded answer, in
        the same language and view only; another language, view or date is made again and says its own."""
        holder, stub = cached
        base = {"relation_to_beneficiary": "child", "regularity": "structural", "duration_months": 24}
        day, later = dt.date(2026, 6, 1), dt.date(2027, 3, 1)  # fixed: the clock may be faked to either

        def ask(hours: int, language: str = "", day: dt.date = day, view: int = 0) -> pb.Decision:
            asked = request(rule_set, {**base, "hours_per_week": hours}, language, reference_date=day)
            asked.view = view  # type: ignore[assignment]
            return stub.Evaluate(asked).decision

        first = ask(20)
        with holder.engine() as engine:
            hits, misses = engine.answers.hits, engine.answers.misses
        second = ask(30)
        with holder.engine() as engine:
            assert (engine.answers.hits, engine.answers.misses) == (hits + 1, misses)
        assert _without_ids(first) == _without_ids(second)
        english, coded, dated = ask(25, "en"), ask(26, view=pb.DECISION_VIEW_CODES), ask(27, day=later)
        with holder.engine() as engine:
            assert (engine.answers.hits, engine.answers.misses) == (hits + 1, misses + 3)
        assert english.role == first.role == coded.role == dated.role == "MANTELZORGER"
        assert english.role_text != first.role_text and coded.role_text == "" and coded.fired_rules[0].explanation == ""
        assert (dated.rule_set.reference_date.year, first.rule_set.reference_date.year) == (2027, 2026)

    def test_a_reload_empties_the_cache(self, cached: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub]) -> None:
        """After a reload the new engine starts with nothing cached."""
        holder, _ = cached
        assert holder.reload("test")
        with holder.engine() as engine:
            assert len(engine.cache) == 0


def test_a_full_cache_drops_the_least_recently_used_decision(rule_set: RuleSet) -> None:
    """Two places: after a, b, a again and c, the cache holds a and c; b is decided afresh (a miss), a is a hit."""
    holder = EngineHolder(RULES_ROOT, 20_000, cache_size=2)
    server, port = create_server("127.0.0.1:0", holder)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RolwijzerServiceStub(channel)

            def ask(hours: int) -> tuple[int, int]:
                stub.Evaluate(request(rule_set, {"relation_to_beneficiary": "child", "hours_per_week": hours}))
                with holder.engine() as engine:
                    return engine.cache.hits, engine.cache.misses

            for hours in (1, 2, 1, 3):  # a, b, a (a hit, now most recent), c (b is dropped)
                ask(hours)
            hits, misses = ask(1)
            assert (hits, misses) == (2, 3), "a stayed"
            assert ask(2) == (2, 4), "b was dropped"
    finally:
        server.stop(grace=None)
        holder.close()


def test_keys_that_hash_alike_are_told_apart() -> None:
    """A cache keeps each key's hash once computed, but finds an entry only by an equal key, never by its hash."""

    @dataclasses.dataclass(frozen=True)
    class Colliding:
        name: str

        def __hash__(self) -> int:
            return 1

    cache: LruCache[Colliding, str] = LruCache(4)
    cache.put(Colliding("a"), "A")
    cache.put(Colliding("b"), "B")
    assert (cache.get(Colliding("a")), cache.get(Colliding("b")), cache.get(Colliding("c"))) == ("A", "B", None)
    assert (cache.hits, cache.misses) == (2, 1)
