"""Helpers for the HTTP port's tests and benchmark: both ports wired as `rolwijzer-server` wires them, and the wire
forms of Connect streaming and gRPC-Web written out by hand (a client none of us wrote is buf curl, in the tests)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

import httpx
from google.protobuf.message import Message
from google.rpc import status_pb2
from rolwijzer.api.config import Limits, Tls
from rolwijzer.api.connect import connect_application
from rolwijzer.api.http import create_http_server, http_application
from rolwijzer.api.rpc_metrics import MetricsInterceptor
from rolwijzer.api.server import active_gate, create_server
from rolwijzer.api.servicer import RolwijzerServicer
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from support import RULES_ROOT

SERVICE_PATH = "/rolwijzer.v1.RolwijzerService"
END_STREAM = 0x02  # Connect streaming: the last envelope, JSON with an optional error
TRAILERS = 0x80  # gRPC-Web: the envelope that carries the trailers

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Ports:
    """Both ports of one servicer on 127.0.0.1."""

    grpc_address: str
    http_port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@contextmanager
def both_ports(
    web_folder: Path,
    cors_origins: Sequence[str] = (),
    tls: Tls | None = None,
    limits: Limits | None = None,
    threads: int = 2,
    cache_size: int = 0,
) -> Iterator[Ports]:
    """A gRPC server and the HTTP port sharing one servicer and one gate, metrics on, as the command runs them."""
    limits = limits or Limits()
    holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS, cache_size)
    servicer = RolwijzerServicer(holder, limits)
    active = active_gate(threads, limits)
    server, port = create_server(
        "127.0.0.1:0",
        holder,
        threads,
        limits=limits,
        tls=tls,
        servicer=servicer,
        interceptors=(MetricsInterceptor(),),
        active=active,
    )
    app = connect_application(servicer, active, max_request_bytes=limits.max_request_bytes)
    http, http_port = create_http_server(
        "127.0.0.1:0", http_application(app, web_folder=web_folder, cors_origins=cors_origins), tls
    )
    server.start()
    http.start()
    try:
        yield Ports(f"127.0.0.1:{port}", http_port)
    finally:
        http.stop(0)
        server.stop(grace=None)
        holder.close()


def envelope(payload: bytes, flags: int = 0) -> bytes:
    """One length-prefixed message, as Connect streaming and gRPC-Web frame them."""
    return struct.pack(">BI", flags, len(payload)) + payload


def envelopes(body: bytes) -> list[tuple[int, bytes]]:
    """The (flags, payload) of each envelope in `body`."""
    found = []
    offset = 0
    while offset < len(body):
        flags, size = struct.unpack_from(">BI", body, offset)
        found.append((flags, body[offset + 5 : offset + 5 + size]))
        offset += 5 + size
    assert offset == len(body), "a truncated envelope"
    return found


@dataclass(frozen=True)
class GrpcWebAnswer:
    """The messages and trailers of a gRPC-Web call."""

    messages: list[bytes]
    trailers: dict[str, str]

    @property
    def code(self) -> int:
        return int(self.trailers["grpc-status"])

    @property
    def message(self) -> str:
        return unquote(self.trailers.get("grpc-message", ""))

    def status(self) -> status_pb2.Status:
        """The google.rpc.Status in grpc-status-details-bin (padded base64, as gRPC sends it)."""
        raw = self.trailers["grpc-status-details-bin"]
        return status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))


def grpc_web(client: httpx.Client, url: str, request: Message) -> GrpcWebAnswer:
    """A gRPC-Web (binary) call: the messages and the trailers of its answer."""
    answer = client.post(
        url,
        content=envelope(request.SerializeToString()),
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )
    assert answer.status_code == 200, answer.text
    messages, trailers = [], {}
    for flags, payload in envelopes(answer.content):
        if flags & TRAILERS:
            for line in payload.decode().split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    # A trailers-only answer (an error before any message) carries them as headers.
    if not trailers:
        trailers = {k.lower(): v for k, v in answer.headers.items() if k.lower().startswith("grpc-")}
    return GrpcWebAnswer(messages, trailers)
