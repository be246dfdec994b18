"""Verify decision logs: the chain of every line, the seal of every checkpoint, and how much of the log is anchored.

Without the key, only the chain is checked: a line removed or altered shows, but a log cut after its last line or
altered and re-sealed (every sha256 recomputed) does not. With the key, every checkpoint's HMAC is checked: a
re-sealed chain no longer matches the checkpoints after the change, lines removed before a checkpoint change its
count, and only the records after the last checkpoint are unanchored (a cut there shows only as a log that does not
end with the server's shutdown checkpoint, which `expect_shutdown` demands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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

__all__ = ["TEXTS", "Report", "Said", "verify", "verify_files"]

# What a verification says, in each language; the placeholders are filled from `Said.params`. A line about one
# line of a log starts with "line N: " ("regel N: "), and with the file's path when several files are checked.
TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "line": "regel {number}: ",
        "not_json": "geen JSON-record",
        "torn": "geen JSON-record (een afgebroken laatste regel: de server zet die opzij wanneer hij start)",
        "altered": "het record is gewijzigd (de sha256 klopt niet met de inhoud)",
        "broken": "de keten is verbroken (een eerder record is verwijderd of gewijzigd)",
        "foreign_facts": "bij {count} records is facts_hmac met een andere sleutel gemaakt (de sleutel die de server "
        "alleen in het geheugen had, zonder --audit-key-file): die zijn niet te controleren",
        "not_continuing": "sluit niet aan op {previous} (prev_sha256 {claimed}, dat bestand eindigt met {ends})",
        "continues": "sluit aan op een eerder bestand waarvan de laatste regel sha256 {claimed} heeft (controleer "
        "dat bestand vóór dit om de aansluiting te controleren)",
        "checkpoint_empty": "een controlepunt zonder velden",
        "checkpoint_misplaced": "het controlepunt dekt {count} regels maar staat na regel {before}, of noemt een "
        "andere kop: er zijn regels ervóór verwijderd, toegevoegd of gewijzigd",
        "checkpoint_other_key": "het controlepunt is verzegeld met een andere sleutel (id {found}, niet {expected})",
        "checkpoint_forged": "het zegel van het controlepunt klopt niet: het is vervalst, of de keten is opnieuw "
        "verzegeld",
        "facts_hmac": "facts_hmac klopt niet met de opgeslagen feiten",
        "no_key": "niet verankerd: zonder --key-file zou een afgeknipt einde of een opnieuw verzegelde keten niet "
        "opvallen",
        "no_key_checkpoints": "niet verankerd: zonder --key-file zou een afgeknipt einde of een opnieuw verzegelde "
        "keten niet opvallen ({checkpoints} controlepunten niet gecontroleerd)",
        "none_sealed": "geen verzegeld controlepunt: geen van de {records} records is verankerd",
        "shutdown": "verankerd tot en met de laatste regel {lines} door het afsluitcontrolepunt van de server",
        "rotated": "verankerd tot en met de laatste regel {lines} door het controlepunt dat het bestand afsloot "
        "toen het werd geroteerd",
        "other_reason": "verankerd tot en met de laatste regel {lines} door een controlepunt '{reason}', geen "
        "afsluitcontrolepunt (de server draait nog, is gestopt met kill, of het log is geroteerd)",
        "up_to_one": "verankerd tot en met regel {anchored}; het ene record erna is niet verankerd (verwijderen "
        "zou niet opvallen) en er volgt geen afsluitcontrolepunt",
        "up_to": "verankerd tot en met regel {anchored}; de {after} records erna zijn niet verankerd (verwijderen zou "
        "niet opvallen) en er volgt geen afsluitcontrolepunt",
        "no_shutdown": "eindigt niet met het afsluitcontrolepunt van de server: {anchoring}",
        "problems": "{problems} probleem/problemen in {records} records",
        "intact": "{records} records, keten intact",
        "intact_checkpoint": "{records} records, keten intact, 1 controlepunt",
        "intact_checkpoints": "{records} records, keten intact, {checkpoints} controlepunten",
    },
    "en": {
        "line": "line {number}: ",
        "not_json": "not a JSON record",
        "torn": "not a JSON record (a torn last line: the server moves it aside when it starts)",
        "altered": "the record was altered (its sha256 does not match its content)",
        "broken": "the chain is broken (a record before it was removed or altered)",
        "foreign_facts": "{count} records' facts_hmac use another key (the server's in-memory key when it ran "
        "without --audit-key-file): they cannot be checked",
        "not_continuing": "does not continue {previous} (prev_sha256 {claimed}, it ends with {ends})",
        "continues": "continues a previous file whose last line has sha256 {claimed} (verify it with that file "
        "before this one to check the link)",
        "checkpoint_empty": "a checkpoint without fields",
        "checkpoint_misplaced": "the checkpoint covers {count} lines but stands after {before}, or names another "
        "head: lines before it were removed, added or altered",
        "checkpoint_other_key": "the checkpoint was sealed with another key (id {found}, not {expected})",
        "checkpoint_forged": "the checkpoint's seal does not match: it was forged, or the chain was re-sealed",
        "facts_hmac": "facts_hmac does not match the stored facts",
        "no_key": "not anchored: without --key-file a cut tail or a re-sealed chain would pass",
        "no_key_checkpoints": "not anchored: without --key-file a cut tail or a re-sealed chain would pass "
        "({checkpoints} checkpoints not checked)",
        "none_sealed": "no sealed checkpoint: none of its {records} records are anchored",
        "shutdown": "anchored to its last line {lines} by the server's shutdown checkpoint",
        "rotated": "anchored to its last line {lines} by the checkpoint that closed it when it was rotated",
        "other_reason": "anchored to its last line {lines} by a '{reason}' checkpoint, not a shutdown one (the "
        "server is running, was killed, or the log was rotated)",
        "up_to_one": "anchored up to line {anchored}; the 1 record after it is not anchored (removing them would "
        "not show) and no shutdown checkpoint follows",
        "up_to": "anchored up to line {anchored}; the {after} records after it are not anchored (removing them would "
        "not show) and no shutdown checkpoint follows",
        "no_shutdown": "does not end with the server's shutdown checkpoint: {anchoring}",
        "problems": "{problems} problem(s) in {records} records",
        "intact": "{records} records, chain intact",
        "intact_checkpoint": "{records} records, chain intact, 1 checkpoint",
        "intact_checkpoints": "{records} records, chain intact, {checkpoints} checkpoints",
    },
}


@dataclass(frozen=True)
class Said:
    """One thing a verification says, in no language yet: a `TEXTS` key, its placeholders, and where it is about
    (a path to put first, a line number of the log)."""

    key: str
    params: tuple[tuple[str, object], ...] = ()
    path: str = ""
    line: int | None = None

    def text(self, language: str = "en") -> str:
        """The line in `language` ("nl" or "en"); a placeholder that is itself `Said` is said in it too."""
        texts = TEXTS[language]
        params = {k: v.text(language) if isinstance(v, Said) else v for k, v in self.params}
        where = texts["line"].format(number=self.line) if self.line is not None else ""
        return f"{self.path}{where}{texts[self.key].format(**params)}"


def _said(key: str, path: str = "", line: int | None = None, **params: object) -> Said:
    return Said(key, tuple(params.items()), path, line)


@dataclass
class Report:
    """What a verification found: problems fail it; notes and the anchoring are said, one line each."""

    problems: list[Said] = field(default_factory=list)
    notes: list[Said] = field(default_factory=list)
    summaries: list[Said] = field(default_factory=list)

    def lines(self, language: str = "en") -> list[str]:
        """Everything to print in `language`, one item per line: problems, notes, then a summary per file."""
        return [said.text(language) for said in (*self.problems, *self.notes, *self.summaries)]


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
    problems: list[Said] = field(default_factory=list)
    notes: list[Said] = field(default_factory=list)

    def problem(self, number: int, key: str, **params: object) -> None:
        self.problems.append(_said(key, self.label, number, **params))


def verify(path: Path, key: AuditKey | None = None) -> list[str]:
    """Every problem in one decision log, as "line N: reason" in English; empty when the file is intact."""
    return [said.text() for said in verify_files([path], key).problems]


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
        named = f"{path}: "
        if last and expect_shutdown and (key is None or checked.last_reason != "shutdown"):
            report.problems.append(_said("no_shutdown", named, anchoring=anchoring))
        else:
            report.notes.append(replace(anchoring, path=named))
        if checked.problems:
            report.summaries.append(_said("problems", named, problems=len(checked.problems), records=checked.records))
        elif checked.checkpoints:
            counted = "intact_checkpoint" if checked.checkpoints == 1 else "intact_checkpoints"
            report.summaries.append(_said(counted, named, records=checked.records, checkpoints=checked.checkpoints))
        else:
            report.summaries.append(_said("intact", named, records=checked.records))
        previous = checked
    return report


def _walk(checked: _File, previous: _File | None) -> None:
    prev: str | None = None
    for number, record, raw in read_records(checked.path):
        checked.lines = number
        if record is None:
            checked.problem(number, "not_json" if raw.endswith(b"\n") else "torn")
            prev = ""
            continue
        claimed = record.get("sha256")
        if own_hash(record) != claimed:
            checked.problem(number, "altered")
        claimed_prev = record.get("prev_sha256")
        if number == 1:
            _check_start(checked, claimed_prev, previous)
        elif claimed_prev != prev:
            checked.problem(number, "broken")
        prev = str(claimed)
        checked.last_hash = prev
        if "checkpoint" in record:
            _check_checkpoint(checked, number, record)
        else:
            checked.records += 1
            checked.unanchored += 1
            _check_facts(checked, number, record)
    if checked.foreign_facts:
        checked.notes.append(_said("foreign_facts", f"{checked.path}: ", count=checked.foreign_facts))


def _check_start(checked: _File, claimed_prev: object, previous: _File | None) -> None:
    if previous is not None:
        if claimed_prev != previous.last_hash:
            ends = previous.last_hash
            checked.problem(1, "not_continuing", previous=previous.path, claimed=claimed_prev, ends=ends)
    elif claimed_prev != GENESIS:
        checked.notes.append(_said("continues", checked.label, 1, claimed=claimed_prev))


def _check_checkpoint(checked: _File, number: int, record: dict[str, Any]) -> None:
    checkpoint = record["checkpoint"]
    checked.checkpoints += 1
    if not isinstance(checkpoint, dict):
        checked.problem(number, "checkpoint_empty")
        return
    placed = checkpoint.get("count") == number - 1 and checkpoint.get("sha256") == record.get("prev_sha256")
    if not placed:
        checked.problem(number, "checkpoint_misplaced", count=checkpoint.get("count"), before=number - 1)
    if checked.key is None:
        return
    if checkpoint.get("key_id") != checked.key.key_id:
        checked.problem(number, "checkpoint_other_key", found=checkpoint.get("key_id"), expected=checked.key.key_id)
        return
    fields = checkpoint_fields(
        checkpoint.get("count"),
        checkpoint.get("sha256"),
        checkpoint.get("reason"),
        checkpoint.get("time"),
        checkpoint.get("key_id"),
    )
    if not checked.key.checkpoint_matches(canonical(fields), checkpoint.get("hmac")):
        checked.problem(number, "checkpoint_forged")
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
        checked.problem(number, "facts_hmac")


def _anchoring(checked: _File) -> Said:
    if checked.key is None:
        if checked.checkpoints:
            return _said("no_key_checkpoints", checkpoints=checked.checkpoints)
        return _said("no_key")
    if checked.sealed == 0:
        return _said("none_sealed", records=checked.records)
    if checked.anchored_line == checked.lines:
        if checked.last_reason in ("shutdown", "rotated"):
            return _said(str(checked.last_reason), lines=checked.lines)
        return _said("other_reason", lines=checked.lines, reason=checked.last_reason)
    if checked.unanchored == 1:
        return _said("up_to_one", anchored=checked.anchored_line)
    return _said("up_to", anchored=checked.anchored_line, after=checked.unanchored)
