"""The `rolwijzer` console script, run as legal staff run it, against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import load_scenarios
from support import CURRENT_RELEASE, SCENARIOS
from terminal import Terminal

SERVICE = Path(__file__).resolve().parents[1] / "service"
# The CLI as `python -m`, importing this checkout's code: the `rolwijzer` console script of a shared virtualenv may
# import another checkout's.
CLI = (sys.executable, "-m", "rolwijzer.cli.main")
NEIGHBOUR_ANSWERS = "neighbour\nstructural\n4\n1.5\n"
NEIGHBOUR_FACTS = ("--fact", "relation_to_beneficiary=neighbour", "--fact", "regularity=occasional_on_request")
BOX_DRAWING = set("─│╭╮╰╯┃━┏┓┗┛┡┩┌┐└┘├┤┬┴┼╇╈╋")
NARROW = {"COLUMNS": "40"}


def _run(
    server: str, *args: str, stdin: str = "", cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--server", server, *args],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_env(env),
    )


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: this checkout's code first, no ROLWIJZER_* or colour settings of the caller."""
    dropped = ("ROLWIJZER_SERVER", "ROLWIJZER_LANG", "FORCE_COLOR", "TTY_COMPATIBLE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVICE), env.get("PYTHONPATH", "")) if p)
    return {**env, **(extra or {})}


def cli_command(server: str) -> list[str]:
    """The CLI as a shell runs it (under tmux), with this checkout's code first."""
    return ["env", f"PYTHONPATH={cli_env()['PYTHONPATH']}", *CLI, "--server", server]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestEvaluate:
    """`rolwijzer evaluate` prints a report, or JSON, or the reasons it was refused."""

    def test_the_follow_up_facts_have_their_own_heading_and_mark_what_they_can_still_change(
        self, server_address: str
    ) -> None:
        """A daughter's tasks never given: the supervision questions are listed, safety first, and each obligation
        they can change says on which question it still depends; the facts that took their default are named."""
        done = _run(
            server_address,
            "evaluate",
            "--date",
            "2026-06-01",
            "--fact",
            "relation_to_beneficiary=child",
            "--fact",
            "regularity=structural",
            "--fact",
            "hours_per_week=10",
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        heading = lines.index("Nog te vragen voor het toezicht (veiligheid eerst):")
        assert lines[heading + 1].startswith("  tasks (veiligheid) — Wat doet de helper?")
        assert "alles wat van toepassing is: social_contact (sociaal contact" in lines[heading + 1]
        depends = [line for line in lines if line.startswith("  OVERBELASTING_SIGNALEREN")]
        assert depends and "(hangt nog af van: tasks" in depends[0]
        defaulted = next(line for line in lines if line.startswith("Aangenomen (niet gegeven, standaardwaarde): "))
        assert "tasks" in defaulted.split(": ", 1)[1].split(", ")

    def test_the_report_shows_role_findings_and_rules(self, server_address: str) -> None:
        """A partner caring 20 h/week is MANTELZORGER; codes, sources and rules are printed, without colour."""
        done = _run(
            server_address,
            "--lang",
            "en",
            "evaluate",
            "--fact",
            "relation_to_beneficiary=partner",
            "--fact",
            "tasks=personal_care,household",
            "--fact",
            "regularity=structural",
            "--fact",
            "hours_per_week=20",
            "--fact",
            "duration_months=unknown",
        )
        assert done.returncode == 0, done.stderr
        assert "Role: MANTELZORGER" in done.stdout.splitlines()
        for text in ("AANSPR_HELPER", "the helper personally", "AVP_ADVIES", "BW 6:162", "R6c", "Rules applied"):
            assert text in done.stdout
        assert "\x1b[" not in done.stdout, "no colour codes when the output is not a terminal"

    def test_json_output_is_the_decision_message(self, server_address: str) -> None:
        """--json prints the Decision as proto JSON for scripts."""
        done = _run(
            server_address,
            "evaluate",
            "--json",
            "--fact",
            "relation_to_beneficiary=neighbour",
            "--fact",
            "regularity=occasional_on_request",
        )
        decision = json.loads(done.stdout)
        assert decision["role"] == "SOCIAAL_NETWERK" and decision["ruleSet"]["version"] == CURRENT_RELEASE

    def test_a_situation_file_is_read_and_a_fact_overrides_it(self, server_address: str, tmp_path: Path) -> None:
        """--file gives the facts; a --fact given as well wins."""
        situation = tmp_path / "situation.yaml"
        situation.write_text(
            yaml.safe_dump(
                {
                    "facts": {
                        "relation_to_beneficiary": "none",
                        "initiative": "spontaneous",
                        "tasks": ["transfer_lifting"],
                    }
                }
            )
        )
        done = _run(
            server_address, "evaluate", "--json", "--file", str(situation), "--fact", "initiative=care_org_request"
        )
        assert json.loads(done.stdout)["role"] == "VRIJWILLIGER"

    def test_bad_input_is_explained_in_plain_words_with_exit_code_2(self, server_address: str) -> None:
        """Each refused fact is named with the server's reason, under a Dutch heading (the default); no traceback."""
        done = _run(
            server_address,
            "evaluate",
            "--fact",
            "relation_to_beneficiary=cousin",
            "--fact",
            "hours_per_week=-3",
            "--fact",
            "nope=1",
        )
        assert done.returncode == 2
        assert "3 problemen met de invoer:" in done.stderr
        assert "relation_to_beneficiary: 'cousin' is not allowed" in done.stderr
        assert "Traceback" not in done.stderr

    def test_an_unreachable_server_is_one_line_and_exit_code_3(self) -> None:
        """Nothing listens on the port: one line in the chosen language, exit code 3."""
        address = f"127.0.0.1:{_free_port()}"
        dutch, english = _run(address, "rules"), _run(address, "--lang", "en", "rules")
        assert dutch.returncode == english.returncode == 3
        assert dutch.stderr.strip() == f"de Rolwijzer-server op {address} is niet bereikbaar (draait hij? `make run`)"
        assert english.stderr.strip() == f"cannot reach the Rolwijzer server at {address} (is it running? `make run`)"


class TestAsk:
    """`rolwijzer ask` asks the most decisive missing fact until role and liability are settled."""

    def test_the_neighbour_intake_ends_in_sociaal_netwerk_and_is_saved_as_a_scenario(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """A neighbour shopping twice a week for six weeks: four questions, SOCIAAL_NETWERK, a scenario file."""
        saved = tmp_path / "neighbour.yaml"
        done = _run(server_address, "--lang", "en", "ask", stdin=NEIGHBOUR_ANSWERS + f"done\n{saved}\n")
        assert done.returncode == 0, done.stderr
        order = [done.stdout.index(q) for q in ("What relationship", "How regularly", "How many hours", "For how many")]
        assert order == sorted(order), "asked most decisive first: relation, regularity, hours, duration"
        assert "Role: SOCIAAL_NETWERK" in done.stdout.splitlines() and "R6d" in done.stdout
        scenario = yaml.safe_load(saved.read_text())["scenarios"][0]
        assert scenario["facts"] == {
            "relation_to_beneficiary": "neighbour",
            "regularity": "structural",
            "hours_per_week": 4,
            "duration_months": 1.5,
        }
        assert scenario["expected"]["role"] == "SOCIAAL_NETWERK"
        rerun = _run(server_address, "test", str(saved))
        assert rerun.returncode == 0 and "1 goed, 0 fout" in rerun.stdout.splitlines()

    def test_stopping_beside_ticked_tasks_is_refused_in_a_pipe_and_the_tasks_asked_again(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """'7 12' ticks personal care and 'done: stop asking' together: neither is taken, the question is asked again,
        and '7 11' then records personal care and the reserved procedure."""
        saved = tmp_path / "piped.yaml"
        answers = "child\nstructural\n10\n7 12\n7 11\ndone\n"
        done = _run(server_address, "--lang", "en", "ask", "--date", "2026-06-01", "--save", str(saved), stdin=answers)
        assert done.returncode == 0, done.stderr
        assert "'done: stop asking' does not go with other answers: choose it alone, or clear it" in done.stdout
        assert yaml.safe_load(saved.read_text())["scenarios"][0]["facts"]["tasks"] == ["personal_care", "reserved_act"]

    def test_dont_know_is_accepted_and_the_role_stays_open(self, server_address: str, tmp_path: Path) -> None:
        """Answering 'weet niet' to every question ends with ONBEPAALD and the questions still open."""
        saved = tmp_path / "open.yaml"
        done = _run(server_address, "ask", "--save", str(saved), stdin="weet niet\n" * 10, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Rol: ONBEPAALD" in done.stdout.splitlines()
        assert yaml.safe_load(saved.read_text())["scenarios"][0]["facts"]["relation_to_beneficiary"] == "unknown"
        assert [p.name for p in tmp_path.iterdir()] == ["open.yaml"], "the answers left over create no file"

    @pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
    def test_a_real_terminal_takes_arrow_keys_and_number_shortcuts(self, server_address: str, tmp_path: Path) -> None:
        """Under tmux: arrow keys pick the relation, a shortcut the regularity, numbers are typed."""
        saved = tmp_path / "tmux.yaml"
        with Terminal(f"{shlex.join(cli_command(server_address))} --lang en ask --save {saved}; sleep 30") as tmux:
            tmux.wait_for("What relationship")
            tmux.keys(*(["Down"] * 7), "Enter")
            tmux.wait_for("How regularly")
            tmux.keys("1", "Enter")
            tmux.wait_for("How many hours")
            tmux.keys("4", "Enter")
            tmux.wait_for("For how many months")
            tmux.keys("1.5", "Enter")
            tmux.wait_for("done: stop asking")  # the follow-up questions begin: the last answer stops them
            tmux.keys("Up", "Space", "Enter")
            tmux.wait_for_file(saved)
        scenario = yaml.safe_load(saved.read_text())["scenarios"][0]
        assert scenario["facts"]["relation_to_beneficiary"] == "neighbour"
        assert scenario["expected"]["role"] == "SOCIAAL_NETWERK"

    @pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
    def test_an_intake_of_a_daughter_giving_injections_ends_with_the_wet_big_supervision(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """Role and liability settle after three answers; the intake goes on with the tasks (safety first), and the
        reserved act chosen there brings the supervision of reserved acts, the competence check and the risk
        conversation, each marked as still depending on the questions left when the user stops."""
        saved = tmp_path / "insulin.yaml"
        command = f"{shlex.join(cli_command(server_address))} --lang en ask --date 2026-06-01 --save {saved}"
        with Terminal(f"{command}; sleep 30") as tmux:
            tmux.wait_for("What relationship")
            tmux.keys("2", "Enter")  # child
            tmux.wait_for("How regularly")
            tmux.keys("1", "Enter")  # structural
            tmux.wait_for("How many hours")
            tmux.keys("10", "Enter")  # more than 8 hours: intensive, so how long no longer matters
            tmux.wait_for("What does the helper do?")  # the first follow-up: the tasks decide the most about safety
            # The tasks' answers name injections among the reserved procedures (since 2.4.0): the one to tick.
            tmux.wait_for("a) reserved procedure (Wet BIG art. 36: e.g. injections")
            tmux.keys(*(["Down"] * 10), "Space", "Enter")
            tmux.wait_for("Is the helper paid")
            tmux.keys("Up", "Enter")  # done: stop asking
            tmux.wait_for_file(saved)
            report = tmux.screen(history=True)
        scenario = yaml.safe_load(saved.read_text())["scenarios"][0]
        assert scenario["facts"]["tasks"] == ["reserved_act"]
        assert scenario["expected"]["role"] == "MANTELZORGER"
        supervision = {"TOEZICHT_VBH_INFORMEEL", "BEKWAAMHEID_CHECK", "RISICOGESPREK"}
        assert supervision <= set(scenario["expected"]["obligations"])
        assert "still depends on" in report  # obligations the questions left open can still change

    @pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
    def test_a_terminal_ticks_tasks_by_their_keys_and_shows_the_tasks_ticked(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """In the tasks question each answer's key ticks it, as numbers do in a pipe; 'i' no longer turns every answer
        over; stopping beside ticked tasks is refused rather than dropping them; and the answered question shows
        the tasks ticked, where questionary wrote "done (2 selections)"."""
        saved = tmp_path / "keys.yaml"
        command = f"{shlex.join(cli_command(server_address))} --lang en ask --date 2026-06-01 --save {saved}"
        with Terminal(f"{command}; sleep 30", width=240) as tmux:
            tmux.wait_for("What relationship")
            tmux.keys("2", "Enter")  # child
            tmux.wait_for("How regularly")
            tmux.keys("1", "Enter")  # structural
            tmux.wait_for("How many hours")
            tmux.keys("10", "Enter")
            tmux.wait_for("b) done: stop asking")
            tmux.keys("7", "i", "a", "b", "Enter")  # personal care, reserved procedure, and stop
            tmux.wait_for("does not go with other answers")
            tmux.keys("b", "Enter")  # the stop cleared again
            tmux.wait_for("Is the helper paid")
            screen = tmux.screen(history=True)
            tmux.keys("Up", "Enter")  # done: stop asking
            tmux.wait_for_file(saved)
        assert yaml.safe_load(saved.read_text())["scenarios"][0]["facts"]["tasks"] == ["personal_care", "reserved_act"]
        # The answered question as one text, whatever the terminal wrapped (spaces at a wrap are dropped).
        shown = "".join(screen.split())
        answer = "personal care (washing, dressing, eating), reserved procedure (Wet BIG art. 36: e.g. injections, "
        answer += "catheterisation, punctures)"
        assert "".join(f"and reserved acts.) {answer}?".split()) in shown, screen
        assert "selections)" not in screen


class TestSuites:
    """`rolwijzer test` runs scenario files with a rule-coverage report."""

    def test_the_repository_suites_pass_with_full_coverage_of_fireable_rules(
        self, server_address: str, tmp_path: Path, rule_set: RuleSet
    ) -> None:
        """tests/scenarios passes; every stage is listed; only the rule for a policy not in force never fires."""
        junit = tmp_path / "junit.xml"
        done = _run(server_address, "--lang", "en", "test", str(SCENARIOS), "--junit", str(junit))
        assert done.returncode == 0, done.stdout
        count = sum(len(load_scenarios(path)) for path in SCENARIOS.glob("*.yaml"))
        assert f"{count} passed, 0 failed" in done.stdout.splitlines()
        total = len(rule_set.rules)
        assert f"rules fired: {total - 1}/{total}" in done.stdout and "E5-allow-hazardous" in done.stdout
        suites = ET.parse(junit).getroot()
        assert sum(int(s.get("failures", "0")) for s in suites) == 0

    def test_a_failing_scenario_shows_its_differences_and_exit_code_1(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """A wrong expectation is reported as missing and unexpected codes; JUnit records the failure."""
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text(
            yaml.safe_dump(
                {
                    "scenarios": [
                        {
                            "id": "wrong",
                            "facts": {"relation_to_beneficiary": "friend", "regularity": "occasional_on_request"},
                            "expected": {"role": "MANTELZORGER", "flags": ["VRAAG_FEITEN"]},
                        },
                        {
                            "id": "refused",
                            "facts": {"hours_per_weak": 8},
                            "expected": {"role": "MANTELZORGER"},
                        },
                    ]
                }
            )
        )
        junit = tmp_path / "junit.xml"
        done = _run(server_address, "test", str(wrong), "--junit", str(junit))
        assert done.returncode == 1
        # Dutch by default: the differences too (rolwijzer.scenarios writes them in English).
        assert "role: verwacht MANTELZORGER, gekregen SOCIAAL_NETWERK" in done.stdout
        assert "flags: ontbreekt: VRAAG_FEITEN" in done.stdout
        assert "0 goed, 2 fout" in done.stdout.splitlines()
        # JUnit tells a wrong decision (a failure) from a situation the server refused (an error), with times.
        suite = ET.parse(junit).getroot()[0]
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "1")
        cases = {case.get("name"): case for case in suite}
        assert cases["wrong"].find("failure") is not None and cases["refused"].find("error") is not None
        assert "hours_per_weak" in (cases["refused"].find("error").text or "")  # type: ignore[union-attr]
        assert all(float(case.get("time", "0")) > 0 for case in suite)


class TestRules:
    """`rolwijzer explain` and `rolwijzer rules` read the rule set from the server."""

    def test_explain_shows_condition_conclusion_and_sources(self, server_address: str) -> None:
        """R6c in readable form, with its citations."""
        done = _run(server_address, "--lang", "en", "explain", "R6c")
        assert done.returncode == 0
        for text in (
            "the helper has a prior social relation with the client and",
            "role MANTELZORGER",
            "S000 § Inleiding",
        ):
            assert text in done.stdout
        assert "intensity_met" not in done.stdout  # predicates are worded by their explanations

    def test_an_unknown_rule_is_exit_code_2(self, server_address: str) -> None:
        """A rule id that does not exist says how to list them."""
        done = _run(server_address, "explain", "R99")
        assert done.returncode == 2 and "rolwijzer rules" in done.stderr

    def test_rules_lists_every_stage(self, server_address: str) -> None:
        """The list holds rules of every stage, A1 to H."""
        done = _run(server_address, "rules")
        assert done.returncode == 0
        for rule_id in ("A1-initiative-related", "R1", "W5-arts", "D2-deficient", "E7", "F4", "G-avp", "H4-ask"):
            assert rule_id in done.stdout


class TestPipedOutput:
    """Output that is not a terminal is plain lines, never wrapped or truncated, whatever COLUMNS says."""

    def test_evaluate_prints_the_decision_id_and_the_role_whole_without_boxes(self, server_address: str) -> None:
        """With COLUMNS=40 the full decision id and the unspaced role each stand on one line; nothing is boxed."""
        done = _run(server_address, "evaluate", *NEIGHBOUR_FACTS, env=NARROW)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "Rol: SOCIAAL_NETWERK" in lines
        version = next(line for line in lines if line.startswith("Regelset: "))
        found = re.search(r"· (\S+)$", version)
        assert found is not None, version
        assert str(uuid.UUID(found.group(1))) == found.group(1), "the whole decision id, as the server made it"
        assert not BOX_DRAWING & set(done.stdout)
        assert "\x1b[" not in done.stdout

    def test_every_finding_and_rule_of_the_decision_stays_on_one_line(self, server_address: str) -> None:
        """Each code with its text, and each applied rule with its explanation, is one line of the plain report."""
        decision = json.loads(_run(server_address, "--lang", "en", "evaluate", "--json", *NEIGHBOUR_FACTS).stdout)
        done = _run(server_address, "--lang", "en", "evaluate", *NEIGHBOUR_FACTS, env=NARROW)
        lines = done.stdout.splitlines()
        findings = decision["liabilities"] + decision["obligations"] + decision.get("flags", [])
        for finding in findings:
            assert any(finding["code"] in line and finding["text"] in line for line in lines), finding["code"]
        for rule in decision["firedRules"]:
            line = f"  {rule['ruleId']} ({rule['stage']}) — {rule['explanation']}"
            assert any(printed.startswith(line) for printed in lines), rule["ruleId"]

    def test_a_passing_scenario_is_one_short_line_and_a_failing_one_lists_its_differences(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """`pass  file:id` without the description; `FAIL  file:id: difference; difference`; then the summary."""
        suite = tmp_path / "two.yaml"
        friend = {"relation_to_beneficiary": "friend", "regularity": "occasional_on_request"}
        suite.write_text(
            yaml.safe_dump(
                {
                    "scenarios": [
                        {
                            "id": "friend-now-and-then",
                            "name": "A friend who does the shopping now and then, on request",
                            "facts": friend,
                            "expected": {"role": "SOCIAAL_NETWERK"},
                        },
                        {
                            "id": "wrong",
                            "facts": friend,
                            "expected": {"role": "MANTELZORGER", "flags": ["VRAAG_FEITEN"]},
                        },
                    ]
                }
            )
        )
        done = _run(server_address, "--lang", "en", "test", str(suite), env=NARROW)
        assert done.returncode == 1
        lines = done.stdout.splitlines()
        assert lines[0] == "pass  two.yaml:friend-now-and-then"
        assert lines[1].startswith("FAIL  two.yaml:wrong: ")
        assert (
            "role: expected MANTELZORGER, got SOCIAAL_NETWERK" in lines[1] and "flags: missing VRAAG_FEITEN" in lines[1]
        )
        assert "1 passed, 1 failed" in lines
        assert "shopping" not in done.stdout
        assert any(line.startswith("rules fired: ") for line in lines)
        assert not BOX_DRAWING & set(done.stdout)

    def test_rules_and_explain_print_one_item_per_line(self, server_address: str) -> None:
        """`rules` is one line per rule; `explain` one line per field and per source."""
        listed = _run(server_address, "--lang", "en", "rules", env=NARROW).stdout.splitlines()
        assert any(line.startswith("R6c (B) — Structural help from a social relation") for line in listed)
        explained = _run(server_address, "--lang", "en", "explain", "R6c", env=NARROW).stdout
        assert any(
            line.startswith("Condition: the helper has a prior social relation with the client and ")
            for line in explained.splitlines()
        )
        assert not BOX_DRAWING & set("".join(listed) + explained)
