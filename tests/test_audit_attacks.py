"""The decision-log attacks of the security review, each against a real `rolwijzer-server` and the real CLI.

1. deleting or rotating the file while serving; 2. phantom records of refused decisions on a full disk (--audit-sync);
3. decisions answered while the log is down (no --audit-sync) and lost to kill -9; 4. a torn last line;
5. cutting off the tail, or editing a line and re-sealing the chain; 6. a facts hash that can be reversed.

A full disk is the file-size limit of the server process (RLIMIT_FSIZE, set from outside with prlimit): a write
past it is cut short and the next fails (EFBIG), as on a disk that fills up; lifting the limit is space returning.
The server's log goes to a pipe, which the limit does not touch. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.api import SERVICE_NAME
from rolwijzer.api.convert import facts_json
from rolwijzer.audit_file import canonical, canonical_facts, seal
from rolwijzer.audit_keys import AuditKey
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import REPO, request

BIN = Path(sys.executable).parent
FACTS = {"relation_to_beneficiary": "neighbour", "regularity": "occasional_on_request", "tasks": ["household"]}
UNLIMITED = resource.RLIM_INFINITY


def _env() -> dict[str, str]:
    """The child runs this checkout's code, whichever checkout the installed package points at."""
    paths = [str(REPO / "service"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1", PYTHONPATH=os.pathsep.join(paths))


def _wait_for(condition: Any, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Server:
    """`rolwijzer-server` on a free loopback port with a decision log; its JSON log lines are read by a thread."""

    def __init__(self, *flags: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0", "--log-format", "json", *flags],
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        _wait_for(lambda: self.events("server_started") or self.process.poll() is not None, "the server's start")
        assert self.process.poll() is None, "".join(self.lines)
        port = self.events("server_started")[0]["port"]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.RolwijzerServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found

    def decide(self, rule_set: RuleSet, facts: dict[str, Any] | None = None) -> str:
        """The decision id of an answered call (raises grpc.RpcError when refused)."""
        answer = self.stub.Evaluate(request(rule_set, FACTS if facts is None else facts), timeout=10)
        return answer.decision.decision_id

    def refused(self, rule_set: RuleSet) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as refused:
            self.decide(rule_set)
        return refused.value.code()

    def serving(self) -> bool:
        answer = self.health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    def disk_full(self, room: int | None) -> None:
        """Only `room` more bytes fit in the file at `path` (a write past them is cut short, the next one fails);
        None: space returned."""
        limit = UNLIMITED if room is None else room
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (limit, UNLIMITED))

    def stop(self) -> int:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Seen once in CI (under faketime 2031-01-01, on 2026-12-02), not here in 19 tries: say where every thread
            # of the server stood, from Python's fault handler (PYTHONFAULTHANDLER, set by _env), before failing.
            self.process.send_signal(signal.SIGABRT)
            self.process.wait(timeout=30)
            time.sleep(0.5)  # the reader thread takes the last lines
            last = "".join(self.lines[-80:])
            raise AssertionError(f"no exit 30 s after SIGTERM; the server's last lines:\n{last}") from None

    def kill(self) -> None:
        self.channel.close()
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture()
def servers() -> Iterator[list[Server]]:
    """Servers started by a test; any still running at its end are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.kill()


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.key"
    done = _cli("new-key", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def _serve(servers: list[Server], *flags: str) -> Server:
    server = Server(*flags)
    servers.append(server)
    return server


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "rolwijzer"), "--lang", "en", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_env(),
    )


def _records(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a log (a line being written may be read half)."""
    return [json.loads(line) for line in path.read_bytes().splitlines(keepends=True) if line.endswith(b"\n")]


def _decision_ids(path: Path) -> list[str]:
    return [r["decision_id"] for r in _records(path) if "decision_id" in r]


class TestDeletedOrRotatedFile:
    """Attack 1: the server follows the path; nothing is acknowledged that is not in the file at the path."""

    @pytest.mark.parametrize("sync", [True, False], ids=["sync", "batched"])
    def test_decisions_after_a_deletion_land_in_a_new_file_at_the_path(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path, sync: bool
    ) -> None:
        """Deleting the log while serving: the next decisions are in a new file at the path, chained on."""
        path = tmp_path / "decisions.jsonl"
        server = _serve(
            servers, "--audit-log", str(path), "--audit-key-file", str(key_file), *(["--audit-sync"] if sync else [])
        )
        before = [server.decide(rule_set) for _ in range(3)]
        _wait_for(lambda: _decision_ids(path) == before, "the first records")
        hashes = [r["sha256"] for r in _records(path)]
        path.unlink()
        after = [server.decide(rule_set) for _ in range(3)]
        if sync:  # acknowledged means in the file at the path, at once
            assert path.exists() and _decision_ids(path) == after
        _wait_for(lambda: path.exists() and _decision_ids(path)[-3:] == after, "the records in the new file")
        # Batched, the last of the first records may still have been on its way: its fsync returned after the
        # deletion, so the writer found the file gone and wrote it again, at the path. Each is there once. The
        # writer groups records (10 ms), so all three may have been in that last write.
        moved = _decision_ids(path)[:-3]
        assert moved == before[len(before) - len(moved) :] and (not sync or not moved)
        kept = len(hashes) - len(moved)
        assert _records(path)[0]["prev_sha256"] == (hashes[kept - 1] if kept else "0" * 64)
        assert server.events("audit_file_reopened")[0]["reason"] == "deleted"
        assert server.stop() == 0
        done = _cli("verify", str(path), "--key-file", str(key_file), "--expect-shutdown")
        assert done.returncode == 0, done.stdout
        # The new file continues the chain of what stayed in the deleted one; when nothing stayed there, it is
        # the whole chain, from its start.
        continues = "line 1: continues a previous file whose last line has sha256" in done.stdout
        assert continues == bool(kept), done.stdout

    def test_a_rotated_log_is_sealed_and_continued_in_the_new_file(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path
    ) -> None:
        """logrotate (rename, then SIGUSR1): the old file ends with a sealed checkpoint; both verify as one chain."""
        path, rotated = tmp_path / "decisions.jsonl", tmp_path / "decisions.jsonl.1"
        server = _serve(servers, "--audit-log", str(path), "--audit-key-file", str(key_file), "--audit-sync")
        before = [server.decide(rule_set) for _ in range(3)]
        path.rename(rotated)
        server.process.send_signal(signal.SIGUSR1)
        _wait_for(lambda: server.events("audit_file_reopened"), "the reopening")
        after = [server.decide(rule_set) for _ in range(2)]
        assert server.stop() == 0
        assert _decision_ids(rotated) == before and _decision_ids(path) == after
        assert _records(rotated)[-1]["checkpoint"]["reason"] == "rotated"
        done = _cli("verify", str(rotated), str(path), "--key-file", str(key_file), "--expect-shutdown")
        assert done.returncode == 0, done.stdout
        assert all(len(line) < 400 for line in done.stdout.splitlines())


class TestFullDiskWithSync:
    """Attack 2: with --audit-sync, a refused decision leaves no record, then or later, and refusing stays cheap."""

    def test_refused_decisions_are_never_written_and_cost_the_same(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path
    ) -> None:
        """200 refusals on a full disk: none is written once space returns; the last are as fast as the first."""
        path = tmp_path / "decisions.jsonl"
        server = _serve(servers, "--audit-log", str(path), "--audit-key-file", str(key_file), "--audit-sync")
        answered = [server.decide(rule_set) for _ in range(3)]
        size = path.stat().st_size
        server.disk_full(size + 50)
        timings = []
        for _ in range(200):
            started = time.perf_counter()
            assert server.refused(rule_set) == grpc.StatusCode.UNAVAILABLE
            timings.append(time.perf_counter() - started)
        assert not server.serving()
        assert path.stat().st_size == size  # a partial write is cut back at once
        server.disk_full(None)
        answered += [server.decide(rule_set) for _ in range(2)]
        assert server.serving()
        assert server.stop() == 0
        assert _decision_ids(path) == answered  # 200 refused, 0 records of them
        first, last = statistics.median(timings[:20]), statistics.median(timings[-20:])
        assert last < first * 4 + 0.01, (first, last)
        done = _cli("verify", str(path), "--key-file", str(key_file), "--expect-shutdown")
        assert done.returncode == 0, done.stdout


class TestFullDiskWithoutSync:
    """Attack 3: without --audit-sync, at most --audit-max-pending answered decisions wait for the disk."""

    def test_past_the_bound_decisions_are_refused_and_a_kill_loses_at_most_the_bound(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path
    ) -> None:
        """A full disk, 5 may wait: 5 answered, then UNAVAILABLE; kill -9 loses those 5 and no more."""
        path = tmp_path / "decisions.jsonl"
        server = _serve(
            servers, "--audit-log", str(path), "--audit-key-file", str(key_file), "--audit-max-pending", "5"
        )
        written = [server.decide(rule_set) for _ in range(3)]
        _wait_for(lambda: _decision_ids(path) == written, "the first records")
        server.disk_full(path.stat().st_size + 50)
        waiting = [server.decide(rule_set) for _ in range(5)]
        codes = [server.refused(rule_set) for _ in range(10)]
        assert codes == [grpc.StatusCode.UNAVAILABLE] * 10
        _wait_for(lambda: not server.serving(), "health NOT_SERVING")
        server.kill()
        on_disk = set(_decision_ids(path))
        lost = [d for d in written + waiting if d not in on_disk]
        assert set(written) <= on_disk and len(lost) <= 5


class TestTornTail:
    """Attack 4: a last line cut short by a crash is moved aside on the next start, and the chain goes on."""

    def test_a_torn_last_line_is_cut_kept_aside_and_logged_without_its_content(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path
    ) -> None:
        path = tmp_path / "decisions.jsonl"
        flags = ("--audit-log", str(path), "--audit-key-file", str(key_file), "--audit-sync")
        server = _serve(servers, *flags)
        first = [server.decide(rule_set) for _ in range(2)]
        server.kill()
        torn = b'{"case_reference":"secret-case-7","decision_id":"torn-'
        with open(path, "ab") as file:
            file.write(torn)
        done = _cli("verify", str(path))
        assert done.returncode == 1 and "a torn last line" in done.stdout
        server = _serve(servers, *flags)
        second = [server.decide(rule_set) for _ in range(2)]
        assert server.stop() == 0
        repaired = server.events("audit_tail_repaired")
        assert len(repaired) == 1 and repaired[0]["bytes"] == len(torn)
        assert Path(repaired[0]["kept_in"]).read_bytes() == torn
        assert "secret-case-7" not in "".join(server.lines)
        assert _decision_ids(path) == first + second
        done = _cli("verify", str(path), "--key-file", str(key_file), "--expect-shutdown")
        assert done.returncode == 0, done.stdout


def _reseal(lines: list[bytes]) -> list[bytes]:
    """What an attacker without the key can do: recompute every prev_sha256 and sha256 (checkpoints too)."""
    resealed, prev = [], json.loads(lines[0])["prev_sha256"]
    for raw in lines:
        record = json.loads(raw)
        record.pop("sha256")
        record.pop("prev_sha256")
        if "checkpoint" in record:
            record["checkpoint"]["sha256"] = prev
        line, prev = seal(record, prev)
        resealed.append(line)
    return resealed


class TestTruncationAndForgery:
    """Attack 5: sealed checkpoints anchor the chain; the key never leaves its file."""

    @pytest.fixture()
    def sealed_log(self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path) -> Path:
        """12 decisions with a checkpoint every 5 records, then a clean shutdown: 15 lines."""
        path = tmp_path / "decisions.jsonl"
        server = _serve(
            servers,
            "--audit-log",
            str(path),
            "--audit-key-file",
            str(key_file),
            "--audit-sync",
            "--audit-checkpoint-every",
            "5",
        )
        for _ in range(12):
            server.decide(rule_set)
        assert server.stop() == 0
        secret = key_file.read_bytes().strip()
        for text in (path.read_bytes(), "".join(server.lines).encode()):
            assert secret not in text
        assert len(server.events("audit_checkpoint")) == 3
        return path

    def test_the_intact_log_is_anchored_to_its_shutdown_checkpoint(self, sealed_log: Path, key_file: Path) -> None:
        done = _cli("verify", str(sealed_log), "--key-file", str(key_file), "--expect-shutdown")
        assert done.returncode == 0, done.stdout
        assert "anchored to its last line 15 by the server's shutdown checkpoint" in done.stdout
        assert f"{sealed_log}: 12 records, chain intact, 3 checkpoints" in done.stdout

    def test_cutting_off_the_tail_shows(self, sealed_log: Path, key_file: Path) -> None:
        """Removing the last record and the shutdown checkpoint passes the chain, not the anchoring."""
        lines = sealed_log.read_bytes().splitlines(keepends=True)
        sealed_log.write_bytes(b"".join(lines[:-2]))
        plain = _cli("verify", str(sealed_log))
        assert plain.returncode == 0  # the weakness the checkpoints close
        done = _cli("verify", str(sealed_log), "--key-file", str(key_file))
        assert done.returncode == 0 and "the 1 record after it is not anchored" in done.stdout
        expected = _cli("verify", str(sealed_log), "--key-file", str(key_file), "--expect-shutdown")
        assert expected.returncode == 1
        assert "does not end with the server's shutdown checkpoint" in expected.stdout

    def test_cutting_back_to_an_earlier_checkpoint_shows(self, sealed_log: Path, key_file: Path) -> None:
        """Cut right after the second checkpoint: it is sealed, but it is no shutdown checkpoint."""
        lines = sealed_log.read_bytes().splitlines(keepends=True)
        sealed_log.write_bytes(b"".join(lines[:12]))
        done = _cli("verify", str(sealed_log), "--key-file", str(key_file), "--expect-shutdown")
        assert done.returncode == 1 and "by a 'count' checkpoint, not a shutdown one" in done.stdout

    def test_an_edited_and_resealed_log_fails_on_the_seals(self, sealed_log: Path, key_file: Path) -> None:
        """Record 2's role changed and every hash recomputed: the chain passes, every later checkpoint's seal fails."""
        lines = sealed_log.read_bytes().splitlines(keepends=True)
        record = json.loads(lines[1])
        record["role"] = "BEROEPSKRACHT" if record["role"] != "BEROEPSKRACHT" else "MANTELZORGER"
        lines[1] = canonical(record) + b"\n"
        sealed_log.write_bytes(b"".join(_reseal(lines)))
        assert _cli("verify", str(sealed_log)).returncode == 0  # the weakness the checkpoints close
        done = _cli("verify", str(sealed_log), "--key-file", str(key_file))
        assert done.returncode == 1
        broken = [line for line in done.stdout.splitlines() if "seal does not match" in line]
        assert [line.split(":")[0] for line in broken] == ["line 6", "line 12", "line 15"]

    def test_removing_lines_before_a_checkpoint_shows(self, sealed_log: Path, key_file: Path) -> None:
        """The first two records removed and the rest re-sealed from the genesis: every checkpoint's count is off."""
        lines = sealed_log.read_bytes().splitlines(keepends=True)
        rest = [json.loads(line) for line in lines[2:]]
        rest[0]["prev_sha256"] = "0" * 64
        resealed = _reseal([canonical(r) + b"\n" for r in rest])
        sealed_log.write_bytes(b"".join(resealed))
        done = _cli("verify", str(sealed_log), "--key-file", str(key_file))
        assert done.returncode == 1 and "lines before it were removed" in done.stdout

    def test_another_key_is_named(self, sealed_log: Path, tmp_path: Path) -> None:
        other = tmp_path / "other.key"
        assert _cli("new-key", str(other)).returncode == 0
        done = _cli("verify", str(sealed_log), "--key-file", str(other))
        assert done.returncode == 1 and "sealed with another key" in done.stdout


class TestFactsHash:
    """Attack 6: the facts are hashed with a key, in a canonical form."""

    def test_the_facts_hash_is_keyed_canonical_and_reproducible_only_with_the_key(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path, key_file: Path
    ) -> None:
        """Same facts in another order give the same facts_hmac; it is no plain sha256; the key reproduces it."""
        path = tmp_path / "decisions.jsonl"
        server = _serve(servers, "--audit-log", str(path), "--audit-key-file", str(key_file), "--audit-sync")
        one = dict(FACTS, tasks=["household", "personal_care"], hours_per_week=4)
        other = dict(FACTS, tasks=["personal_care", "household"], hours_per_week=4.0)
        server.decide(rule_set, one)
        server.decide(rule_set, other)
        assert server.stop() == 0
        first, second = (r for r in _records(path) if "decision_id" in r)
        assert first["facts_hmac"] == second["facts_hmac"]
        facts = facts_json(request(rule_set, one).facts)
        unsalted = {hashlib.sha256(canonical(facts)).hexdigest(), hashlib.sha256(canonical_facts(facts)).hexdigest()}
        assert first["facts_hmac"] not in unsalted and "facts_sha256" not in first
        assert AuditKey.from_file(key_file).facts_hmac(canonical_facts(facts)) == first["facts_hmac"]

    def test_without_a_key_file_the_hash_cannot_be_recomputed(
        self, servers: list[Server], rule_set: RuleSet, tmp_path: Path
    ) -> None:
        """No key file: an in-memory key per run, so the same facts hash differently in two runs; a warning says so."""
        hashes = []
        for run in range(2):
            path = tmp_path / f"decisions-{run}.jsonl"
            server = _serve(servers, "--audit-log", str(path), "--audit-sync")
            server.decide(rule_set)
            assert server.stop() == 0
            assert server.events("audit_log_unanchored")
            hashes.append(_records(path)[0]["facts_hmac"])
        assert hashes[0] != hashes[1]

    def test_a_key_file_others_can_read_is_refused(self, tmp_path: Path, key_file: Path) -> None:
        key_file.chmod(0o644)
        done = subprocess.run(
            [
                str(BIN / "rolwijzer-server"),
                "--address",
                "127.0.0.1:0",
                "--audit-log",
                str(tmp_path / "d.jsonl"),
                "--audit-key-file",
                str(key_file),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=_env(),
        )
        assert done.returncode == 2 and "can be read by others" in done.stderr
        assert key_file.read_text().strip() not in done.stderr


def test_one_of_numbers_are_hashed_in_one_notation() -> None:
    """4, 4.0 and 4e0 are one number; a set's order and repeats do not count."""
    plain = {"hours": {"oneOf": {"values": ["4", "12"]}}, "tasks": {"symbols": {"values": ["b", "a"]}}}
    other = {"tasks": {"symbols": {"values": ["a", "b", "a"]}}, "hours": {"oneOf": {"values": ["12.0", "4e0"]}}}
    assert canonical_facts(plain) == canonical_facts(other)
