"""The decision log: an append-only JSON-lines file in which every record chains the hash of the one before.

Each line is a JSON object with `prev_sha256` (the previous record's `sha256`, zeros for the first) and `sha256`
(over the record's canonical JSON without that field), so a removed or altered line breaks the chain at that
point. The newest hash also goes into the server's own log line, an anchor against cutting off the tail.

Without `sync`, records are written and fsynced by a writer thread in batches; with `sync`, each record is on
disk before `record` returns. A write that fails is never dropped: the records wait in memory, health reports
the failure, and new records are refused (AuditUnavailable) once `sync` is on or too many are waiting.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

GENESIS = "0" * 64
MAX_PENDING = 100_000

log = structlog.get_logger("rolwijzer.audit")


class AuditUnavailable(RuntimeError):
    """The record could not be made durable; the decision must not be answered."""


@dataclass(frozen=True)
class AuditConfig:
    """Where and how the decision log is written."""

    path: Path
    sync: bool = False
    include_facts: bool = False
    batch_seconds: float = 0.2


def canonical(record: Mapping[str, Any]) -> bytes:
    """The canonical JSON of a record: sorted keys, no spaces, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal(record: Mapping[str, Any], prev: str) -> tuple[bytes, str]:
    """The record as a line, chained to `prev`, and its own hash."""
    chained = dict(record, prev_sha256=prev)
    digest = hashlib.sha256(canonical(chained)).hexdigest()
    return canonical(dict(chained, sha256=digest)) + b"\n", digest


class AuditLog:
    """Appends sealed records to the decision log.

    Args:
        config: file and mode.
        on_health: called with False when writing fails and True when it works again.

    Raises:
        OSError: the file cannot be opened for appending.
    """

    def __init__(self, config: AuditConfig, on_health: Callable[[bool], None] = lambda ok: None) -> None:
        self.config = config
        self._on_health = on_health
        self._prev = _last_hash(config.path)
        self._file = _open(config.path)
        self._lock = threading.Lock()
        self._pending: deque[dict[str, Any]] = deque()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self.failure: str | None = None
        self._writer: threading.Thread | None = None
        if not config.sync:
            self._writer = threading.Thread(target=self._write_batches, name="audit-writer", daemon=True)
            self._writer.start()

    @property
    def last_hash(self) -> str:
        """The hash of the newest record on disk."""
        return self._prev

    def record(self, record: dict[str, Any]) -> None:
        """Add one decision record.

        Raises:
            AuditUnavailable: with `sync`, the record is not on disk; without, too many records wait already.
        """
        with self._lock:
            if self.config.sync:
                self._pending.append(record)
                if not self._flush_locked():
                    raise AuditUnavailable(f"the decision log cannot be written: {self.failure}")
                return
            if len(self._pending) >= MAX_PENDING:
                raise AuditUnavailable(f"{len(self._pending)} records wait to be written: {self.failure}")
            self._pending.append(record)
            self._wake.notify()

    def _write_batches(self) -> None:
        with self._lock:
            while True:
                self._wake.wait(timeout=self.config.batch_seconds)
                if self._pending:
                    self._flush_locked()
                if self._closing and (not self._pending or self.failure):
                    return

    def _flush_locked(self) -> bool:
        """Write and fsync every waiting record; keep them all when that fails. Caller holds the lock."""
        prev, lines = self._prev, []
        for record in self._pending:
            line, prev = seal(record, prev)
            lines.append(line)
        try:
            if self._file.closed:
                self._file = _open(self.config.path)
            data = memoryview(b"".join(lines))
            while data:
                written = self._file.write(data)
                data = data[written or 0 :]
            os.fsync(self._file.fileno())
        except OSError as err:
            self._reopen_after(err)
            return False
        self._pending.clear()
        self._prev = prev
        if self.failure is not None:
            self.failure = None
            log.info("audit_write_recovered")
            self._on_health(True)
        return True

    def _reopen_after(self, err: OSError) -> None:
        first = self.failure is None
        self.failure = f"{err.strerror or err} ({self.config.path})"
        # Part of a batch may have reached the file; cut it back to the last whole record before trying again.
        self._file.close()
        try:
            if self.config.path.is_file():
                _truncate_to_hash(self.config.path, self._prev)
        except OSError:
            pass  # the next flush tries again from the same state
        if first:
            log.error("audit_write_failed", error=self.failure, waiting=len(self._pending))
            self._on_health(False)

    def close(self) -> None:
        """Write what waits (one last try) and close the file."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        if self._writer is not None:
            self._writer.join(timeout=10)
        with self._lock:
            if self._pending:
                self._flush_locked()
            if self._pending:
                log.error("audit_records_unwritten", count=len(self._pending), error=self.failure)
            self._file.close()


def _open(path: Path) -> io.FileIO:
    """Unbuffered append: a write that fails leaves nothing behind in a buffer to fail again at close."""
    return io.FileIO(path, "ab")


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, bytes]]:
    """(line number, record or None when the line is not JSON, raw line) for each line of a decision log."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            yield number, parsed if isinstance(parsed, dict) else None, raw


def verify(path: Path) -> list[str]:
    """Every break in the chain of a decision log, as "line N: reason"; empty when the file is intact."""
    problems: list[str] = []
    prev = GENESIS
    for number, record, _ in read_records(path):
        if record is None:
            problems.append(f"line {number}: not a JSON record")
            prev = ""
            continue
        claimed = record.get("sha256")
        content = {k: v for k, v in record.items() if k != "sha256"}
        if hashlib.sha256(canonical(content)).hexdigest() != claimed:
            problems.append(f"line {number}: the record was altered (its sha256 does not match its content)")
        if record.get("prev_sha256") != prev:
            problems.append(f"line {number}: the chain is broken (a record before it was removed or altered)")
        prev = str(claimed)
    return problems


def _last_hash(path: Path) -> str:
    """The `sha256` of the last record of an existing regular file, or GENESIS."""
    if not path.is_file():
        return GENESIS
    last: dict[str, Any] | None = None
    for _, record, _ in read_records(path):
        last = record if record is not None else last
    return str(last["sha256"]) if last and "sha256" in last else GENESIS


def _truncate_to_hash(path: Path, digest: str) -> None:
    """Cut the file after the record whose sha256 is `digest` (or to empty for GENESIS)."""
    keep = 0
    offset = 0
    if digest != GENESIS:
        for _, record, raw in read_records(path):
            offset += len(raw)
            if record is not None and record.get("sha256") == digest:
                keep = offset
    with open(path, "r+b") as file:
        file.truncate(keep)
