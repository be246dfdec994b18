"""The RolwijzerService servicer: checks requests, asks the engine in service, maps answers, logs decisions."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import NoReturn, cast

import grpc
import structlog
from google.rpc import status_pb2
from google.type import date_pb2

from rolwijzer import logs, metrics, tracing
from rolwijzer.api.compare import compare
from rolwijzer.api.config import Limits
from rolwijzer.api.convert import (
    date_from_proto,
    decision_codes_to_proto,
    decision_record,
    decision_to_proto,
    describe,
    facts_from_proto,
    rule_set_info,
)
from rolwijzer.api.errors import (
    as_grpc,
    deadline_exceeded,
    failed_precondition,
    internal,
    invalid_argument,
    resource_exhausted,
    unavailable,
)
from rolwijzer.audit import AuditLog, AuditUnavailable
from rolwijzer.engine import (
    DeadlineExceeded,
    Decision,
    Engine,
    FactInput,
    InvalidFacts,
    Known,
    NoRuleSetInForce,
    OneOfInput,
    Plan,
    Selection,
    SetInput,
    SymbolInput,
    TooManyCombinations,
    UnknownVersion,
    Violation,
    report,
)
from rolwijzer.reload import EngineHolder
from rolwijzer.rules.model import LANGUAGES
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from rolwijzer.waiting import Closed, Handoff

MAX_CASE_REFERENCE = 128
EXPENSIVE_RETRY_SECONDS = 1.0
STREAM_RETRY_SECONDS = 1.0

log = structlog.get_logger("rolwijzer.decisions")


def _read_in_background(requests: Iterator[object]) -> Handoff[object]:
    """Read a stream's requests in a thread of their own, handing them over one at a time.

    gRPC reads the next request only when the last one is taken, so nothing piles up; the consumer can wait with a
    timeout, which gRPC's own request iterator does not offer.
    """
    items: Handoff[object] = Handoff()

    def read() -> None:
        try:
            for item in requests:
                items.give(item)
        except (Closed, grpc.RpcError):
            pass  # the stream ended (closed by the servicer, or cancelled by the caller)
        finally:
            items.close()
            items.leave()

    threading.Thread(target=read, name="batch-reader", daemon=True).start()
    return items


class _Refused(Exception):
    """A request that must be answered with an error status instead of a decision."""

    def __init__(self, status: status_pb2.Status) -> None:
        self.status = status


class RolwijzerServicer(pb_grpc.RolwijzerServiceServicer):
    """Serves RolwijzerService for the engine the holder has in service."""

    def __init__(self, holder: EngineHolder, limits: Limits, audit: AuditLog | None = None) -> None:
        self._holder = holder
        self._limits = limits
        self._audit = audit
        # Admission by cost: expensive evaluations get their own small budget, so they never hold every request
        # thread; streams get slots, each with a thread of its own beside the request threads (create_server).
        self._expensive = threading.BoundedSemaphore(limits.expensive_concurrency)
        self._streams = threading.BoundedSemaphore(limits.max_streams)

    def Evaluate(  # noqa: N802 - the method name is fixed by the generated base class
        self, request: pb.EvaluateRequest, context: grpc.ServicerContext
    ) -> pb.EvaluateResponse:
        with tracing.span("rolwijzer.v1.RolwijzerService/Evaluate"):
            response = pb.EvaluateResponse()
            try:
                self._decide(request, self._deadline(context), response.decision)
            except _Refused as refused:
                _abort(context, as_grpc(refused.status))
            return response

    def EvaluateBatch(  # noqa: N802
        self, requests: Iterator[pb.EvaluateBatchRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.EvaluateBatchResponse]:
        if not self._streams.acquire(blocking=False):
            message = f"{self._limits.max_streams} batch streams are open already; try again shortly"
            _abort(context, as_grpc(resource_exhausted(message, "TOO_MANY_STREAMS", STREAM_RETRY_SECONDS)))
        items = _read_in_background(requests)
        try:
            while True:
                # A stream that sends nothing ends, so a silent caller cannot keep the thread for ever.
                try:
                    item = items.take(self._limits.stream_idle_seconds)
                except TimeoutError:
                    idle = f"no item for {self._limits.stream_idle_seconds:g} s: the stream is closed"
                    _abort(context, as_grpc(deadline_exceeded(idle)))
                except Closed:
                    return
                yield self._batch_answer(item, context)
        finally:
            items.close()
            items.leave()
            self._streams.release()

    def _batch_answer(self, item: object, context: grpc.ServicerContext) -> pb.EvaluateBatchResponse:
        if not isinstance(item, pb.EvaluateBatchRequest):  # bytes that are no EvaluateBatchRequest
            violation = Violation("item", "the bytes are not a valid EvaluateBatchRequest message")
            return pb.EvaluateBatchResponse(status=invalid_argument([violation]))
        if item.items:
            return self._many(item, context)
        response = pb.EvaluateBatchResponse(item_id=item.item_id)
        self._result(item.request, context, response)
        return response

    def _result(
        self,
        request: pb.EvaluateRequest,
        context: grpc.ServicerContext,
        into: pb.EvaluateBatchResponse | pb.BatchResult,
    ) -> None:
        """One batch situation's answer put in `into`: its decision, or its status when it is refused."""
        try:
            self._decide(request, self._deadline(context), into.decision)
        except _Refused as refused:
            into.status.CopyFrom(refused.status)  # `result` is a oneof: the status replaces any decision begun

    def _many(self, message: pb.EvaluateBatchRequest, context: grpc.ServicerContext) -> pb.EvaluateBatchResponse:
        """A message of many situations: one result per item, in their order, or one status for a bad message."""
        violations = []
        if message.item_id or message.HasField("request"):
            violations.append(Violation("item_id", "a message with items carries no item_id or request of its own"))
        if len(message.items) > self._limits.max_batch_items:
            limit = self._limits.max_batch_items
            violations.append(Violation("items", f"{len(message.items)} items; at most {limit} in one message"))
        if violations:
            return pb.EvaluateBatchResponse(status=invalid_argument(violations))
        response = pb.EvaluateBatchResponse()
        with metrics.batched():
            for item in message.items:
                self._result(item.request, context, response.results.add(item_id=item.item_id))
        return response

    def _decide(self, request: pb.EvaluateRequest, deadline: float, answer: pb.Decision) -> None:
        """Check, decide (or take the decision from the cache), record and log one request, into `answer` (the
        Decision of the message that answers it: filled in place, which spares parsing and copying it twice).

        Raises:
            _Refused: with the status to answer instead of a decision.
        """
        decision_id = str(uuid.uuid4())
        try:
            with tracing.span("decide") as current:
                self._decide_as(decision_id, request, deadline, answer)
                current.set_attribute("rolwijzer.release", answer.rule_set.version)
                current.set_attribute("rolwijzer.role", answer.role)
                current.set_attribute("rolwijzer.combinations", answer.combinations_evaluated)
        except _Refused as refused:
            log.info("decision_rejected", decision_id=decision_id, code=refused.status.code)
            raise
        except Exception:
            # Whatever fails on the way (a log, the record, a conversion) is INTERNAL with an id to quote: never
            # UNKNOWN with the exception's text.
            log.exception("decision_failed", decision_id=decision_id)
            raise _Refused(_internal(decision_id)) from None

    def _decide_as(self, decision_id: str, request: pb.EvaluateRequest, deadline: float, answer: pb.Decision) -> None:
        started = time.perf_counter()
        encoded, combinations = self._answer(request, decision_id, deadline)
        answer.MergeFromString(encoded)
        answer.decision_id = decision_id
        answer.case_reference = request.case_reference
        audit_hash = ""
        if self._audit is not None:
            record = decision_record(answer, request.facts, self._audit.config.include_facts)
            try:
                with tracing.span("decision_log.write"):
                    self._audit.record(record)
            except AuditUnavailable as err:
                log.error("decision_unrecorded", decision_id=decision_id, error=str(err))
                raise _Refused(unavailable(f"the decision could not be recorded, so it is not given: {err}")) from None
            audit_hash = self._audit.last_hash
        if logs.enabled(logging.INFO):
            ref = answer.rule_set
            log.info(
                "decision_made",
                decision_id=decision_id,
                case_reference=request.case_reference,
                rule_set_id=ref.id,
                rule_set_version=ref.version,
                reference_date=f"{ref.reference_date.year:04d}-{ref.reference_date.month:02d}-{ref.reference_date.day:02d}",
                role=answer.role,
                rule_ids=[r.rule_id for r in answer.fired_rules],
                fact_names=sorted(request.facts),
                combinations=combinations,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                audit_sha256=audit_hash,
            )

    def _answer(self, request: pb.EvaluateRequest, decision_id: str, deadline: float) -> tuple[bytes, int]:
        """The encoded Decision without id and case reference, and the number of combinations evaluated."""
        language = request.language or "nl"
        # Checked before the cache: a cached decision must not let an unchecked case reference into the logs. The
        # sizes are read from the facts as converted (gRPC bounds the message): one pass over the map, not two.
        inputs = facts_from_proto(request.facts)
        violations = _request_violations(request, language) + _size_violations(inputs, self._limits)
        with self._holder.engine() as engine:
            selection = _select(engine, request.reference_date, request.rule_set_version)
            key = _cache_key(request, selection)
            cached = None if violations else engine.cache.get(key)
            if not violations and engine.cache.size:
                metrics.cache_lookup(cached is not None)  # hits are not visible on the wire
            if cached is not None:
                # Kept as its bytes: a parsed message holds about 30 KB of memory, its bytes 10-15 KB (measured),
                # and the answer is parsed from them once, into the message that carries it.
                return cast(tuple[bytes, int], cached)
            evaluated = False
            try:
                if violations:
                    engine.check(inputs, selection)  # only to name bad facts together with the other fields
                else:
                    full = request.view == pb.DECISION_VIEW_FULL
                    with tracing.span("check"):
                        plan = engine.plan(inputs, selection, follow_ups=full)  # checks the facts itself
                    with tracing.span("evaluate", **{"rolwijzer.combinations": plan.combinations}):
                        decision = self._run_admitted(engine, plan, deadline)
                    evaluated = not isinstance(plan, Known)
                    with tracing.span("report"):
                        encoded = _encoded_answer(engine, selection, decision, language, request.view)
            except _Refused:
                raise
            except InvalidFacts as err:
                # A fact already refused for its size is named once, by that violation.
                named = {v.field for v in violations}
                cut = len("facts.") + self._limits.max_text
                violations.extend(v for v in err.violations if v.field[:cut] not in named)
            except DeadlineExceeded as err:
                raise _Refused(deadline_exceeded(str(err))) from None
            except TooManyCombinations as err:
                raise _Refused(invalid_argument([Violation("facts", str(err))])) from None
            except Exception:
                # The caller gets an id to quote, never the traceback; the log keeps the traceback.
                log.exception("decision_failed", decision_id=decision_id)
                raise _Refused(_internal(decision_id)) from None
            if violations:
                raise _Refused(invalid_argument(violations))
            if evaluated:  # not for the cache, nor for a class the engine's memo knows (nothing was evaluated)
                metrics.evaluated(decision.fired_rules, decision.combinations)
            engine.cache.put(key, (encoded, decision.combinations))
            return encoded, decision.combinations

    def _run_admitted(self, engine: Engine, plan: Plan | Known, deadline: float) -> Decision:
        """Evaluate `plan`; an expensive one only within its budget, else refuse at once.

        Raises:
            _Refused: RESOURCE_EXHAUSTED with a RetryInfo when the budget for expensive evaluations is in use.
        """
        if plan.cost <= self._limits.expensive_combinations:
            return engine.run(plan, deadline)
        if not self._expensive.acquire(blocking=False):
            message = (
                f"{plan.cost} combinations of open facts (with the follow-up answers): the server evaluates "
                f"{self._limits.expensive_concurrency} such request(s) at a time; answer more facts or try again"
            )
            raise _Refused(resource_exhausted(message, "EXPENSIVE_REQUESTS_BUSY", EXPENSIVE_RETRY_SECONDS))
        try:
            return engine.run(plan, deadline)
        finally:
            self._expensive.release()

    def _deadline(self, context: grpc.ServicerContext) -> float:
        """The monotonic time by which the evaluation must end: the caller's deadline or the default, sooner."""
        budget = self._limits.default_deadline_seconds
        remaining = context.time_remaining()
        if remaining is not None:
            budget = min(budget, remaining)
        return time.monotonic() + budget

    def ListRuleSets(  # noqa: N802
        self, request: pb.ListRuleSetsRequest, context: grpc.ServicerContext
    ) -> pb.ListRuleSetsResponse:
        with self._holder.engine() as engine:
            today = dt.date.today()
            return pb.ListRuleSetsResponse(rule_sets=_infos(engine, today))

    def DescribeRuleSet(  # noqa: N802
        self, request: pb.DescribeRuleSetRequest, context: grpc.ServicerContext
    ) -> pb.DescribeRuleSetResponse:
        language = request.language or "nl"
        if language not in LANGUAGES:
            _abort(context, as_grpc(invalid_argument([_language_violation()])))
        with self._holder.engine() as engine:
            try:
                if request.WhichOneof("selector") == "version":
                    selection = _select_version(engine, request.version)
                else:
                    selection = _select(engine, request.reference_date, "")
            except _Refused as refused:
                _abort(context, as_grpc(refused.status))
            superseded_by = engine.versions.superseded_by.get(selection.rule_set.version, "")
            return describe(selection, language, dt.date.today(), superseded_by)

    def CompareRuleSets(  # noqa: N802
        self, request: pb.CompareRuleSetsRequest, context: grpc.ServicerContext
    ) -> pb.CompareRuleSetsResponse:
        language = request.language or "nl"
        violations = [] if language in LANGUAGES else [_language_violation()]
        with self._holder.engine() as engine:
            # Both versions are checked before either is described, so one answer names every bad field.
            found = [_loaded(engine, getattr(request, f), f) for f in ("from_version", "to_version")]
            violations += [f for f in found if isinstance(f, Violation)]
            if violations:
                _abort(context, as_grpc(invalid_argument(violations)))
            before, after = cast(list[Selection], found)
            return compare(before, after, language, dt.date.today(), engine.versions.superseded_by)

    def GetStatus(  # noqa: N802
        self, request: pb.GetStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetStatusResponse:
        failure = self._holder.last_failure
        with self._holder.engine() as engine:
            today = dt.date.today()
            return pb.GetStatusResponse(
                rule_sets=_infos(engine, today),
                loaded_at=self._holder.loaded_at.isoformat(),
                last_reload_error=(
                    pb.ReloadError(attempted_at=failure.attempted_at.isoformat(), problems=list(failure.problems))
                    if failure
                    else None
                ),
            )


def _encoded_answer(engine: Engine, selection: Selection, decision: Decision, language: str, view: int) -> bytes:
    """The Decision message of `decision` in `language` and `view` (without id and case reference), encoded.

    Kept in `engine.answers`: the same decision in the same language and view, with the same rendered texts
    (`texts.key` changes with the release and the parameters in force), is always the same message.
    """
    codes_only = view == pb.DECISION_VIEW_CODES
    key = (selection.compiled.texts.key, "" if codes_only else language, codes_only, decision)
    encoded = engine.answers.get(key)
    if encoded is None:
        message = (
            decision_codes_to_proto(decision, selection.rule_set)
            if codes_only
            else decision_to_proto(report(selection, decision, language), "", "")
        )
        encoded = message.SerializeToString()
        engine.answers.put(key, encoded)
    return encoded


def _infos(engine: Engine, today: dt.date) -> list[pb.RuleSetInfo]:
    """Every loaded release, oldest first, the superseded ones marked."""
    return [rule_set_info(r, "nl", today, engine.versions.superseded_by.get(r.version, "")) for r in engine.rule_sets]


def _internal(decision_id: str) -> status_pb2.Status:
    return internal(
        "the decision could not be made; quote the decision id", "EVALUATION_FAILED", {"decision_id": decision_id}
    )


def _abort(context: grpc.ServicerContext, status: grpc.Status) -> NoReturn:
    context.abort_with_status(status)
    raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover


def _cache_key(request: pb.EvaluateRequest, selection: Selection) -> tuple[int, str, bytes]:
    """What a decision depends on: the compiled version and date, and the request without its case reference."""
    stripped = request
    if request.case_reference:  # most machine callers send none: the request is then encoded without a copy
        stripped = pb.EvaluateRequest()
        stripped.CopyFrom(request)
        stripped.ClearField("case_reference")
    return (
        selection.compiled.serial,
        selection.ref.reference_date.isoformat(),
        stripped.SerializeToString(deterministic=True),
    )


def _select(engine: Engine, raw_date: date_pb2.Date, version: str) -> Selection:
    """The version for the request's reference date (today when unset) or its pinned version."""
    try:
        day = date_from_proto(raw_date)
    except ValueError as err:
        raise _Refused(invalid_argument([Violation("reference_date", f"not a calendar date: {err}")])) from None
    try:
        return engine.select(day, version or None)
    except UnknownVersion as err:
        raise _Refused(invalid_argument([Violation("rule_set_version", str(err))])) from None
    except NoRuleSetInForce as err:
        covered = {f"version {v}": w for v, w in err.windows.items()}
        raise _Refused(
            failed_precondition(str(err), "NO_RULE_SET_IN_FORCE", {"reference_date": err.day.isoformat(), **covered})
        ) from None


def _select_version(engine: Engine, version: str) -> Selection:
    """A version by its name (see `_loaded`).

    Raises:
        _Refused: INVALID_ARGUMENT naming `version` when no such version is loaded.
    """
    found = _loaded(engine, version, "version")
    if isinstance(found, Violation):
        raise _Refused(invalid_argument([found]))
    return found


def _loaded(engine: Engine, version: str, field: str) -> Selection | Violation:
    """A version by its name, applied on the first day it is in force or today, whichever is later; a violation
    of the request's `field` when no such version is loaded."""
    for rule_set in engine.rule_sets:
        if rule_set.version == version:
            today = dt.date.today()
            day = today if rule_set.in_force_on(today) else rule_set.valid_from
            return engine.select(day, version)
    known = [r.version for r in engine.rule_sets]
    return Violation(field, f"rule-set version {version!r} is not loaded; loaded: {', '.join(known)}")


def _size_violations(facts: Mapping[str, FactInput], limits: Limits) -> list[Violation]:
    """Facts beyond the size limits; checked before anything else reads them."""
    found = []
    if len(facts) > limits.max_facts:
        found.append(Violation("facts", f"at most {limits.max_facts} facts, got {len(facts)}"))
    longest = limits.max_text
    for name, value in facts.items():
        texts = (
            value.values
            if isinstance(value, SetInput | OneOfInput)
            else (value.value,)
            if isinstance(value, SymbolInput)
            else ()
        )
        if len(texts) > limits.max_values:
            found.append(Violation(f"facts.{name[: limits.max_text]}", f"at most {limits.max_values} values"))
        elif len(name) > longest or any(len(t) > longest for t in texts):
            found.append(
                Violation(
                    f"facts.{name[: limits.max_text]}", f"names and symbols: at most {limits.max_text} characters"
                )
            )
    return found


def _language_violation() -> Violation:
    return Violation("language", f"must be one of {', '.join(LANGUAGES)} (empty means nl)")


def _request_violations(request: pb.EvaluateRequest, language: str) -> list[Violation]:
    violations = []
    if language not in LANGUAGES:
        violations.append(_language_violation())
    reference = request.case_reference
    if len(reference) > MAX_CASE_REFERENCE or not reference.isprintable():
        violations.append(
            Violation("case_reference", f"at most {MAX_CASE_REFERENCE} printable characters; an opaque id only")
        )
    return violations
