"""Soak test: a bounded load against a TLS server with the decision log on, then a check of the log.

Starts `rolwijzer-server` on 127.0.0.1 with throwaway TLS certificates and `--audit-log`, runs `--concurrency`
callers (grpc.aio) for `--seconds`, stops the server with SIGTERM, and reports calls, errors, p50/p99 latency,
the server's RSS at start and end, and whether the log holds exactly one verified record per successful call.
Exit code 1 when any call failed or the log does not match.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from certs import Authority  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.audit import read_records, verify  # noqa: E402
from rolwijzer.rules import load_rule_set  # noqa: E402
from rolwijzer.scenarios import load_scenarios  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2 as pb  # noqa: E402
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc  # noqa: E402
from support import RULES, SCENARIOS, request  # noqa: E402


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _load(
    address: str, ca: bytes, requests: list[pb.EvaluateRequest], seconds: float, concurrency: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = pb_grpc.RolwijzerServiceStub(channel)
        stop_at = time.monotonic() + seconds

        async def caller(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    await stub.Evaluate(rng.choice(requests), timeout=30)
                    latencies.append((time.perf_counter() - started) * 1000)
                except grpc.RpcError:
                    errors += 1

        await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return latencies, errors


def main() -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rule_set = load_rule_set(RULES)
    requests = [request(rule_set, s.facts) for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        authority = Authority(folder, "soak")
        server_pem = authority.issue("server", server=True)
        audit_path = folder / "decisions.jsonl"
        command = [
            str(Path(sys.executable).parent / "rolwijzer-server"),
            "--address",
            "127.0.0.1:0",
            "--tls-cert",
            str(server_pem.certificate),
            "--tls-key",
            str(server_pem.private_key),
            "--audit-log",
            str(audit_path),
            "--log-format",
            "json",
            "--max-concurrent-rpcs",
            str(args.concurrency * 4),
        ]
        # The server logs a line per decision; only the first (its port) is read, the rest go to a file.
        log_path = folder / "server.log"
        with open(log_path, "w") as server_log:
            process = subprocess.Popen(command, stderr=server_log, env=dict(os.environ, PYTHONUNBUFFERED="1"))
            try:
                deadline = time.monotonic() + 30
                while "server_started" not in log_path.read_text():
                    if time.monotonic() > deadline or process.poll() is not None:
                        print("the server did not start:", log_path.read_text())
                        return 1
                    time.sleep(0.1)
                port = json.loads(log_path.read_text().splitlines()[0])["port"]
                rss_start = _rss_kib(process.pid)
                started = time.perf_counter()
                latencies, errors = asyncio.run(
                    _load(
                        f"127.0.0.1:{port}",
                        authority.pem.certificate.read_bytes(),
                        requests,
                        args.seconds,
                        args.concurrency,
                    )
                )
                elapsed = time.perf_counter() - started
                rss_end = _rss_kib(process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                exit_code = process.wait(timeout=60)
        records = sum(1 for _ in read_records(audit_path))
        problems = verify(audit_path)
    latencies.sort()
    calls = len(latencies) + errors

    def pct(p: int) -> float:
        return latencies[min(len(latencies) - 1, len(latencies) * p // 100)] if latencies else float("nan")

    print(f"soak: {elapsed:.0f} s, concurrency {args.concurrency}, TLS, decision log on")
    print(f"  calls {calls}, errors {errors}, {len(latencies) / elapsed:.0f} calls/s")
    print(f"  latency p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms")
    print(
        f"  server RSS start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB "
        f"({(rss_end - rss_start) / max(rss_start, 1) * 100:+.1f}%)"
    )
    print(
        f"  decision log: {records} records for {len(latencies)} successful calls; chain "
        f"{'intact' if not problems else 'BROKEN: ' + problems[0]}; server exit code {exit_code}"
    )
    ok = errors == 0 and records == len(latencies) and not problems and exit_code == 0
    print("soak passed" if ok else "soak FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
