"""`rolwijzer audit verify|replay|new-key`: check a decision log's chain and checkpoints; re-decide its records;
make a key. Runs locally.

Every line is printed whole (never wrapped or cropped, not read as markup), on a terminal and in a pipe alike, so that
paths and decision ids can be copied and grepped.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from google.protobuf import json_format
from rich.console import Console

from rolwijzer.api.convert import facts_from_proto
from rolwijzer.audit_file import read_records
from rolwijzer.audit_keys import AuditKey, AuditKeyError, write_new_key
from rolwijzer.audit_verify import verify_files
from rolwijzer.cli.client import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from rolwijzer.cli.messages import say
from rolwijzer.cli.render import print_line
from rolwijzer.engine import Engine, EvaluationError, InvalidFacts, NoRuleSetInForce, UnknownVersion
from rolwijzer.rules import RuleSetError, load_rule_sets
from rolwijzer.v1 import rolwijzer_pb2 as pb


def run_verify(
    paths: list[Path], key_file: Path | None, expect_shutdown: bool, console: Console, language: str = "nl"
) -> int:
    """Print every problem, note and the anchoring of each file, one line each; exit 1 when there is a problem.

    Several files are checked as one chain, oldest first (a log and the files it was rotated into).
    """
    for path in paths:
        _require(path, language)
    key = _key(key_file) if key_file is not None else None
    if expect_shutdown and key is None:
        raise CliError(EXIT_BAD_INPUT, say(language, "audit_shutdown_needs_key"))
    report = verify_files(paths, key, expect_shutdown)
    for line in report.lines(language):
        print_line(console, line)
    return EXIT_FAILED if report.problems else 0


def run_new_key(path: Path, console: Console, language: str = "nl") -> int:
    """Create a key file (readable by its owner only) for `rolwijzer-server --audit-key-file`."""
    try:
        key = write_new_key(path)
    except OSError as err:
        raise CliError(
            EXIT_BAD_INPUT, say(language, "audit_cannot_create", path=path, reason=err.strerror or err)
        ) from None
    print_line(console, say(language, "audit_new_key", path=path, key_id=key.key_id))
    return 0


def _key(path: Path) -> AuditKey:
    try:
        return AuditKey.from_file(path)
    except AuditKeyError as err:
        raise CliError(EXIT_BAD_INPUT, str(err)) from None


def run_replay(path: Path, rules: Path, console: Console, language: str = "nl") -> int:
    """Decide again every record that holds its facts, with the version it names; report what would differ."""
    _require(path, language)
    try:
        engine = Engine(load_rule_sets(rules))
    except RuleSetError as err:
        raise CliError(EXIT_BAD_INPUT, say(language, "audit_cannot_load", rules=rules, reason=err)) from None
    replayed = skipped = differing = 0
    try:
        for number, record, _ in read_records(path):
            if record is not None and "checkpoint" in record:
                continue
            if record is None or "facts" not in record:
                skipped += 1
                continue
            replayed += 1
            changes = _replay(engine, record, language)
            if changes:
                differing += 1
                where = say(language, "audit_line", number=number, decision_id=record.get("decision_id"))
                print_line(console, f"{where}: " + "; ".join(changes))
    finally:
        engine.close()
    summary = say(language, "audit_replay_summary", replayed=replayed, differing=differing, skipped=skipped)
    print_line(console, summary)
    return EXIT_FAILED if differing else 0


def _replay(engine: Engine, record: dict[str, object], language: str) -> list[str]:
    rule_set = record.get("rule_set")
    version = rule_set.get("version") if isinstance(rule_set, dict) else None
    try:
        facts = json_format.ParseDict({"facts": record["facts"]}, pb.EvaluateRequest()).facts
        day = dt.date.fromisoformat(str(record["reference_date"]))
        decision = engine.evaluate(facts_from_proto(facts), engine.select(day, str(version)))
    except (json_format.ParseError, ValueError, KeyError) as err:
        return [say(language, "audit_unreadable", reason=err)]
    except (UnknownVersion, NoRuleSetInForce, InvalidFacts, EvaluationError) as err:
        return [say(language, "audit_cannot_decide", reason=err)]
    now: dict[str, object] = {
        "role": decision.role,
        "volunteer_deployer": decision.volunteer_deployer,
        "role_candidates": sorted(decision.role_candidates),
        "missing_facts": sorted(m.fact for m in decision.missing_facts),
        **{key: sorted(codes) for key, codes in decision.codes().items()},
    }
    changes = []
    for key, value in now.items():
        before = record.get(key)
        if isinstance(before, list):
            before = sorted(str(v) for v in before)
        if before != value:
            changes.append(say(language, "audit_change", field=key, before=before, now=value))
    return changes


def _require(path: Path, language: str) -> None:
    if not path.is_file():
        raise CliError(EXIT_BAD_INPUT, say(language, "audit_no_file", path=path))
