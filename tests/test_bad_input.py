"""Bad requests are answered with INVALID_ARGUMENT and one field violation per bad field; nothing is decided."""

from __future__ import annotations

from typing import cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import request


def _violations(stub: pb_grpc.RolwijzerServiceStub, req: pb.EvaluateRequest) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Evaluate(req)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Traceback" not in (error.details() or "")
    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        for violation in bad.field_violations:
            assert violation.field not in found, "one violation per field"
            found[violation.field] = violation.description
    return found


def _one(stub: pb_grpc.RolwijzerServiceStub, name: str, value: pb.FactValue) -> str:
    found = _violations(stub, pb.EvaluateRequest(facts={name: value}))
    assert list(found) == [f"facts.{name}"]
    return found[f"facts.{name}"]


class TestFactViolations:
    """Each kind of bad fact is named with its field and a reason a person can act on."""

    def test_many_long_violations_stay_an_invalid_argument(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """64 unknown facts with 200-character names: INVALID_ARGUMENT with the rest summed up, never a trailer
        too large for the client (RESOURCE_EXHAUSTED)."""
        facts = {f"{index:02d}" + "x" * 198: pb.FactValue(symbol="y" * 200) for index in range(64)}
        found = _violations(stub, pb.EvaluateRequest(facts=facts))
        assert 10 < len(found) < 64
        assert found["facts"].endswith("more violation(s) not shown")
        shown = len(found) - 1
        assert found["facts"] == f"{64 - shown} more violation(s) not shown"

    def test_an_unknown_fact_name_is_refused_with_a_suggestion(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """A misspelt fact name is refused and the closest real name is suggested."""
        text = _one(stub, "relation_to_benificiary", pb.FactValue(symbol="partner"))
        assert "unknown fact" in text and "relation_to_beneficiary" in text

    def test_a_symbol_outside_the_catalogue_is_refused(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """A relation that is not in the catalogue is refused, and the allowed ones are listed."""
        text = _one(stub, "relation_to_beneficiary", pb.FactValue(symbol="cousin"))
        assert "'cousin' is not allowed" in text and "neighbour" in text

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("relation_to_beneficiary", pb.FactValue(boolean=True)),
            ("emergency", pb.FactValue(symbol="true")),
            ("hours_per_week", pb.FactValue(symbol="8")),
            ("tasks", pb.FactValue(symbol="household")),
            ("regularity", pb.FactValue(symbols=pb.SymbolList(values=["structural"]))),
            ("payment", pb.FactValue(number=3)),
        ],
        ids=[
            "boolean-for-symbol",
            "symbol-for-boolean",
            "symbol-for-number",
            "symbol-for-set",
            "set-for-symbol",
            "number-for-symbol",
        ],
    )
    def test_a_value_of_the_wrong_kind_is_refused(
        self, stub: pb_grpc.RolwijzerServiceStub, name: str, value: pb.FactValue
    ) -> None:
        """A value of the wrong kind is refused with the kinds the fact takes."""
        assert "takes" in _one(stub, name, value)

    @pytest.mark.parametrize("number", [-1.0, float("nan"), float("inf")])
    def test_a_negative_or_non_finite_number_is_refused(
        self, stub: pb_grpc.RolwijzerServiceStub, number: float
    ) -> None:
        """Hours must be a finite number of zero or more."""
        text = _one(stub, "hours_per_week", pb.FactValue(number=number))
        assert "negative" in text or "finite" in text

    def test_unknown_is_refused_where_the_catalogue_does_not_allow_it(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """`emergency` is true or false; unknown is not one of its values."""
        assert "does not accept unknown" in _one(stub, "emergency", pb.FactValue(unknown=pb.Unknown()))

    @pytest.mark.parametrize(
        ("name", "values", "reason"),
        [
            ("initiative", ["spontaneous"], "at least two"),
            ("initiative", ["spontaneous", "unknown"], "not allowed in one_of"),
            ("tasks", ["household", "personal_care"], "not one_of"),
            ("hours_per_week", ["four", "12"], "decimal numbers"),
        ],
        ids=["single-value", "unknown-inside", "set-fact", "not-a-number"],
    )
    def test_a_malformed_one_of_is_refused(
        self, stub: pb_grpc.RolwijzerServiceStub, name: str, values: list[str], reason: str
    ) -> None:
        """one_of needs two or more allowed values of a non-set fact."""
        assert reason in _one(stub, name, pb.FactValue(one_of=pb.SymbolList(values=values)))

    def test_a_set_with_a_symbol_outside_the_catalogue_is_refused(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """Every task must be a task of the catalogue."""
        text = _one(stub, "tasks", pb.FactValue(symbols=pb.SymbolList(values=["household", "gardening"])))
        assert "'gardening'" in text

    def test_a_value_without_a_kind_is_refused(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """An empty FactValue says nothing and is refused."""
        assert "no value given" in _one(stub, "payment", pb.FactValue())


class TestRequestViolations:
    """The request's other fields are checked too, and every problem is reported at once."""

    def test_every_bad_field_gets_its_own_violation(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """Four bad facts and a bad language give five violations in one answer."""
        req = request(
            rule_set,
            {"relation_to_beneficiary": "cousin", "hours_per_week": -2, "foo": "bar", "emergency": "unknown"},
            language="de",
        )
        found = _violations(stub, req)
        assert set(found) == {
            "language",
            "facts.relation_to_beneficiary",
            "facts.hours_per_week",
            "facts.foo",
            "facts.emergency",
        }

    def test_an_overlong_case_reference_is_refused(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """The case reference is an opaque id, not a place for text."""
        found = _violations(stub, pb.EvaluateRequest(case_reference="x" * 500))
        assert list(found) == ["case_reference"]

    def test_too_many_open_facts_are_refused_with_the_facts_named(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """Marking every role-deciding fact unknown spans too many combinations; the answer says which facts."""
        starred = [f.name for f in rule_set.facts.values() if f.decides_role]
        found = _violations(stub, request(rule_set, dict.fromkeys(starred, "unknown")))
        assert list(found) == ["facts"]
        assert "exceed the limit" in found["facts"] and "payment" in found["facts"]


class TestInputAttacks:
    """Inputs our security review sent: every one is decided or refused with the field named, never INTERNAL."""

    @pytest.mark.parametrize("hours", [1e-05, 5e-324, 2.5e-10, 167.99999999999997])
    def test_numbers_python_writes_in_exponent_form_are_decided(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, hours: float
    ) -> None:
        """Tiny numbers and numbers just under the maximum get a decision, whatever their notation."""
        facts = {"relation_to_beneficiary": "child", "regularity": "structural", "duration_months": 1}
        decision = stub.Evaluate(request(rule_set, dict(facts, hours_per_week=hours))).decision
        assert decision.role in {"SOCIAAL_NETWERK", "MANTELZORGER"}

    @pytest.mark.parametrize(("name", "value"), [("hours_per_week", 1e16), ("duration_months", 1e300)])
    def test_numbers_beyond_the_catalogue_maximum_are_refused(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet, name: str, value: float
    ) -> None:
        """A week has 168 hours and no help lasts 1,200 months: larger numbers are refused, naming the fact."""
        found = _violations(stub, request(rule_set, {name: value}))
        assert list(found) == [f"facts.{name}"] and "must be at most" in found[f"facts.{name}"]

    def test_a_bad_case_reference_is_refused_on_a_cached_decision_too(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """The decision is cached after the first call; 30,000 characters with a newline and ESC are still refused."""
        facts = {"relation_to_beneficiary": "friend", "regularity": "one_off", "tasks": ["household"]}
        assert stub.Evaluate(request(rule_set, facts)).decision.role == "SOCIAAL_NETWERK"
        found = _violations(stub, request(rule_set, facts, case_reference="x\n\x1b" * 10_000))
        assert list(found) == ["case_reference"]

    def test_a_60000_character_fact_name_is_refused_whole(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """The status arrives whole (INVALID_ARGUMENT, not a trailer too large), the echoed name cut short."""
        found = _violations(stub, pb.EvaluateRequest(facts={"n" * 60_000: pb.FactValue(symbol="x")}))
        assert len(found) == 1
        field = next(iter(found))
        assert field.startswith("facts.nnn") and len(field) <= 300


class TestReadableMessage:
    """The top-level message lists the violations, one `field: description` each, for tools that show no details."""

    def test_the_message_names_each_violation_with_its_suggestion(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        req = pb.EvaluateRequest(
            facts={
                "hours_per_weak": pb.FactValue(number=3),
                "relation_to_beneficiary": pb.FactValue(symbol="neighbor"),
            },
            language="fr",
        )
        with pytest.raises(grpc.RpcError) as caught:
            stub.Evaluate(req)
        message = cast(grpc.Call, caught.value).details() or ""
        assert message.startswith("language: must be one of")
        assert "facts.hours_per_weak: unknown fact 'hours_per_weak'; did you mean 'hours_per_week'?" in message
        assert "facts.relation_to_beneficiary: 'neighbor' is not allowed; did you mean 'neighbour'?" in message
        assert "\n" not in message

    def test_a_misspelt_symbol_in_a_set_gets_a_suggestion(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        text = _one(stub, "tasks", pb.FactValue(symbols=pb.SymbolList(values=["houshold"])))
        assert "did you mean 'household'?" in text


def test_the_message_stays_within_its_budget_whatever_the_names() -> None:
    """Long and non-ASCII names: the listing stays within its wire budget and says how many it left out."""
    from rolwijzer.api.errors import MESSAGE_BUDGET_BYTES, _wire_size, listing  # noqa: PLC0415
    from rolwijzer.engine import Violation  # noqa: PLC0415

    many = [Violation(f"facts.{'é' * 200}{i}", "unknown fact") for i in range(64)]
    text = listing(many)
    assert _wire_size(text) <= MESSAGE_BUDGET_BYTES
    assert text.endswith("more") and text.startswith("facts.é")
    one = listing([Violation("facts", "x" * 5000)])
    assert one.endswith("...") and _wire_size(one) <= MESSAGE_BUDGET_BYTES
