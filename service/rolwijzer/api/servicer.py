"""The RolwijzerService servicer: checks the request, asks the engine, maps the answer, logs one line."""

from __future__ import annotations

import time
import uuid

import grpc
import structlog

from rolwijzer.api.convert import decision_to_proto, facts_from_proto
from rolwijzer.api.errors import internal, invalid_argument
from rolwijzer.engine import (
    Engine,
    InvalidFacts,
    TooManyCombinations,
    Violation,
    report,
)
from rolwijzer.rules.model import LANGUAGES
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

MAX_CASE_REFERENCE = 128

log = structlog.get_logger("rolwijzer.decisions")


class RolwijzerServicer(pb_grpc.RolwijzerServiceServicer):
    """Serves Evaluate for one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def Evaluate(  # noqa: N802 - the method name is fixed by the generated base class
        self, request: pb.EvaluateRequest, context: grpc.ServicerContext
    ) -> pb.EvaluateResponse:
        started = time.perf_counter()
        decision_id = str(uuid.uuid4())
        language = request.language or "nl"
        inputs = facts_from_proto(request.facts)
        violations = _request_violations(request, language)
        try:
            self._engine.check(inputs)
        except InvalidFacts as err:
            violations.extend(err.violations)
        if violations:
            log.info("decision_rejected", decision_id=decision_id, fields=[v.field for v in violations])
            context.abort_with_status(invalid_argument(f"{len(violations)} invalid field(s)", violations))
        try:
            decision = self._engine.evaluate(inputs)
            text = report(self._engine.rule_set, decision, language)
        except TooManyCombinations as err:
            log.info("decision_rejected", decision_id=decision_id, fields=["facts"], combinations=err.count)
            context.abort_with_status(invalid_argument(str(err), [Violation("facts", str(err))]))
        except Exception:
            # The caller gets an id to quote, never the traceback; the log keeps the traceback.
            log.exception("decision_failed", decision_id=decision_id)
            context.abort_with_status(
                internal(
                    "the decision could not be made; quote the decision id",
                    "EVALUATION_FAILED",
                    {"decision_id": decision_id},
                )
            )
        rule_set = self._engine.rule_set
        log.info(
            "decision_made",
            decision_id=decision_id,
            case_reference=request.case_reference,
            rule_set_id=rule_set.id,
            rule_set_version=rule_set.version,
            role=decision.role,
            rule_ids=list(decision.fired_rules),
            fact_names=sorted(inputs),
            combinations=decision.combinations,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return pb.EvaluateResponse(decision=decision_to_proto(text, decision_id, request.case_reference, rule_set))


def _request_violations(request: pb.EvaluateRequest, language: str) -> list[Violation]:
    violations = []
    if language not in LANGUAGES:
        violations.append(Violation("language", f"must be one of {', '.join(LANGUAGES)} (empty means nl)"))
    reference = request.case_reference
    if len(reference) > MAX_CASE_REFERENCE or not reference.isprintable():
        violations.append(
            Violation("case_reference", f"at most {MAX_CASE_REFERENCE} printable characters; an opaque id only")
        )
    return violations
