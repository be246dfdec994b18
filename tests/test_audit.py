"""The decision log: one chained record per decision, verifiable, replayable, and never lost silently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from rolwijzer.api import SERVICE_NAME, create_server
from rolwijzer.audit import GENESIS, AuditConfig, AuditFileError, AuditLog, AuditUnavailable, seal
from rolwijzer.audit_keys import AuditKey
from rolwijzer.audit_verify import verify_files
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import load_scenarios
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CURRENT_RELEASE, RULES_ROOT, SCENARIOS, request

CLI = Path(sys.executable).parent / "rolwijzer"
FIELDS = {
    "decision_id",
    "time",
    "case_reference",
    "rule_set",
    "reference_date",
    "facts_hmac",
    "facts_key_id",
    "role",
    "volunteer_deployer",
    "role_candidates",
    "liabilities",
    "obligations",
    "flags",
    "missing_facts",
    "fired_rules",
    "prev_sha256",
    "sha256",
}


@pytest.fixture(scope="module")
def holder() -> Iterator[EngineHolder]:
    built = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
    yield built
    built.close()


def _decide_all(holder: EngineHolder, config: AuditConfig, rule_set: RuleSet, count: int) -> list[str]:
    """Serve with a decision log, decide `count` suite scenarios, close the log; return the decision ids."""
    checker = health.HealthServicer()
    audit = AuditLog(config)
    server, port = create_server("127.0.0.1:0", holder, checker=checker, audit=audit)
    server.start()
    scenarios = [s for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)][:count]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RolwijzerServiceStub(channel)
            return [
                stub.Evaluate(request(rule_set, s.facts, case_reference=s.id)).decision.decision_id for s in scenarios
            ]
    finally:
        server.stop(grace=None)
        audit.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env} if env else None
    return subprocess.run(
        [str(CLI), "--lang", "en", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


class TestRecords:
    """What is written, and that it verifies."""

    def test_every_decision_is_one_record_without_the_facts(
        self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path
    ) -> None:
        """20 decisions give 20 records with the decision's ids, codes and a hash of the facts, in call order."""
        path = tmp_path / "decisions.jsonl"
        ids = _decide_all(holder, AuditConfig(path), rule_set, 20)
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["decision_id"] for r in records] == ids
        assert all(set(r) == FIELDS for r in records)
        assert records[0]["rule_set"]["version"] == CURRENT_RELEASE and len(records[0]["facts_hmac"]) == 64
        assert "neighbour" not in path.read_text() or "facts" not in records[0]
        done = _cli("verify", str(path))
        assert done.returncode == 0 and "20 records, chain intact" in done.stdout

    def test_the_chain_continues_across_restarts(self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path) -> None:
        """A second server appending to the same file chains on to the last record."""
        path = tmp_path / "decisions.jsonl"
        _decide_all(holder, AuditConfig(path, sync=True), rule_set, 3)
        _decide_all(holder, AuditConfig(path), rule_set, 3)
        assert len(path.read_text().splitlines()) == 6
        assert _cli("verify", str(path)).returncode == 0

    def test_a_long_path_is_reported_on_one_line_whatever_the_width(
        self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path
    ) -> None:
        """In a pipe with COLUMNS=40, a path of over 120 characters and the count stay on one line."""
        folder = tmp_path / ("a-folder-with-a-long-name-" * 5)
        folder.mkdir()
        path = folder / "decisions.jsonl"
        assert len(str(path)) > 120
        _decide_all(holder, AuditConfig(path), rule_set, 3)
        done = _cli("verify", str(path), env={"COLUMNS": "40"})
        assert done.returncode == 0
        assert done.stdout.splitlines() == [
            f"{path}: not anchored: without --key-file a cut tail or a re-sealed chain would pass",
            f"{path}: 3 records, chain intact",
        ]


class TestTampering:
    """A removed or altered line is found, with its line number."""

    @pytest.fixture()
    def log_file(self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path) -> Path:
        path = tmp_path / "decisions.jsonl"
        _decide_all(holder, AuditConfig(path), rule_set, 5)
        return path

    def test_a_removed_line_breaks_the_chain(self, log_file: Path) -> None:
        """Deleting record 3 is reported at line 3, where the chain no longer fits."""
        lines = log_file.read_text().splitlines(keepends=True)
        log_file.write_text("".join(lines[:2] + lines[3:]))
        done = _cli("verify", str(log_file))
        assert done.returncode == 1 and "line 3: the chain is broken" in done.stdout

    def test_an_altered_line_is_found(self, log_file: Path) -> None:
        """Changing the role in record 2 is reported at line 2."""
        lines = log_file.read_text().splitlines(keepends=True)
        record = json.loads(lines[1])
        record["role"] = "BEROEPSKRACHT" if record["role"] != "BEROEPSKRACHT" else "MANTELZORGER"
        lines[1] = json.dumps(record) + "\n"
        log_file.write_text("".join(lines))
        done = _cli("verify", str(log_file))
        assert done.returncode == 1 and "line 2: the record was altered" in done.stdout

    def test_dutch_is_the_default_language_of_the_report(self, log_file: Path) -> None:
        """Without --lang, the problem, the anchoring and the summary are in Dutch, with nothing left in English."""
        lines = log_file.read_text().splitlines(keepends=True)
        log_file.write_text("".join(lines[:2] + lines[3:]))
        done = subprocess.run(
            [str(CLI), "audit", "verify", str(log_file)], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 1
        assert done.stdout.splitlines() == [
            "regel 3: de keten is verbroken (een eerder record is verwijderd of gewijzigd)",
            f"{log_file}: niet verankerd: zonder --key-file zou een afgeknipt einde of een opnieuw verzegelde keten "
            "niet opvallen",
            f"{log_file}: 1 probleem/problemen in 4 records",
        ]


class TestReplay:
    """Records that hold their facts can be decided again with the version they name."""

    def test_replaying_unchanged_rules_finds_no_difference(
        self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path
    ) -> None:
        """With --audit-include-facts every record is replayed and none differs."""
        path = tmp_path / "decisions.jsonl"
        _decide_all(holder, AuditConfig(path, include_facts=True), rule_set, 52)
        done = _cli("replay", str(path), "--rules", str(RULES_ROOT), env={"ROLWIJZER_LANG": "en"})
        assert done.returncode == 0, done.stdout
        assert "52 replayed, 0 would now differ, 0 without facts" in done.stdout

    def test_a_decision_that_would_now_differ_is_reported(
        self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path
    ) -> None:
        """A record whose role is not what the rules give now is named with the difference."""
        path = tmp_path / "decisions.jsonl"
        _decide_all(holder, AuditConfig(path, include_facts=True), rule_set, 3)
        lines = path.read_text().splitlines(keepends=True)
        record = json.loads(lines[0])
        record["role"] = "OVERIG_DERDE"
        lines[0] = json.dumps(record) + "\n"
        path.write_text("".join(lines))
        done = _cli("replay", str(path), "--rules", str(RULES_ROOT), env={"ROLWIJZER_LANG": "en"})
        assert done.returncode == 1
        assert "line 1" in done.stdout and "role: was OVERIG_DERDE" in done.stdout

    def test_records_without_facts_are_counted_not_replayed(
        self, holder: EngineHolder, rule_set: RuleSet, tmp_path: Path
    ) -> None:
        """Without --audit-include-facts nothing can be replayed, and the command says so."""
        path = tmp_path / "decisions.jsonl"
        _decide_all(holder, AuditConfig(path), rule_set, 2)
        done = _cli("replay", str(path), "--rules", str(RULES_ROOT), env={"ROLWIJZER_LANG": "en"})
        assert done.returncode == 0 and "0 replayed, 0 would now differ, 2 without facts" in done.stdout


class TestFullDisk:
    """/dev/full refuses every write with ENOSPC, like a full disk."""

    def _serve(self, holder: EngineHolder, sync: bool) -> tuple[grpc.Server, int, AuditLog]:
        checker = health.HealthServicer()

        def report(ok: bool) -> None:
            status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
            checker.set(SERVICE_NAME, status)

        audit = AuditLog(AuditConfig(Path("/dev/full"), sync=sync, batch_seconds=0.05), report)
        server, port = create_server("127.0.0.1:0", holder, checker=checker, audit=audit)
        server.start()
        return server, port, audit

    def test_with_audit_sync_no_decision_is_given_without_a_record(
        self, holder: EngineHolder, rule_set: RuleSet
    ) -> None:
        """--audit-sync on a full disk: UNAVAILABLE, and health says NOT_SERVING."""
        server, port, audit = self._serve(holder, sync=True)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                with pytest.raises(grpc.RpcError) as refused:
                    pb_grpc.RolwijzerServiceStub(channel).Evaluate(request(rule_set, {}))
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "could not be recorded" in (refused.value.details() or "")
                status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
                assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        finally:
            server.stop(grace=None)
            audit.close()

    def test_without_sync_answers_go_on_and_health_reports_the_failure(
        self, holder: EngineHolder, rule_set: RuleSet
    ) -> None:
        """Batched writes on a full disk: decisions still come, the records wait, health turns NOT_SERVING."""
        server, port, audit = self._serve(holder, sync=False)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.RolwijzerServiceStub(channel)
                assert stub.Evaluate(request(rule_set, {})).decision.role == "ONBEPAALD"
                checker = health_pb2_grpc.HealthStub(channel)
                deadline = time.monotonic() + 10
                while checker.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status != (
                    health_pb2.HealthCheckResponse.NOT_SERVING
                ):
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
            assert audit.failure is not None and "No space left" in audit.failure
        finally:
            server.stop(grace=None)
            audit.close()


KEY = AuditKey(b"a test key of thirty-two bytes!!", anchored=True)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class TestFollowingThePath:
    """The file at the path is the log, whatever happened to the file that was open."""

    def test_a_batch_written_to_a_file_renamed_before_its_fsync_returned_is_moved_to_the_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Renamed between write and fsync: the record is cut out of the old file and written to the new one."""
        path, rotated = tmp_path / "decisions.jsonl", tmp_path / "decisions.jsonl.1"
        audit = AuditLog(AuditConfig(path, sync=True, key=KEY))
        audit.record({"decision_id": "a"})
        fsync = os.fsync

        def rotate_then_fsync(fd: int) -> None:
            if not rotated.exists():
                path.rename(rotated)
            fsync(fd)

        monkeypatch.setattr(os, "fsync", rotate_then_fsync)
        audit.record({"decision_id": "b"})
        monkeypatch.undo()
        audit.close()
        assert [r.get("decision_id", r.get("checkpoint", {}).get("reason")) for r in _lines(rotated)] == [
            "a",
            "rotated",
        ]
        assert [r.get("decision_id", r.get("checkpoint", {}).get("reason")) for r in _lines(path)] == ["b", "shutdown"]
        assert verify_files([rotated, path], KEY, expect_shutdown=True).problems == []

    def test_a_truncated_file_copytruncate_continues_the_chain(self, tmp_path: Path) -> None:
        """logrotate's copytruncate: the copy and the emptied file verify as one chain."""
        path, copy = tmp_path / "decisions.jsonl", tmp_path / "decisions.jsonl.1"
        audit = AuditLog(AuditConfig(path, sync=True, key=KEY))
        audit.record({"decision_id": "a"})
        audit.record({"decision_id": "b"})
        shutil.copy(path, copy)
        os.truncate(path, 0)
        audit.record({"decision_id": "c"})
        audit.close()
        assert [r.get("decision_id") for r in _lines(path)] == ["c", None]
        assert verify_files([copy, path], KEY, expect_shutdown=True).problems == []

    def test_a_timer_checkpoint_follows_records_within_its_interval(self, tmp_path: Path) -> None:
        path = tmp_path / "decisions.jsonl"
        audit = AuditLog(AuditConfig(path, sync=True, key=KEY, checkpoint_seconds=0.1, batch_seconds=0.05))
        try:
            audit.record({"decision_id": "a"})
            deadline = time.monotonic() + 10
            while len(_lines(path)) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert _lines(path)[1]["checkpoint"]["reason"] == "timer"
        finally:
            audit.close()

    def test_a_log_left_unanchored_by_a_killed_server_is_anchored_at_the_next_start(self, tmp_path: Path) -> None:
        path = tmp_path / "decisions.jsonl"
        line, _ = seal({"decision_id": "a"}, GENESIS)
        path.write_bytes(line)
        AuditLog(AuditConfig(path, sync=True, key=KEY)).close()
        reasons = [r["checkpoint"]["reason"] for r in _lines(path) if "checkpoint" in r]
        assert reasons == ["start", "shutdown"]
        assert verify_files([path], KEY, expect_shutdown=True).problems == []

    def test_more_than_a_torn_write_after_the_last_record_is_refused(self, tmp_path: Path) -> None:
        """9 MiB of something else at the end is no torn tail: the log is not opened and the file is left alone."""
        path = tmp_path / "decisions.jsonl"
        path.write_bytes(b"x" * (9 * 1024 * 1024))
        with pytest.raises(AuditFileError, match="no decision records"):
            AuditLog(AuditConfig(path))
        assert path.stat().st_size == 9 * 1024 * 1024 and not list(tmp_path.glob("*.torn-*"))

    def test_without_sync_at_most_max_pending_records_wait(self) -> None:
        audit = AuditLog(AuditConfig(Path("/dev/full"), max_pending=3, batch_seconds=0.05))
        try:
            for number in range(3):
                audit.record({"decision_id": str(number)})
            with pytest.raises(AuditUnavailable, match="3 records wait"):
                audit.record({"decision_id": "3"})
        finally:
            audit.close()


class TestGroupCommit:
    """Without sync, records that arrive together are written and fsynced together, and none is left behind."""

    @staticmethod
    def _lines(path: Path, count: int, seconds: float) -> float:
        """Seconds until `path` holds `count` lines (fails after `seconds`)."""
        started = time.monotonic()
        while not path.exists() or path.read_bytes().count(b"\n") < count:
            assert time.monotonic() - started < seconds, f"{count} lines not written in {seconds} s"
            time.sleep(0.01)
        return time.monotonic() - started

    def test_records_that_arrive_together_share_one_fsync(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fsyncs: list[int] = []
        real_fsync = os.fsync

        def counted(fd: int) -> None:
            fsyncs.append(fd)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", counted)
        path = tmp_path / "decisions.jsonl"
        audit = AuditLog(AuditConfig(path, group_seconds=0.5))
        try:
            for number in range(20):
                audit.record({"decision_id": str(number)})
            self._lines(path, 20, 10)
        finally:
            audit.close()
        assert len(fsyncs) <= 2, "20 records at once went to disk in more than two batches"
        assert verify_files([path]).problems == []

    def test_a_full_batch_is_written_without_waiting_out_the_window(self, tmp_path: Path) -> None:
        path = tmp_path / "decisions.jsonl"
        audit = AuditLog(AuditConfig(path, group_seconds=60, group_records=5))
        try:
            for number in range(5):
                audit.record({"decision_id": str(number)})
            assert self._lines(path, 5, 30) < 30
        finally:
            audit.close()

    def test_close_writes_what_is_being_gathered(self, tmp_path: Path) -> None:
        path = tmp_path / "decisions.jsonl"
        audit = AuditLog(AuditConfig(path, group_seconds=60))
        for number in range(3):
            audit.record({"decision_id": str(number)})
        started = time.monotonic()
        audit.close()
        assert time.monotonic() - started < 30, "close() waited out the gathering window"
        records = [json.loads(line) for line in path.read_bytes().splitlines()]
        assert [r["decision_id"] for r in records] == ["0", "1", "2"]
        assert verify_files([path]).problems == []
