"""Soak test: a bounded load against a TLS server with the decision log on, then kill -9 cycles; check the log.

Steady phase: starts `rolwijzer-server` on 127.0.0.1 with throwaway TLS certificates, `--audit-log` and
`--audit-key-file`, runs `--concurrency` callers (grpc.aio) for `--seconds`, stops the server with SIGTERM, and
reports calls, errors, p50/p99 latency, the server's RSS at start and end, and whether the log holds exactly one
record per successful call and verifies with the key up to the shutdown checkpoint.

Kill phase: `--kill-cycles` times with `--audit-sync` and as many without, a server on one log is killed with
SIGKILL `--cycle-seconds` into a load; after each kill the chain is verified with the key (a torn last line is
allowed: the next start cuts it) and the decisions acknowledged are compared with the records. With --audit-sync
every acknowledged decision must have its record; without, the records that were still waiting are lost (reported).
A last clean start and stop must leave a log that verifies up to its shutdown checkpoint.

Exit code 1 when a steady call failed, the steady log does not match, or a kill cycle broke the guarantees.
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
from dataclasses import dataclass, field
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from certs import Authority, Pem  # noqa: E402 - after the path set-up for the test helpers
from rolwijzer.audit_file import read_records  # noqa: E402
from rolwijzer.audit_keys import AuditKey, write_new_key  # noqa: E402
from rolwijzer.audit_verify import Report, verify_files  # noqa: E402
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


@dataclass
class Load:
    """What the callers saw: latencies of answered calls, their decision ids, and errors."""

    latencies: list[float] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    errors: int = 0


async def _load(
    address: str,
    ca: bytes,
    requests: list[pb.EvaluateRequest],
    seconds: float,
    concurrency: int,
    kill: subprocess.Popen[bytes] | None = None,
) -> Load:
    """Call for `seconds`; with `kill`, SIGKILL that server half-way through the last second's calls."""
    seen = Load()
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = pb_grpc.RolwijzerServiceStub(channel)
        stop_at = time.monotonic() + seconds
        if kill is not None:
            asyncio.get_running_loop().call_later(max(seconds - 0.5, 0.1), kill.kill)

        async def caller(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    answer = await stub.Evaluate(rng.choice(requests), timeout=30)
                    seen.latencies.append((time.perf_counter() - started) * 1000)
                    seen.acknowledged.append(answer.decision.decision_id)
                except grpc.RpcError:
                    seen.errors += 1
                    if kill is not None and kill.poll() is not None:
                        return

        await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return seen


class Served:
    """A `rolwijzer-server` with TLS and the decision log; its log lines go to a file."""

    def __init__(self, folder: Path, pem: Pem, audit: Path, key: Path, flags: list[str], concurrency: int) -> None:
        self.log_path = folder / f"server-{time.monotonic_ns()}.log"
        command = [
            str(Path(sys.executable).parent / "rolwijzer-server"),
            "--address",
            "127.0.0.1:0",
            "--tls-cert",
            str(pem.certificate),
            "--tls-key",
            str(pem.private_key),
            "--audit-log",
            str(audit),
            "--audit-key-file",
            str(key),
            "--log-format",
            "json",
            "--max-concurrent-rpcs",
            str(concurrency * 4),
            *flags,
        ]
        with open(self.log_path, "w") as server_log:
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            self.process = subprocess.Popen(command, stderr=server_log, env=env)
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + 30
        while True:
            for line in self.log_path.read_text().splitlines():
                if line.startswith("{") and json.loads(line).get("event") == "server_started":
                    return int(json.loads(line)["port"])
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the server did not start: {self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def _decision_ids(path: Path) -> list[str]:
    return [str(record["decision_id"]) for _, record, _ in read_records(path) if record and "decision_id" in record]


def main() -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="steady load (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--kill-cycles", type=int, default=3, help="kill -9 cycles with and without --audit-sync (default %(default)s)"
    )
    parser.add_argument("--cycle-seconds", type=float, default=3.0, help="load per kill cycle (default %(default)s)")
    args = parser.parse_args()
    rule_set = load_rule_set(RULES)
    requests = [request(rule_set, s.facts) for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        authority = Authority(folder, "soak")
        pem = authority.issue("server", server=True)
        ca = authority.pem.certificate.read_bytes()
        key_path = folder / "audit.key"
        key = write_new_key(key_path)
        ok = _steady(args, folder, pem, ca, key_path, key, requests) if args.seconds > 0 else True
        for sync in (True, False):
            if args.kill_cycles > 0:
                ok = _kill_cycles(args, folder, pem, ca, key_path, key, requests, sync) and ok
    print("soak passed" if ok else "soak FAILED")
    return 0 if ok else 1


def _steady(
    args: argparse.Namespace,
    folder: Path,
    pem: Pem,
    ca: bytes,
    key_path: Path,
    key: AuditKey,
    requests: list[pb.EvaluateRequest],
) -> bool:
    audit_path = folder / "decisions.jsonl"
    served = Served(folder, pem, audit_path, key_path, [], args.concurrency)
    try:
        rss_start = _rss_kib(served.process.pid)
        started = time.perf_counter()
        seen = asyncio.run(_load(f"127.0.0.1:{served.port}", ca, requests, args.seconds, args.concurrency))
        elapsed = time.perf_counter() - started
        rss_end = _rss_kib(served.process.pid)
    finally:
        exit_code = served.stop()
    records = _decision_ids(audit_path)
    report = verify_files([audit_path], key, expect_shutdown=True)
    latencies = sorted(seen.latencies)
    calls = len(latencies) + seen.errors

    def pct(p: int) -> float:
        return latencies[min(len(latencies) - 1, len(latencies) * p // 100)] if latencies else float("nan")

    print(f"soak: {elapsed:.0f} s, concurrency {args.concurrency}, TLS, decision log on (keyed, batched)")
    print(f"  calls {calls}, errors {seen.errors}, {len(latencies) / elapsed:.0f} calls/s")
    print(f"  latency p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms")
    print(
        f"  server RSS start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB "
        f"({(rss_end - rss_start) / max(rss_start, 1) * 100:+.1f}%)"
    )
    print(
        f"  decision log: {len(records)} records for {len(latencies)} successful calls; "
        f"{_verified(report)}; "
        f"server exit code {exit_code}"
    )
    return seen.errors == 0 and sorted(records) == sorted(seen.acknowledged) and not report.problems and exit_code == 0


def _kill_cycles(
    args: argparse.Namespace,
    folder: Path,
    pem: Pem,
    ca: bytes,
    key_path: Path,
    key: AuditKey,
    requests: list[pb.EvaluateRequest],
    sync: bool,
) -> bool:
    mode = "--audit-sync" if sync else "batched"
    audit_path = folder / f"killed-{'sync' if sync else 'batched'}.jsonl"
    flags = ["--audit-sync"] if sync else []
    acknowledged: list[str] = []
    ok = True
    print(
        f"kill -9 cycles, {mode}: {args.kill_cycles} x {args.cycle_seconds:g} s of load, concurrency {args.concurrency}"
    )
    for cycle in range(1, args.kill_cycles + 1):
        served = Served(folder, pem, audit_path, key_path, flags, args.concurrency)
        address = f"127.0.0.1:{served.port}"
        seen = asyncio.run(_load(address, ca, requests, args.cycle_seconds, args.concurrency, kill=served.process))
        served.process.wait(timeout=60)
        acknowledged += seen.acknowledged
        records = set(_decision_ids(audit_path))
        missing = [d for d in acknowledged if d not in records]
        found = verify_files([audit_path], key).problems
        problems = [p.text() for p in found if p.key != "torn"]
        torn = len(found) - len(problems)
        repaired = sum("audit_tail_repaired" in line for line in served.log_path.read_text().splitlines())
        print(
            f"  cycle {cycle}: {len(seen.acknowledged)} acknowledged, {seen.errors} refused or cut off by the kill; "
            f"log {len(records)} records for {len(acknowledged)} acknowledged so far, {len(missing)} acknowledged "
            f"without a record; torn last line {'yes' if torn else 'no'}; tails repaired at start {repaired}; "
            f"chain {'intact' if not problems else 'BROKEN: ' + problems[0]}"
        )
        ok = ok and not problems and (not sync or not missing)
    served = Served(folder, pem, audit_path, key_path, flags, args.concurrency)
    code = served.stop()
    report = verify_files([audit_path], key, expect_shutdown=True)
    records = set(_decision_ids(audit_path))
    missing = [d for d in acknowledged if d not in records]
    print(
        f"  after a clean restart and stop: {len(records)} records, {len(missing)} acknowledged without a record "
        f"({'none allowed' if sync else 'the records still waiting at each kill'}); "
        f"{_verified(report)}; "
        f"exit code {code}"
    )
    return ok and not report.problems and code == 0 and (not sync or not missing)


if __name__ == "__main__":
    sys.exit(main())


def _verified(report: Report) -> str:
    """How the decision log verified, for a progress line."""
    return "verified up to its shutdown checkpoint" if not report.problems else f"BROKEN: {report.problems[0].text()}"
