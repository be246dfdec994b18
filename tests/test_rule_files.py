"""Rule files are checked on load; a bad file stops the start with file, rule id and problem."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rolwijzer.rules import RuleSet, RuleSetError, load_rule_set
from support import RULES


def _broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def _problems(folder: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(folder)
    return [str(p) for p in caught.value.problems]


class TestTheShippedRuleSet:
    """The default rule set is complete and sound."""

    def test_it_loads_with_every_stage_of_the_procedure(self, rule_set: RuleSet) -> None:
        """Stages A to H each hold rules; facts and codes match domain.md §5 and §7."""
        stages = {rule.stage for rule in rule_set.rules}
        assert stages == {"A1", "A", "B", "B-context", "C", "D1", "D2", "D", "E", "F", "G", "H-enumeration", "H"}
        assert len(rule_set.facts) == 36  # §5's 33 and revision 2's within_deployment and two age groups
        assert {f.name for f in rule_set.facts.values() if f.decides_role} == {
            "relation_to_beneficiary",
            "naaste_of_other_client",
            "initiative",
            "registered_volunteer",
            "within_deployment",
            "helper_employment",
            "acting_capacity",
            "payment",
            "regularity",
            "hours_per_week",
            "duration_months",
            "task_owner",
            "setting",
            "helper_intent_or_gross_recklessness",
        }
        assert set(rule_set.roles) == {
            "MANTELZORGER",
            "SOCIAAL_NETWERK",
            "VRIJWILLIGER",
            "BEROEPSKRACHT",
            "PGB_ZORGVERLENER",
            "OVERIG_DERDE",
            "ONBEPAALD",
        }

    def test_every_rule_carries_explanations_in_two_languages_and_a_citation(self, rule_set: RuleSet) -> None:
        """No rule lacks its Dutch and English explanation or its sources."""
        for rule in rule_set.rules:
            assert rule.explain.nl and rule.explain.en and rule.citations, rule.id


class TestBrokenFiles:
    """Each kind of mistake is reported with its file and rule id."""

    @pytest.mark.parametrize(
        ("file", "old", "new", "expected"),
        [
            (
                "stage-b.yaml",
                "{fact: payment, is: pgb_paid}",
                "{fact: paymnt, is: pgb_paid}",
                "stage-b.yaml: R2: unknown fact 'paymnt'",
            ),
            (
                "stage-b.yaml",
                "{fact: payment, is: pgb_paid}",
                "{fact: payment, is: pgb}",
                "stage-b.yaml: R2: 'pgb' is not a symbol of payment",
            ),
            (
                "stage-e.yaml",
                "codes: [WKKGZ_GOEDE_ZORG]",
                "codes: [WKKGZ_GOED]",
                "stage-e.yaml: E6: unknown code 'WKKGZ_GOED'",
            ),
            ("stage-b.yaml", "  - id: R7\n", "  - id: R5\n", "stage-b.yaml: R5: duplicate rule id"),
            ("stage-b.yaml", '    cite: ["CRvB 2017:17"]\n', "", "stage-b.yaml: R2: no citation"),
            (
                "stage-b.yaml",
                '    cite: ["CRvB 2017:17"]\n',
                '    cite: ["Hoge Raad 2020"]\n',
                "stage-b.yaml: R2: citation 'Hoge Raad 2020' does not start with a source id",
            ),
            (
                "stage-e.yaml",
                "      en: For its professionals the organisation's general duty of good care applies.\n",
                "",
                "stage-e.yaml: E6: explanation needs a Dutch (nl) and an English (en) text",
            ),
            (
                "stage-a.yaml",
                "{fact: payment, is: paid_by_org}, {fact: helper_employment, is: none}",
                "{role: BEROEPSKRACHT}, {fact: helper_employment, is: none}",
                "stage-a.yaml: A3: stage A runs before the role is known",
            ),
            (
                "stage-b.yaml",
                "    stage: B\n    when: {fact: payment, is: pgb_paid}",
                "    stage: Q\n    when: {fact: payment, is: pgb_paid}",
                "stage-b.yaml: R2: unknown stage 'Q'",
            ),
            ("stage-b.yaml", "rules:\n", "rules:\n  - id: [unclosed\n", "stage-b.yaml: -: cannot be read as YAML"),
        ],
        ids=[
            "unknown-fact",
            "unknown-symbol",
            "unknown-code",
            "duplicate-id",
            "no-citation",
            "unknown-source",
            "no-explanation",
            "role-before-stage-b",
            "unknown-stage",
            "invalid-yaml",
        ],
    )
    def test_the_problem_names_file_rule_and_reason(
        self, tmp_path: Path, file: str, old: str, new: str, expected: str
    ) -> None:
        """The loader refuses the folder and says where and what."""
        problems = _problems(_broken(tmp_path, file, old, new))
        assert any(p.startswith(expected) for p in problems), problems

    def test_every_problem_is_listed_at_once(self, tmp_path: Path) -> None:
        """Two mistakes in two files give two problems in one error."""
        folder = _broken(tmp_path, "stage-e.yaml", "codes: [WKKGZ_GOEDE_ZORG]", "codes: [NOPE]")
        path = folder / "stage-b.yaml"
        path.write_text(path.read_text().replace("{fact: payment, is: pgb_paid}", "{fact: pay, is: pgb_paid}"))
        problems = _problems(folder)
        assert any("E6: unknown code 'NOPE'" in p for p in problems)
        assert any("R2: unknown fact 'pay'" in p for p in problems)


def test_the_server_refuses_to_start_on_a_bad_rule_file(tmp_path: Path) -> None:
    """`rolwijzer-server --rules BAD` exits with code 2 and names the file, rule and problem."""
    folder = _broken(tmp_path, "stage-e.yaml", "codes: [WKKGZ_GOEDE_ZORG]", "codes: [NOPE]")
    script = Path(sys.executable).parent / "rolwijzer-server"
    done = subprocess.run(
        [str(script), "--rules", str(folder), "--address", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "stage-e.yaml: E6: unknown code 'NOPE'" in done.stderr
    assert "Traceback" not in done.stderr
