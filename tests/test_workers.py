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
