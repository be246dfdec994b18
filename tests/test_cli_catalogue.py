"""What a release holds, through the CLI as legal staff run it (piped, narrow): which release is shown, the facts
catalogue, the differences between releases, and reports a lawyer can read (issue 15)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

from support import CHEAP_FACTS, CURRENT_RELEASE, SCENARIOS
from test_cli import CLI, NARROW, cli_env

DAY = "2026-06-01"  # decisions whose outcome does not depend on the date still name one: CI fakes the clock


def _run(server: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI piped, 40 columns wide: what a script or `| less` gets."""
    return subprocess.run(
        [*CLI, "--server", server, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_env({**NARROW, **(env or {})}),
    )


class TestWhichRelease:
    """`rules` and `explain` say which release they show, and take --date and --release."""

    def test_rules_names_the_release_in_force_on_the_date(self, server_address: str) -> None:
        done = _run(server_address, "rules", "--date", DAY)
        assert done.returncode == 0, done.stderr
        first = done.stdout.splitlines()[0]
        assert first.startswith(f"Regelset: informele-zorg {CURRENT_RELEASE} (geldig vanaf 2015-01-01, ")
        assert "zonder einddatum" in first

    def test_a_pinned_superseded_release_says_so(self, server_address: str) -> None:
        done = _run(server_address, "--lang", "en", "rules", "--release", "1.0.0")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0].startswith(
            f"Rule set: informele-zorg 1.0.0 (valid from 2015-01-01, until 2026-12-31; superseded by {CURRENT_RELEASE})"
        )

    def test_explain_names_the_release_of_the_rule(self, server_address: str) -> None:
        done = _run(server_address, "explain", "R6c", "--release", "2.0.0")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("Regelset: informele-zorg 2.0.0 ") and lines[1] == "R6c"

    def test_a_bad_date_is_refused(self, server_address: str) -> None:
        done = _run(server_address, "rules", "--date", "1-3-2027")
        assert done.returncode == 2 and "JJJJ-MM-DD" in done.stderr


class TestCombinations:
    """With unknown facts the rules applied fired in different combinations: the heading says so."""

    UNKNOWN = ("--fact", "relation_to_beneficiary=partner", "--fact", "regularity=unknown")

    def test_the_heading_says_how_many_combinations_and_not_all_together(self, server_address: str) -> None:
        done = _run(server_address, "evaluate", "--date", DAY, *self.UNKNOWN)
        assert done.returncode == 0, done.stderr
        heading = next(line for line in done.stdout.splitlines() if line.startswith("Toegepaste regels"))
        assert heading.startswith("Toegepaste regels (in ") and heading.endswith(
            " doorgerekende combinaties; niet noodzakelijk alle samen):"
        )
        english = _run(server_address, "--lang", "en", "evaluate", "--date", DAY, *self.UNKNOWN)
        assert any(
            line.startswith("Rules applied (in ")
            and line.endswith(" combinations worked through; not necessarily all together):")
            for line in english.stdout.splitlines()
        )

    def test_one_combination_keeps_the_plain_heading(self, server_address: str) -> None:
        done = _run(
            server_address,
            "evaluate",
            "--date",
            DAY,
            *(
                f"--fact={name}={','.join(map(str, value)) if isinstance(value, list) else value}"
                for name, value in CHEAP_FACTS.items()
            ),
        )
        assert done.returncode == 0, done.stderr
        assert "Toegepaste regels:" in done.stdout.splitlines()


class TestFacts:
    """`rolwijzer facts`: every fact with its question, help, kind, answers, default, unit, ★ and follow-up."""

    def test_every_fact_is_listed_whole_with_its_answers_and_markers(self, server_address: str) -> None:
        done = _run(server_address, "facts", "--date", DAY)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith(f"Regelset: informele-zorg {CURRENT_RELEASE} ")
        first = lines.index(
            "★ relation_to_beneficiary — Welke relatie had de helper al met de cliënt voordat de hulp begon?"
        )
        assert lines[first + 1].startswith("  toelichting: Elke relatie behalve 'geen' telt als sociale relatie")
        assert lines[first + 2] == (
            "  soort: keuze; standaard: unknown; 'weet niet' mag; ★ bepaalt de rol; kan een vervolgvraag zijn"
        )
        assert lines[first + 3].startswith("  antwoorden: partner (partner of echtgeno(o)t(e)), child (kind), ")
        hours = next(
            line for line in lines if line.startswith("★ hours_per_week — ") or line.startswith("hours_per_week")
        )
        details = lines[lines.index(hours) + 2]
        assert "soort: getal" in details and "eenheid: " in details, details

    def test_english_and_json(self, server_address: str) -> None:
        english = _run(server_address, "--lang", "en", "facts", "--date", DAY)
        assert any(line.startswith("★ relation_to_beneficiary — ") for line in english.stdout.splitlines())
        assert "kind: choice" in english.stdout and "can be a follow-up question" in english.stdout
        done = _run(server_address, "facts", "--json", "--date", DAY, "--lang", "en")
        assert done.returncode == 0, done.stderr
        catalogue = json.loads(done.stdout)
        assert catalogue["ruleSet"]["version"] == CURRENT_RELEASE
        relation = next(f for f in catalogue["facts"] if f["name"] == "relation_to_beneficiary")
        assert relation["kind"] == "symbol" and relation["decidesRole"] is True and relation["canFollowUp"] is True
        assert {"value": "partner", "label": "partner or spouse"} in relation["answers"] or any(
            a["value"] == "partner" for a in relation["answers"]
        )
        tasks = next(f for f in catalogue["facts"] if f["name"] == "tasks")
        assert tasks["kind"] == "set"


class TestRulesDiff:
    """`rolwijzer rules diff A B`: what a legal reviewer needs to see between two releases."""

    def test_2_0_0_to_2_1_0_shows_the_reworded_liability_text(self, server_address: str) -> None:
        done = _run(server_address, "rules", "diff", "2.0.0", "2.1.0")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[2] == "Verschillen van 2.0.0 naar 2.1.0:"
        changed = lines.index("  ~ AANSPR_INSTELLING_CENTRAAL (gewijzigd):")
        assert lines[changed + 1].startswith("      tekst: was: De instelling is naast de hulpverlener aansprakelijk")
        assert lines[changed + 2].strip().startswith("nu: De instelling is naast de hulpverlener aansprakelijk, alsof")
        assert "Regels:" not in lines, "2.1.0 changes no rule"
        marked = lines.index("  ~ RISICOGESPREK (gewijzigd):")
        assert lines[marked + 1 : marked + 3] == ["      veiligheid: was: (geen)", "                  nu: ja"]

    def test_2_2_0_to_2_3_0_changes_only_the_dutch_explanation_of_a6(self, server_address: str) -> None:
        """The correction release 2.3.0 words rule A6 in Dutch ("fase H", not "stage H") and changes nothing else."""
        done = _run(server_address, "rules", "diff", "2.2.0", "2.3.0")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        changed = [line for line in lines if line.startswith(("  ~ ", "  + ", "  - "))]
        assert changed == ["  ~ A6 (gewijzigd):"], lines
        assert any("stage H rekent" in line for line in lines) and any("fase H rekent" in line for line in lines)

    def test_2_3_0_to_2_4_0_changes_only_the_label_of_the_reserved_procedure(self, server_address: str) -> None:
        """The current correction release names injections, catheterisation and punctures in the answer 'reserved
        procedure' of the tasks question, so that an intake of a relative who gives insulin finds it; nothing else
        changes."""
        done = _run(server_address, "--lang", "en", "rules", "diff", "2.3.0", "2.4.0")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        changed = [line for line in lines if line.startswith(("  ~ ", "  + ", "  - "))]
        assert changed == ["  ~ tasks (changed):"], lines
        assert any("reserved procedure (Wet BIG art. 36: e.g. injections, catheterisation" in line for line in lines)

    def test_1_1_0_to_2_0_0_shows_many_changes(self, server_address: str) -> None:
        done = _run(server_address, "--lang", "en", "rules", "diff", "1.1.0", "2.0.0")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        for heading in ("Rules:", "Parameters:", "Codes:", "Facts and questions:"):
            assert heading in lines
        added = [line for line in lines if line.startswith("  + ")]
        assert len(added) > 20
        assert any(line.startswith("  + R1b (added) — ") for line in added)
        assert "  ~ intensity_hours (changed):" in lines
        # --json is the CompareRuleSetsResponse in proto JSON.
        found = json.loads(_run(server_address, "rules", "diff", "1.1.0", "2.0.0", "--json").stdout)
        assert found["fromRuleSet"]["version"] == "1.1.0" and found["toRuleSet"]["version"] == "2.0.0"
        assert "R1b" in [item["key"] for item in found["rules"]["added"]]
        assert "intensity_hours" in [item["key"] for item in found["parameters"]["changed"]]

    def test_the_dated_entry_of_1_1_0_is_shown_as_dates_and_values(self, server_address: str) -> None:
        done = _run(server_address, "rules", "diff", "1.0.0", "1.1.0")
        lines = done.stdout.splitlines()
        entry = lines.index("  ~ intensity_boundary (gewijzigd):")
        assert lines[entry + 2].strip() == "nu: 2015-01-01: strict; 2027-01-01: inclusive"

    def test_a_wrong_form_or_version_is_refused(self, server_address: str) -> None:
        done = _run(server_address, "rules", "diff", "2.0.0")
        assert done.returncode == 2 and "rolwijzer rules diff A B" in done.stderr
        unknown = _run(server_address, "rules", "diff", "2.0.0", "9.9.9")
        assert unknown.returncode == 2, unknown.stderr
        assert "9.9.9" in unknown.stderr and "Traceback" not in unknown.stderr


class TestReadableForALawyer:
    """No seed file names as titles; stages named in words."""

    def test_a_superseded_release_shows_no_seed_file_name(self, server_address: str) -> None:
        """1.0.0 titles its sources "... (seed 001_a381be725bee7cce.txt)" and cannot change: the CLI drops it."""
        done = _run(server_address, "explain", "R6c", "--release", "1.0.0")
        assert done.returncode == 0, done.stderr
        assert "seed" not in done.stdout and ".txt" not in done.stdout
        assert (
            "  S001 § Definitie (De Pieter Raat Stichting — Betrokken mantelzorger(s) en/of sociaal netwerk)"
            in done.stdout.splitlines()
        )

    def test_stages_are_named_in_words(self, server_address: str) -> None:
        dutch = _run(server_address, "rules", "--date", DAY).stdout.splitlines()
        assert any(line.startswith("H2 (H (opsomming)) — ") for line in dutch)
        assert not any("H-enumeration" in line for line in dutch)
        english = _run(server_address, "--lang", "en", "explain", "H2", "--date", DAY).stdout.splitlines()
        assert "Stage: H (enumeration)" in english

    def test_the_suite_report_is_dutch(self, server_address: str) -> None:
        done = _run(server_address, "test", str(SCENARIOS / "examples.yaml"))
        lines = done.stdout.splitlines()
        assert lines[0].startswith("goed  examples.yaml:")
        assert "regeldekking:" in lines and any(line.startswith("toegepaste regels: ") for line in lines)
        assert "gevuurd" not in done.stdout and "passed" not in done.stdout


class TestAuditInTheChosenLanguage:
    """`rolwijzer audit` speaks Dutch by default, as every other command (it needs no server)."""

    def test_new_key_and_a_missing_log(self, tmp_path: Path) -> None:
        key = tmp_path / "audit.key"
        done = _run("127.0.0.1:1", "audit", "new-key", str(key))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{key}: nieuwe auditsleutel ")
        missing = _run("127.0.0.1:1", "audit", "replay", str(tmp_path / "nothing.jsonl"))
        assert missing.returncode == 2 and missing.stderr.strip().endswith("nothing.jsonl: bestand bestaat niet")
        english = _run("127.0.0.1:1", "--lang", "en", "audit", "verify", str(tmp_path / "nothing.jsonl"))
        assert english.returncode == 2 and english.stderr.strip().endswith("nothing.jsonl: no such file")


class TestConditions:
    """A condition is written as a lawyer reads it: questions, answer labels and explanations, no names or codes
    of the rule files except the role and the codes it concludes."""

    def test_explain_words_the_condition_with_questions_and_answer_labels(self, server_address: str) -> None:
        done = _run(server_address, "explain", "R3", "--date", DAY)
        assert done.returncode == 0, done.stderr
        condition = next(line for line in done.stdout.splitlines() if line.startswith("Voorwaarde: "))
        assert condition.startswith(
            'Voorwaarde: "Welke relatie had de helper al met de cliënt voordat de hulp begon?" is "geen eerdere '
            'relatie" en ("Op wiens verzoek helpt de helper?" is "de zorgorganisatie of een van haar medewerkers" of '
        )
        for name in ("relation_to_beneficiary", "initiative", "care_org_request", "registered_volunteer", " and "):
            assert name not in condition
        assert "Conclusie: rol VRIJWILLIGER; ingezet door ZORGORGANISATIE" in done.stdout.splitlines()
