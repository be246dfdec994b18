"""Build rich error statuses (google.rpc.Status with details) in one place."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rolwijzer.engine import Violation

DOMAIN = "rolwijzer.v1"
# The details travel base64-encoded in a trailer, and gRPC clients refuse trailers over 8 KiB by default (the call
# then fails with RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT): keep the encoded BadRequest well below that.
DETAILS_BUDGET_BYTES = 5_000
DESCRIPTION_MAX_CHARS = 1_000
FIELD_MAX_CHARS = 256
# The top-level message of an INVALID_ARGUMENT lists its violations; bounded like the details, for the same trailer.
MESSAGE_MAX_CHARS = 2_000


def listing(violations: Sequence[Violation]) -> str:
    """The violations as one readable message, `field: description` per violation joined with "; ", so that tools
    which do not decode details (curl, grpcurl, a browser's console) still show what is wrong.

    Bounded to MESSAGE_MAX_CHARS (the message travels in the grpc-message trailer too): violations that do not fit
    are counted ("and N more"); the details keep them.
    """
    parts: list[str] = []
    used = 0
    for index, violation in enumerate(violations):
        part = f"{violation.field}: {violation.description}"
        if len(part) > DESCRIPTION_MAX_CHARS:
            part = part[: DESCRIPTION_MAX_CHARS - 1] + "…"
        if parts and used + len(part) > MESSAGE_MAX_CHARS:
            parts.append(f"and {len(violations) - index} more")
            break
        parts.append(part)
        used += len(part) + 2
    return "; ".join(parts)


def invalid_argument(violations: Sequence[Violation], message: str | None = None) -> status_pb2.Status:
    """INVALID_ARGUMENT with a BadRequest detail holding one field violation per bad field; the message lists them
    (`listing`) unless one is given.

    Violations beyond the size budget are summed up in a last violation of `facts` ("N more not shown").
    """
    bad_request = error_details_pb2.BadRequest()
    for index, violation in enumerate(violations):
        description = violation.description
        if len(description) > DESCRIPTION_MAX_CHARS:
            description = description[: DESCRIPTION_MAX_CHARS - 1] + "…"
        field = violation.field if len(violation.field) <= FIELD_MAX_CHARS else violation.field[:FIELD_MAX_CHARS] + "…"
        entry = error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
        if bad_request.ByteSize() + entry.ByteSize() > DETAILS_BUDGET_BYTES:
            rest = len(violations) - index
            bad_request.field_violations.add(field="facts", description=f"{rest} more violation(s) not shown")
            break
        bad_request.field_violations.append(entry)
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    text = listing(violations) if message is None else message
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=text, details=[detail])


def internal(message: str, reason: str, metadata: dict[str, str]) -> status_pb2.Status:
    """INTERNAL with an ErrorInfo detail; the message never carries a stack trace."""
    return _with_info(code_pb2.INTERNAL, message, reason, metadata)


def failed_precondition(message: str, reason: str, metadata: dict[str, str]) -> status_pb2.Status:
    """FAILED_PRECONDITION with an ErrorInfo detail, for a request the server's state cannot serve."""
    return _with_info(code_pb2.FAILED_PRECONDITION, message, reason, metadata)


def deadline_exceeded(message: str) -> status_pb2.Status:
    """DEADLINE_EXCEEDED: the evaluation did not finish in the time allowed."""
    return _with_info(code_pb2.DEADLINE_EXCEEDED, message, "EVALUATION_TOO_SLOW", {})


def unavailable(message: str) -> status_pb2.Status:
    """UNAVAILABLE: the server cannot answer now (for example the decision log cannot be written)."""
    return _with_info(code_pb2.UNAVAILABLE, message, "DECISION_LOG_UNAVAILABLE", {})


def resource_exhausted(message: str, reason: str, retry_after_seconds: float) -> status_pb2.Status:
    """RESOURCE_EXHAUSTED with an ErrorInfo and a RetryInfo: the server is busy, come back after the delay."""
    status = _with_info(code_pb2.RESOURCE_EXHAUSTED, message, reason, {})
    retry = any_pb2.Any()
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_after_seconds * 1e9))
    retry.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status.details.append(retry)
    return status


def as_grpc(status: status_pb2.Status) -> grpc.Status:
    """The status as gRPC sends it, details in the trailers."""
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def _with_info(code: int, message: str, reason: str, metadata: dict[str, str]) -> status_pb2.Status:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata))
    return status_pb2.Status(code=code, message=message, details=[detail])
