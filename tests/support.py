"""Helpers shared by the tests: turn plain scenario values into request messages, and decisions into sets."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.rules import FactType, RuleSet
from rolwijzer.scenarios import situation_request
from rolwijzer.v1 import rolwijzer_pb2 as pb

REPO = Path(__file__).resolve().parents[1]
RULES_ROOT = REPO / "rules"
CURRENT_RELEASE = "2.3.0"  # the newest release: it decides every date from 2015 on unless a request pins another
RULES = RULES_ROOT / "informele-zorg" / CURRENT_RELEASE
# Every shipped release, oldest first; all but the current one are superseded.
RELEASES = ("1.0.0", "1.1.0", "2.0.0", "2.1.0", "2.2.0", CURRENT_RELEASE)
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
    """Send `sig` and wait (a sleep loop: faketime-safe) for the exit code; kill it and fail when it does not come."""
    if process.poll() is None:
        process.send_signal(sig)
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{process.args!r} did not stop within {seconds} s of {sig.name}")
        time.sleep(0.05)
    return process.returncode
