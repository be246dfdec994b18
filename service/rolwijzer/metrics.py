"""Prometheus metrics of the server: what is measured, the small calls that measure it, and the /metrics endpoint.

Every metric is defined here, once, on the default registry, so the README and the Grafana dashboard have one
list to follow. The servicer, the rule reloads and the decision log call the named functions below; the gRPC side
(codes, latency, decisions on the wire) is measured by `rolwijzer.api.rpc_metrics`, an interceptor. Nothing here
imports grpc, and the engine imports nothing from here.

Labels stay few and bounded: gRPC method and code, role, rule id, release version, a rejection reason from a fixed
list, hit or miss. Never a case reference, a fact value or a decision id.

With `--workers N` every worker writes its values to memory-mapped files in a folder the supervisor makes
(prometheus-client's multiprocess mode, switched on by PROMETHEUS_MULTIPROC_DIR in the worker's environment before
prometheus_client is imported) and only the supervisor serves /metrics, summing the files (`multiprocess_registry`).
Gauges therefore say how they are combined over workers (`multiprocess_mode`); the `live` modes drop a dead
worker's value once the supervisor calls `worker_gone`.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server

if TYPE_CHECKING:
    from rolwijzer.engine import Engine

__all__ = [
    "DEFAULT_ADDRESS",
    "MULTIPROC_ENV",
    "REJECTION_REASONS",
    "Exporter",
    "batched",
    "cache_lookup",
    "decision_given",
    "decision_log_fsync",
    "decision_log_pending",
    "decision_log_write_failed",
    "decision_log_written",
    "evaluated",
    "multiprocess_registry",
    "new_multiprocess_dir",
    "parse_address",
    "remove_dir",
    "request_rejected",
    "rpc_children",
    "rules_loaded",
    "rules_reload_failed",
    "serve",
    "worker_gone",
]

DEFAULT_ADDRESS = "127.0.0.1:9464"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Calls take about 1 ms warm and up to seconds for a costly evaluation: fine steps at the low end.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Combinations of open facts run from 1 (all known) to --max-combinations (20,000 by default).
COMBINATION_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_000, 2_000, 5_000, 10_000, 20_000)
FSYNC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# Why a request was refused: a fixed list, so a label can never carry what a caller sent. Anything else is "other".
REJECTION_REASONS = frozenset(
    {
        "invalid_facts",
        "invalid_language",
        "invalid_case_reference",
        "invalid_reference_date",
        "invalid_version",
        "invalid_argument",
        "undecodable",
        "expensive_busy",
        "too_many_streams",
        "deadline",
        "stream_idle",
        "no_rule_set_in_force",
        "decision_log_unavailable",
        "internal",
        "other",
    }
)

RPCS = Counter(
    "rolwijzer_rpcs",
    "gRPC calls finished, by service, method and final status code",
    ["service", "method", "code"],
)
RPC_DURATION = Histogram(
    "rolwijzer_rpc_duration_seconds",
    "Time from the handler's start to its last answer (a stream: its whole life), by service and method",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
RPCS_IN_FLIGHT = Gauge(
    "rolwijzer_rpcs_in_flight",
    "gRPC calls being handled now (waiting for a request thread included), by service and method",
    ["service", "method"],
    multiprocess_mode="livesum",
)
DECISIONS = Counter(
    "rolwijzer_decisions", "Decisions answered (cache hits and batch items included), by role", ["role"]
)
RULE_FIRINGS = Counter(
    "rolwijzer_rule_firings",
    "Rules fired by the engine's evaluations (a decision from the cache or the engine's memo fires none), by rule id",
    ["rule_id"],
)
COMBINATIONS = Histogram(
    "rolwijzer_evaluation_combinations",
    "Combinations of open facts the engine evaluated per evaluation (the cache's and the memo's decisions excluded)",
    buckets=COMBINATION_BUCKETS,
)
REJECTED = Counter(
    "rolwijzer_requests_rejected",
    "Requests refused with an error status (a call or a batch item), by reason",
    ["reason"],
)
CACHE_LOOKUPS = Counter(
    "rolwijzer_decision_cache_lookups", "Lookups in the decision cache, by result (hit, miss)", ["result"]
)
RELOADS = Counter(
    "rolwijzer_rules_reloads",
    "Rule reloads (SIGHUP or changed files) and failed looks of the watcher, by result (success, failure)",
    ["result"],
)
LAST_RELOAD_SUCCESS = Gauge(
    "rolwijzer_rules_last_reload_success_timestamp_seconds",
    "When the rules in service were loaded (the start counts), Unix time; the latest over the workers",
    multiprocess_mode="livemax",
)
LAST_RELOAD_OK = Gauge(
    "rolwijzer_rules_last_reload_successful",
    "1 when the last reload succeeded (or none was tried), 0 when it failed; the lowest over the workers",
    multiprocess_mode="livemin",
)
RELEASES = Gauge(
    "rolwijzer_release_info",
    "1 for every rule-set release in service; superseded_by is empty for a release that is chosen by date",
    ["rule_set", "version", "superseded_by"],
    multiprocess_mode="livemax",
)
LOG_PENDING = Gauge(
    "rolwijzer_decision_log_pending_records",
    "Decision records answered but not yet fsynced (without --audit-sync), summed over the workers",
    multiprocess_mode="livesum",
)
LOG_FSYNC = Histogram(
    "rolwijzer_decision_log_fsync_duration_seconds",
    "Time of each fsync of the decision log (one per batch of records)",
    buckets=FSYNC_BUCKETS,
)
LOG_FAILURES = Counter(
    "rolwijzer_decision_log_write_failures",
    "Failed writes of the decision log (each failed attempt; health is NOT_SERVING until a write succeeds)",
)
LOG_RECORDS = Counter("rolwijzer_decision_log_records_written", "Decision records written and fsynced")

# Every label value that is known up front is exported at 0 from the start, so rate() and the dashboard see them
# before the first event.
for _result in ("success", "failure"):
    RELOADS.labels(_result)
_HIT, _MISS = CACHE_LOOKUPS.labels("hit"), CACHE_LOOKUPS.labels("miss")
LAST_RELOAD_OK.set(1)

# labels() takes a lock and validates on every call; a plain dict of children costs a lookup. Children are never
# removed (except releases), so a child once made stays valid.
_roles: dict[str, Counter] = {}
_rules: dict[str, Counter] = {}
_reasons: dict[str, Counter] = {}
_releases_lock = threading.Lock()
_releases: set[tuple[str, str, str]] = set()


def _child(children: dict[str, Counter], metric: Counter, value: str) -> Counter:
    child = children.get(value)
    if child is None:
        child = children[value] = metric.labels(value)
    return child


def decision_given(role: str, count: int = 1) -> None:
    """Count `count` answered decisions of one role (a value of the rule files, never of the caller: bounded)."""
    _child(_roles, DECISIONS, role).inc(count)


@dataclass
class _Tally:
    """What the evaluations inside `batched` counted: rule firings by rule id, cache lookups by hit."""

    firings: collections.Counter[str] = field(default_factory=collections.Counter)
    lookups: collections.Counter[bool] = field(default_factory=collections.Counter)


_tally: ContextVar[_Tally | None] = ContextVar("rolwijzer_metrics_tally", default=None)


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Count the rule firings and cache lookups of the evaluations inside once per label, when the block ends (also
    when it raises).

    A message of 100 situations fires some 1,400 rules of a few dozen ids, and every increment takes a lock (with
    --workers, also a write to a shared file): counted one by one, they cost about a tenth of a decision the memo
    knows (measured). Only the thread (and context) that entered the block counts into it.
    """
    tally = _Tally()
    token = _tally.set(tally)
    try:
        yield
    finally:
        _tally.reset(token)
        for rule_id, count in tally.firings.items():
            _child(_rules, RULE_FIRINGS, rule_id).inc(count)
        for hit, count in tally.lookups.items():
            (_HIT if hit else _MISS).inc(count)


def evaluated(rule_ids: Iterable[str], combinations: int) -> None:
    """Count one evaluation by the engine: each rule it fired, and the combinations of open facts it evaluated.

    Called for evaluations only, not for every answer: a warm call served from the cache would otherwise pay a
    locked increment per fired rule (some 20 µs of a 380 µs call, measured), for figures the cache repeats.
    Inside `batched`, the firings are counted when the block ends.
    """
    tally = _tally.get()
    if tally is not None:
        tally.firings.update(rule_ids)
    else:
        for rule_id in rule_ids:
            _child(_rules, RULE_FIRINGS, rule_id).inc()
    COMBINATIONS.observe(combinations)


def request_rejected(reason: str) -> None:
    """Count one refused request; a reason outside REJECTION_REASONS is counted as "other"."""
    _child(_reasons, REJECTED, reason if reason in REJECTION_REASONS else "other").inc()


def cache_lookup(hit: bool) -> None:
    """Count one lookup in the decision cache (inside `batched`: when the block ends)."""
    tally = _tally.get()
    if tally is None:
        (_HIT if hit else _MISS).inc()
    else:
        tally.lookups[hit] += 1


def rpc_children(service: str, method: str) -> tuple[Histogram, Gauge]:
    """The latency and in-flight children of one gRPC method (made once per method by the interceptor)."""
    return RPC_DURATION.labels(service, method), RPCS_IN_FLIGHT.labels(service, method)


def rules_loaded(engine: Engine, loaded_at: dt.datetime, *, reloaded: bool) -> None:
    """The rules of `engine` are in service since `loaded_at`: by the first load, or by a reload when `reloaded`."""
    if reloaded:
        RELOADS.labels("success").inc()
    LAST_RELOAD_OK.set(1)
    LAST_RELOAD_SUCCESS.set(loaded_at.timestamp())
    current = {(r.id, r.version, engine.versions.superseded_by.get(r.version, "")) for r in engine.rule_sets}
    with _releases_lock:
        for gone in _releases - current:
            # Set to 0 before removing: in multiprocess mode the value lives on in the worker's file.
            RELEASES.labels(*gone).set(0)
            RELEASES.remove(*gone)
        for labels in current:
            RELEASES.labels(*labels).set(1)
        _releases.clear()
        _releases.update(current)


def rules_reload_failed() -> None:
    """A reload was refused (the old rules stay in service), or the watcher could not look at the files."""
    RELOADS.labels("failure").inc()
    LAST_RELOAD_OK.set(0)


def decision_log_pending(records: int) -> None:
    """The decision log has `records` records waiting to be written."""
    LOG_PENDING.set(records)


def decision_log_fsync(seconds: float) -> None:
    """One fsync of the decision log took `seconds`."""
    LOG_FSYNC.observe(seconds)


def decision_log_written(records: int) -> None:
    """`records` decision records were written and fsynced."""
    LOG_RECORDS.inc(records)


def decision_log_write_failed() -> None:
    """One write of the decision log failed."""
    LOG_FAILURES.inc()


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a `host:port` (`[::1]:9464` for IPv6), or None for "0", which turns metrics off.

    Raises:
        ValueError: not of that form.
    """
    if address.strip() == "0":
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--metrics-address {address!r}: give host:port, or 0 for no metrics")
    return host.strip("[]"), int(port)


@dataclass
class Exporter:
    """The running /metrics endpoint: where it listens, and how to stop it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def address(self) -> str:
        """host:port it listens on (the real port when 0 was asked for)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.shutdown()  # an untimed wait for the serving loop, which polls with select: no faked clock
        self._server.server_close()
        self._thread.join()


def serve(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> Exporter:
    """Serve `registry` over HTTP on host:port (every path answers; /metrics is the one to scrape).

    Raises:
        OSError: the address cannot be bound.
    """
    server, thread = start_http_server(port, host, registry=registry)
    thread.name = "metrics-http"
    return Exporter(host, int(server.server_address[1]), server, thread)


def new_multiprocess_dir() -> Path:
    """A new private folder for the workers' metric files (the supervisor removes it with `remove_dir`)."""
    return Path(tempfile.mkdtemp(prefix="rolwijzer-metrics-"))


def remove_dir(path: Path) -> None:
    """Remove the workers' metric files (at the supervisor's exit)."""
    shutil.rmtree(path, ignore_errors=True)


def multiprocess_registry(path: Path) -> CollectorRegistry:
    """A registry that sums the metric files of every worker in `path` at each scrape."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    return registry


def worker_gone(pid: int, path: Path) -> None:
    """Drop the gauges of a worker that exited (its counters stay in the sums, so totals never go down)."""
    multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
