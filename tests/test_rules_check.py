"""`rolwijzer-rules check DIR` validates rule folders offline, as a lawyer or CI runs it."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from rolwijzer.cli.rules_check import main
from rolwijzer.rules import RuleSetError, load_rule_set
from rolwijzer.rules.schema import file_kind, schema_texts, structure_problems
from support import CURRENT_RELEASE, RELEASES, RULES, RULES_ROOT, SUPERSEDED

SCHEMAS = RULES_ROOT / "schema"
VSCODE_SETTINGS = RULES_ROOT.parent / ".vscode" / "settings.json"

CHECK = Path(sys.executable).parent / "rolwijzer-rules"

# One version folder per kind of mistake: (folder, file, text to replace, replacement, expected problem line).
# Each line names the place as file:line:column (1-based): the offending key or value, else the rule's entry.
MISTAKES = [
    (
        "yaml",
        "stage-b.yaml",
        "rules:\n",
        "rules:\n  - id: [unclosed\n",
        "yaml/stage-b.yaml:5:7: -: cannot be read as YAML",
    ),
    (
        "fact",
        "stage-b.yaml",
        "{fact: payment, is: pgb_paid}",
        "{fact: paymnt, is: pgb_paid}",
        "fact/stage-b.yaml:31:18: R2: unknown fact 'paymnt'",
    ),
    (
        "symbol",
        "stage-b.yaml",
        "{fact: payment, is: pgb_paid}",
        "{fact: payment, is: pgb}",
        "symbol/stage-b.yaml:31:31: R2: 'pgb' is not a symbol of payment",
    ),
    (
        "code",
        "stage-e.yaml",
        "codes: [WKKGZ_GOEDE_ZORG]",
        "codes: [WKKGZ]",
        "code/stage-e.yaml:261:20: E6: unknown code 'WKKGZ'",
    ),
    ("citation", "stage-b.yaml", '    cite: ["CRvB 2017:17"]\n', "", "citation/stage-b.yaml:29:5: R2: no citation"),
    (
        "explanation",
        "stage-e.yaml",
        "      en: For its professionals the organisation's general duty of good care applies.\n",
        "",
        "explanation/stage-e.yaml:262:5: E6: explanation needs a Dutch (nl) and an English (en) text",
    ),
    ("duplicate", "stage-b.yaml", "  - id: R7\n", "  - id: R5\n", "duplicate/stage-b.yaml:83:5: R5: duplicate rule id"),
    (
        "date",
        "ruleset.yaml",
        "valid_from: 2015-01-01",
        "valid_from: someday",
        "date/ruleset.yaml:7:1: -: valid_from must be a date",
    ),
]


def _run(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK), "check", str(folder)], capture_output=True, text=True, timeout=120, check=False)


def test_the_shipped_rules_pass_the_check() -> None:
    """rules/ holds good releases only; the check lists them, the superseded ones marked, and exits 0."""
    done = _run(RULES_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[2]: line for line in done.stdout.splitlines() if line.startswith("ok  informele-zorg")}
    assert set(lines) == set(RELEASES)
    assert all(f"superseded by {CURRENT_RELEASE}" in lines[version] for version in SUPERSEDED)
    assert "current" in lines[CURRENT_RELEASE] and "dated entries from 2027-01-01" in lines[CURRENT_RELEASE]


def test_a_release_may_only_supersede_earlier_releases(tmp_path: Path) -> None:
    """A release that names itself or a later version in `supersedes` is refused with its file."""
    target = tmp_path / "informele-zorg" / "late"
    shutil.copytree(RULES, target)
    meta = target / "ruleset.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("supersedes: [", "supersedes: [7.0.0, "), encoding="utf-8")
    done = _run(tmp_path)
    assert done.returncode == 1
    assert "informele-zorg/late/ruleset.yaml:10:1: -: supersedes 7.0.0, which is not an earlier release" in done.stdout


def test_every_kind_of_mistake_is_reported_with_file_and_rule(tmp_path: Path) -> None:
    """A folder with one broken version per kind of mistake: each is reported, and the exit code is 1."""
    for folder, file, old, new, _ in MISTAKES:
        target = tmp_path / folder
        shutil.copytree(RULES, target)
        text = (target / file).read_text(encoding="utf-8")
        assert old in text, f"test setup: {old!r} not in {file}"
        (target / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    done = _run(tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    for *_, expected in MISTAKES:
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    assert "Traceback" not in done.stdout + done.stderr


def test_current_releases_covering_the_same_day_are_refused(tmp_path: Path) -> None:
    """Two good copies of one release overlap: the second is reported."""
    shutil.copytree(RULES, tmp_path / "a")
    shutil.copytree(RULES, tmp_path / "b")
    done = _run(tmp_path)
    assert done.returncode == 1
    assert "loaded twice" in done.stdout or "still in force" in done.stdout


def _place(line: str) -> tuple[str, int, int]:
    """The file, line and column at the start of a problem line `file:line:column: item: message`."""
    file, number, column, _ = line.split(":", 3)
    return file, int(number), int(column)


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    """An unclosed list: the file's real name under the rules root and the place, never PyYAML's <unicode string>."""
    target = tmp_path / "informele-zorg" / "broken"
    shutil.copytree(RULES, target)
    path = target / "stage-c.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(1, "  - id: [unclosed\n    stage: C\n")
    path.write_text("".join(lines), encoding="utf-8")
    done = _run(tmp_path)
    assert done.returncode == 1
    assert "<unicode string>" not in done.stdout + done.stderr
    found = [line for line in done.stdout.splitlines() if "cannot be read as YAML" in line]
    assert len(found) == 1, done.stdout
    assert found[0].startswith("informele-zorg/broken/stage-c.yaml:3:10: -: cannot be read as YAML: "), found
    assert "(started on line 2)" in found[0]


def test_a_forbidden_character_names_its_line_and_column_too(tmp_path: Path) -> None:
    """A control character after a non-ASCII letter: the place counts characters, and no "<unicode string>"."""
    target = tmp_path / "release"
    shutil.copytree(RULES, target, ignore=shutil.ignore_patterns("manifest.yaml"))
    (target / "stage-x.yaml").write_text("rules: []\nnote: \u00e9\u0007\n", encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(target)
    assert [str(p) for p in caught.value.problems] == [
        "stage-x.yaml:2:8: -: cannot be read as YAML: character #x0007: control characters are not allowed"
    ]


def test_a_semantic_error_points_at_the_offending_name(tmp_path: Path) -> None:
    """An unknown fact in a rule's condition, found after parsing: the line and column of the misspelt name."""
    target = tmp_path / "release"
    shutil.copytree(RULES, target)
    path = target / "stage-b.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("{fact: payment, is: pgb_paid}", "{fact: paymnt, is: pgb_paid}")
    )
    done = _run(tmp_path)
    found = [line for line in done.stdout.splitlines() if "unknown fact 'paymnt'" in line]
    assert len(found) == 1, done.stdout
    file, number, column = _place(found[0])
    assert file == "release/stage-b.yaml" and found[0].split(": ")[1] == "R2"
    assert path.read_text(encoding="utf-8").splitlines()[number - 1][column - 1 :].startswith("paymnt")


def test_a_problem_of_an_entry_without_a_quoted_name_points_at_the_entry(tmp_path: Path) -> None:
    """A rule without a citation: the place is the rule's entry (its `- id:` line)."""
    target = tmp_path / "release"
    shutil.copytree(RULES, target)
    path = target / "stage-b.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('    cite: ["CRvB 2017:17"]\n', "", 1))
    done = _run(tmp_path)
    found = [line for line in done.stdout.splitlines() if ": R2: no citation" in line]
    assert len(found) == 1, done.stdout
    _, number, column = _place(found[0])
    assert path.read_text(encoding="utf-8").splitlines()[number - 1][column - 3 :].startswith("- id: R2")


def _shipped_files() -> list[Path]:
    return sorted(RULES_ROOT.glob("*/*/*.yaml"))


def _as_json(value: object) -> object:
    """A parsed YAML document as the YAML editor sees it: dates (keys too) as YYYY-MM-DD text."""
    if isinstance(value, dict):
        return {k.isoformat() if isinstance(k, dt.date) else str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


def test_the_published_schemas_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    """rules/schema holds exactly what the models generate; `schema --check` agrees (run `schema` after a change)."""
    published = {path.name: path.read_text(encoding="utf-8") for path in SCHEMAS.glob("*.schema.json")}
    assert published == schema_texts(), "stale: run `rolwijzer-rules schema rules/schema`"
    assert main(["schema", "--check", str(SCHEMAS)]) == 0
    assert "stale" not in capsys.readouterr().out


def test_a_stale_schema_folder_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`schema --check` exits 1 and names the schema that differs; `schema` rewrites it."""
    shutil.copytree(SCHEMAS, tmp_path / "schema")
    (tmp_path / "schema" / "facts.schema.json").write_text("{}\n", encoding="utf-8")
    assert main(["schema", "--check", str(tmp_path / "schema")]) == 1
    assert "facts.schema.json" in capsys.readouterr().out
    assert main(["schema", str(tmp_path / "schema")]) == 0
    assert main(["schema", "--check", str(tmp_path / "schema")]) == 0


def test_every_shipped_rule_file_validates_against_its_schema() -> None:
    """Each file of every release fits its JSON Schema (as an editor checks it) and its model."""
    validators = {
        name.removesuffix(".schema.json"): jsonschema.Draft202012Validator(
            json.loads(text), format_checker=jsonschema.FormatChecker()
        )
        for name, text in schema_texts().items()
    }
    files = _shipped_files()
    assert len(files) == 13 * len(RELEASES)
    for path in files:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validators[file_kind(path.name)].iter_errors(_as_json(document))]
        assert errors == [], (path, errors[:3])
        assert structure_problems(path.name, document) == [], path


def test_the_schema_flags_a_misspelt_key_and_a_second_test_on_one_fact() -> None:
    """Structure, not names: `whne:` and `{fact: x, is: a, in: [b]}` are refused; an unknown fact name is not."""
    document = yaml.safe_load((RULES / "stage-b.yaml").read_text(encoding="utf-8"))
    schema = jsonschema.Draft202012Validator(json.loads(schema_texts()["stage.schema.json"]))
    rule = document["rules"][0]
    rule["whne"] = rule.pop("when")
    assert any("'whne' was unexpected" in e.message for e in schema.iter_errors(_as_json(document)))
    rule["when"] = {"fact": "paymnt", "is": "pgb_paid", "in": ["a"]}
    del rule["whne"]
    assert list(schema.iter_errors(_as_json(document)))
    assert structure_problems("stage-b.yaml", document)
    rule["when"] = {"fact": "paymnt", "is": "pgb_paid"}
    assert list(schema.iter_errors(_as_json(document))) == []


def test_vscode_maps_every_rule_file_to_its_schema() -> None:
    """.vscode/settings.json (`yaml.schemas`) gives each shipped file the schema of its kind, and only that one."""
    mapping = json.loads(VSCODE_SETTINGS.read_text(encoding="utf-8"))["yaml.schemas"]
    for path in _shipped_files():
        relative = path.relative_to(RULES_ROOT.parent).as_posix()
        schemas = [schema for schema, glob in mapping.items() if fnmatch.fnmatch(relative, glob)]
        assert schemas == [f"./rules/schema/{file_kind(path.name)}.schema.json"], (relative, schemas)
        assert (RULES_ROOT.parent / schemas[0]).is_file()


@pytest.mark.parametrize(
    ("file", "old", "new", "expected", "at"),
    [
        (
            "stage-b.yaml",
            "then: {role: PGB_ZORGVERLENER}",
            "then: {rol: PGB_ZORGVERLENER}",
            "R2: unknown key 'rol'",
            "rol",
        ),
        ("stage-b.yaml", "    when: {fact: payment, is: pgb_paid}\n", "", "R2: `when` is missing", "- id: R2"),
        ("facts.yaml", "maximum: 168", "maximum: -1", "hours_per_week: maximum is for number facts only", "maximum"),
        (
            "ruleset.yaml",
            "valid_from: 2015-01-01",
            "valid_from: '2015-01-01'",
            "-: valid_from must be a date",
            "valid_",
        ),
        ("stage-b.yaml", "  - id: R2\n", "  - id: R 2\n", "R 2: a rule id uses letters, digits and - _ . only", "id"),
    ],
    ids=["misspelt-key", "missing-key", "bad-value", "quoted-date", "bad-rule-id"],
)
def test_a_problem_of_structure_points_at_its_key_or_entry(
    tmp_path: Path, file: str, old: str, new: str, expected: str, at: str
) -> None:
    """The models of schema.py check each file as it is loaded; a problem names the entry and points at the key it
    concerns, or at the entry that lacks it."""
    target = tmp_path / "release"
    shutil.copytree(RULES, target, ignore=shutil.ignore_patterns("manifest.yaml"))
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(target)
    found = [str(p) for p in caught.value.problems if f": {expected}" in str(p)]
    assert len(found) == 1, [str(p) for p in caught.value.problems]
    _, number, column = _place(found[0])
    line = path.read_text(encoding="utf-8").splitlines()[number - 1]
    assert line[column - 1 :].startswith(at) or line[column - 3 :].startswith(at), (found[0], line)
