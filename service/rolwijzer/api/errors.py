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
# The top-level message of an INVALID_ARGUMENT lists its violations. It travels in the same trailers as the details
# (grpc-message, percent-encoded: a non-ASCII character takes up to 12 bytes there), so it gets a budget of its own
# in those bytes; with the details' (about 6,700 bytes in base64) the trailers stay under the 8 KiB soft limit at
# which gRPC clients start refusing them at random.
MESSAGE_BUDGET_BYTES = 700


def _wire_size(text: str) -> int:
    """Bytes of `text` in grpc-message: printable ASCII but % as is, anything else %XX per UTF-8 byte."""
    return sum(1 if " " <= c <= "~" and c != "%" else 3 * len(c.encode()) for c in text)


def listing(violations: Sequence[Violation]) -> str:
    """The violations as one readable message, `field: description` per violation joined with "; ", so that tools
    which do not decode details (curl, grpcurl, a browser's console) still show what is wrong.

    Bounded to MESSAGE_BUDGET_BYTES on the wire: the first violation is cut to fit ("..."), the ones that no longer
    fit are counted ("and N more"); the details keep them.
    """
    parts: list[str] = []
    room = MESSAGE_BUDGET_BYTES - len("; and 9999 more")
    for index, violation in enumerate(violations):
        part = f"{violation.field}: {violation.description}"
        size = _wire_size(part) + (2 if parts else 0)
        if size > room:
            if parts:
                parts.append(f"and {len(violations) - index} more")
                break
            while _wire_size(part) > room - 3:  # the first violation alone is too long: its beginning
                part = part[: max(1, len(part) * 3 // 4)]
            part += "..."
            size = _wire_size(part)
        parts.append(part)
        room -= size
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
