"""`rolwijzer-rules check DIR`: validate a folder of releases offline, as the server would load it.

`rolwijzer-rules manifest DIR` writes (or refreshes) the `manifest.yaml` of every release under DIR.
`rolwijzer-rules schema DIR` writes the JSON Schema of each kind of rule file into DIR (rules/schema); with
`--check` it only reports whether DIR is current.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rolwijzer.engine import Engine
from rolwijzer.rules import Problem, RuleSetError, load_rule_sets, version_key
from rolwijzer.rules.manifest import write_manifests
from rolwijzer.rules.validate import report_lines


def check(folder: Path) -> list[Problem]:
    """Every problem of the versions under `folder`, including compile errors in durable-rules."""
    try:
        rule_sets = load_rule_sets(folder)
    except RuleSetError as err:
        return err.problems
    try:
        Engine(rule_sets).close()
    except Exception as err:  # a compile error in durable-rules: reported like a rule-file problem
        return [Problem("-", "-", f"cannot compile: {err}")]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Print every problem with file and rule id and exit 1, or print a summary and exit 0."""
    parser = argparse.ArgumentParser(prog="rolwijzer-rules", description="Check rule-set folders.")
    commands = parser.add_subparsers(dest="command", required=True)
    check_command = commands.add_parser("check", help="validate a folder of rule-set versions; exit 1 on problems")
    check_command.add_argument("folder", type=Path, help="a rules folder, for example rules/")
    manifest_command = commands.add_parser(
        "manifest", help="write the manifest.yaml (every file and its sha256) of each release under a folder"
    )
    manifest_command.add_argument("folder", type=Path, help="a rules folder, for example rules/")
    schema_command = commands.add_parser(
        "schema", help="write the JSON Schema of each kind of rule file (for editors) into a folder"
    )
    schema_command.add_argument("folder", type=Path, help="where the schemas go, for example rules/schema")
    schema_command.add_argument("--check", action="store_true", help="write nothing; exit 1 when a schema is stale")
    args = parser.parse_args(argv)
    if args.command == "manifest":
        return _manifest(args.folder)
    if args.command == "schema":
        return _schema(args.folder, args.check)
    problems = check(args.folder)
    if problems:
        for line in report_lines(problems):
            print(line)
        print(f"{len(problems)} problem(s) in {args.folder}", file=sys.stderr)
        return 1
    rule_sets = load_rule_sets(args.folder)
    superseded_by = {old: r.version for r in rule_sets for old in r.supersedes}
    for rule_set in sorted(rule_sets, key=lambda r: version_key(r.version)):
        status = f"superseded by {superseded_by[rule_set.version]}" if rule_set.version in superseded_by else "current"
        dated = sorted(d.isoformat() for d in rule_set.change_dates() - {rule_set.valid_from})
        print(
            f"ok  {rule_set.id} {rule_set.version}  {rule_set.window():<24} {len(rule_set.rules)} rules  "
            f"sha256 {rule_set.sha256[:12]}  {status}"
            + (f"  dated entries from {', '.join(dated)}" if dated else "")
            + f"  ({rule_set.folder})"
        )
    return 0


def _manifest(folder: Path) -> int:
    """Write the manifests; exit 1 when a release has a file that cannot be read safely (it gets no manifest)."""
    result = write_manifests(folder)
    for path in result.written:
        print(f"wrote     {path}")
    for path in result.unchanged:
        print(f"unchanged {path}")
    for line in report_lines(result.problems):
        print(line)
    if result.problems:
        print(f"{len(result.problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    if not result.written and not result.unchanged:
        print(f"no release (no folder with a ruleset.yaml) in {folder}", file=sys.stderr)
        return 1
    return 0


def _schema(folder: Path, check_only: bool) -> int:
    """Write the schemas (or, with `check_only`, name the stale ones and exit 1 when there are any)."""
    from rolwijzer.rules.schema import schema_texts, write_schemas  # noqa: PLC0415 - pydantic only for `schema`

    if not check_only:
        for path in write_schemas(folder):
            print(f"wrote     {path}")
        return 0
    stale = [
        name
        for name, text in schema_texts().items()
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text
    ]
    for name in stale:
        print(f"stale     {folder / name}")
    if stale:
        print(f"run `rolwijzer-rules schema {folder}` to regenerate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
