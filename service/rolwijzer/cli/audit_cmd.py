"""`rolwijzer audit verify|replay FILE`: check a decision log's chain; re-decide its records. Runs locally.

Every line is printed whole (never wrapped or cropped, not read as markup), on a terminal and in a pipe alike, so that
paths and decision ids can be copied and grepped.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from google.protobuf import json_format
from rich.console import Console

from rolwijzer.api.convert import facts_from_proto
from rolwijzer.audit import read_records, verify
from rolwijzer.cli.client import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from rolwijzer.cli.render import print_line
from rolwijzer.engine import Engine, EvaluationError, InvalidFacts, NoRuleSetInForce, UnknownVersion
from rolwijzer.rules import RuleSetError, load_rule_sets
from rolwijzer.v1 import rolwijzer_pb2 as pb


def run_verify(path: Path, console: Console) -> int:
    """Print every break in the chain; exit 1 when there is one."""
    _require(path)
    problems = verify(path)
    records = sum(1 for _ in read_records(path))
    for problem in problems:
        print_line(console, problem)
    if problems:
        print_line(console, f"{path}: {len(problems)} problem(s) in {records} records")
        return EXIT_FAILED
    print_line(console, f"{path}: {records} records, chain intact")
    return 0


def run_replay(path: Path, rules: Path, console: Console) -> int:
    """Decide again every record that holds its facts, with the version it names; report what would differ."""
    _require(path)
    try:
        engine = Engine(load_rule_sets(rules))
    except RuleSetError as err:
        raise CliError(EXIT_BAD_INPUT, f"cannot load the rules in {rules}: {err}") from None
    replayed = skipped = differing = 0
    try:
        for number, record, _ in read_records(path):
            if record is None or "facts" not in record:
                skipped += 1
                continue
            replayed += 1
            changes = _replay(engine, record)
            if changes:
                differing += 1
                print_line(console, f"line {number} ({record.get('decision_id')}): " + "; ".join(changes))
    finally:
        engine.close()
    print_line(console, f"{replayed} replayed, {differing} would now differ, {skipped} without facts (not replayable)")
    return EXIT_FAILED if differing else 0


def _replay(engine: Engine, record: dict[str, object]) -> list[str]:
    rule_set = record.get("rule_set")
    version = rule_set.get("version") if isinstance(rule_set, dict) else None
    try:
        facts = json_format.ParseDict({"facts": record["facts"]}, pb.EvaluateRequest()).facts
        day = dt.date.fromisoformat(str(record["reference_date"]))
        decision = engine.evaluate(facts_from_proto(facts), engine.select(day, str(version)))
    except (json_format.ParseError, ValueError, KeyError) as err:
        return [f"unreadable record: {err}"]
    except (UnknownVersion, NoRuleSetInForce, InvalidFacts, EvaluationError) as err:
        return [f"cannot be decided again: {err}"]
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
            changes.append(f"{key}: was {before}, now {value}")
    return changes


def _require(path: Path) -> None:
    if not path.is_file():
        raise CliError(EXIT_BAD_INPUT, f"{path}: no such file")
