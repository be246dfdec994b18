"""Helpers shared by the tests: turn plain scenario values into request messages, and decisions into sets."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.rules import FactType, RuleSet
from rolwijzer.scenarios import situation_request
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
RULES_ROOT = REPO / "rules"
CURRENT_RELEASE = "2.4.0"  # the newest release: it decides every date from 2015 on unless a request pins another
RULES = RULES_ROOT / "informele-zorg" / CURRENT_RELEASE
# Every shipped release, oldest first; all but the current one are superseded.
RELEASES = ("1.0.0", "1.1.0", "2.0.0", "2.1.0", "2.2.0", "2.3.0", CURRENT_RELEASE)
SUPERSEDED = RELEASES[:-1]
SCENARIOS = REPO / "tests" / "scenarios"


def examples(count: int) -> int:
    """How many examples a property test draws: `count`, or the share of it set by TEST_EXAMPLE_SHARE (0 to 1).

    CI runs the whole suite again with the clock years ahead (.ci/run). Those runs check that nothing depends on
    the date, not the breadth of each property, which the run on the true date covers: they draw a quarter.
    """
    share = float(os.environ.get("TEST_EXAMPLE_SHARE") or 1)
    return max(10, round(count * share))


def request(
    rule_set: RuleSet,
    facts: Mapping[str, Any],
    language: str = "",
    case_reference: str = "",
    reference_date: dt.date | None = None,
) -> pb.EvaluateRequest:
    """An EvaluateRequest for plain facts, as a scenario file writes them, on `reference_date` when given."""
    set_facts = {f.name for f in rule_set.facts.values() if f.type == FactType.SET}
    built = situation_request(facts, set_facts, reference_date)
    built.language, built.case_reference = language, case_reference
    return built


# A neighbour helping 3 hours a week for a month: one combination, decided in about a millisecond.
CHEAP_FACTS: dict[str, Any] = {
    "relation_to_beneficiary": "neighbour",
    "regularity": "structural",
    "hours_per_week": 3,
    "duration_months": 1,
    "tasks": ["household"],
}
# A child helping 4 hours a week for a month: sociaal netwerk until the intensity threshold is lowered.
FOUR_HOURS_ONE_MONTH: dict[str, Any] = {
    "relation_to_beneficiary": "child",
    "regularity": "structural",
    "hours_per_week": 4,
    "duration_months": 1,
    "tasks": ["household"],
}


def health_status(address: str) -> int | None:
    """The grpc.health.v1 status of the whole server at `address`, or None when nothing answers (yet)."""
    try:
        with grpc.insecure_channel(address) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            return int(check(health_pb2.HealthCheckRequest(service=""), timeout=2).status)
    except grpc.RpcError:
        return None


def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, seconds: float = 30) -> int:
    """Send `sig` and wait (a sleep loop: faketime-safe) for the exit code; when it does not come, fail with where
    the process stood: SIGABRT makes Python's fault handler (PYTHONFAULTHANDLER, set by conftest.py) write every
    thread's stack to its standard error, quoted from a pipe the test had not read to the end."""
    if process.poll() is None:
        process.send_signal(sig)
    if _exited(process, seconds):
        return process.returncode
    process.send_signal(signal.SIGABRT)
    if not _exited(process, 10):
        process.kill()
    try:
        out, err = process.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):  # a pipe another thread of the test reads
        out, err = None, None
    lines = [
        line
        for text in (out, err)
        if text
        for line in (text if isinstance(text, str) else text.decode(errors="replace")).splitlines()[-80:]
    ]
    tail = "\n".join(lines)
    pytest.fail(f"{process.args!r} did not stop within {seconds} s of {sig.name}; its last lines:\n{tail}")


def _exited(process: subprocess.Popen[bytes], seconds: float) -> bool:
    return wait_until(lambda: process.poll() is not None, seconds)  # counted sleeps: a faked clock may not move
