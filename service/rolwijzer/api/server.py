"""Wire the gRPC server: the servicer, health, reflection; and the `rolwijzer-server` command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rolwijzer.api.servicer import RolwijzerServicer
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.logs import FORMATS, configure_logging
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSetError
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["RolwijzerService"].full_name
DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_RULES = Path(__file__).resolve().parents[3] / "rules"
GRACE_SECONDS = 5.0

log = structlog.get_logger("rolwijzer.server")


def create_server(address: str, holder: EngineHolder, max_workers: int = 4) -> tuple[grpc.Server, int]:
    """Build an unstarted server for the engine `holder` serves, on `address`; return it with the bound port.

    Use "127.0.0.1:0" for a free port. A port already in use fails loudly (SO_REUSEPORT is off).

    Raises:
        OSError: the address cannot be bound.
    """
    server = grpc.server(ThreadPoolExecutor(max_workers=max_workers), options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_RolwijzerServiceServicer_to_server(RolwijzerServicer(holder), server)
    _add_health_and_reflection(server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def _add_health_and_reflection(server: grpc.Server) -> None:
    checker = health.HealthServicer()
    for name in ("", SERVICE_NAME):
        checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="rolwijzer-server", description="Serve Rolwijzer decisions over gRPC (plaintext, loopback by default)."
    )
    parser.add_argument(
        "--address",
        default=env("ROLWIJZER_ADDRESS", DEFAULT_ADDRESS),
        help="host:port to listen on (env ROLWIJZER_ADDRESS; default %(default)s)",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        default=Path(env("ROLWIJZER_RULES", str(DEFAULT_RULES))),
        help="folder of rule-set versions (env ROLWIJZER_RULES; default %(default)s)",
    )
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=float(env("ROLWIJZER_WATCH_INTERVAL", "1")),
        help="seconds between checks of the rule files for changes, 0 for none; SIGHUP always reloads "
        "(env ROLWIJZER_WATCH_INTERVAL; default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default=env("ROLWIJZER_LOG_FORMAT", "json"),
        help="json lines or readable console lines (env ROLWIJZER_LOG_FORMAT)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(env("ROLWIJZER_THREADS", "4")),
        help="request threads (env ROLWIJZER_THREADS; default %(default)s)",
    )
    parser.add_argument(
        "--max-combinations",
        type=int,
        default=DEFAULT_MAX_COMBINATIONS,
        help="most combinations of unknown facts one request may span (default %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT; exit 2 when the rules or the address are bad."""
    args = _arguments(argv)
    configure_logging(args.log_format)
    try:
        holder = EngineHolder(args.rules, args.max_combinations)
    except RuleSetError as err:
        print(f"rolwijzer-server: cannot load the rules in {args.rules}: {err}", file=sys.stderr)
        return 2
    try:
        server, port = create_server(args.address, holder, args.threads)
    except (OSError, RuntimeError) as err:
        print(f"rolwijzer-server: {err}", file=sys.stderr)
        holder.close()
        return 2
    stopped = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("server_stopping", signal=signal.Signals(signum).name, grace_seconds=GRACE_SECONDS)
        server.stop(GRACE_SECONDS).wait()
        stopped.set()

    def reload_on_hangup(_signum: int, _frame: FrameType | None) -> None:
        # Reloading compiles every version; keep the signal handler short and let a thread do it.
        threading.Thread(target=holder.reload, args=("SIGHUP",), name="rules-reload", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload_on_hangup)
    # Handlers are in place before the start is announced, so a signal right after it is handled.
    server.start()
    with holder.engine() as engine:
        versions = [f"{r.id} {r.version} ({r.window()})" for r in engine.rule_sets]
    log.info("server_started", address=args.address, port=port, rules=str(args.rules), versions=versions)
    if args.watch_interval > 0:
        holder.watch(args.watch_interval, stopped)
    stopped.wait()
    holder.close()
    log.info("server_stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
