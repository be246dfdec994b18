"""A gRPC server interceptor that measures every call: final status code, latency, calls in flight, and what the
answers say (decisions by role, refusals by reason).

All of that is read off the wire messages and the call's context; the servicer only reports what the wire does
not show (cache lookups, and the rules fired by an evaluation as opposed to a cache hit). How the final code is
found, since aborts raise inside the handler:

* the handler returns: the code it set (`context.code()`), else OK; but a call whose caller has gone (cancelled,
  or its deadline passed) counts as CANCELLED or DEADLINE_EXCEEDED, which is what the caller saw;
* the handler raises: the code `abort`/`abort_with_status`/`set_code` stored in the context, else UNKNOWN
  (what grpc answers for an unexpected exception);
* a streamed answer is measured when its iterator ends: exhausted (as returning), raising (as raising), or
  closed because the caller left (CANCELLED, or DEADLINE_EXCEEDED when its deadline passed).

A refusal is counted once: an aborted call by the google.rpc.Status it carries in its trailers, a batch item by
the status in its answer. Statuses without such details (grpc's own, a crash) are not refusals: the code counts.
Calls that grpc refuses before any handler runs (over --max-concurrent-rpcs, a message over the size limit, an
unknown method) are not seen.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from typing import Any, Self

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2

from rolwijzer import metrics
from rolwijzer.v1 import rolwijzer_pb2 as pb

__all__ = ["MetricsInterceptor", "Recorder", "rejection_reason"]

STATUS_DETAILS_KEY = "grpc-status-details-bin"
BATCH_METHOD = "EvaluateBatch"
SERVICE: str = pb.DESCRIPTOR.services_by_name["RolwijzerService"].full_name

# ErrorInfo.reason (rolwijzer.api.errors) -> rejection reason.
_INFO_REASONS = {
    "EXPENSIVE_REQUESTS_BUSY": "expensive_busy",
    "TOO_MANY_STREAMS": "too_many_streams",
    "EVALUATION_TOO_SLOW": "deadline",
    "NO_RULE_SET_IN_FORCE": "no_rule_set_in_force",
    "DECISION_LOG_UNAVAILABLE": "decision_log_unavailable",
    "EVALUATION_FAILED": "internal",
}
# The first part of a BadRequest field (facts.<name> -> facts) -> rejection reason. Fact names never become labels.
_FIELD_REASONS = {
    "facts": "invalid_facts",
    "language": "invalid_language",
    "case_reference": "invalid_case_reference",
    "reference_date": "invalid_reference_date",
    "rule_set_version": "invalid_version",
    "version": "invalid_version",
    "request": "undecodable",
    "item": "undecodable",
}


def rejection_reason(status: status_pb2.Status) -> str:
    """The reason label of a refusal: from its ErrorInfo, else from its first bad field's kind, else its code."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return _INFO_REASONS.get(info.reason, "other")
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
            kind = fields[0].split(".", 1)[0] if fields else ""
            return _FIELD_REASONS.get(kind, "invalid_argument")
    return "invalid_argument" if status.code == code_pb2.INVALID_ARGUMENT else "other"


class Recorder:
    """The metric children of one method, made once, and how its calls end; one per method and transport-neutral:
    the gRPC interceptor and the Connect endpoints (rolwijzer.api.connect) record through it, so a call counts the
    same way whichever port it came in on."""

    def __init__(self, service: str, method: str) -> None:
        self.service, self.method = service, method
        self.duration, self.in_flight = metrics.rpc_children(service, method)
        self._codes: dict[grpc.StatusCode, Any] = {}
        self.is_batch = method == BATCH_METHOD
        self.decides = service == SERVICE and method in ("Evaluate", BATCH_METHOD)

    @classmethod
    def for_path(cls, full_name: str) -> Self:
        """The recorder of a method by its gRPC path, "/package.Service/Method"."""
        _, service, method = full_name.split("/", 2)
        return cls(service, method)

    def finished(self, code: grpc.StatusCode, started: float) -> None:
        """The call ended with `code`, `started` being its time.perf_counter() at the start."""
        self.duration.observe(time.perf_counter() - started)
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = metrics.RPCS.labels(self.service, self.method, code.name)
        child.inc()

    def refused(self, status: status_pb2.Status) -> None:
        """The call as a whole was refused with this rich status (an abort carrying details)."""
        reason = rejection_reason(status)
        if self.is_batch and reason == "deadline":
            reason = "stream_idle"  # the call as a whole timed out waiting: items time out in their answers
        metrics.request_rejected(reason)

    def answered(self, answer: object) -> None:
        """Count what an answer of a deciding method says (decisions by role, refused batch items by reason)."""
        if self.decides:
            _observe_answer(answer)


class _Method(Recorder):
    """A recorder that reads how a gRPC call ended off its context."""

    def failed(self, context: grpc.ServicerContext, started: float) -> None:
        """The handler raised: the code it aborted with (UNKNOWN for anything else), and the refusal it carried."""
        self.finished(_code(context) or grpc.StatusCode.UNKNOWN, started)
        status = _sent_status(context)
        if status is not None:
            self.refused(status)

    def left(self, context: grpc.ServicerContext, started: float) -> None:
        """The caller went away before the answer was taken."""
        remaining = context.time_remaining()
        passed = remaining is not None and remaining <= 0
        self.finished(grpc.StatusCode.DEADLINE_EXCEEDED if passed else grpc.StatusCode.CANCELLED, started)

    def returned(self, context: grpc.ServicerContext, started: float) -> None:
        if not context.is_active():
            self.left(context, started)
        else:
            self.finished(_code(context) or grpc.StatusCode.OK, started)


def _code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The code the handler set or aborted with; None when it set none."""
    code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]  # grpcio has it; grpc-stubs not
    return code


def _sent_status(context: grpc.ServicerContext) -> status_pb2.Status | None:
    """The google.rpc.Status an aborted call carries in its trailers, if any."""
    for key, value in context.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def _observe_answer(answer: object) -> None:
    """Count what one answer of Evaluate or EvaluateBatch says (every result of a many-situation answer)."""
    if isinstance(answer, pb.EvaluateResponse):
        metrics.decision_given(answer.decision.role)
    elif isinstance(answer, pb.EvaluateBatchResponse):
        # A one-situation answer (or a whole message refused) carries its decision or status as a result does.
        results: list[pb.BatchResult | pb.EvaluateBatchResponse] = [*answer.results] or [answer]
        # Decisions counted once per role: each increment takes a lock, and a message holds 200 results by default.
        roles: collections.Counter[str] = collections.Counter()
        for result in results:
            if result.HasField("status"):
                metrics.request_rejected(rejection_reason(result.status))
            else:
                roles[result.decision.role] += 1
        for role, count in roles.items():
            metrics.decision_given(role, count)


Unary = Callable[[Any, grpc.ServicerContext], object]
Streaming = Callable[[Any, grpc.ServicerContext], Iterator[object]]


def _unary(behaviour: Unary, method: _Method) -> Unary:
    def handle(request: object, context: grpc.ServicerContext) -> object:
        started = time.perf_counter()
        method.in_flight.inc()
        try:
            answer = behaviour(request, context)
        except Exception:
            method.failed(context, started)
            raise
        finally:
            method.in_flight.dec()
        method.returned(context, started)
        method.answered(answer)
        return answer

    return handle


def _streaming(behaviour: Streaming, method: _Method) -> Streaming:
    def handle(request: object, context: grpc.ServicerContext) -> Iterator[object]:
        started = time.perf_counter()
        method.in_flight.inc()
        try:
            for answer in behaviour(request, context):
                method.answered(answer)
                yield answer
        except GeneratorExit:  # grpc dropped the iterator: the caller went away
            method.left(context, started)
            raise
        except Exception:
            method.failed(context, started)
            raise
        else:
            method.returned(context, started)
        finally:
            method.in_flight.dec()

    return handle


class MetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Measures every call to a method the server has (unknown method names are never labels)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        name = handler_call_details.method
        known = self._wrapped.get(name)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = _wrap(handler, _Method.for_path(name))
        self._wrapped[name] = (handler, wrapped)  # a race makes the same wrapper twice: harmless
        return wrapped


def _wrap(handler: grpc.RpcMethodHandler[Any, Any], method: _Method) -> grpc.RpcMethodHandler[Any, Any]:
    options = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, method), **options)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary, method), **options)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream, method), **options)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(_streaming(handler.stream_stream, method), **options)
    return handler
