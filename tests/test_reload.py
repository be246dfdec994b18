"""Hot reload: a good change is picked up without a failed call; a bad one is refused and reported."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.api import create_server
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet
from rolwijzer.rules.manifest import write_manifests
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from rolwijzer.waiting import StopSignal
from support import CURRENT_RELEASE, FOUR_HOURS_ONE_MONTH, RELEASES, RULES_ROOT, request

WATCH_INTERVAL = 0.05


def _write(path: Path, text: str) -> None:
    """Replace a file in one step, as a deploy would, so the watcher never reads half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}"
    _write(path, text.replace(old, new, 1))


def _add_release(root: Path, base: str, version: str, parameter_change: tuple[str, str]) -> None:
    """Publish a correcting release as a deploy would: built beside the rules, then moved in with one rename."""
    staging = root.parent / f"staging-{version}"
    shutil.copytree(root / "informele-zorg" / base, staging)
    _edit(staging / "ruleset.yaml", f"version: {base}", f"version: {version}")
    _edit(staging / "ruleset.yaml", "supersedes: [", f"supersedes: [{base}, ")
    _edit(staging / "parameters.yaml", *parameter_change)
    assert write_manifests(staging).written  # a deploy writes the new release's manifest before moving it in
    os.rename(staging, root / "informele-zorg" / version)


def _wait_for(predicate: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of rules/ to change."""
    root = tmp_path / "rules"
    shutil.copytree(RULES_ROOT, root, ignore=shutil.ignore_patterns("README.md"))
    return root


@pytest.fixture()
def watched(rules_copy: Path) -> Iterator[tuple[EngineHolder, pb_grpc.RolwijzerServiceStub, grpc.Channel]]:
    """A server on 127.0.0.1 whose holder watches the copy."""
    holder = EngineHolder(rules_copy, DEFAULT_MAX_COMBINATIONS)
    stop = StopSignal()
    holder.watch(WATCH_INTERVAL, stop)
    server, port = create_server("127.0.0.1:0", holder)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield holder, pb_grpc.RolwijzerServiceStub(channel), channel
    stop.set()
    server.stop(grace=None)
    holder.close()


def test_a_good_change_is_picked_up_under_load_without_a_failed_call(
    watched: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub, grpc.Channel], rules_copy: Path, rule_set: RuleSet
) -> None:
    """Three callers keep calling while a new dated threshold arrives; every call succeeds; answers switch once."""
    _, stub, _ = watched
    req = request(rule_set, FOUR_HOURS_ONE_MONTH)
    seen: list[list[tuple[str, str]]] = [[] for _ in range(3)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def caller(index: int) -> None:
        try:
            for _ in range(5_000):  # bounded; the test stops it much earlier
                decision = stub.Evaluate(req, timeout=10).decision
                seen[index].append((decision.rule_set.version, decision.role))
                if stop.is_set():
                    return
        except BaseException as err:  # asserted below
            errors.append(err)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: all(len(s) > 20 for s in seen))
    _add_release(
        rules_copy, CURRENT_RELEASE, "9.0.0", ("      2015-01-01: 8\n", "      2015-01-01: 8\n      2016-01-01: 2\n")
    )
    _wait_for(lambda: all(s and s[-1][0] == "9.0.0" for s in seen))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    for answers in seen:
        assert set(answers) <= {(CURRENT_RELEASE, "SOCIAAL_NETWERK"), ("9.0.0", "MANTELZORGER")}
        switched = [a[0] for a in answers]
        first_new = switched.index("9.0.0")
        assert set(switched[first_new:]) == {"9.0.0"}, "a caller saw the old release after the new one"


def test_a_broken_change_is_refused_and_the_old_rules_keep_serving(
    watched: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub, grpc.Channel], rules_copy: Path, rule_set: RuleSet
) -> None:
    """An unknown code in a rule: decisions go on with the old version, status shows file, rule and reason."""
    holder, stub, channel = watched
    req = request(rule_set, FOUR_HOURS_ONE_MONTH)
    before = stub.Evaluate(req).decision
    stage_e = rules_copy / "informele-zorg" / CURRENT_RELEASE / "stage-e.yaml"
    original = stage_e.read_text(encoding="utf-8")
    _edit(stage_e, "codes: [WKKGZ_GOEDE_ZORG]", "codes: [WKKGZ_GOED]")
    _wait_for(lambda: stub.GetStatus(pb.GetStatusRequest()).HasField("last_reload_error"))
    status = stub.GetStatus(pb.GetStatusRequest())
    # file:line:column: rule: reason; the place is where the unknown code is written.
    problem = re.compile(rf"informele-zorg/{CURRENT_RELEASE}/stage-e\.yaml:\d+:\d+: E6: unknown code 'WKKGZ_GOED'")
    assert any(problem.fullmatch(line) for line in status.last_reload_error.problems), status.last_reload_error
    after = stub.Evaluate(req).decision
    assert (after.role, after.rule_set.sha256) == (before.role, before.rule_set.sha256)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    _write(stage_e, original)
    _wait_for(lambda: not stub.GetStatus(pb.GetStatusRequest()).HasField("last_reload_error"))
    assert holder.last_failure is None


def test_sighup_reloads_the_running_server(rules_copy: Path) -> None:
    """With watching off, `kill -HUP` makes the server load the changed files and log rules_reloaded."""
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "rolwijzer-server"),
            "--address",
            "127.0.0.1:0",
            "--rules",
            str(rules_copy),
            "--watch-interval",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stderr is not None
    try:
        assert json.loads(process.stderr.readline())["event"] == "server_started"
        _add_release(rules_copy, CURRENT_RELEASE, "9.0.0", ("      2015-01-01: 8\n", "      2015-01-01: 9\n"))
        process.send_signal(signal.SIGHUP)
        logged = json.loads(process.stderr.readline())
        assert logged["event"] == "rules_reloaded" and logged["reason"] == "SIGHUP"
        assert logged["versions"] == [*RELEASES, "9.0.0"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_get_status_never_shows_the_servers_own_paths(
    watched: tuple[EngineHolder, pb_grpc.RolwijzerServiceStub, grpc.Channel], rules_copy: Path
) -> None:
    """With every release moved away, GetStatus says so relative to the rules root, not with the absolute path."""
    _, stub, _ = watched
    os.rename(rules_copy / "informele-zorg", rules_copy.parent / "moved-away")
    _wait_for(lambda: stub.GetStatus(pb.GetStatusRequest()).HasField("last_reload_error"))
    problems = list(stub.GetStatus(pb.GetStatusRequest()).last_reload_error.problems)
    assert problems and all(str(rules_copy.parent) not in line for line in problems), problems
    assert any(line.startswith("<rules>") for line in problems), problems
