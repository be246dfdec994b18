"""Talk to a running Rolwijzer server, turning gRPC failures into messages a person can act on."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar, cast

import grpc
from google.rpc import error_details_pb2
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


def connect(server: str) -> tuple[grpc.Channel, pb_grpc.RolwijzerServiceStub]:
    """A ready channel to `server` and its client.

    Raises:
        CliError: the server cannot be reached within a few seconds (exit code 3).
    """
    channel = grpc.insecure_channel(server)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_SECONDS)
    except grpc.FutureTimeoutError:
        channel.close()
        raise CliError(
            EXIT_UNREACHABLE, f"cannot reach the Rolwijzer server at {server} (is it running? start it with `make run`)"
        ) from None
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
