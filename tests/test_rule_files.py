"""Rule files are checked on load; a bad file stops the start with file, rule id and problem."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rolwijzer.rules import RuleSet, RuleSetError, load_rule_set, load_rule_sets
from rolwijzer.rules.validate import internal_references
from support import CURRENT_RELEASE, RULES, RULES_ROOT

NO_MANIFEST = shutil.ignore_patterns("manifest.yaml")


def _broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=NO_MANIFEST)  # these tests are about the content, not about completeness
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def _located(expected: str) -> re.Pattern[str]:
    """`expected` with `L:C` standing for any line and column: `file:L:C: item: message`."""
    return re.compile(re.escape(expected).replace("L:C", r"[0-9]+:[0-9]+"))


def _found(expected: str, problems: list[str]) -> bool:
    """Whether a problem line starts with `expected`, its `L:C` a real line and column."""
    pattern = _located(expected)
    return any(pattern.match(p) for p in problems)


def _problems(folder: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(folder)
    return [str(p) for p in caught.value.problems]


def _release_problems(folder: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_rule_sets(folder)
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
                "stage-b.yaml:L:C: R2: unknown fact 'paymnt'",
            ),
            (
                "stage-b.yaml",
                "{fact: payment, is: pgb_paid}",
                "{fact: payment, is: pgb}",
                "stage-b.yaml:L:C: R2: 'pgb' is not a symbol of payment",
            ),
            (
                "stage-e.yaml",
                "codes: [WKKGZ_GOEDE_ZORG]",
                "codes: [WKKGZ_GOED]",
                "stage-e.yaml:L:C: E6: unknown code 'WKKGZ_GOED'",
            ),
            ("stage-b.yaml", "  - id: R7\n", "  - id: R5\n", "stage-b.yaml:L:C: R5: duplicate rule id"),
            ("stage-b.yaml", '    cite: ["CRvB 2017:17"]\n', "", "stage-b.yaml:L:C: R2: no citation"),
            (
                "stage-b.yaml",
                '    cite: ["CRvB 2017:17"]\n',
                '    cite: ["Hoge Raad 2020"]\n',
                "stage-b.yaml:L:C: R2: citation 'Hoge Raad 2020' does not start with a source id",
            ),
            (
                "stage-e.yaml",
                "      en: For its professionals the organisation's general duty of good care applies.\n",
                "",
                "stage-e.yaml:L:C: E6: explanation needs a Dutch (nl) and an English (en) text",
            ),
            (
                "stage-a.yaml",
                "{fact: payment, is: paid_by_org}, {fact: helper_employment, is: none}",
                "{role: BEROEPSKRACHT}, {fact: helper_employment, is: none}",
                "stage-a.yaml:L:C: A3: stage A runs before the role is known",
            ),
            (
                "stage-b.yaml",
                "    stage: B\n    when: {fact: payment, is: pgb_paid}",
                "    stage: Q\n    when: {fact: payment, is: pgb_paid}",
                "stage-b.yaml:L:C: R2: unknown stage 'Q'",
            ),
            ("stage-b.yaml", "rules:\n", "rules:\n  - id: [unclosed\n", "stage-b.yaml:L:C: -: cannot be read as YAML"),
            (
                "stage-e.yaml",
                "      en: For its professionals the organisation's general duty of good care applies.\n",
                "      en: For its professionals {hourz} applies.\n",
                "stage-e.yaml:L:C: E6: unknown placeholder {hourz}",
            ),
            (
                "codes.yaml",
                "Structurele hulp onder de intensiteitsgrens",
                "Structurele hulp onder de {intensity_hours} uur",
                "codes.yaml:L:C: CTX_INTENSITY_REVIEW: the Dutch and the English text use different placeholders",
            ),
            (
                "parameters.yaml",
                '        inclusive: {nl: "minimaal {intensity_hours} uur", en: "at least {intensity_hours} hours"}\n',
                "",
                "parameters.yaml:L:C: intensity_boundary: texts of {hours} need one wording for each allowed value",
            ),
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
            "unknown-placeholder",
            "placeholders-differ-by-language",
            "a-boundary-value-without-wording",
        ],
    )
    def test_the_problem_names_file_rule_and_reason(
        self, tmp_path: Path, file: str, old: str, new: str, expected: str
    ) -> None:
        """The loader refuses the folder and says where and what."""
        problems = _problems(_broken(tmp_path, file, old, new))
        assert _found(expected, problems), problems

    def test_every_problem_is_listed_at_once(self, tmp_path: Path) -> None:
        """Two mistakes in two files give two problems in one error."""
        folder = _broken(tmp_path, "stage-e.yaml", "codes: [WKKGZ_GOEDE_ZORG]", "codes: [NOPE]")
        path = folder / "stage-b.yaml"
        path.write_text(path.read_text().replace("{fact: payment, is: pgb_paid}", "{fact: pay, is: pgb_paid}"))
        problems = _problems(folder)
        assert any("E6: unknown code 'NOPE'" in p for p in problems)
        assert any("R2: unknown fact 'pay'" in p for p in problems)


class TestFindableSources:
    """The current release cites what a reader can find; superseded releases load as they were published."""

    SEED_FILE = "001_a381be725bee7cce.txt"

    @pytest.mark.parametrize(
        ("file", "old", "new", "expected"),
        [
            (
                "stage-b.yaml",
                '    cite: ["CRvB 2017:17"]\n',
                f'    cite: ["CRvB 2017:17", "S001 § Definitie ({SEED_FILE})"]\n',
                f"stage-b.yaml:L:C: R2: citation 'S001 § Definitie ({SEED_FILE})' names a seed file or domain.md",
            ),
            (
                "sources.yaml",
                "(DPRS) — Betrokken mantelzorger(s) en/of sociaal netwerk (zonder jaar)",
                f"(DPRS) — Betrokken mantelzorger(s) en/of sociaal netwerk (seed {SEED_FILE})",
                "sources.yaml:L:C: S001: source S001 names a seed file or domain.md",
            ),
            (
                "sources.yaml",
                "sources:\n",
                'sources:\n  - {id: domain.md, title: "Rolwijzer kennisbank"}\n',
                "sources.yaml:L:C: domain.md: source domain.md names a seed file or domain.md",
            ),
        ],
        ids=["seed-file-in-a-citation", "seed-file-in-a-source-title", "domain-md-as-a-source"],
    )
    def test_a_seed_file_name_or_domain_md_is_refused_with_file_and_id(
        self, tmp_path: Path, file: str, old: str, new: str, expected: str
    ) -> None:
        """A copy of the current release with such a reference does not load; the problem says where."""
        problems = _release_problems(_broken(tmp_path, file, old, new))
        assert _found(expected, problems), problems

    def test_a_citation_of_domain_md_is_refused_even_when_the_source_is_listed(self, tmp_path: Path) -> None:
        """Putting domain.md back among the sources does not make a citation of it acceptable."""
        folder = _broken(tmp_path, "sources.yaml", "sources:\n", 'sources:\n  - {id: domain.md, title: "Kennisbank"}\n')
        path = folder / "stage-b.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace('cite: ["CRvB 2017:17"]', 'cite: ["domain.md §6 R2"]'))
        problems = _release_problems(folder)
        assert _found("stage-b.yaml:L:C: R2: citation 'domain.md §6 R2' names a seed", problems), problems

    def test_the_shipped_current_release_cites_no_seed_file_and_no_domain_md(self, rule_set: RuleSet) -> None:
        """Every citation and source title of the current release is findable."""
        assert internal_references(rule_set) == []

    def test_a_text_cut_at_an_unquoted_comma_is_refused_in_the_current_release(self, tmp_path: Path) -> None:
        """`{nl: a, b, en: c}` reads as the text "a" and a key "b": readers would see half a sentence."""
        root = tmp_path / "rules"
        shutil.copytree(RULES_ROOT, root, ignore=NO_MANIFEST)
        predicates = root / "informele-zorg" / CURRENT_RELEASE / "predicates.yaml"
        text = predicates.read_text(encoding="utf-8")
        whole = '{nl: "De helper heeft een dienstverband of contract, of een eigen behandelovereenkomst.",'
        assert whole in text
        predicates.write_text(text.replace(whole, whole.replace('"', "")), encoding="utf-8")
        problems = _release_problems(root)
        assert len(problems) == 1 and "employed: explain is cut at a comma: 'of een eigen" in problems[0], problems

    def test_the_superseded_releases_keep_their_old_citations_and_load(self) -> None:
        """1.0.0 and 1.1.0 still name seed files and domain.md; they load because the current release supersedes
        them."""
        loaded = {r.version: r for r in load_rule_sets(RULES_ROOT)}
        for version in ("1.0.0", "1.1.0"):
            assert internal_references(loaded[version]), version
            assert version in loaded[CURRENT_RELEASE].supersedes

    def test_a_current_release_that_fails_to_load_does_not_put_its_predecessors_on_trial(self, tmp_path: Path) -> None:
        """With the current release unreadable, the superseded ones are not judged as if current: only its problem
        shows."""
        root = tmp_path / "rules"
        shutil.copytree(RULES_ROOT, root, ignore=NO_MANIFEST)
        path = root / "informele-zorg" / CURRENT_RELEASE / "stage-b.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("rules:\n", "rules:\n  - id: [unclosed\n", 1))
        problems = _release_problems(root)
        pattern = _located(f"informele-zorg/{CURRENT_RELEASE}/stage-b.yaml:L:C: -: cannot be read")
        assert problems and all(pattern.match(p) for p in problems), problems


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
    assert _located("stage-e.yaml:L:C: E6: unknown code 'NOPE'").search(done.stderr), done.stderr
    assert "Traceback" not in done.stderr
