"""Build rich gRPC error statuses (google.rpc.Status with details) in one place."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rolwijzer.engine import Violation

DOMAIN = "rolwijzer.v1"


def invalid_argument(message: str, violations: Sequence[Violation]) -> grpc.Status:
    """INVALID_ARGUMENT with a BadRequest detail holding one field violation per bad field."""
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in violations
            ]
        )
    )
    return _status(code_pb2.INVALID_ARGUMENT, message, detail)


def internal(message: str, reason: str, metadata: dict[str, str]) -> grpc.Status:
    """INTERNAL with an ErrorInfo detail; the message never carries a stack trace."""
    return _status(code_pb2.INTERNAL, message, _error_info(reason, metadata))


def failed_precondition(message: str, reason: str, metadata: dict[str, str]) -> grpc.Status:
    """FAILED_PRECONDITION with an ErrorInfo detail, for a request the server's state cannot serve."""
    return _status(code_pb2.FAILED_PRECONDITION, message, _error_info(reason, metadata))


def _error_info(reason: str, metadata: dict[str, str]) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata))
    return detail


def _status(code: int, message: str, detail: any_pb2.Any) -> grpc.Status:
    status: grpc.Status = rpc_status.to_status(status_pb2.Status(code=code, message=message, details=[detail]))
    return status


def deadline_exceeded(message: str) -> grpc.Status:
    """DEADLINE_EXCEEDED: the evaluation did not finish in the time allowed."""
    return _status(code_pb2.DEADLINE_EXCEEDED, message, _error_info("EVALUATION_TOO_SLOW", {}))


def unavailable(message: str) -> grpc.Status:
    """UNAVAILABLE: the server cannot answer now (for example the decision log cannot be written)."""
    return _status(code_pb2.UNAVAILABLE, message, _error_info("DECISION_LOG_UNAVAILABLE", {}))
