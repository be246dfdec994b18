"""Map between the protobuf messages of rolwijzer.v1 and the engine's domain objects. No legal logic here."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

import orjson
from google.protobuf import json_format
from google.type import date_pb2

from rolwijzer.audit_file import FactsDigest, number_text
from rolwijzer.engine import (
    BooleanInput,
    Decision,
    FactInput,
    MissingInput,
    NumberInput,
    OneOfInput,
    Report,
    Selection,
    SetInput,
    SymbolInput,
    TextFinding,
    TextRule,
    UnknownInput,
)
from rolwijzer.rules import RuleSet
from rolwijzer.rules.describe import Readable, condition_text
from rolwijzer.rules.model import Citation, FactDef, FactType
from rolwijzer.rules.texts import RenderedTexts
from rolwijzer.v1 import rolwijzer_pb2 as pb


def facts_from_proto(facts: Mapping[str, pb.FactValue]) -> dict[str, FactInput]:
    """The engine inputs of a request's facts map."""
    return {name: _fact(value) for name, value in facts.items()}


def _fact(value: pb.FactValue) -> FactInput:
    kind = value.WhichOneof("kind")
    if kind == "symbol":
        return SymbolInput(value.symbol)
    if kind == "boolean":
        return BooleanInput(value.boolean)
    if kind == "number":
        return NumberInput(value.number)
    if kind == "symbols":
        return SetInput(tuple(value.symbols.values))
    if kind == "one_of":
        return OneOfInput(tuple(value.one_of.values))
    if kind == "unknown":
        return UnknownInput()
    return MissingInput()


def decision_to_proto(report: Report, decision_id: str, case_reference: str) -> pb.Decision:
    """The Decision message of a report."""
    decision = report.decision
    version = (report.texts_key, report.language)
    return pb.Decision(
        decision_id=decision_id,
        case_reference=case_reference,
        role=decision.role,
        role_text=report.role_text,
        volunteer_deployer=decision.volunteer_deployer,
        role_candidates=list(decision.role_candidates),
        liabilities=[_finding(f, version) for f in report.liabilities],
        obligations=[_finding(f, version) for f in report.obligations],
        flags=[_finding(f, version) for f in report.flags],
        missing_facts=[
            pb.MissingFact(fact=m.fact, question=m.question, help=m.help, values=list(m.values))
            for m in report.missing_facts
        ],
        fired_rules=[_fired_rule(r, version) for r in report.fired_rules],
        follow_up_facts=[
            pb.FollowUpFact(
                fact=f.fact,
                question=f.question,
                help=f.help,
                values=list(f.values),
                codes=list(f.codes),
                safety_related=f.safety,
            )
            for f in report.follow_up_facts
        ],
        defaulted_facts=list(decision.defaulted_facts),
        rule_set=_rule_set_ref(decision),
        combinations_evaluated=decision.combinations,
    )


def decision_codes_to_proto(decision: Decision, rule_set: RuleSet) -> pb.Decision:
    """The Decision message of DECISION_VIEW_CODES: codes, rule ids and the rule set, no texts, citations or questions
    (so no report is made: texts are most of the work of an answer)."""
    return pb.Decision(
        role=decision.role,
        volunteer_deployer=decision.volunteer_deployer,
        role_candidates=list(decision.role_candidates),
        liabilities=[pb.Finding(code=f.code, rule_ids=f.rule_ids) for f in decision.liabilities],
        obligations=[pb.Finding(code=f.code, rule_ids=f.rule_ids) for f in decision.obligations],
        flags=[pb.Finding(code=f.code, rule_ids=f.rule_ids) for f in decision.flags],
        missing_facts=[pb.MissingFact(fact=m.fact, values=list(m.values)) for m in decision.missing_facts],
        fired_rules=[pb.FiredRule(rule_id=r, stage=rule_set.rule(r).stage) for r in decision.fired_rules],
        defaulted_facts=list(decision.defaulted_facts),
        rule_set=_rule_set_ref(decision),
        combinations_evaluated=decision.combinations,
    )


def _rule_set_ref(decision: Decision) -> pb.RuleSetRef:
    ref = decision.rule_set
    return pb.RuleSetRef(
        id=ref.id,
        version=ref.version,
        sha256=ref.sha256,
        valid_from=date_to_proto(ref.valid_from),
        valid_until=date_to_proto(ref.valid_until),
        reference_date=date_to_proto(ref.reference_date),
    )


# The text and citations of a code or rule are fixed per release, dated state of its texts and language: build their
# messages once (measured: building citations was a quarter of turning a decision into its message).
_FINDINGS: dict[tuple[str, str, str], pb.Finding] = {}
_RULES: dict[tuple[str, str, str], pb.FiredRule] = {}


def _finding(finding: TextFinding, version: tuple[str, str]) -> pb.Finding:
    key = (*version, finding.code)
    template = _FINDINGS.get(key)
    if template is None:
        template = _FINDINGS[key] = pb.Finding(
            code=finding.code, text=finding.text, party=finding.party, citations=_citations(finding.citations)
        )
    built = pb.Finding()
    built.CopyFrom(template)
    built.rule_ids.extend(finding.rule_ids)
    return built


def _fired_rule(rule: TextRule, version: tuple[str, str]) -> pb.FiredRule:
    key = (*version, rule.rule_id)
    template = _RULES.get(key)
    if template is None:
        template = _RULES[key] = pb.FiredRule(
            rule_id=rule.rule_id, stage=rule.stage, explanation=rule.explanation, citations=_citations(rule.citations)
        )
    return template


def _citation(citation: Citation) -> pb.Citation:
    return pb.Citation(source=citation.source, reference=citation.reference, title=citation.title)


def date_from_proto(value: date_pb2.Date) -> dt.date | None:
    """The date of a google.type.Date; None when unset (all zero).

    Raises:
        ValueError: a partial date (year, month or day zero) or an impossible one.
    """
    if (value.year, value.month, value.day) == (0, 0, 0):
        return None
    return dt.date(value.year, value.month, value.day)


def date_to_proto(value: dt.date | None) -> date_pb2.Date | None:
    """A google.type.Date, or None for no date."""
    return date_pb2.Date(year=value.year, month=value.month, day=value.day) if value else None


def rule_set_info(rule_set: RuleSet, language: str, today: dt.date, superseded_by: str = "") -> pb.RuleSetInfo:
    """The summary of one release; `superseded_by` names the release that corrects it, if any."""
    return pb.RuleSetInfo(
        id=rule_set.id,
        version=rule_set.version,
        valid_from=date_to_proto(rule_set.valid_from),
        valid_until=date_to_proto(rule_set.valid_until),
        sha256=rule_set.sha256,
        rule_count=len(rule_set.rules),
        in_force_today=not superseded_by and rule_set.in_force_on(today),
        title=rule_set.title.get(language),
        superseded_by=superseded_by,
        supersedes=list(rule_set.supersedes),
    )


_FACT_KINDS = {
    FactType.SYMBOL: pb.FACT_KIND_SYMBOL,
    FactType.BOOLEAN: pb.FACT_KIND_BOOLEAN,
    FactType.NUMBER: pb.FACT_KIND_NUMBER,
    FactType.SET: pb.FACT_KIND_SET,
}


def describe(
    selection: Selection, language: str, today: dt.date, superseded_by: str = ""
) -> pb.DescribeRuleSetResponse:
    """The catalogues, rules and dated entries of the selected release, texts in `language` as on its date."""
    rs, texts = selection.rule_set, selection.compiled.texts
    codes = [
        pb.CodeDescription(code=r.code, kind=kind, text=texts.get(r.text, language), citations=_citations(r.citations))
        for kind, catalogue in (("role", rs.roles), ("deployer", rs.deployers))
        for r in catalogue.values()
    ]
    codes += [
        pb.CodeDescription(
            code=c.code,
            kind=c.kind.value,
            text=texts.get(c.text, language),
            party=texts.get(c.party, language) if c.party else "",
            citations=_citations(c.citations),
            safety_related=c.safety,
        )
        for c in rs.codes.values()
    ]
    day = selection.ref.reference_date
    readable = Readable(rs, texts, language)
    return pb.DescribeRuleSetResponse(
        rule_set=rule_set_info(rs, language, today, superseded_by),
        facts=[_fact_description(f, language, texts, f.name in selection.compiled.answers) for f in rs.facts.values()],
        codes=codes,
        rules=[
            pb.RuleDescription(
                rule_id=rule.id,
                stage=rule.stage,
                explanation=texts.get(rule.explain, language),
                citations=_citations(rule.citations),
                condition=readable.condition(rule.when),
                conclusion=readable.conclusion(rule.then),
                expression=condition_text(rule.when),
                note=rule.note,
                valid_from=date_to_proto(rule.valid_from),
                valid_until=date_to_proto(rule.valid_until),
            )
            for rule in sorted(rs.rules, key=lambda r: selection.compiled.rule_order[r.id])
        ],
        parameters=[
            pb.ParameterDescription(
                name=p.name,
                explanation=texts.get(p.explain, language),
                value=_text(p.value_on(day)),
                values=[pb.ParameterValue(valid_from=date_to_proto(since), value=_text(v)) for since, v in p.values],
            )
            for p in rs.parameters.values()
        ],
    )


def _fact_description(fact: FactDef, language: str, texts: RenderedTexts, can_follow_up: bool) -> pb.FactDescription:
    default = "conditional" if fact.default_conditional else _text(fact.default)
    return pb.FactDescription(
        name=fact.name,
        kind=_FACT_KINDS[fact.type],
        symbols=[pb.SymbolDescription(value=s.value, label=texts.get(s.label, language)) for s in fact.symbols],
        unknown_allowed=fact.unknown_allowed,
        default_value=default,
        decides_role=fact.decides_role,
        question=texts.get(fact.question, language),
        help=texts.get(fact.help, language),
        unit=texts.get(fact.unit, language) if fact.unit else "",
        can_follow_up=can_follow_up,
    )


def _text(value: object) -> str:
    if isinstance(value, frozenset | tuple):
        return "[" + ", ".join(sorted(str(v) for v in value)) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _citations(citations: tuple[Citation, ...]) -> list[pb.Citation]:
    return [_citation(c) for c in citations]


def facts_json(facts: Mapping[str, pb.FactValue]) -> dict[str, object]:
    """The request's facts as proto JSON, set and one_of values sorted without repeats (their order means nothing):
    what the decision log stores with --audit-include-facts, and what `facts_hmac` covers in canonical form
    (`canonical_facts` of it, which `canonical_request_facts` makes without it)."""
    found: dict[str, object] = json_format.MessageToDict(pb.EvaluateRequest(facts=facts)).get("facts", {})
    for value in found.values():
        for kind in ("symbols", "oneOf"):
            listed = value.get(kind) if isinstance(value, dict) else None
            if isinstance(listed, dict) and isinstance(listed.get("values"), list):
                listed["values"] = sorted(set(listed["values"]))
    return found


def canonical_request_facts(facts: Mapping[str, pb.FactValue]) -> bytes:
    """The bytes `facts_hmac` covers, made from the request's facts map: byte for byte
    `canonical_facts(facts_json(facts))`, without building proto JSON first (MessageToDict was two thirds of the
    decision log's cost on the request's thread; tests/test_audit_sealing.py compares the two on random facts)."""
    normal: dict[str, object] = {}
    for name, value in facts.items():
        kind = value.WhichOneof("kind")
        fixed: dict[str, object]
        if kind == "symbol":
            fixed = {"symbol": value.symbol}
        elif kind == "boolean":
            fixed = {"boolean": value.boolean}
        elif kind == "number":
            number = _json_number(value.number)
            # Written as json writes a float (its repr): orjson writes some otherwise (1e-7 for 1e-07).
            fixed = {"number": orjson.Fragment(float.__repr__(number)) if isinstance(number, float) else number}
        elif kind == "symbols":
            fixed = {"symbols": {"values": sorted(set(value.symbols.values))}}
        elif kind == "one_of":
            fixed = {"oneOf": {"values": sorted({str(number_text(v)) for v in value.one_of.values})}}
        elif kind == "unknown":
            fixed = {"unknown": {}}
        else:
            fixed = {}
        normal[name] = fixed
    # orjson writes strings, booleans, lists and str-keyed dicts byte for byte as `canonical` (json.dumps) does
    # (checked for every code point, in keys and values; tests/test_audit_sealing.py compares the two on random
    # facts), faster: 16 -> 12 µs for a population situation's facts with the walk over the map, measured.
    return orjson.dumps(normal, option=orjson.OPT_SORT_KEYS)


def _json_number(number: float) -> float | str:
    """A double as canonical_facts has it from proto JSON: the three non-numbers named, no negative zero."""
    if math.isfinite(number):
        return number + 0.0
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def decision_record(decision: pb.Decision, facts: Mapping[str, pb.FactValue], include_facts: bool) -> dict[str, object]:
    """The decision-log record of a decision made for the request's `facts`: what was decided, by which rules, for
    which (hashed) facts; with `include_facts`, the facts themselves as proto JSON (`facts_json`).

    `facts_hmac` is a FactsDigest until AuditLog.record computes it with the log's key.
    """
    ref = decision.rule_set
    date = ref.reference_date
    record: dict[str, object] = {
        "decision_id": decision.decision_id,
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "case_reference": decision.case_reference,
        "rule_set": {"id": ref.id, "version": ref.version, "sha256": ref.sha256},
        "reference_date": f"{date.year:04d}-{date.month:02d}-{date.day:02d}",
        # A keyed hash: the log fills it in with its key (an unkeyed sha256 of health data can be brute-forced).
        "facts_hmac": FactsDigest(canonical_request_facts(facts)),
        "role": decision.role,
        "volunteer_deployer": decision.volunteer_deployer,
        "role_candidates": list(decision.role_candidates),
        "liabilities": [f.code for f in decision.liabilities],
        "obligations": [f.code for f in decision.obligations],
        "flags": [f.code for f in decision.flags],
        "missing_facts": [m.fact for m in decision.missing_facts],
        "fired_rules": [r.rule_id for r in decision.fired_rules],
    }
    if include_facts:
        record["facts"] = facts_json(facts)
    return record
