"""Verify decision logs: the chain of every line, the seal of every checkpoint, and how much of the log is anchored.

Without the key, only the chain is checked: a line removed or altered shows, but a log cut after its last line or
altered and re-sealed (every sha256 recomputed) does not. With the key, every checkpoint's HMAC is checked: a
re-sealed chain no longer matches the checkpoints after the change, lines removed before a checkpoint change its
count, and only the records after the last checkpoint are unanchored (a cut there shows only as a log that does not
end with the server's shutdown checkpoint, which `expect_shutdown` demands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rolwijzer.audit_file import (
    GENESIS,
    canonical,
    canonical_facts,
    checkpoint_fields,
    own_hash,
    read_records,
)
from rolwijzer.audit_keys import AuditKey


@dataclass
class Report:
    """What a verification found: problems fail it; notes and the anchoring are said, one line each."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """Everything to print, one item per line: problems, notes, then a summary per file."""
        return [*self.problems, *self.notes, *self.summaries]


@dataclass
class _File:
    path: Path
    label: str
    key: AuditKey | None
    records: int = 0
    checkpoints: int = 0
    sealed: int = 0
    lines: int = 0
    anchored_line: int = 0
    unanchored: int = 0
    last_reason: str | None = None
    last_hash: str | None = None
    foreign_facts: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, number: int, text: str) -> None:
        self.problems.append(f"{self.label}line {number}: {text}")


def verify(path: Path, key: AuditKey | None = None) -> list[str]:
    """Every problem in one decision log, as "line N: reason"; empty when the file is intact."""
    return verify_files([path], key).problems


def verify_files(paths: Sequence[Path], key: AuditKey | None = None, expect_shutdown: bool = False) -> Report:
    """Verify logs that follow each other (a log and the files it was rotated into, oldest first).

    The first file may continue an earlier one (its first line's prev is not the genesis value): that is noted.
    Each later file must continue the one before. With `expect_shutdown`, the last file must end with the server's
    shutdown checkpoint (it needs `key`).
    """
    report = Report()
    previous: _File | None = None
    for index, path in enumerate(paths):
        checked = _File(path, f"{path}: " if len(paths) > 1 else "", key)
        _walk(checked, previous)
        report.problems.extend(checked.problems)
        report.notes.extend(checked.notes)
        last = index == len(paths) - 1
        anchoring = _anchoring(checked)
        if last and expect_shutdown and (key is None or checked.last_reason != "shutdown"):
            report.problems.append(f"{path}: does not end with the server's shutdown checkpoint: {anchoring}")
        else:
            report.notes.append(f"{path}: {anchoring}")
        if checked.problems:
            report.summaries.append(f"{path}: {len(checked.problems)} problem(s) in {checked.records} records")
        else:
            plural = "s" if checked.checkpoints > 1 else ""
            counted = f", {checked.checkpoints} checkpoint{plural}" if checked.checkpoints else ""
            report.summaries.append(f"{path}: {checked.records} records, chain intact{counted}")
        previous = checked
    return report


def _walk(checked: _File, previous: _File | None) -> None:
    prev: str | None = None
    for number, record, raw in read_records(checked.path):
        checked.lines = number
        if record is None:
            torn = " (a torn last line: the server moves it aside when it starts)" if not raw.endswith(b"\n") else ""
            checked.problem(number, f"not a JSON record{torn}")
            prev = ""
            continue
        claimed = record.get("sha256")
        if own_hash(record) != claimed:
            checked.problem(number, "the record was altered (its sha256 does not match its content)")
        claimed_prev = record.get("prev_sha256")
        if number == 1:
            _check_start(checked, claimed_prev, previous)
        elif claimed_prev != prev:
            checked.problem(number, "the chain is broken (a record before it was removed or altered)")
        prev = str(claimed)
        checked.last_hash = prev
        if "checkpoint" in record:
            _check_checkpoint(checked, number, record)
        else:
            checked.records += 1
            checked.unanchored += 1
            _check_facts(checked, number, record)
    if checked.foreign_facts:
        checked.notes.append(
            f"{checked.path}: {checked.foreign_facts} records' facts_hmac use another key "
            "(the server's in-memory key when it ran without --audit-key-file): they cannot be checked"
        )


def _check_start(checked: _File, claimed_prev: object, previous: _File | None) -> None:
    if previous is not None:
        if claimed_prev != previous.last_hash:
            ends = previous.last_hash
            checked.problem(1, f"does not continue {previous.path} (prev_sha256 {claimed_prev}, it ends with {ends})")
    elif claimed_prev != GENESIS:
        checked.notes.append(
            f"{checked.label}line 1: continues a previous file whose last line has sha256 {claimed_prev} "
            "(verify it with that file before this one to check the link)"
        )


def _check_checkpoint(checked: _File, number: int, record: dict[str, Any]) -> None:
    checkpoint = record["checkpoint"]
    checked.checkpoints += 1
    if not isinstance(checkpoint, dict):
        checked.problem(number, "a checkpoint without fields")
        return
    placed = checkpoint.get("count") == number - 1 and checkpoint.get("sha256") == record.get("prev_sha256")
    if not placed:
        checked.problem(
            number,
            f"the checkpoint covers {checkpoint.get('count')} lines but stands after {number - 1}, or names another "
            "head: lines before it were removed, added or altered",
        )
    if checked.key is None:
        return
    if checkpoint.get("key_id") != checked.key.key_id:
        checked.problem(
            number,
            f"the checkpoint was sealed with another key (id {checkpoint.get('key_id')}, not {checked.key.key_id})",
        )
        return
    fields = checkpoint_fields(
        checkpoint.get("count"),
        checkpoint.get("sha256"),
        checkpoint.get("reason"),
        checkpoint.get("time"),
        checkpoint.get("key_id"),
    )
    if not checked.key.checkpoint_matches(canonical(fields), checkpoint.get("hmac")):
        checked.problem(number, "the checkpoint's seal does not match: it was forged, or the chain was re-sealed")
        return
    if placed:
        checked.sealed += 1
        checked.anchored_line = number
        checked.unanchored = 0
        checked.last_reason = str(checkpoint.get("reason"))


def _check_facts(checked: _File, number: int, record: dict[str, Any]) -> None:
    key = checked.key
    if key is None or "facts" not in record or not isinstance(record["facts"], dict):
        return
    if record.get("facts_key_id") != key.key_id:
        checked.foreign_facts += 1
        return
    if key.facts_hmac(canonical_facts(record["facts"])) != record.get("facts_hmac"):
        checked.problem(number, "facts_hmac does not match the stored facts")


def _anchoring(checked: _File) -> str:
    if checked.key is None:
        unchecked = f" ({checked.checkpoints} checkpoints not checked)" if checked.checkpoints else ""
        return f"not anchored: without --key-file a cut tail or a re-sealed chain would pass{unchecked}"
    if checked.sealed == 0:
        return f"no sealed checkpoint: none of its {checked.records} records are anchored"
    if checked.anchored_line == checked.lines:
        if checked.last_reason == "shutdown":
            return f"anchored to its last line {checked.lines} by the server's shutdown checkpoint"
        if checked.last_reason == "rotated":
            return f"anchored to its last line {checked.lines} by the checkpoint that closed it when it was rotated"
        return (
            f"anchored to its last line {checked.lines} by a '{checked.last_reason}' checkpoint, not a shutdown one "
            "(the server is running, was killed, or the log was rotated)"
        )
    after = "1 record after it is" if checked.unanchored == 1 else f"{checked.unanchored} records after it are"
    return (
        f"anchored up to line {checked.anchored_line}; the {after} not anchored (removing them would not show) "
        "and no shutdown checkpoint follows"
    )
