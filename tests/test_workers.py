"""`--workers 2`: two processes share one port; both serve; SIGTERM stops them all with exit code 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import grpc
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import request

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_workers_share_the_port_and_both_decide(rule_set: RuleSet, tmp_path: Path) -> None:
    """Calls over many connections reach both workers; each worker keeps its own decision log."""
    port = _free_port()
    log_path = tmp_path / "server.log"
    audit = tmp_path / "decisions.jsonl"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [
                str(BIN / "rolwijzer-server"),
                "--address",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--audit-log",
                str(audit),
            ],
            stderr=log_file,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            deadline = time.monotonic() + 30
            while log_path.read_text().count("server_started") < 2:
                assert time.monotonic() < deadline and process.poll() is None, log_path.read_text()
                time.sleep(0.05)
            facts = {"relation_to_beneficiary": "neighbour", "regularity": "occasional_on_request"}
            for _ in range(40):  # a new connection each time: SO_REUSEPORT spreads connections, not calls
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    pb_grpc.RolwijzerServiceStub(channel).Evaluate(request(rule_set, facts), timeout=10)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    workers = {line.get("worker") for line in lines if line["event"] == "decision_made"}
    assert workers == {1, 2}
    per_worker = [tmp_path / "decisions.w1.jsonl", tmp_path / "decisions.w2.jsonl"]
    assert sum(len(p.read_text().splitlines()) for p in per_worker) == 40


def test_workers_need_a_fixed_port() -> None:
    """Port 0 cannot be shared: the server says so and exits 2."""
    done = subprocess.run(
        [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "fixed port" in done.stderr


def _started_workers(log_path: Path, process: subprocess.Popen[bytes], count: int) -> list[int]:
    """Wait (bounded) until `count` server_started lines are logged; return the pids of the workers serving."""
    deadline = time.monotonic() + 60
    while log_path.read_text().count("server_started") < count:
        assert time.monotonic() < deadline and process.poll() is None, log_path.read_text()
        time.sleep(0.05)
    return _worker_pids(process.pid)


def _worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _two_workers(log_file: IO[str]) -> subprocess.Popen[bytes]:
    """`rolwijzer-server --workers 2` on a free port, logging into `log_file`."""
    return subprocess.Popen(
        [str(BIN / "rolwijzer-server"), "--address", f"127.0.0.1:{_free_port()}", "--workers", "2"],
        stderr=log_file,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


class TestSupervision:
    """The supervisor keeps its workers running, and its workers do not outlive it."""

    def test_a_killed_worker_is_restarted(self, tmp_path: Path) -> None:
        """kill -9 of one worker: a new one starts and serves; SIGTERM still stops everything with exit 0."""
        log_path = tmp_path / "server.log"
        with open(log_path, "w") as log_file:
            process = _two_workers(log_file)
            try:
                first, second = _started_workers(log_path, process, 2)
                os.kill(first, signal.SIGKILL)
                _started_workers(log_path, process, 3)
                pids = _worker_pids(process.pid)
                assert second in pids and first not in pids and len(pids) == 2
                assert "worker_died" in log_path.read_text() and "worker_restarted" in log_path.read_text()
            finally:
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=60) == 0

    def test_workers_stop_when_the_supervisor_is_killed(self, tmp_path: Path) -> None:
        """kill -9 of the supervisor: both workers notice, drain and exit within seconds; no orphan keeps serving."""
        log_path = tmp_path / "server.log"
        with open(log_path, "w") as log_file:
            process = _two_workers(log_file)
            workers = _started_workers(log_path, process, 2)
            process.kill()
            process.wait(timeout=30)
            deadline = time.monotonic() + 30
            while any(_alive(pid) for pid in workers):
                assert time.monotonic() < deadline, "orphan workers keep serving"
                time.sleep(0.1)
        assert "supervisor_gone" in log_path.read_text()
