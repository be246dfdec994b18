"""Wire the gRPC server: the servicer, health, reflection; and the `rolwijzer-server` command, which also serves
the same servicer over Connect and gRPC-Web on an HTTP port (rolwijzer.api.http)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import configargparse
import grpc
import structlog
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY, CollectorRegistry

from rolwijzer import metrics, tracing
from rolwijzer.api.baseline import BaselineServicer
from rolwijzer.api.config import Limits, Tls
from rolwijzer.api.connect import connect_application
from rolwijzer.api.errors import as_grpc, invalid_argument
from rolwijzer.api.http import HttpServer, create_http_server, http_application
from rolwijzer.api.introspection import Health, add_reflection
from rolwijzer.api.rpc_metrics import MetricsInterceptor
from rolwijzer.api.servicer import RolwijzerServicer
from rolwijzer.api.workers import run_workers, stop_with_supervisor
from rolwijzer.audit import MAX_PENDING, AuditConfig, AuditLog
from rolwijzer.audit_keys import AuditKey
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS, Violation
from rolwijzer.locations import DEFAULT_RULES
from rolwijzer.logs import FORMATS, configure_logging
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSetError
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from rolwijzer.waiting import StopSignal, wait_until

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["RolwijzerService"].full_name
DEFAULT_ADDRESS = "127.0.0.1:50051"
ENV_PREFIX = "ROLWIJZER_"  # every flag's environment variable: ROLWIJZER_ and the flag's name (`_Parser`)
DEFAULT_HTTP_ADDRESS = "127.0.0.1:8080"
GRACE_SECONDS = 5.0
DRAIN_NOTICE_SECONDS = 1.0
DEFAULT_LIMITS = Limits()
# HTTP/2 limits on every connection: streams per connection; pings a client may send (keepalive enforcement);
# idle connections closed after 5 minutes and every connection recycled after 30 (with 30 s to finish its calls),
# which also ends a stream whose caller stopped reading its answers.
CONNECTION_LIMITS: tuple[tuple[str, int], ...] = (
    ("grpc.max_concurrent_streams", 100),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 30_000),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.max_connection_age_ms", 1_800_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
)

log = structlog.get_logger("rolwijzer.server")


def create_server(
    address: str,
    holder: EngineHolder,
    max_workers: int = 2,
    *,
    limits: Limits = DEFAULT_LIMITS,
    tls: Tls | None = None,
    checker: health.HealthServicer | None = None,
    audit: AuditLog | None = None,
    share_port: bool = False,
    servicer: pb_grpc.RolwijzerServiceServicer | None = None,
    interceptors: Sequence[grpc.ServerInterceptor[Any, Any]] = (),
    active: threading.BoundedSemaphore | None = None,
) -> tuple[grpc.Server, int]:
    """Build an unstarted server for the engine `holder` serves, on `address`; return it with the bound port.

    Use "127.0.0.1:0" for a free port. A port already in use fails loudly (SO_REUSEPORT is off). With `tls`
    the port speaks TLS only (and mutual TLS when `tls.client_ca` is set); without it, plaintext. With
    `share_port`, other processes may listen on the same port (SO_REUSEPORT), as `--workers` does. `interceptors`
    see every call (the server's command passes `MetricsInterceptor` unless metrics are off). `active` gates the
    unary calls (default: `active_gate(max_workers, limits)`); pass the HTTP port's gate to share one budget.

    Raises:
        OSError: the address cannot be bound.
    """
    options = [
        ("grpc.so_reuseport", 1 if share_port else 0),
        ("grpc.max_receive_message_length", limits.max_request_bytes),
        *CONNECTION_LIMITS,
    ]
    # Each open batch stream holds a thread for as long as it lives; the servicer admits at most
    # `limits.max_streams` of them, so they get threads of their own and unary calls and health keep theirs.
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers + limits.max_streams),
        options=options,
        maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
        interceptors=list(interceptors),
    )
    if active is None:
        active = active_gate(max_workers, limits)
    _register(servicer or RolwijzerServicer(holder, limits, audit), server, active)
    _add_health_and_reflection(server, checker or Health())
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials(
            [(tls.private_key, tls.certificate)],
            root_certificates=tls.client_ca,
            require_client_auth=tls.client_ca is not None,
        )
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def active_gate(max_workers: int, limits: Limits) -> threading.BoundedSemaphore:
    """The gate of unary calls: at most this many evaluate at once, over gRPC and the HTTP port together.

    The stream threads must not become more threads evaluating at once: more threads only fight over the GIL
    (measured: 1,823-1,988 warm calls/s with 2 active, 1,087-1,346 with 4). One more per expensive slot, so that
    an expensive evaluation never takes a cheap call's place.
    """
    return threading.BoundedSemaphore(max_workers + limits.expensive_concurrency)


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message."""


def _register(
    servicer: pb_grpc.RolwijzerServiceServicer, server: grpc.Server, active: threading.BoundedSemaphore
) -> None:
    """Register the service like the generated helper does, but answer undecodable bytes with INVALID_ARGUMENT
    (gRPC's own deserializer would answer INTERNAL, which blames the server for the caller's bytes)."""
    service = pb.DESCRIPTOR.services_by_name["RolwijzerService"]
    handlers = {}
    for method in service.methods:
        request_type = getattr(pb, method.input_type.name)
        response_type = getattr(pb, method.output_type.name)
        implementation = getattr(servicer, method.name)
        if method.client_streaming:
            # A stream's items are checked one by one by the servicer, which answers a bad item in the stream.
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                implementation,
                request_deserializer=_lenient(request_type.FromString),
                response_serializer=response_type.SerializeToString,
            )
            continue
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _one_of_the_active(_refuse_undecodable(implementation, method.input_type.name), active),
            request_deserializer=_lenient(request_type.FromString),
            response_serializer=response_type.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


def _one_of_the_active(
    handle: Callable[[object, grpc.ServicerContext], object], active: threading.BoundedSemaphore
) -> Callable[[object, grpc.ServicerContext], object]:
    """Run a unary call only while fewer than the request threads' number of them run (waiting costs no GIL)."""

    def gated(request: object, context: grpc.ServicerContext) -> object:
        with active:
            return handle(request, context)

    return gated


def _lenient(parse: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def deserialize(data: bytes) -> object:
        try:
            return parse(data)
        except DecodeError:
            return _Undecodable()

    return deserialize


def _refuse_undecodable(
    method: Callable[[Any, grpc.ServicerContext], object], type_name: str
) -> Callable[[object, grpc.ServicerContext], object]:
    def handle(request: object, context: grpc.ServicerContext) -> object:
        if isinstance(request, _Undecodable):
            violation = Violation("request", f"the bytes are not a valid {type_name} message")
            context.abort_with_status(as_grpc(invalid_argument([violation])))
        return method(request, context)

    return handle


def _add_health_and_reflection(server: grpc.Server, checker: health.HealthServicer) -> None:
    for name in ("", SERVICE_NAME):
        checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    add_reflection(server, (SERVICE_NAME, health.SERVICE_NAME))


class _CheckOnly(health_pb2_grpc.HealthServicer):  # type: ignore[misc]  # grpc_health ships no types
    """Health's Check, answered from the main server's checker; Watch stays UNIMPLEMENTED, so no caller can hold the
    health port's threads with streams that never end and starve the probes."""

    def __init__(self, checker: health.HealthServicer) -> None:
        self._checker = checker

    def Check(self, request: object, context: grpc.ServicerContext) -> object:  # noqa: N802
        return self._checker.Check(request, context)


def create_health_server(
    address: str, checker: health.HealthServicer, *, share_port: bool = False
) -> tuple[grpc.Server, int]:
    """An unstarted plaintext server of grpc.health.v1 Check alone on `address`, sharing `checker` with the main
    server (so it says NOT_SERVING when that does: drain, decision log failing); return it with the bound port.

    For probes that speak no TLS while the main port does: Kubernetes' native gRPC probes (no TLS up to 1.36).
    Health statuses carry no case data, so plaintext is allowed on any address. `share_port` as in `create_server`
    (each of `--workers` answers for itself).

    Raises:
        OSError: the address cannot be bound.
    """
    server = grpc.server(
        ThreadPoolExecutor(max_workers=2),
        options=[("grpc.so_reuseport", 1 if share_port else 0)],
        maximum_concurrent_rpcs=16,
    )
    health_pb2_grpc.add_HealthServicer_to_server(_CheckOnly(checker), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def is_loopback(address: str) -> bool:
    """True when `address` (host:port) listens on this machine only: `localhost` or a loopback IP literal.

    A name such as "127.attacker.example" is not: names other than localhost are resolved by whoever controls them.
    """
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Parser(configargparse.ArgumentParser):  # type: ignore[misc]  # untyped, an argparse.ArgumentParser
    """Every flag also read from its environment variable (ROLWIJZER_ and the flag's name), by construction:
    configargparse names it, lists it in --help and lets the command line win. Hidden flags (a worker's index, the
    benchmark's baseline) have none, so the environment cannot switch them on."""

    def get_possible_config_keys(self, action: argparse.Action) -> list[str]:
        if action.help == argparse.SUPPRESS:
            return []
        keys: list[str] = super().get_possible_config_keys(action)
        return keys


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="rolwijzer-server",
        description="Serve Rolwijzer decisions over gRPC (plaintext, loopback by default). Every flag may also be "
        "given as the environment variable shown beside it; a flag on the command line wins.",
        auto_env_var_prefix=ENV_PREFIX,
    )
    parser.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help="host:port to listen on (default %(default)s)",
    )
    parser.add_argument(
        "--http-address",
        default=DEFAULT_HTTP_ADDRESS,
        help="host:port of the HTTP port: Connect (JSON and binary) and gRPC-Web for the same service, and the web "
        "pages; 0 for none; TLS and the loopback rule as for --address (default %(default)s)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        help="a browser origin (https://host[:port]) whose pages may call the HTTP port; repeat, or separate by "
        "commas, for more (default none)",
    )
    parser.add_argument(
        "--health-address",
        default=None,
        help="also answer grpc.health.v1 Check alone, in plaintext, on this host:port, for probes that speak no TLS "
        "(Kubernetes' gRPC probes) (default none)",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        default=DEFAULT_RULES,
        help="folder of rule-set versions (default %(default)s)",
    )
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=1.0,
        help="seconds the rule files must stay unchanged after a change before they are reloaded, 0 for no "
        "watching; SIGHUP always reloads (default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="json",
        help="json lines or readable console lines",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="request threads (default %(default)s)",
    )
    parser.add_argument(
        "--max-combinations",
        type=int,
        default=DEFAULT_MAX_COMBINATIONS,
        help="most combinations of unknown facts one request may span (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (SO_REUSEPORT); needs a fixed port (env ROLWIJZER_WORKERS; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=_seconds,
        default=DRAIN_NOTICE_SECONDS,
        help="on SIGTERM or SIGINT, how long health says NOT_SERVING while calls are still taken, so that balancers "
        f"stop sending before the ports refuse; calls in flight then get {GRACE_SECONDS:g} s more "
        "(default %(default)s)",
    )
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    # Benchmarks only: answer a fixed response without evaluating, to measure the ceiling of the stack.
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="least important events logged; `warning` drops the line per decision",
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=10_000,
        help="finished decisions kept for identical requests; 0 turns the cache off; emptied on reload "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--metrics-address",
        default=None,
        help=f"host:port of the Prometheus metrics (/metrics), 0 for none; with --workers the supervisor serves the "
        f"sum over all workers (default {metrics.DEFAULT_ADDRESS}, which, unlike an address given, only logs an "
        "error when it is taken)",
    )
    audit = parser.add_argument_group("decision log (off unless a path is given)")
    audit.add_argument(
        "--audit-log",
        type=Path,
        default=None,
        help="append every decision to this JSON-lines file",
    )
    audit.add_argument(
        "--audit-sync",
        action="store_true",
        help="write each record to disk before answering; refuse to answer when that fails",
    )
    audit.add_argument(
        "--audit-include-facts",
        action="store_true",
        help="store the facts themselves (health data) so `rolwijzer audit replay` can re-decide",
    )
    audit.add_argument(
        "--audit-key-file",
        type=Path,
        default=None,
        help="secret key (not readable by others; `rolwijzer audit new-key FILE`) for the keyed facts hash and the "
        "sealed checkpoints; without it the facts hash uses a key kept only in memory and the log has no checkpoints",
    )
    audit.add_argument(
        "--audit-max-pending",
        type=int,
        default=MAX_PENDING,
        help="without --audit-sync: records that may wait for the disk; more decisions are refused with UNAVAILABLE "
        "(default %(default)s)",
    )
    audit.add_argument(
        "--audit-checkpoint-every",
        type=int,
        default=100,
        help="with a key: a sealed checkpoint after at most this many records (default %(default)s)",
    )
    audit.add_argument(
        "--audit-checkpoint-seconds",
        type=float,
        default=10.0,
        help="with a key: a sealed checkpoint this often while records are written (default %(default)s)",
    )
    security = parser.add_argument_group("transport security (plaintext is allowed on loopback addresses only)")
    security.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        help="server certificate, PEM",
    )
    security.add_argument(
        "--tls-key",
        type=Path,
        default=None,
        help="server private key, PEM",
    )
    security.add_argument(
        "--tls-client-ca",
        type=Path,
        default=None,
        help="CA whose client certificates are admitted: mutual TLS",
    )
    security.add_argument(
        "--plaintext",
        action="store_true",
        help="allow plaintext on a non-loopback address (not for health data on a network)",
    )
    limits = parser.add_argument_group("limits")
    defaults = Limits()
    limits.add_argument("--max-request-bytes", type=int, default=defaults.max_request_bytes)
    limits.add_argument("--max-facts", type=int, default=defaults.max_facts)
    limits.add_argument(
        "--max-values",
        type=int,
        default=defaults.max_values,
        help="most values in one set or one_of (default %(default)s)",
    )
    limits.add_argument("--max-concurrent-rpcs", type=int, default=defaults.max_concurrent_rpcs)
    limits.add_argument(
        "--default-deadline",
        type=float,
        default=defaults.default_deadline_seconds,
        help="seconds an evaluation may take when the caller sets no deadline (default %(default)s)",
    )
    limits.add_argument(
        "--expensive-combinations",
        type=int,
        default=defaults.expensive_combinations,
        help="a request spanning more combinations is expensive (default %(default)s)",
    )
    limits.add_argument(
        "--expensive-concurrency",
        type=int,
        default=defaults.expensive_concurrency,
        help="expensive evaluations at once; more get RESOURCE_EXHAUSTED with RetryInfo (default %(default)s)",
    )
    limits.add_argument(
        "--max-streams",
        type=int,
        default=defaults.max_streams,
        help="EvaluateBatch streams open at once, each with its own thread (default %(default)s)",
    )
    limits.add_argument(
        "--max-batch-items",
        type=int,
        default=defaults.max_batch_items,
        help="situations one EvaluateBatch message may carry (default %(default)s)",
    )
    limits.add_argument(
        "--stream-idle-seconds",
        type=float,
        default=defaults.stream_idle_seconds,
        help="a stream that sends no item for this long ends with DEADLINE_EXCEEDED (default %(default)s)",
    )
    # An empty variable counts as unset, as an empty flag value would be meaningless (Path("") is the working folder).
    args: argparse.Namespace = parser.parse_args(argv, env_vars={k: v for k, v in os.environ.items() if v != ""})
    # Origins hold no comma, so "a,b" in the flag or the variable is two of them.
    args.cors_origin = [o.strip() for given in args.cors_origin or [] for o in given.split(",") if o.strip()]
    return args


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: seconds cannot be negative")
    return value


def _audit_log(args: argparse.Namespace, checker: health.HealthServicer) -> AuditLog | None:
    """The decision log from the flags; its failures turn health to NOT_SERVING until it writes again."""
    if args.audit_log is None:
        return None

    def report(ok: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            checker.set(name, status)

    key = AuditKey.from_file(args.audit_key_file) if args.audit_key_file is not None else None
    if key is None:
        log.warning("audit_log_unanchored", hint="give --audit-key-file for checkpoints and a reproducible facts hash")
    config = AuditConfig(
        args.audit_log,
        args.audit_sync,
        args.audit_include_facts,
        key=key,
        max_pending=args.audit_max_pending,
        checkpoint_every=args.audit_checkpoint_every,
        checkpoint_seconds=args.audit_checkpoint_seconds,
    )
    return AuditLog(config, report)


def _reopen_on_usr1(audit: AuditLog | None) -> None:
    """SIGUSR1 (logrotate's postrotate) makes the decision log check its path and reopen it when it was rotated."""

    def reopen(_signum: int, _frame: FrameType | None) -> None:
        # A thread does it: the handler runs between two steps of the main thread, which may hold a lock that
        # logging or the decision log needs.
        if audit is not None:
            threading.Thread(target=audit.reopen, args=("SIGUSR1",), name="audit-reopen", daemon=True).start()

    signal.signal(signal.SIGUSR1, reopen)


def _security(args: argparse.Namespace) -> Tls | None:
    """TLS from the flags; plaintext only on loopback or when asked for.

    Raises:
        ValueError: half a TLS configuration, or plaintext on a network address without --plaintext.
        OSError: a PEM file cannot be read.
    """
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("give both --tls-cert and --tls-key")
    if args.tls_cert is None:
        if args.tls_client_ca is not None:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        for flag, address in (("--address", args.address), ("--http-address", _http_address(args))):
            if address is not None and not is_loopback(address) and not args.plaintext:
                raise ValueError(
                    f"refusing plaintext on {flag} {address}: give --tls-cert and --tls-key, or --plaintext"
                )
        return None
    _check_key_pair(args.tls_cert, args.tls_key)
    return Tls.from_files(args.tls_cert, args.tls_key, args.tls_client_ca)


def _http_address(args: argparse.Namespace) -> str | None:
    """The HTTP port's host:port, None when it is off (`0`).

    Raises:
        ValueError: not host:port.
    """
    address = str(args.http_address).strip()
    if address == "0":
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--http-address {address!r}: give host:port, or 0 for no HTTP port")
    return address


def _fixed_http_port(args: argparse.Namespace, argv: list[str]) -> list[str]:
    """The workers' arguments with a fixed HTTP port: with --workers they share it (SO_REUSEPORT), so a free port
    (`:0`) is chosen once, here, instead of one per worker."""
    address = _http_address(args)
    if address is None or not address.endswith(":0"):
        return argv
    host = address.rpartition(":")[0]
    with _probe(host, 0) as probe:
        port = probe.getsockname()[1]
    return [*argv, "--http-address", f"{host}:{port}"]


def _probe(host: str, port: int) -> socket.socket:
    """A plain TCP socket bound to `host` (a name, an IPv4 or a bracketed IPv6 literal) and `port`, for the caller
    to close.

    Raises:
        OSError: binding there fails (in use, not an address of this machine, no permission).
    """
    plain = host.strip("[]")
    probe = socket.socket(socket.AF_INET6 if ":" in plain else socket.AF_INET)
    try:
        probe.bind((plain, port))
    except OSError:
        probe.close()
        raise
    return probe


def _check_key_pair(certificate: Path, private_key: Path) -> None:
    """Say what is wrong with the TLS files before gRPC does ("Failed to bind" names none of it).

    Raises:
        ValueError: the key does not match the certificate, or either is no PEM file of its kind.
    """
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certificate, private_key)
    except ssl.SSLError as err:
        reason = err.reason or str(err)
        if reason == "KEY_VALUES_MISMATCH":
            raise ValueError(f"--tls-key {private_key} does not belong to --tls-cert {certificate}") from None
        raise ValueError(
            f"--tls-cert {certificate} / --tls-key {private_key}: not a usable PEM pair ({reason})"
        ) from None


def _as_worker(args: argparse.Namespace, level: int) -> None:
    """A worker's logs name it, and it keeps its own decision log (and chain): decisions.jsonl becomes
    decisions.w1.jsonl, decisions.w2.jsonl, ..."""
    configure_logging(args.log_format, level, every_line={"worker": args.worker_index})
    if args.audit_log is not None:
        args.audit_log = args.audit_log.with_name(f"{args.audit_log.stem}.w{args.worker_index}{args.audit_log.suffix}")


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_request_bytes=args.max_request_bytes,
        max_facts=args.max_facts,
        max_values=args.max_values,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        default_deadline_seconds=args.default_deadline,
        expensive_combinations=args.expensive_combinations,
        expensive_concurrency=args.expensive_concurrency,
        max_streams=args.max_streams,
        stream_idle_seconds=args.stream_idle_seconds,
        max_batch_items=args.max_batch_items,
    )


def _metrics_target(args: argparse.Namespace) -> tuple[tuple[str, int] | None, bool]:
    """Where to serve metrics (None: off) and whether that address was asked for (flag or environment).

    Raises:
        ValueError: the address is not host:port or 0.
    """
    explicit = args.metrics_address is not None
    return metrics.parse_address(args.metrics_address if explicit else metrics.DEFAULT_ADDRESS), explicit


def _export(target: tuple[str, int], explicit: bool, registry: CollectorRegistry) -> metrics.Exporter | None:
    """Serve `registry` on `target`. The default address may be taken (another server on this machine): then the
    server runs on without metrics and says so; an address asked for must work.

    Raises:
        OSError: an address asked for cannot be bound.
    """
    host, port = target
    try:
        return metrics.serve(host, port, registry)
    except OSError as err:
        reason = err.strerror or str(err)
        if explicit:
            raise OSError(f"cannot serve metrics on {host}:{port}: {reason}") from err
        log.error("metrics_unavailable", address=f"{host}:{port}", error=reason, hint="give --metrics-address")
        return None


def _supervise(args: argparse.Namespace, argv: list[str], early: list[int]) -> int:
    """`--workers N`: run the workers; with metrics on, serve the sum of their metric files here, and only here.

    The workers write to a private folder made for this run (PROMETHEUS_MULTIPROC_DIR in their environment) and
    removed at the end; a dead worker's gauges are dropped before it is restarted.
    """
    try:
        target, explicit = _metrics_target(args)
    except ValueError as err:
        print(f"rolwijzer-server: {err}", file=sys.stderr)
        return 2
    if target is None:
        return run_workers(argv, args.workers, early=early)
    folder = metrics.new_multiprocess_dir()
    try:
        try:
            exporter = _export(target, explicit, metrics.multiprocess_registry(folder))
        except OSError as err:
            print(f"rolwijzer-server: {err}", file=sys.stderr)
            return 2
        if exporter is not None:
            log.info("metrics_serving", address=exporter.address, workers=args.workers)
        env = dict(os.environ, **{metrics.MULTIPROC_ENV: str(folder)})
        try:
            return run_workers(argv, args.workers, env, lambda pid: metrics.worker_gone(pid, folder), early)
        finally:
            if exporter is not None:
                exporter.stop()
    finally:
        metrics.remove_dir(folder)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0915 (the server's life, flags to exit, in one read)
    """Run the server until SIGTERM or SIGINT; exit 2 when the rules or the address are bad."""
    early = _keep_early_stops()
    args = _arguments(argv)
    level = getattr(logging, args.log_level.upper())
    configure_logging(args.log_format, level)
    if args.workers > 1 and args.worker_index == 0:
        if args.address.endswith(":0"):
            print("rolwijzer-server: --workers needs a fixed port, not :0", file=sys.stderr)
            return 2
        try:
            given = _fixed_http_port(args, list(argv if argv is not None else sys.argv[1:]))
        except (OSError, ValueError) as err:
            print(f"rolwijzer-server: {err}", file=sys.stderr)
            return 2
        return _supervise(args, given, early)
    if args.worker_index:
        _as_worker(args, level)
    if tracing.configure():  # OTEL_EXPORTER_OTLP_ENDPOINT set: each process (each worker) exports its own spans
        log.info("traces_exported", endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    try:
        holder = EngineHolder(args.rules, args.max_combinations, args.cache_size)
    except RuleSetError as err:
        print(f"rolwijzer-server: cannot load the rules in {args.rules}: {err}", file=sys.stderr)
        return 2
    limits = _limits(args)
    checker = Health()
    exporter = None
    http: tuple[HttpServer, int] | None = None
    try:
        target, explicit = _metrics_target(args)
        audit = _audit_log(args, checker)
        tls = _security(args)
        # One servicer and one gate for both ports: the same admission (expensive budget, stream slots) and the same
        # number of evaluations at once, whichever transport a call came in on.
        servicer = BaselineServicer(holder) if args.baseline else RolwijzerServicer(holder, limits, audit)
        active = active_gate(args.threads, limits)
        server, port = _listening(
            "--address",
            args.address,
            lambda: create_server(
                args.address,
                holder,
                args.threads,
                limits=limits,
                tls=tls,
                checker=checker,
                audit=audit,
                share_port=args.worker_index > 0,
                servicer=servicer,
                interceptors=(MetricsInterceptor(),) if target is not None else (),
                active=active,
            ),
        )
        http_address = _http_address(args)
        if http_address is not None:
            connect = connect_application(
                servicer, active, max_request_bytes=limits.max_request_bytes, measure=target is not None
            )
            application = http_application(connect, cors_origins=args.cors_origin)
            http = _listening(
                "--http-address",
                http_address,
                lambda: create_http_server(http_address, application, tls, share_port=args.worker_index > 0),
            )
        health_server = (
            _listening(
                "--health-address",
                args.health_address,
                lambda: create_health_server(args.health_address, checker, share_port=args.worker_index > 0),
            )[0]
            if args.health_address
            else None
        )
        if target is not None and not args.worker_index:  # a worker's metrics are served by its supervisor
            exporter = _export(target, explicit, REGISTRY)
    except (OSError, RuntimeError, ValueError) as err:
        print(f"rolwijzer-server: {err}", file=sys.stderr)
        if http is not None:
            http[0].stop(0)
        holder.close()
        return 2
    stopped = StopSignal()

    def stop(signum: int, _frame: FrameType | None) -> None:
        # A signal handler runs in the main thread between two of its steps, possibly while that thread holds the
        # log's lock: it only starts the drain, which logs from its own thread.
        threading.Thread(target=drain, args=(signum,), name="drain", daemon=True).start()

    def drain(signum: int) -> None:
        # Health says NOT_SERVING at once, so balancers stop sending; it keeps answering for a moment so health
        # checkers see it, then refuses new calls and lets the calls in flight finish within the grace period.
        checker.enter_graceful_shutdown()
        log.info(
            "server_stopping",
            signal=signal.Signals(signum).name,
            drain_seconds=args.drain_seconds,
            grace_seconds=GRACE_SECONDS,
        )
        time.sleep(args.drain_seconds)
        stopping = server.stop(GRACE_SECONDS)
        if http is not None:
            http[0].stop(GRACE_SECONDS)  # in the same grace: its calls in flight finish, new connections are refused
        if not wait_until(stopping.is_set, GRACE_SECONDS):
            # gRPC cancels the calls still running after the grace with a timed Event.wait, which never elapses
            # under a faked clock (rolwijzer.waiting): a stream still open would hold the shutdown for ever there.
            server.stop(None)
        stopping.wait()
        if health_server is not None:
            health_server.stop(None)
        stopped.set()

    def reload_on_hangup(_signum: int, _frame: FrameType | None) -> None:
        # Reloading compiles every version; keep the signal handler short and let a thread do it.
        threading.Thread(target=holder.reload, args=("SIGHUP",), name="rules-reload", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    _reopen_on_usr1(audit)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload_on_hangup)
    # Handlers are in place before the start is announced, so a signal right after it is handled.
    server.start()
    if http is not None:
        http[0].start()
    if health_server is not None:
        health_server.start()
    with holder.engine() as engine:
        versions = [f"{r.id} {r.version} ({r.window()})" for r in engine.rule_sets]
    log.info(
        "server_started",
        address=args.address,
        port=port,
        http_address=_http_address(args),
        http_port=http[1] if http is not None else None,
        rules=str(args.rules),
        versions=versions,
        metrics=exporter.address if exporter is not None else None,
    )
    if early:
        stop(early[0], None)  # asked to stop while starting: now it can, as for any stop
    if args.watch_interval > 0:
        holder.watch(args.watch_interval, stopped)
    if args.worker_index:
        stop_with_supervisor(stopped)
    stopped.wait()
    _release(exporter, audit, holder)
    return 0


_Bound = TypeVar("_Bound")


def _listening(flag: str, address: str, create: Callable[[], _Bound]) -> _Bound:
    """`create()`, which binds `address`; when it cannot, an OSError naming `flag`, the address and why.

    gRPC says only "Failed to bind to address", cheroot "No socket could be created": the reason is found by
    binding a plain socket there, which fails the same way (in use, not on this machine, no permission).
    """
    try:
        return create()
    except (OSError, RuntimeError) as err:
        problem = _bind_problem(address)
        raise OSError(f"{flag} {address}: cannot listen there ({problem}); give another host:port") from err


def _bind_problem(address: str) -> str:
    """Why a plain socket cannot be bound to `address` (host:port), in the system's words."""
    host, _, port = address.rpartition(":")
    try:
        _probe(host, int(port)).close()
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return reason[:1].lower() + reason[1:]
    return "it is free now: another process held it, or gRPC could not use it"


def _keep_early_stops() -> list[int]:
    """Take SIGTERM and SIGINT from now on, keeping each in the list returned, for the caller to act on once it
    can stop cleanly.

    Python's own handling stopped a server that was still starting half way: Ctrl-C while the rules loaded printed
    a KeyboardInterrupt traceback, and one in the moments after the HTTP port bound would have left its request
    threads, which start when it binds and are not daemons, keeping the process alive.
    """
    requested: list[int] = []

    def keep(signum: int, _frame: FrameType | None) -> None:
        requested.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, keep)
    return requested


def _release(exporter: metrics.Exporter | None, audit: AuditLog | None, holder: EngineHolder) -> None:
    """After the drain: close the metrics port, the decision log (its shutdown checkpoint) and the engine."""
    if exporter is not None:
        exporter.stop()
    if audit is not None:
        audit.close()
    holder.close()
    log.info("server_stopped")


if __name__ == "__main__":
    sys.exit(main())
