"""The decision log: an append-only JSON-lines file in which every line chains the hash of the one before.

Each line is a JSON object with `prev_sha256` (the previous line's `sha256`, zeros for the first) and `sha256`
(over the line's canonical JSON without that field), so a removed or altered line breaks the chain at that point.
With a key file, checkpoints sealed with an HMAC anchor the chain every `checkpoint_every` records, every
`checkpoint_seconds` in which records were written, when the file is rotated, at start when a killed run left
the file without one at its end, and at shutdown (audit_file.py, audit_keys.py); `rolwijzer audit verify
--key-file` checks them (audit_verify.py).

What is acknowledged is in the file at the configured path:

* Before every batch (and every `batch_seconds` when idle) the path is compared with the open file; a deleted,
  renamed or truncated file is replaced by the file now at the path (created when missing), SIGUSR1 forces the
  check (logrotate). After each fsync the path is compared again: a batch that went to a file no longer at the path
  is taken back out of it and written again to the new one. A new file continues the chain: its first line's
  `prev_sha256` is the last hash written to the old one.
* With `sync`, `record` returns only when the record is fsynced in the file at the path; when that fails, nothing
  of it stays in the file or in memory (AuditUnavailable: the decision is refused, never written later).
* Without `sync`, a writer thread appends and fsyncs what waits (group commit): woken by the first record of a
  batch, it gathers what arrives within `group_seconds` more (less when `group_records` wait), then writes and
  fsyncs them together, so the fsync and the path checks are per batch, not per record. When writing fails,
  records wait in memory (at most `max_pending`, then new ones are refused with AuditUnavailable), health reports
  the failure, and the writer tries again every `batch_seconds`.
* On opening, a torn tail (a write cut short by a crash) is cut back to the last whole line that carries its own
  correct hash, and kept beside the log (`<log>.torn-<time>`). Whether that line chains to the one before is left
  to verify: a torn write cannot make a whole record, so anything whole is kept.

Waiting uses select() on a pipe, never a timed lock wait, so that timeouts elapse under libfaketime too.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from rolwijzer import metrics
from rolwijzer.audit_file import (
    GENESIS,
    AuditFileError,
    FactsDigest,
    FileState,
    canonical,
    checkpoint_record,
    prepare,
    read_records,
    seal,
)
from rolwijzer.audit_keys import AuditKey
from rolwijzer.audit_verify import verify
from rolwijzer.waiting import Wakeup

__all__ = [
    "GENESIS",
    "AuditConfig",
    "AuditFileError",
    "AuditLog",
    "AuditUnavailable",
    "FactsDigest",
    "canonical",
    "read_records",
    "seal",
    "verify",
]

MAX_PENDING = 1000
# Group commit: a batch's write, fsync and path checks cost the process 150-600 us of CPU (more under load: thread
# wake-ups), several times a record's sealing, and under load the writer was woken for every record. Measured with
# a paced writer (1,000 records/s, no sync): 260 us of CPU per record fsynced one by one, 180 gathering 2 ms,
# 125 gathering 10 ms, 85 gathering 50 ms (45 of it the pacing). Without `sync` no answer waits for the writer,
# so the window only delays when a record reaches the disk: 10 ms, or sooner when GROUP_RECORDS wait.
GROUP_SECONDS = 0.01
GROUP_RECORDS = 64
WRITE_ATTEMPTS = 3

log = structlog.get_logger("rolwijzer.audit")


class AuditUnavailable(RuntimeError):
    """The record could not be made durable; the decision must not be answered."""


@dataclass(frozen=True)
class AuditConfig:
    """Where and how the decision log is written; `key` None means an in-memory key and no checkpoints."""

    path: Path
    sync: bool = False
    include_facts: bool = False
    batch_seconds: float = 0.2
    key: AuditKey | None = None
    max_pending: int = MAX_PENDING
    checkpoint_every: int = 100
    checkpoint_seconds: float = 10.0
    group_seconds: float = GROUP_SECONDS
    group_records: int = GROUP_RECORDS


class AuditLog:
    """Appends sealed records to the decision log.

    Args:
        config: file and mode.
        on_health: called with False when writing fails and True when it works again.

    Raises:
        OSError: the file cannot be opened for appending.
        AuditFileError: the file ends with more than a torn write of non-records.
    """

    def __init__(self, config: AuditConfig, on_health: Callable[[bool], None] = lambda ok: None) -> None:
        self.config = config
        self._on_health = on_health
        self._key = config.key if config.key is not None else AuditKey.ephemeral()
        self._io = threading.Lock()  # the file and the chain; held while writing, and taken before `_lock`
        self._lock = threading.Lock()  # the waiting records; never held while writing
        self._pending: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        # Records that wake the writer again while it gathers: a full batch (never more than may wait).
        self._group = max(1, min(config.group_records, config.max_pending))
        self._closing = False
        self._closed = False
        self.failure: str | None = None
        self._fd: int | None = None
        self._identity = (0, 0)
        self._regular = False
        self._end = 0  # bytes of whole records in the open file
        self._lines = 0
        self._prev = GENESIS
        self._unanchored = 0  # records written since the last checkpoint
        self._checkpointed_at = time.monotonic()
        state = self._open()
        self._prev = state.last_hash or GENESIS
        if state.lines and not state.ends_with_checkpoint and self._key.anchored:
            with self._io:  # anchor at once what an earlier run left unanchored (it was killed)
                self._append([], "start")
        self._wake = Wakeup()
        self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._writer.start()

    @property
    def last_hash(self) -> str:
        """The hash of the newest line on disk."""
        return self._prev

    def record(self, record: dict[str, Any]) -> None:
        """Add one decision record (its `facts_hmac` is computed here, with the log's key).

        Raises:
            AuditUnavailable: with `sync`, the record is not on disk (and never will be); without, `max_pending`
                records wait already, or the log is closed.
        """
        digest = record.get("facts_hmac")
        if isinstance(digest, FactsDigest):
            record["facts_hmac"] = self._key.facts_hmac(digest.data)
            record["facts_key_id"] = self._key.key_id
        if self.config.sync:
            with self._io:
                if self._closed or not self._append([record]):
                    raise AuditUnavailable(f"the decision log cannot be written: {self.failure or 'it is closed'}")
            return
        with self._lock:
            if self._closing:
                raise AuditUnavailable("the decision log is closed")
            waiting = len(self._pending) + self._in_flight
            if waiting >= self.config.max_pending:
                why = self.failure or "the disk is slower than the decisions"
                raise AuditUnavailable(f"{waiting} records wait to be written already: {why}")
            self._pending.append(record)
            metrics.decision_log_pending(waiting + 1)
            # The first record of a batch wakes the writer, and so does a full batch; those between join the batch
            # it gathers. Under the lock: close() shuts the pipe only after it has set _closing under it.
            if len(self._pending) == 1 or len(self._pending) >= self._group:
                self._wake.raise_()

    def reopen(self, reason: str = "SIGUSR1") -> None:
        """Check now that the open file is the one at the path; switch to the path's file when it is not."""
        with self._io:
            if self._closed:
                return
            try:
                if not self._follow_path(reason):
                    log.info("audit_reopen_not_needed", reason=reason, path=str(self.config.path))
            except (OSError, AuditFileError) as err:
                self._failed(err)

    def close(self) -> None:
        """Write what waits and the shutdown checkpoint (one last try), and close the file."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake.raise_()
        self._writer.join()  # it returns after at most one write: _closing is set and it is awake
        with self._io:
            self._write_waiting("shutdown")
            if self._pending:
                log.error("audit_records_unwritten", count=len(self._pending), error=self.failure)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._closed = True
        self._wake.close()

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.config.batch_seconds)
            if self._closing:
                return
            self._gather()
            if self._closing:
                return  # close() writes what waits
            try:
                with self._io:
                    self._write_waiting(None)
            except Exception as err:  # never let the writer die silently; it tries again on the next round
                log.exception("audit_writer_failed")
                with self._io:
                    self._failed(err)

    def _gather(self) -> None:
        """Let more records join those waiting, for at most `group_seconds` (a full batch or close() ends it early).

        Not when none waits (a timer round: the checkpoint and path checks are due now), when a batch is full
        already, or while writing fails (the retries keep their pace: each wake-up, at least every batch_seconds).
        """
        with self._lock:
            waiting = len(self._pending)
        if 0 < waiting < self._group and self.failure is None and self.config.group_seconds > 0:
            self._wake.wait(self.config.group_seconds)

    def _write_waiting(self, reason: str | None) -> None:
        """Write the waiting records (none with `sync`), a checkpoint when due, and check the path. Holds _io."""
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            self._in_flight = len(batch)
        written = False
        try:
            written = self._append(batch, reason)
        finally:
            with self._lock:
                if not written:
                    self._pending.extendleft(reversed(batch))
                self._in_flight = 0
                metrics.decision_log_pending(len(self._pending))

    def _append(self, records: list[dict[str, Any]], reason: str | None = None) -> bool:
        """Seal `records` (and a checkpoint when due or when `reason` asks), write them at the end of the file at
        the configured path and fsync. False when that fails: then nothing of them stays in the file. Holds _io."""
        for _ in range(WRITE_ATTEMPTS):
            try:
                self._follow_path(None)
                data, head, lines, sealed = self._encode(records, reason)
                if not data:
                    return True
                fd = self._require_fd()
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                synced = time.perf_counter()
                os.fsync(fd)
                metrics.decision_log_fsync(time.perf_counter() - synced)
                moved = self._moved()
            except (OSError, AuditFileError) as err:
                self._failed(err)
                return False
            if moved is not None:
                self._take_back()
                continue  # the next round opens the path's file and writes there
            self._end += len(data)
            self._lines, self._prev = lines, head
            self._unanchored += len(records)
            metrics.decision_log_written(len(records))
            if sealed is not None:
                self._unanchored = 0
                self._checkpointed_at = time.monotonic()
                log.info("audit_checkpoint", reason=sealed, count=lines - 1, sha256=head, path=str(self.config.path))
            if self.failure is not None:
                self.failure = None
                log.info("audit_write_recovered", path=str(self.config.path))
                self._on_health(True)
            return True
        self._failed(OSError(f"the file at the path was replaced {WRITE_ATTEMPTS} times while writing"))
        return False

    def _encode(self, records: list[dict[str, Any]], reason: str | None) -> tuple[bytes, str, int, str | None]:
        """The lines for `records` and a checkpoint when one is due: (bytes, new head, lines after, why sealed)."""
        head, lines, parts = self._prev, self._lines, []
        for record in records:
            line, head = seal(record, head)
            parts.append(line)
            lines += 1
        if reason is None:
            unanchored = self._unanchored + len(records)
            if unanchored and unanchored >= self.config.checkpoint_every:
                reason = "count"
            elif unanchored and time.monotonic() - self._checkpointed_at >= self.config.checkpoint_seconds:
                reason = "timer"
        if reason is None or not self._key.anchored:
            return b"".join(parts), head, lines, None
        line, head = seal(checkpoint_record(self._key, lines, head, reason), head)
        parts.append(line)
        return b"".join(parts), head, lines + 1, reason

    def _require_fd(self) -> int:
        if self._fd is None:
            raise OSError(f"the decision log {self.config.path} is not open")
        return self._fd

    def _moved(self) -> str | None:
        """Why the open file is no longer the one at the path (deleted, replaced, truncated), or None."""
        if self._fd is None:
            return "closed"
        try:
            info = os.stat(self.config.path)
        except FileNotFoundError:
            return "deleted" if os.fstat(self._fd).st_nlink == 0 else "renamed"
        if (info.st_dev, info.st_ino) != self._identity:
            return "replaced"
        if self._regular and info.st_size < self._end:
            return "truncated"
        return None

    def _follow_path(self, asked: str | None) -> bool:
        """Switch to the file at the path when the open one is no longer it; True when it switched. Holds _io.

        Raises:
            OSError: the path cannot be opened.
        """
        why = self._moved()
        if why is None:
            return False
        if why in ("renamed", "replaced") and self._fd is not None and self._key.anchored:
            self._seal_old_file()
        if why != "closed":
            log.warning(
                "audit_file_reopened", reason=why, asked_by=asked, path=str(self.config.path), continues=self._prev
            )
        if why == "truncated" and self._fd is not None:
            state = prepare(self._fd, self.config.path)
            self._end, self._lines = state.end, state.lines
            self._report_torn(state)
            return True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._open()
        return True

    def _open(self) -> FileState:
        """Open the path (created when missing), cut its torn tail, count its lines; the chain head stays."""
        path = self.config.path
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            info = os.fstat(fd)
            regular = stat.S_ISREG(info.st_mode)
            state = prepare(fd, path) if regular else FileState()
        except (OSError, AuditFileError):
            os.close(fd)
            raise
        self._fd, self._identity, self._regular = fd, (info.st_dev, info.st_ino), regular
        self._end, self._lines = state.end, state.lines
        self._report_torn(state)
        return state

    def _report_torn(self, state: FileState) -> None:
        if state.torn_bytes:
            log.warning(
                "audit_tail_repaired", bytes=state.torn_bytes, kept_in=str(state.torn_copy), path=str(self.config.path)
            )

    def _seal_old_file(self) -> None:
        """Close the chain of a rotated file with a checkpoint of its own (best effort: it is no longer ours)."""
        fd = self._require_fd()
        try:
            if os.fstat(fd).st_nlink == 0:
                return  # deleted: nobody will read it
            line, head = seal(checkpoint_record(self._key, self._lines, self._prev, "rotated"), self._prev)
            os.write(fd, line)
            os.fsync(fd)
        except OSError as err:
            log.warning("audit_rotated_file_unsealed", error=err.strerror or str(err))
            return
        self._prev = head  # the new file continues from this checkpoint, the old file's last line
        self._unanchored = 0
        self._checkpointed_at = time.monotonic()

    def _take_back(self) -> None:
        """Cut what was just written off the file that is no longer at the path."""
        try:
            fd = self._require_fd()
            if self._regular:
                os.ftruncate(fd, self._end)
                os.fsync(fd)
        except OSError:
            pass  # it is no longer the log; the batch is written again to the file at the path

    def _failed(self, err: Exception) -> None:
        """Cut a partial write back to the last whole record; report the failure once. Holds _io."""
        first = self.failure is None
        metrics.decision_log_write_failed()
        self.failure = f"{getattr(err, 'strerror', None) or err} ({self.config.path})"
        if self._fd is not None and self._regular:
            try:
                os.ftruncate(self._fd, self._end)
            except OSError:
                os.close(self._fd)  # reopened (and its tail repaired) on the next write
                self._fd = None
        if first:
            log.error("audit_write_failed", error=self.failure, waiting=len(self._pending) + self._in_flight)
            self._on_health(False)
