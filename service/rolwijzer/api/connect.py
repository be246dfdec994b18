"""RolwijzerService over Connect (JSON and binary) and gRPC-Web: the same RolwijzerServicer as the gRPC port, behind
connectrpc's WSGI application.

Contracts:

* One implementation: every endpoint calls the servicer's method with a `CallContext`, which offers what the
  servicer uses of grpc.ServicerContext: `time_remaining` (from Connect-Timeout-Ms or Grpc-Timeout), `abort` and
  `abort_with_status` (raising `Aborted` with the google.rpc.Status), `is_active`.
* An aborted call becomes a ConnectError with the same code, message and details (BadRequest, ErrorInfo,
  RetryInfo, as google.protobuf.Any), so they appear in Connect's JSON error format (`type`, `value`, `debug`) and
  in the gRPC-Web trailers (grpc-status-details-bin).
* Unary calls pass the same `active` gate as gRPC's; calls are measured by the same `Recorder` as the gRPC
  interceptor's (when `measure`).
* A body that does not decode is INVALID_ARGUMENT with a BadRequest naming `request` (binary: the gRPC port's
  words; JSON: the parser's complaint); JSON with an unknown field name is refused, not silently dropped (a
  misspelled field would otherwise vanish). connectrpc decodes before any endpoint runs, so such a refusal is
  not in the metrics (over gRPC it counts as `undecodable`).
* EvaluateBatch (bidi) is half-duplex here: a WSGI server over HTTP/1.1 reads the request body before the answer
  starts, so the client sends all its messages (or one message with many `items`), then reads the answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

import grpc
import structlog
from connectrpc.code import Code
from connectrpc.codec import Codec
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectWSGIApplication, EndpointSync
from google.protobuf import any_pb2, descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message as GoogleMessage
from google.rpc import error_details_pb2, status_pb2
from protobuf import DescMessage, Message, Registry
from protobuf.wkt import Any as ConnectAny

from rolwijzer.api.errors import invalid_argument
from rolwijzer.api.rpc_metrics import STATUS_DETAILS_KEY, Recorder
from rolwijzer.engine import Violation
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

__all__ = [
    "METHODS",
    "SERVICE_NAME",
    "Aborted",
    "CallContext",
    "connect_application",
    "to_connect_error",
]

SERVICE = pb.DESCRIPTOR.services_by_name["RolwijzerService"]
SERVICE_NAME: str = SERVICE.full_name
# Reads only: Connect lets a client call them with GET (cacheable). Evaluate is not: it logs and records decisions.
_READS = frozenset({"ListRuleSets", "DescribeRuleSet", "CompareRuleSets", "GetStatus"})

log = structlog.get_logger("rolwijzer.connect")

_Req = TypeVar("_Req")
_Res = TypeVar("_Res")


def _method_info(method: MethodDescriptor) -> MethodInfo[Any, Any]:
    if method.client_streaming and method.server_streaming:
        stream = StreamType.BIDI_STREAM
    elif method.client_streaming:
        stream = StreamType.CLIENT_STREAM
    elif method.server_streaming:
        stream = StreamType.SERVER_STREAM
    else:
        stream = StreamType.UNARY
    return MethodInfo(
        name=method.name,
        service_name=SERVICE_NAME,
        input=getattr(pb, method.input_type.name),
        output=getattr(pb, method.output_type.name),
        idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS if method.name in _READS else IdempotencyLevel.UNKNOWN,
        stream_type=stream,
    )


# The service definition, one MethodInfo per RPC, read off the proto's descriptor rather than generated: the
# protoc plugin on PyPI (protoc-gen-connect-python 0.9.0) writes MethodInfo without the `stream_type` that
# connectrpc 0.13 requires (TypeError on import) and applications without our codecs.
METHODS: dict[str, MethodInfo[Any, Any]] = {m.name: _method_info(m) for m in SERVICE.methods}


class Aborted(Exception):
    """A call the servicer aborted; `status` is what the caller gets."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status


class CallContext:
    """The part of grpc.ServicerContext that RolwijzerServicer uses, for one Connect or gRPC-Web call."""

    def __init__(self, request: RequestContext[Any, Any]) -> None:
        self._request = request

    def time_remaining(self) -> float | None:
        """Seconds until the caller's deadline (Connect-Timeout-Ms / Grpc-Timeout), None without one."""
        remaining = self._request.timeout_ms
        return None if remaining is None else max(0.0, remaining / 1000)

    def is_active(self) -> bool:
        """WSGI does not tell when a caller left; the deadline still bounds the work."""
        return True

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        """End the call with `code` and `details` (no rich details)."""
        raise Aborted(status_pb2.Status(code=code.value[0], message=details))

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        """End the call with the google.rpc.Status that `status` carries in its trailers (as_grpc made it)."""
        for key, value in status.trailing_metadata or ():
            if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
                raise Aborted(status_pb2.Status.FromString(value))
        raise Aborted(status_pb2.Status(code=status.code.value[0], message=status.details or ""))


_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}
_CONNECT_CODES = {
    code.value[0]: Code[code.name.replace("CANCELLED", "CANCELED")] for code in grpc.StatusCode if code.value[0]
}


def grpc_code(code: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a google.rpc.Code number (UNKNOWN for a number gRPC does not know)."""
    return _GRPC_CODES.get(code, grpc.StatusCode.UNKNOWN)


def _field_json_names(proto: descriptor_pb2.DescriptorProto) -> None:
    """Fill in the JSON names protoc would have set (CopyToProto leaves them out): the `debug` form needs them."""
    for field in proto.field:
        head, *rest = field.name.split("_")
        field.json_name = head + "".join(part.title() for part in rest)
    for nested in proto.nested_type:
        _field_json_names(nested)


def _details_registry() -> Registry | None:
    """The google.rpc error details as protobuf-py descriptors, for the readable `debug` of each detail.

    Built with protobuf-py's code-generation helper (not a stable API); without it the details keep `type` and
    `value`, which is all the protocol requires.
    """
    try:
        from protobuf._codegen import file_desc  # noqa: PLC0415 - optional, see above
        from protobuf.wkt.google.protobuf import duration_pb  # noqa: PLC0415

        proto = descriptor_pb2.FileDescriptorProto()
        error_details_pb2.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            _field_json_names(message)
        return Registry(file_desc(proto.SerializeToString(), [duration_pb.desc()], {}))
    except Exception:  # pragma: no cover - only a protobuf-py change gets here
        log.warning("error_details_debug_unavailable", exc_info=True)
        return None


_REGISTRY = _details_registry()


class _Detail(ErrorDetail):
    """A detail sent as its Any (bytes as gRPC sends them), with a decoded copy for Connect's JSON `debug`."""

    def __init__(self, detail: any_pb2.Any) -> None:
        super().__init__(ConnectAny(type_url=detail.type_url, value=detail.value))
        self._debug: Message | None = None
        if _REGISTRY is not None and (desc := _REGISTRY.message(self.type_name)) is not None:
            self._debug = super().value(desc)

    def value(self, *args: Registry | DescMessage | type[Message]) -> Message | None:  # type: ignore[override]
        return super().value(*args) if args else self._debug


def to_connect_error(status: status_pb2.Status) -> ConnectError:
    """The ConnectError of a google.rpc.Status: same code, message and details."""
    code = _CONNECT_CODES.get(status.code, Code.UNKNOWN)
    return ConnectError(code, status.message, [_Detail(d) for d in status.details])


class _RefusingCodec:
    """A Google-protobuf codec whose decoding failures are INVALID_ARGUMENT naming the request, never INTERNAL."""

    def __init__(self, inner: Codec[Any, Any]) -> None:
        self._inner = inner

    def name(self) -> str:
        return str(self._inner.name())

    def encode(self, message: GoogleMessage) -> bytes:
        return bytes(self._inner.encode(message))

    def decode(self, data: bytes | bytearray, message_class: type[GoogleMessage]) -> GoogleMessage:
        try:
            return cast(GoogleMessage, self._inner.decode(data, message_class))
        except Exception as err:
            kind = message_class.DESCRIPTOR.name
            if self.name() == "proto":  # word for word what the gRPC port says of the same bytes
                violation = Violation("request", f"the bytes are not a valid {kind} message")
            else:
                first_line = str(err).split("\n", 1)[0]  # json_format goes on to list every field on more lines
                violation = Violation("request", f"not a valid {kind} in JSON: {first_line}")
            raise to_connect_error(invalid_argument([violation])) from None


CODECS = [
    _RefusingCodec(google_protobuf_binary_codec()),
    _RefusingCodec(google_protobuf_json_codec(ignore_unknown_fields=False)),
]


class _Undecodable:
    """Stands in for a batch item whose bytes are no EvaluateBatchRequest; the servicer answers it in the stream."""


def _tolerant(requests: Iterator[object]) -> Iterator[object]:
    """The batch items; one that does not decode becomes `_Undecodable` (answered, as over gRPC) and ends them."""
    try:
        yield from requests
    except ConnectError as err:
        if err.code == Code.INVALID_ARGUMENT:
            yield _Undecodable()


class _Calls:
    """The endpoints' shared behaviour: the gate, the metrics, and the mapping of aborts to ConnectError."""

    def __init__(
        self, servicer: pb_grpc.RolwijzerServiceServicer, active: threading.BoundedSemaphore, measure: bool
    ) -> None:
        self._servicer = servicer
        self._active = active
        self._recorders = {name: Recorder(SERVICE_NAME, name) for name in METHODS} if measure else {}

    def unary(self, name: str) -> Callable[[GoogleMessage, RequestContext[Any, Any]], GoogleMessage]:
        behaviour: Callable[[GoogleMessage, grpc.ServicerContext], GoogleMessage] = getattr(self._servicer, name)
        recorder = self._recorders.get(name)

        def call(request: GoogleMessage, ctx: RequestContext[Any, Any]) -> GoogleMessage:
            started = _begin(recorder)
            try:
                with self._active:
                    answer = behaviour(request, cast(grpc.ServicerContext, CallContext(ctx)))
            except Exception as err:
                code, raised = _outcome(err)
                _end(recorder, started, code, err)
                raise raised from None
            _end(recorder, started, grpc.StatusCode.OK)
            if recorder is not None:
                recorder.answered(answer)
            return answer

        return call

    def bidi(self, name: str) -> Callable[[Iterator[Any], RequestContext[Any, Any]], Iterator[Any]]:
        behaviour = getattr(self._servicer, name)
        recorder = self._recorders.get(name)

        def call(requests: Iterator[Any], ctx: RequestContext[Any, Any]) -> Iterator[Any]:
            started = _begin(recorder)
            try:
                for answer in behaviour(_tolerant(requests), cast(grpc.ServicerContext, CallContext(ctx))):
                    if recorder is not None:
                        recorder.answered(answer)
                    yield answer
            except GeneratorExit:  # the server dropped the answer: the caller went away
                _end(recorder, started, grpc.StatusCode.CANCELLED)
                raise
            except Exception as err:
                code, raised = _outcome(err)
                _end(recorder, started, code, err)
                raise raised from None
            _end(recorder, started, grpc.StatusCode.OK)

        return call


def _begin(recorder: Recorder | None) -> float:
    if recorder is not None:
        recorder.in_flight.inc()
    return time.perf_counter()


def _outcome(err: Exception) -> tuple[grpc.StatusCode, ConnectError]:
    """The code a failed call counts as, and the ConnectError its caller gets."""
    if isinstance(err, Aborted):
        return grpc_code(err.status.code), to_connect_error(err.status)
    if isinstance(err, ConnectError):
        return grpc.StatusCode[err.code.name.replace("CANCELED", "CANCELLED")], err
    # As over gRPC: UNKNOWN, the traceback in the log and never in the answer.
    log.error("call_failed", exc_info=err)
    return grpc.StatusCode.UNKNOWN, ConnectError(Code.UNKNOWN, "unexpected error in the server")


def _end(recorder: Recorder | None, started: float, code: grpc.StatusCode, err: Exception | None = None) -> None:
    """Record how a call ended (its refusal too, when it was aborted with details), as the gRPC interceptor does."""
    if recorder is None:
        return
    recorder.in_flight.dec()
    recorder.finished(code, started)
    if isinstance(err, Aborted) and err.status.details:
        recorder.refused(err.status)


class _Application(ConnectWSGIApplication):
    @property
    def path(self) -> str:
        return f"/{SERVICE_NAME}"


def connect_application(
    servicer: pb_grpc.RolwijzerServiceServicer,
    active: threading.BoundedSemaphore,
    *,
    max_request_bytes: int,
    measure: bool = True,
) -> ConnectWSGIApplication:
    """The WSGI application serving RolwijzerService at /rolwijzer.v1.RolwijzerService/<Method> over Connect
    (application/json, application/proto, their streaming forms) and gRPC-Web; gRPC itself needs HTTP/2 trailers,
    which a WSGI server on HTTP/1.1 does not have: use the gRPC port.

    `active` is the gate the gRPC port's unary calls pass (server.active_gate); `measure` records the gRPC
    port's metrics for these calls too; bodies over `max_request_bytes` are RESOURCE_EXHAUSTED, as on gRPC.
    """
    calls = _Calls(servicer, active, measure)
    endpoints: dict[str, EndpointSync[Any, Any]] = {}
    for name, info in METHODS.items():
        path = f"/{SERVICE_NAME}/{name}"
        if info.stream_type == StreamType.BIDI_STREAM:
            endpoints[path] = EndpointSync.bidi_stream(method=info, function=calls.bidi(name))
        else:
            endpoints[path] = EndpointSync.unary(method=info, function=calls.unary(name))
    return _Application(endpoints=endpoints, codecs=CODECS, read_max_bytes=max_request_bytes)  # type: ignore[arg-type]
