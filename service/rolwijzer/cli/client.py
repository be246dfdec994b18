"""Talk to a running Rolwijzer server, turning gRPC failures into messages a person can act on."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "ROLWIJZER_SERVER"
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 1, 2, 3
CONNECT_SECONDS = 3.0
CALL_SECONDS = 60.0

Response = TypeVar("Response")


class CliError(Exception):
    """A failure to report in plain words, with the exit code to use."""

    def __init__(self, exit_code: int, message: str) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def default_server() -> str:
    """The server address from the environment, or the default."""
    return os.environ.get(SERVER_ENV, DEFAULT_SERVER)


@dataclass(frozen=True)
class ClientTls:
    """PEM files for TLS: the CA that signed the server's certificate, and our own certificate and key for mTLS."""

    ca: Path | None = None
    certificate: Path | None = None
    private_key: Path | None = None

    @property
    def enabled(self) -> bool:
        """True when any TLS option was given."""
        return any((self.ca, self.certificate, self.private_key))

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials from the files.

        Raises:
            CliError: a file cannot be read, or only one of certificate and key is given (exit code 2).
        """
        if (self.certificate is None) != (self.private_key is None):
            raise CliError(EXIT_BAD_INPUT, "give both --cert and --key for a client certificate")
        try:
            return grpc.ssl_channel_credentials(
                root_certificates=self.ca.read_bytes() if self.ca else None,
                private_key=self.private_key.read_bytes() if self.private_key else None,
                certificate_chain=self.certificate.read_bytes() if self.certificate else None,
            )
        except OSError as err:
            raise CliError(EXIT_BAD_INPUT, f"cannot read {err.filename}: {err.strerror}") from None


def connect(server: str, tls: ClientTls | None = None) -> tuple[grpc.Channel, pb_grpc.RolwijzerServiceStub]:
    """A ready channel to `server` (TLS when `tls` is enabled) and its client.

    Raises:
        CliError: the server cannot be reached, or refuses the TLS handshake, within a few seconds (exit code 3).
    """
    secure = tls is not None and tls.enabled
    channel = (
        grpc.secure_channel(server, tls.credentials())
        if tls is not None and secure
        else (grpc.insecure_channel(server))
    )
    # A health check that waits for the connection, bounded by gRPC's own deadline: Python's timed waits (as in
    # channel_ready_future) never time out under a faked clock (see rolwijzer.waiting).
    try:
        health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=CONNECT_SECONDS, wait_for_ready=True
        )
    except grpc.RpcError as err:
        if cast(grpc.Call, err).code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
            return channel, pb_grpc.RolwijzerServiceStub(channel)  # it answers, so it can be reached
        channel.close()
        hint = "check the server's TLS settings and --ca/--cert/--key" if secure else "is it running? `make run`"
        raise CliError(EXIT_UNREACHABLE, f"cannot reach the Rolwijzer server at {server} ({hint})") from None
    return channel, pb_grpc.RolwijzerServiceStub(channel)


def call(method: Callable[..., Response], request: object, server: str) -> Response:
    """Call `method` with `request`; raise CliError with the server's reasons when it refuses."""
    try:
        return method(request, timeout=CALL_SECONDS)
    except grpc.RpcError as err:
        raise _explain(cast(grpc.Call, err), server) from None


def _explain(error: grpc.Call, server: str) -> CliError:
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return CliError(EXIT_UNREACHABLE, f"cannot reach the Rolwijzer server at {server}")
    lines = [error.details() or code.name]
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            lines = [f"{len(bad.field_violations)} problem(s) with the input:"]
            lines += [f"  - {v.field.removeprefix('facts.')}: {v.description}" for v in bad.field_violations]
    exit_code = (
        EXIT_BAD_INPUT
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
        else (EXIT_FAILED)
    )
    return CliError(exit_code, "\n".join(lines))
