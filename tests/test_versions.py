"""Releases over time: the newest release decides every date it covers, its dated entries the values of that day;
superseded releases answer only when pinned; the catalogue is served."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import cast

import grpc
import pytest
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_status import rpc_status
from rolwijzer.api import create_server
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CURRENT_RELEASE, RELEASES, RULES_ROOT, SUPERSEDED, request

CURRENT = CURRENT_RELEASE  # the newest release, which corrects every earlier one for every date
AT_THRESHOLD = {
    "relation_to_beneficiary": "child",
    "regularity": "structural",
    "hours_per_week": 8,
    "duration_months": 3,
    "tasks": ["household"],
}


def _date(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def _on(
    rule_set: RuleSet, day: dt.date, version: str = "", facts: dict[str, object] | None = None
) -> pb.EvaluateRequest:
    req = request(rule_set, facts or AT_THRESHOLD)
    req.reference_date.CopyFrom(_date(day))
    req.rule_set_version = version
    return req


def _error(stub: pb_grpc.RolwijzerServiceStub, req: pb.EvaluateRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Evaluate(req)
    return caught.value


class TestAsOfEvaluation:
    """The newest release decides; the reference date chooses the values of its dated entries."""

    def test_exactly_at_the_threshold_is_sociaal_netwerk_until_2026_and_mantelzorger_from_2027(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """8 h/week for 3 months: strict boundary (S000) until 2026, CBS's inclusive one from 2027, in one release."""
        before = stub.Evaluate(_on(rule_set, dt.date(2026, 12, 31))).decision
        after = stub.Evaluate(_on(rule_set, dt.date(2027, 1, 1))).decision
        assert (before.role, before.rule_set.version) == ("SOCIAAL_NETWERK", CURRENT)
        assert (after.role, after.rule_set.version) == ("MANTELZORGER", CURRENT)
        assert before.rule_set.sha256 == after.rule_set.sha256

    def test_the_decision_names_release_window_and_reference_date(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """RuleSetRef carries the release, the window it covers and the date the decision applied to."""
        for day in (dt.date(2015, 1, 1), dt.date(2026, 6, 1), dt.date(2040, 1, 1)):
            ref = stub.Evaluate(_on(rule_set, day)).decision.rule_set
            assert (ref.version, ref.valid_from.year, ref.HasField("valid_until")) == (CURRENT, 2015, False)
            assert (ref.reference_date.year, ref.reference_date.month, ref.reference_date.day) == (
                day.year,
                day.month,
                day.day,
            )

    def test_without_a_date_today_decides(self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet) -> None:
        """An absent reference date means today."""
        ref = stub.Evaluate(request(rule_set, AT_THRESHOLD)).decision.rule_set
        today = dt.date.today()
        assert (ref.reference_date.year, ref.reference_date.month, ref.reference_date.day) == (
            today.year,
            today.month,
            today.day,
        )

    def test_an_unknown_duration_is_enumerated_around_the_boundary_in_force(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """Stage H's buckets follow the boundary parameter: <= 3 / > 3 before 2027, < 3 / >= 3 from 2027."""
        facts = dict(AT_THRESHOLD, hours_per_week=2, duration_months="unknown")
        before = stub.Evaluate(_on(rule_set, dt.date(2026, 1, 1), facts=facts)).decision
        after = stub.Evaluate(_on(rule_set, dt.date(2027, 6, 1), facts=facts)).decision
        assert list(before.missing_facts[0].values) == ["<= 3", "> 3"]
        assert list(after.missing_facts[0].values) == ["< 3", ">= 3"]


class TestPinningAndCoverage:
    """A pinned release must exist and cover the date; a date no release covers is refused."""

    def test_a_superseded_release_decides_only_when_pinned(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """Pinning 1.0.0 on a date it covers gives 1.0.0 (for replay); without a pin the current release decides."""
        assert stub.Evaluate(_on(rule_set, dt.date(2020, 5, 5), "1.0.0")).decision.rule_set.version == "1.0.0"
        assert stub.Evaluate(_on(rule_set, dt.date(2020, 5, 5))).decision.rule_set.version == CURRENT

    def test_a_pinned_version_outside_its_window_is_a_failed_precondition(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """1.1.0 does not decide a day in 2026."""
        error = _error(stub, _on(rule_set, dt.date(2026, 5, 5), "1.1.0"))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "version 1.1.0 is not in force on 2026-05-05" in (error.details() or "")
        assert "1.1.0: 2027-01-01.." in (error.details() or "")

    def test_an_unknown_pinned_version_is_an_invalid_argument(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """A version that is not loaded is named in a field violation of rule_set_version."""
        error = _error(stub, _on(rule_set, dt.date(2026, 5, 5), "9.9.9"))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "rule_set_version" in str(rpc_status.from_call(cast(grpc.Call, error)))

    def test_a_date_no_version_covers_says_which_dates_are_covered(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """1990 is before every version: FAILED_PRECONDITION with an ErrorInfo listing the windows."""
        error = _error(stub, _on(rule_set, dt.date(1990, 1, 1)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        status = rpc_status.from_call(cast(grpc.Call, error))
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert info.reason == "NO_RULE_SET_IN_FORCE"
        assert dict(info.metadata) == {"reference_date": "1990-01-01", f"version {CURRENT}": "2015-01-01.."}

    def test_an_impossible_date_is_an_invalid_argument(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """Month 13 is refused with a violation of reference_date."""
        req = request(rule_set, AT_THRESHOLD)
        req.reference_date.CopyFrom(date_pb2.Date(year=2026, month=13, day=1))
        error = _error(stub, req)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "reference_date" in str(rpc_status.from_call(cast(grpc.Call, error)))


class TestCatalogue:
    """Intake wizards build forms from the catalogue API."""

    def test_list_rule_sets_marks_the_superseded_releases(
        self, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """Every earlier release is superseded by the current one, which alone decides today."""
        listed = {r.version: r for r in stub.ListRuleSets(pb.ListRuleSetsRequest()).rule_sets}
        assert set(listed) == set(RELEASES)
        assert {v: r.superseded_by for v, r in listed.items()} == {**dict.fromkeys(SUPERSEDED, CURRENT), CURRENT: ""}
        assert list(listed[CURRENT].supersedes) == list(SUPERSEDED)
        assert listed[CURRENT].rule_count == len(rule_set.rules) and len(listed[CURRENT].sha256) == 64
        assert [v for v, r in listed.items() if r.in_force_today] == [CURRENT]

    def test_describe_by_version_gives_facts_codes_and_rules_in_english(
        self, stub: pb_grpc.RolwijzerServiceStub
    ) -> None:
        """Facts with labels, questions and ★; codes with texts; rules with readable conditions."""
        described = stub.DescribeRuleSet(pb.DescribeRuleSetRequest(version="1.0.0", language="en"))
        facts = {f.name: f for f in described.facts}
        relation = facts["relation_to_beneficiary"]
        assert relation.decides_role and relation.kind == pb.FACT_KIND_SYMBOL
        assert {s.value: s.label for s in relation.symbols}["neighbour"] == "neighbour"
        assert relation.question.startswith("What relationship")
        assert facts["hours_per_week"].kind == pb.FACT_KIND_NUMBER and facts["hours_per_week"].unit
        assert facts["initiative"].default_value == "conditional"
        codes = {c.code: c for c in described.codes}
        assert codes["AANSPR_HELPER"].kind == "liability" and codes["AANSPR_HELPER"].party == "the helper personally"
        rules = {r.rule_id: r for r in described.rules}
        assert rules["R6c"].expression == "related and regularity is structural and intensity_met"
        # Read as a person reads it: the predicate's explanation, the fact's question, the answer's label.
        assert rules["R6c"].condition == (
            'the helper has a prior social relation with the client and "How regularly does the helper help?" is '
            '"structural (recurrent, part of the care arrangement)" and intensive and/or long-term under the '
            "configured rule"
        )
        assert rules["R6c"].conclusion == "role MANTELZORGER"
        assert [r.rule_id for r in described.rules][:2] == ["A1-initiative-related", "A1-initiative-unrelated"]
        params = {p.name: p.value for p in described.parameters}
        assert params["intensity_boundary"] == "strict"
        assert described.rule_set.superseded_by == CURRENT

    def test_describe_by_date_uses_the_parameters_of_that_date(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """On 2027-02-01 the current release applies with the inclusive boundary; texts default to Dutch."""
        req = pb.DescribeRuleSetRequest(reference_date=date_pb2.Date(year=2027, month=2, day=1))
        described = stub.DescribeRuleSet(req)
        assert described.rule_set.version == CURRENT
        assert {p.name: p.value for p in described.parameters}["intensity_boundary"] == "inclusive"
        assert described.facts[0].question.startswith("Welke relatie")

    def test_describe_shows_every_dated_entry(self, stub: pb_grpc.RolwijzerServiceStub) -> None:
        """The boundary parameter lists both entries with their dates, whatever the reference date."""
        req = pb.DescribeRuleSetRequest(reference_date=date_pb2.Date(year=2016, month=2, day=1))
        boundary = {p.name: p for p in stub.DescribeRuleSet(req).parameters}["intensity_boundary"]
        assert boundary.value == "strict"
        assert [(v.valid_from.year, v.value) for v in boundary.values] == [(2015, "strict"), (2027, "inclusive")]


class TestDatedRules:
    """A rule with valid_from / valid_until applies only on the dates of its entry, inside one release."""

    def test_a_dated_rule_applies_only_within_its_dates(self, tmp_path: Path, rule_set: RuleSet) -> None:
        """A rule dated 2030 fires on 2030-06-01, not on 2029-12-31 or 2031-01-01; DescribeRuleSet shows its dates."""
        root = tmp_path / "rules"
        shutil.copytree(RULES_ROOT, root, ignore=shutil.ignore_patterns("README.md", "manifest.yaml"))
        stage_e = root / "informele-zorg" / CURRENT / "stage-e.yaml"
        stage_e.write_text(stage_e.read_text(encoding="utf-8") + DATED_RULE, encoding="utf-8")
        holder = EngineHolder(root, DEFAULT_MAX_COMBINATIONS)
        server, port = create_server("127.0.0.1:0", holder)
        server.start()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.RolwijzerServiceStub(channel)
                facts = dict(AT_THRESHOLD, hours_per_week=2, duration_months=1)
                fired = {
                    day: "E-dated-example"
                    in {r.rule_id for r in stub.Evaluate(_on(rule_set, day, facts=facts)).decision.fired_rules}
                    for day in (dt.date(2029, 12, 31), dt.date(2030, 6, 1), dt.date(2031, 1, 1))
                }
                assert fired == {dt.date(2029, 12, 31): False, dt.date(2030, 6, 1): True, dt.date(2031, 1, 1): False}
                described = stub.DescribeRuleSet(pb.DescribeRuleSetRequest(reference_date=_date(dt.date(2020, 1, 1))))
                rule = {r.rule_id: r for r in described.rules}["E-dated-example"]
                assert (rule.valid_from.year, rule.valid_until.year, rule.valid_until.month) == (2030, 2030, 12)
        finally:
            server.stop(grace=None)
            holder.close()


DATED_RULE = """
  - id: E-dated-example
    stage: E
    valid_from: 2030-01-01
    valid_until: 2030-12-31
    when: {role: SOCIAAL_NETWERK}
    then: {codes: [REVIEW_JURIST]}
    explain:
      nl: Een voorbeeld van een regel die een wetswijziging voor één jaar invoert.
      en: An example of a rule that a change in the law introduces for one year.
    cite: ["BW 6:162"]
"""
