"""Map between the protobuf messages of rolwijzer.v1 and the engine's domain objects. No legal logic here."""

from __future__ import annotations

from collections.abc import Mapping

from rolwijzer.engine import (
    BooleanInput,
    FactInput,
    MissingInput,
    NumberInput,
    OneOfInput,
    Report,
    SetInput,
    SymbolInput,
    TextFinding,
    UnknownInput,
)
from rolwijzer.rules import RuleSet
from rolwijzer.rules.model import Citation
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


def decision_to_proto(report: Report, decision_id: str, case_reference: str, rule_set: RuleSet) -> pb.Decision:
    """The Decision message of a report."""
    decision = report.decision
    return pb.Decision(
        decision_id=decision_id,
        case_reference=case_reference,
        role=decision.role,
        role_text=report.role_text,
        volunteer_deployer=decision.volunteer_deployer,
        role_candidates=list(decision.role_candidates),
        liabilities=[_finding(f) for f in report.liabilities],
        obligations=[_finding(f) for f in report.obligations],
        flags=[_finding(f) for f in report.flags],
        missing_facts=[
            pb.MissingFact(fact=m.fact, question=m.question, help=m.help, values=list(m.values))
            for m in report.missing_facts
        ],
        fired_rules=[
            pb.FiredRule(
                rule_id=r.rule_id,
                stage=r.stage,
                explanation=r.explanation,
                citations=[_citation(c) for c in r.citations],
            )
            for r in report.fired_rules
        ],
        rule_set=pb.RuleSetRef(id=rule_set.id, version=rule_set.version, sha256=rule_set.sha256),
        combinations_evaluated=decision.combinations,
    )


def _finding(finding: TextFinding) -> pb.Finding:
    return pb.Finding(
        code=finding.code,
        text=finding.text,
        party=finding.party,
        citations=[_citation(c) for c in finding.citations],
        rule_ids=list(finding.rule_ids),
    )


def _citation(citation: Citation) -> pb.Citation:
    return pb.Citation(source=citation.source, reference=citation.reference, title=citation.title)
