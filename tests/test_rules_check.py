"""`rolwijzer-rules check DIR` validates rule folders offline, as a lawyer or CI runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support import CURRENT_RELEASE, RELEASES, RULES, RULES_ROOT, SUPERSEDED

CHECK = Path(sys.executable).parent / "rolwijzer-rules"

# One version folder per kind of mistake: (folder, file, text to replace, replacement, expected problem line).
MISTAKES = [
    ("yaml", "stage-b.yaml", "rules:\n", "rules:\n  - id: [unclosed\n", "yaml/stage-b.yaml: -: cannot be read as YAML"),
    (
        "fact",
        "stage-b.yaml",
        "{fact: payment, is: pgb_paid}",
        "{fact: paymnt, is: pgb_paid}",
        "fact/stage-b.yaml: R2: unknown fact 'paymnt'",
    ),
    (
        "symbol",
        "stage-b.yaml",
        "{fact: payment, is: pgb_paid}",
        "{fact: payment, is: pgb}",
        "symbol/stage-b.yaml: R2: 'pgb' is not a symbol of payment",
    ),
    (
        "code",
        "stage-e.yaml",
        "codes: [WKKGZ_GOEDE_ZORG]",
        "codes: [WKKGZ]",
        "code/stage-e.yaml: E6: unknown code 'WKKGZ'",
    ),
    ("citation", "stage-b.yaml", '    cite: ["CRvB 2017:17"]\n', "", "citation/stage-b.yaml: R2: no citation"),
    (
        "explanation",
        "stage-e.yaml",
        "      en: For its professionals the organisation's general duty of good care applies.\n",
        "",
        "explanation/stage-e.yaml: E6: explanation needs a Dutch (nl) and an English (en) text",
    ),
    ("duplicate", "stage-b.yaml", "  - id: R7\n", "  - id: R5\n", "duplicate/stage-b.yaml: R5: duplicate rule id"),
    (
        "date",
        "ruleset.yaml",
        "valid_from: 2015-01-01",
        "valid_from: someday",
        "date/ruleset.yaml: -: valid_from must be a date",
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
    assert "informele-zorg/late/ruleset.yaml: -: supersedes 7.0.0, which is not an earlier release" in done.stdout


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
