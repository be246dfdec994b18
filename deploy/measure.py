"""Measure one server's memory (RSS) and CPU as the Deployment runs it, to set its requests and limits from figures.

One `rolwijzer-server` on 127.0.0.1 as the Deployment starts it (2 request threads, cache on, decision log on,
rules watched each second), then:
  1. idle: RSS after start, and CPU over IDLE_SECONDS with no calls (the rules watch only);
  2. load: LOAD_SECONDS of bounded load from a separate client process: CONCURRENCY calls in flight, all distinct
     (so the decision cache fills to its 10,000 entries, the most memory it holds), a tenth of them with unknown
     facts (a few combinations each); RSS sampled every 0.2 s, CPU as seconds of CPU per second;
  3. after: RSS with the cache full; then SIGHUP (a reload of every version) and the peak RSS (VmHWM) of the run.
Prints the figures; Linux only (/proc). Run by `make measure`, or:
    PYTHONPATH=service:tests python deploy/measure.py [LOAD_SECONDS [SERVER FLAGS...]]
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
IDLE_SECONDS = 10.0
RELOAD_SECONDS = 8.0
CONCURRENCY = 8
EVALUATE = "/rolwijzer.v1.RolwijzerService/Evaluate"
TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(pid: int, field: str) -> int:
    """A /proc/PID/status figure in MiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU of the process, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _payloads(count: int) -> list[bytes]:
    sys.path.insert(0, str(REPO / "tests"))
    from rolwijzer.rules import load_rule_sets  # noqa: PLC0415 - the client process imports the engine only here
    from support import CURRENT_RELEASE, request  # noqa: PLC0415

    rule_set = next(r for r in load_rule_sets(REPO / "rules") if r.version == CURRENT_RELEASE)
    rng = random.Random(13)
    relations = ["partner", "child", "neighbour", "friend", "none"]
    payloads = []
    for i in range(count):
        facts: dict[str, Any] = {
            "relation_to_beneficiary": relations[i % 5],
            "initiative": "client_or_family",
            "regularity": "structural",
            "hours_per_week": round(rng.uniform(0, 40), 4),
            "duration_months": round(rng.uniform(0, 60), 4),
            "tasks": rng.sample(["household", "personal_care", "medication_oral", "reserved_act"], 2),
        }
        if i % 10 == 0:  # a tenth with open facts, as an intake in progress sends them
            facts["payment"] = "unknown"
            facts["initiative"] = "unknown"
        payloads.append(request(rule_set, facts).SerializeToString())
    return payloads


def _load(address: str, seconds: float, result: multiprocessing.SimpleQueue[tuple[int, int]]) -> None:
    """Keep CONCURRENCY calls in flight for `seconds` (and at most 60,000 calls); report (answered, failed)."""
    payloads = _payloads(12_000)
    answered = failed = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(EVALUATE, request_serializer=None, response_deserializer=None)

        def caller(seed: int) -> None:
            nonlocal answered, failed
            index = seed
            while time.monotonic() < stop_at and answered + failed < 60_000:
                try:
                    call(payloads[index % len(payloads)], timeout=30)
                    with lock:
                        answered += 1
                except grpc.RpcError:
                    with lock:
                        failed += 1
                index += CONCURRENCY

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    result.put((answered, failed))


def main() -> None:
    """Start the server, measure idle, load and after; print the figures; stop the server."""
    load_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    address = f"127.0.0.1:{_free_port()}"
    with tempfile.TemporaryDirectory() as folder:
        command = [
            str(Path(sys.executable).parent / "rolwijzer-server"),
            "--address",
            address,
            "--rules",
            str(REPO / "rules"),
            "--audit-log",
            str(Path(folder) / "decisions.jsonl"),
            "--log-level",
            "warning",
            *sys.argv[2:],  # more server flags, e.g. --cache-size 0
        ]
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with grpc.insecure_channel(address) as channel:
                        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.1)
            pid = server.pid
            time.sleep(2)
            idle_rss = _status(pid, "VmRSS")
            cpu, wall = _cpu_seconds(pid), time.monotonic()
            time.sleep(IDLE_SECONDS)
            idle_cpu = (_cpu_seconds(pid) - cpu) / (time.monotonic() - wall)

            result: multiprocessing.SimpleQueue[tuple[int, int]] = multiprocessing.SimpleQueue()
            client = multiprocessing.Process(target=_load, args=(address, load_seconds, result))
            cpu, wall = _cpu_seconds(pid), time.monotonic()
            client.start()
            samples = []
            while client.is_alive() and time.monotonic() < wall + load_seconds + 120:
                samples.append(_status(pid, "VmRSS"))
                time.sleep(0.2)
            client.join(timeout=30)
            elapsed = time.monotonic() - wall
            load_cpu = (_cpu_seconds(pid) - cpu) / elapsed
            answered, failed = result.get() if not result.empty() else (0, -1)
            after_rss = _status(pid, "VmRSS")
            # A reload compiles every version beside the engine in service: the other moment memory peaks.
            server.send_signal(signal.SIGHUP)
            time.sleep(RELOAD_SECONDS)
            peak_rss = _status(pid, "VmHWM")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"idle:  RSS {idle_rss} MiB, CPU {idle_cpu * 1000:.0f} millicores over {IDLE_SECONDS:.0f} s")
    print(
        f"load:  {answered} calls in {elapsed:.1f} s ({answered / elapsed:.0f}/s, {failed} failed), "
        f"{CONCURRENCY} in flight; CPU {load_cpu * 1000:.0f} millicores; RSS max sampled {max(samples)} MiB"
    )
    print(f"after: RSS {after_rss} MiB (decision cache full); peak RSS (VmHWM) with a reload after it {peak_rss} MiB")


if __name__ == "__main__":
    main()
