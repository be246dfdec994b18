"""Talk to a running Rolwijzer server, turning gRPC failures into messages a person can act on."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from rolwijzer.cli.messages import say
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "ROLWIJZER_SERVER"
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 1, 2, 3
EXIT_STOPPED = 130  # stopped with Ctrl-C: 128 + SIGINT, as a shell reports it
# What gRPC reports when a plaintext client meets a TLS server (it closes or resets the connection at the first
# bytes), and when a TLS client meets a plaintext server (the first bytes back are no TLS record).
PLAINTEXT_TO_TLS = ("socket closed", "connection reset")
TLS_TO_PLAINTEXT = ("wrong_version_number", "packet_length_too_long", "record layer failure")
# The request fields that an option of the CLI sets, so a refusal names the option the person typed.
OPTIONS = {
    "reference_date": "--date",
    "rule_set_version": "--release",
    "version": "--release",  # DescribeRuleSetRequest's name for it
    "case_reference": "--case-reference",
}
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

    def credentials(self, language: str) -> grpc.ChannelCredentials:
        """Channel credentials from the files.

        Raises:
            CliError: a file cannot be read, or only one of certificate and key is given (exit code 2).
        """
        if (self.certificate is None) != (self.private_key is None):
            raise CliError(EXIT_BAD_INPUT, say(language, "cert_and_key"))
        try:
            return grpc.ssl_channel_credentials(
                root_certificates=self.ca.read_bytes() if self.ca else None,
                private_key=self.private_key.read_bytes() if self.private_key else None,
                certificate_chain=self.certificate.read_bytes() if self.certificate else None,
            )
        except OSError as err:
            message = say(language, "cannot_read", path=err.filename, reason=err.strerror)
            raise CliError(EXIT_BAD_INPUT, message) from None


def connect(
    server: str, tls: ClientTls | None = None, language: str = "nl", *, own_connection: bool = False
) -> tuple[grpc.Channel, pb_grpc.RolwijzerServiceStub]:
    """A ready channel to `server` (TLS when `tls` is enabled) and its client.

    Channels to one server share one connection unless `own_connection` (each such channel opens its own, so that
    a server's workers, which share the port by connection, can each take some).

    Raises:
        CliError: the server cannot be reached, or refuses the TLS handshake, within a few seconds (exit code 3).
    """
    secure = tls is not None and tls.enabled
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
    channel = (
        grpc.secure_channel(server, tls.credentials(language), options)
        if tls is not None and secure
        else grpc.insecure_channel(server, options)
    )
    # A health check that waits for the connection, bounded by gRPC's own deadline: Python's timed waits (as in
    # channel_ready_future) never time out under a faked clock (see rolwijzer.waiting).
    health = health_pb2_grpc.HealthStub(channel)
    try:
        health.Check(health_pb2.HealthCheckRequest(), timeout=CONNECT_SECONDS, wait_for_ready=True)
    except grpc.RpcError as err:
        if cast(grpc.Call, err).code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
            return channel, pb_grpc.RolwijzerServiceStub(channel)  # it answers, so it can be reached
        # A call that waits for the connection ends in "Deadline Exceeded" and hides why it failed; one that does
        # not wait fails at once with the channel's last connection error, which tells a TLS mismatch apart.
        reason = _connection_error(health)
        channel.close()
        raise CliError(EXIT_UNREACHABLE, say(language, _unreachable(reason, secure), server=server)) from None
    return channel, pb_grpc.RolwijzerServiceStub(channel)


def _connection_error(health: health_pb2_grpc.HealthStub) -> str:
    """The channel's last connection error, in lower case; empty when the call went through after all."""
    try:
        health.Check(health_pb2.HealthCheckRequest(), timeout=CONNECT_SECONDS, wait_for_ready=False)
    except grpc.RpcError as err:
        return (cast(grpc.Call, err).details() or "").lower()
    return ""


def _unreachable(reason: str, secure: bool) -> str:
    """Which message explains a failed connection: a TLS mismatch either way, or a server that is not there."""
    if "connection refused" in reason:
        return "unreachable"
    if secure:
        return "server_speaks_plaintext" if any(m in reason for m in TLS_TO_PLAINTEXT) else "unreachable_tls"
    return "server_speaks_tls" if any(m in reason for m in PLAINTEXT_TO_TLS) else "unreachable"


def call(method: Callable[..., Response], request: object, server: str, language: str = "nl") -> Response:
    """Call `method` with `request`; raise CliError with the server's reasons when it refuses."""
    try:
        return method(request, timeout=CALL_SECONDS)
    except grpc.RpcError as err:
        raise explain(cast(grpc.Call, err), server, language) from None


def explain(error: grpc.Call, server: str, language: str) -> CliError:
    """The CliError that tells the person why the server refused a call, in `language`."""
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return CliError(EXIT_UNREACHABLE, say(language, "lost", server=server))
    lines = [error.details() or code.name]
    status = rpc_status.from_call(error)
    violations = field_violations(status) if status else []
    if violations:
        count = len(violations)
        lines = [say(language, "problem" if count == 1 else "problems", count=count)]
        lines += [f"  - {_field(v.field)}: {v.description}" for v in violations]
    exit_code = (
        EXIT_BAD_INPUT
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
        else (EXIT_FAILED)
    )
    return CliError(exit_code, "\n".join(lines))


def field_violations(status: status_pb2.Status) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """The field violations of a refusal's BadRequest details (none when it has no such details)."""
    found = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found.extend(bad.field_violations)
    return found


def error_reason(error: grpc.Call) -> str:
    """The reason of a refusal's ErrorInfo details ("TOO_MANY_STREAMS", ...), empty when it has none."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def _field(name: str) -> str:
    """A refused request field as the person wrote it: the fact's name, or the option that set the field."""
    return OPTIONS.get(name, name.removeprefix("facts."))
