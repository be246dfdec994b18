"""What a new user of `rolwijzer` trips over (issue 15): each mistake is refused or understood, and said in words.

The CLI runs as legal staff run it (a subprocess, output piped, COLUMNS=40) against a real server on 127.0.0.1.
Decisions that depend on the date are asked for an explicit --date, so the tests hold under a faked clock.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from certs import Authority, Pem
from rolwijzer.api import create_server
from rolwijzer.api.config import Limits, Tls
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import FactType, RuleSet
from support import CURRENT_RELEASE, RULES_ROOT, SCENARIOS
from terminal import Terminal
from test_cli import CLI, NARROW, cli_command, cli_env

DAY = "2026-06-01"  # a day the current release covers, before the 2027 change
PARTNER = ("--fact", "relation_to_beneficiary=partner", "--fact", "regularity=structural")
# A child helping 8 hours a week for 3 months: exactly at the threshold, which counts from 2027 on.
AT_THRESHOLD = (
    "--fact",
    "relation_to_beneficiary=child",
    "--fact",
    "regularity=structural",
    "--fact",
    "hours_per_week=8",
    "--fact",
    "duration_months=3",
    "--fact",
    "tasks=household",
)
NEIGHBOUR_ANSWERS = "neighbour\nstructural\n4\n1,5\n"


def _cli(*args: str, stdin: str = "", cwd: Path | None = None, columns: str = "40") -> subprocess.CompletedProcess[str]:
    """`rolwijzer ARGS` exactly as given (the caller places --server), output piped, 40 columns."""
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_env({"COLUMNS": columns}),
    )


def _run(server: str, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _cli("--server", server, *args, stdin=stdin, cwd=cwd)


def _decision(server: str, *args: str) -> dict[str, Any]:
    done = _run(server, "evaluate", "--json", *args)
    assert done.returncode == 0, done.stderr
    decision: dict[str, Any] = json.loads(done.stdout)
    return decision


def _flags(decision: dict[str, Any]) -> set[str]:
    return {f["code"] for f in decision.get("flags", [])}


class TestDecimalComma:
    """`8,5` is eight and a half; "one of" is written `a|b`."""

    def test_a_decimal_comma_is_read_as_a_decimal_number(self, server_address: str) -> None:
        """8,5 hours a week is above the 8-hour threshold (MANTELZORGER), exactly like 8.5, with no conflict flag."""
        comma = _decision(server_address, "--date", DAY, *PARTNER, "--fact", "hours_per_week=8,5")
        point = _decision(server_address, "--date", DAY, *PARTNER, "--fact", "hours_per_week=8.5")
        assert comma["role"] == point["role"] == "MANTELZORGER"
        assert not any(code.startswith("CONFLICT_") for code in _flags(comma))

    def test_one_of_is_written_with_a_bar_for_numbers_and_symbols(self, server_address: str) -> None:
        """8|12 hours and partner|none are conflicting reports; the old partner,none still means the same."""
        hours = _decision(server_address, "--date", DAY, *PARTNER, "--fact", "hours_per_week=8|12")
        assert "CONFLICT_HOURS_PER_WEEK" in _flags(hours)
        bar = _decision(server_address, "--date", DAY, "--fact", "relation_to_beneficiary=partner|none")
        comma = _decision(server_address, "--date", DAY, "--fact", "relation_to_beneficiary=partner,none")
        assert "CONFLICT_RELATION_TO_BENEFICIARY" in _flags(bar)
        assert _flags(bar) == _flags(comma) and bar["roleCandidates"] == comma["roleCandidates"]

    def test_a_number_with_two_commas_is_refused_explaining_the_notation(self, server_address: str) -> None:
        """8,5,6 could be 8.5 or 6, or 8, 5 or 6: refused, showing both ways to write it, in Dutch and in English."""
        dutch = _run(server_address, "evaluate", *PARTNER, "--fact", "hours_per_week=8,5,6")
        english = _run(server_address, "--lang", "en", "evaluate", *PARTNER, "--fact", "hours_per_week=8,5,6")
        assert dutch.returncode == english.returncode == 2
        assert "hoogstens één decimaalkomma" in dutch.stderr and "hours_per_week=8,5|6" in dutch.stderr
        assert "at most one decimal comma" in english.stderr and "hours_per_week=8|5" in english.stderr
        assert dutch.stdout == english.stdout == ""

    def test_a_word_for_a_number_is_refused_with_examples(self, server_address: str) -> None:
        """hours_per_week=vier names the fact and shows how numbers are written."""
        done = _run(server_address, "evaluate", "--fact", "hours_per_week=vier")
        assert done.returncode == 2
        assert done.stderr.strip() == (
            "--fact hours_per_week=vier: 'vier' is geen getal; schrijf bijvoorbeeld 8, 8,5 of 8.5 "
            "(één van meerdere getallen: 8|12)"
        )

    def test_a_set_fact_refuses_one_of(self, server_address: str) -> None:
        """tasks takes all that apply (a,b); tasks=a|b is refused saying so."""
        done = _run(server_address, "--lang", "en", "evaluate", "--fact", "tasks=household|personal_care")
        assert done.returncode == 2 and "tasks is a set; list all that apply with commas" in done.stderr

    def test_the_help_shows_the_notation(self) -> None:
        """`evaluate --help` shows a decimal comma, a set with commas and one_of with a bar."""
        done = _cli("evaluate", "--help", columns="400")  # argparse breaks words at 40 columns
        assert done.returncode == 0
        text = " ".join(done.stdout.split())
        for shown in ("hours_per_week=8,5", "tasks=personal_care,household", "relation_to_beneficiary=partner|child"):
            assert shown in text


class TestSituationFiles:
    """`evaluate --file` takes a situation file: `facts:` with the facts below it."""

    @pytest.mark.parametrize(
        "content",
        ["relation_to_beneficiary: partner\n", "{}\n", "", "name: intake\n"],
        ids=["facts-without-facts-key", "empty-mapping", "empty-file", "other-keys"],
    )
    def test_a_file_without_facts_is_refused_saying_what_it_should_hold(
        self, server_address: str, tmp_path: Path, content: str
    ) -> None:
        """Nothing is decided; the message shows a situation file."""
        situation = tmp_path / "situation.yaml"
        situation.write_text(content)
        done = _run(server_address, "evaluate", "--file", str(situation))
        assert done.returncode == 2 and done.stdout == ""
        assert f"{situation}: geen `facts:`" in done.stderr
        assert "facts:\n  relation_to_beneficiary: partner" in done.stderr

    def test_a_scenario_file_is_recognised_and_sent_to_rolwijzer_test(self, server_address: str) -> None:
        """tests/scenarios/examples.yaml is a scenario file: run it with `rolwijzer test`."""
        examples = SCENARIOS / "examples.yaml"
        done = _run(server_address, "--lang", "en", "evaluate", "--file", str(examples))
        assert done.returncode == 2 and done.stdout == ""
        assert f"{examples} is a scenario file" in done.stderr
        assert f"run it with `rolwijzer test {examples}`" in done.stderr
        assert "`facts:` with the facts below it" in done.stderr
        assert "200 characters" not in done.stderr

    def test_a_one_scenario_file_is_still_read_as_a_situation(self, server_address: str, tmp_path: Path) -> None:
        """A saved intake (one scenario) is decided from its facts."""
        saved = tmp_path / "intake.yaml"
        facts = {"relation_to_beneficiary": "neighbour", "regularity": "occasional_on_request"}
        saved.write_text(yaml.safe_dump({"scenarios": [{"id": "intake", "facts": facts}]}))
        done = _run(server_address, "evaluate", "--json", "--date", DAY, "--file", str(saved))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["role"] == "SOCIAAL_NETWERK"


class TestFactGivenTwice:
    def test_a_fact_given_twice_is_refused_naming_it(self, server_address: str) -> None:
        """Which of none and partner was meant cannot be known: refused, naming the fact, before any decision."""
        done = _run(
            server_address,
            "evaluate",
            "--fact",
            "relation_to_beneficiary=none",
            "--fact",
            "relation_to_beneficiary=partner",
        )
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("--fact relation_to_beneficiary is 2 keer gegeven")


class TestFilesAndFolders:
    def test_ask_save_adds_the_yaml_extension_and_test_runs_the_folder(
        self, server_address: str, tmp_path: Path
    ) -> None:
        """`ask --save intake1` writes intake1.yaml, which `rolwijzer test FOLDER` finds and passes."""
        done = _run(server_address, "ask", "--save", "intake1", stdin=NEIGHBOUR_ANSWERS, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert [p.name for p in tmp_path.iterdir()] == ["intake1.yaml"]
        assert "→ intake1.yaml" in done.stdout.splitlines()
        rerun = _run(server_address, "--lang", "en", "test", str(tmp_path))
        assert rerun.returncode == 0 and "1 passed, 0 failed" in rerun.stdout.splitlines()

    def test_a_folder_without_scenarios_fails_with_a_message(self, server_address: str, tmp_path: Path) -> None:
        """No scenario is no success: exit code 2 and a message, not `0 passed, 0 failed`."""
        (tmp_path / "notes.txt").write_text("no scenarios here\n")
        done = _run(server_address, "test", str(tmp_path))
        assert done.returncode == 2
        assert "0 passed" not in done.stdout
        assert done.stderr.startswith(f"geen scenario's gevonden in {tmp_path}")


class TestClosedPipe:
    """`rolwijzer ... | head` stops quietly, like a Unix tool stopped by SIGPIPE."""

    def test_a_pipe_closed_before_the_output_ends_the_command_quietly_with_141(self, server_address: str) -> None:
        """The reader is gone before anything is printed: no message, no traceback, status 141 (128 + SIGPIPE)."""
        reader, writer = os.pipe()
        os.close(reader)
        try:
            for args in (("rules",), ("evaluate", "--json", *PARTNER), ("evaluate", *PARTNER)):
                done = subprocess.run(
                    [*CLI, "--server", server_address, *args],
                    stdout=writer,
                    stderr=subprocess.PIPE,
                    text=True,
                    timeout=120,
                    check=False,
                    env=cli_env(),
                )
                assert (done.returncode, done.stderr) == (141, ""), args
        finally:
            os.close(writer)

    def test_head_gets_its_line_and_nothing_complains(self, server_address: str) -> None:
        """`rolwijzer rules | head -n 2` in a shell: the release and one rule line on stdout, nothing on stderr."""
        command = f"{shlex.join([*CLI, '--server', server_address, 'rules'])} | head -n 2"
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=cli_env(),
        )
        assert done.stderr == ""
        assert done.returncode in (0, 141), "141 when head left before the last line was written"
        lines = done.stdout.splitlines()
        assert len(lines) == 2 and lines[0].startswith("Regelset: ") and lines[1].startswith("A1-")


class TestPossibleAnswers:
    """The answers offered for a missing fact are answers the CLI accepts, with their labels."""

    @staticmethod
    def _offered(stdout: str, fact: str) -> str:
        line = next(line for line in stdout.splitlines() if line.startswith(f"  {fact} — "))
        return line.split(": ", 1)[1] if ": " in line else ""

    def test_relation_offers_each_relation_with_its_label_never_a_group_name(
        self, server_address: str, rule_set: RuleSet
    ) -> None:
        """`related, none` (a group name) becomes every relation as `value (label)`, each one accepted by --fact."""
        done = _run(server_address, "evaluate", "--date", DAY)
        assert done.returncode == 0, done.stderr
        offered = self._offered(done.stdout, "relation_to_beneficiary")
        assert offered.startswith("partner (partner of echtgeno(o)t(e)), child (kind), ")
        assert "related" not in offered
        values = re.findall(r"(?:^|, )([a-z_]+) \(", offered)
        relation = rule_set.facts["relation_to_beneficiary"]
        assert set(values) == {s for s in relation.symbol_values if s != "unknown"}
        for value in values:
            accepted = _run(server_address, "evaluate", "--date", DAY, "--fact", f"relation_to_beneficiary={value}")
            assert accepted.returncode == 0, (value, accepted.stderr)

    def test_labels_follow_the_language_and_numbers_ask_for_a_number(self, server_address: str) -> None:
        """In English: English labels; a number fact offers "a number" with its unit, not only `<= 8, > 8`."""
        done = _run(
            server_address, "--lang", "en", "evaluate", "--date", DAY, "--fact", "relation_to_beneficiary=child"
        )
        assert done.returncode == 0, done.stderr
        assert self._offered(done.stdout, "regularity").startswith(
            "structural (structural (recurrent, part of the care arrangement)), "
        )
        hours = self._offered(done.stdout, "hours_per_week")
        assert hours.startswith("a number (") and "<= 8, > 8" in hours

    def test_every_symbol_offered_is_an_answer_of_the_catalogue(self, server_address: str, rule_set: RuleSet) -> None:
        """With nothing known, every missing symbol or yes/no fact offers only values the catalogue allows."""
        done = _run(server_address, "evaluate", "--date", DAY)
        lines = [line for line in done.stdout.splitlines() if line.startswith("  ") and " — " in line]
        checked = 0
        for fact in rule_set.facts.values():
            line = next((line for line in lines if line.startswith(f"  {fact.name} — ")), None)
            if line is None or fact.type == FactType.NUMBER:
                continue
            values = re.findall(r"(?:: |, )([a-z0-9_]+) \(", line)
            assert values and set(values) <= set(fact.symbol_values), line
            checked += 1
        assert checked >= 2


class TestOptionsAnywhere:
    def test_global_options_are_accepted_after_the_command(self, server_address: str) -> None:
        """`rolwijzer evaluate --lang en --json --server ADDRESS` works like the options given before the command."""
        after = _cli("evaluate", "--lang", "en", "--json", "--server", server_address, "--date", DAY, *PARTNER)
        assert after.returncode == 0, after.stderr
        assert json.loads(after.stdout)["roleText"].startswith("Undetermined")
        listed = _cli("rules", "--server", server_address, "--lang", "en")
        assert listed.returncode == 0 and "R6c (B) — Structural help from a social relation" in listed.stdout

    def test_an_option_before_the_command_is_kept_when_not_repeated_after_it(self, server_address: str) -> None:
        """--lang en before `evaluate` still holds when only --json comes after it."""
        done = _cli("--lang", "en", "--server", server_address, "evaluate", "--json", "--date", DAY, *PARTNER)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["roleText"].startswith("Undetermined")

    def test_json_is_refused_for_a_command_that_prints_no_json(self, server_address: str) -> None:
        """`rules --json` says which commands print JSON, rather than printing text to a JSON reader."""
        done = _run(server_address, "rules", "--json")
        assert done.returncode == 2
        assert done.stderr.strip() == "--json: alleen `rolwijzer evaluate`, `facts` en `rules diff` drukken JSON af"


class TestDateReleaseCaseReference:
    """`evaluate` and `ask` take --date, --release and --case-reference."""

    def test_the_2027_change_is_tried_with_date(self, server_address: str) -> None:
        """Exactly at the threshold: SOCIAAL_NETWERK on 2026-12-31, MANTELZORGER on 2027-03-01 (inclusive boundary)."""
        before = _run(server_address, "evaluate", "--date", "2026-12-31", *AT_THRESHOLD)
        after = _run(server_address, "evaluate", "--date", "2027-03-01", *AT_THRESHOLD)
        assert "Rol: SOCIAAL_NETWERK" in before.stdout.splitlines()
        assert "Rol: MANTELZORGER" in after.stdout.splitlines()
        assert any(
            line.startswith(f"Regelset: informele-zorg {CURRENT_RELEASE} · 2027-03-01 · ")
            for line in after.stdout.splitlines()
        )

    def test_release_pins_a_version_and_case_reference_is_echoed(self, server_address: str) -> None:
        """--release 1.0.0 on a day it covers decides with 1.0.0; --case-reference comes back in the decision."""
        decision = _decision(
            server_address, "--date", "2020-05-05", "--release", "1.0.0", "--case-reference", "dossier-17", *PARTNER
        )
        assert decision["ruleSet"]["version"] == "1.0.0"
        assert decision["caseReference"] == "dossier-17"

    def test_a_release_not_in_force_on_the_date_is_refused(self, server_address: str) -> None:
        """1.1.0 does not decide 2026-05-05: exit code 2 with the server's reason."""
        done = _run(server_address, "evaluate", "--date", "2026-05-05", "--release", "1.1.0", *PARTNER)
        assert done.returncode == 2 and "not in force on 2026-05-05" in done.stderr

    def test_an_unknown_release_is_named_by_its_option(self, server_address: str) -> None:
        """The server's field `version` is shown as --release, the option typed."""
        done = _run(server_address, "--lang", "en", "evaluate", "--release", "9.9.9")
        assert done.returncode == 2 and "  - --release: rule-set version '9.9.9' is not loaded" in done.stderr

    @pytest.mark.parametrize("text", ["2027-13-01", "01-03-2027", "morgen"])
    def test_a_bad_date_names_the_option(self, server_address: str, text: str) -> None:
        """Not a YYYY-MM-DD date: exit code 2, the option and the format, in Dutch and in English."""
        dutch = _run(server_address, "evaluate", "--date", text)
        english = _run(server_address, "--lang", "en", "ask", "--date", text)
        assert dutch.returncode == english.returncode == 2
        assert (
            dutch.stderr.strip() == f"--date {text!r}: geen datum; schrijf JJJJ-MM-DD, bijvoorbeeld --date 2027-03-01"
        )
        assert english.stderr.strip() == f"--date {text!r}: not a date; write YYYY-MM-DD, for example --date 2027-03-01"

    def test_ask_decides_on_the_date_and_saves_it_with_the_scenario(self, server_address: str, tmp_path: Path) -> None:
        """A child at the threshold asked with --date 2027-03-01 is MANTELZORGER; the scenario keeps the date."""
        saved = tmp_path / "child.yaml"
        answers = "child\nstructural\n8\n3\nklaar\n"  # `klaar` ends the follow-up questions
        done = _run(server_address, "ask", "--date", "2027-03-01", "--save", str(saved), stdin=answers)
        assert done.returncode == 0, done.stderr
        assert "Rol: MANTELZORGER" in done.stdout.splitlines()
        scenario = yaml.safe_load(saved.read_text())["scenarios"][0]
        assert scenario["reference_date"] == "2027-03-01" and scenario["expected"]["role"] == "MANTELZORGER"
        rerun = _run(server_address, "--lang", "en", "test", str(saved))
        assert rerun.returncode == 0 and "1 passed, 0 failed" in rerun.stdout.splitlines()


def _read_until(process: subprocess.Popen[bytes], text: str, seconds: float = 30) -> str:
    """What the process printed up to and including `text`: select and a monotonic deadline (faked clocks)."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + seconds
    while text.encode() not in seen:
        assert time.monotonic() < deadline, f"{text!r} not printed: {seen.decode(errors='replace')}"
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"output ended before {text!r}: {seen.decode(errors='replace')}"
            seen += chunk
    return seen.decode()


class TestAskPiped:
    """`ask` with answers on standard input (scripts, plain terminals)."""

    # `trap "" INT`: started as a shell without job control starts a background command, with SIGINT ignored.
    @pytest.mark.parametrize("start", [[], ["sh", "-c", 'trap "" INT; exec "$0" "$@"']], ids=["foreground", "ignored"])
    def test_ctrl_c_stops_with_130_and_decides_nothing(
        self, server_address: str, tmp_path: Path, start: list[str]
    ) -> None:
        """SIGINT while a question waits: exit code 130, `gestopt`, no report and no scenario file."""
        saved = tmp_path / "never.yaml"
        process = subprocess.Popen(
            [*start, *CLI, "--server", server_address, "ask", "--save", str(saved)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(NARROW),
        )
        try:
            _read_until(process, "Welke relatie")
            process.send_signal(signal.SIGINT)
            rest, errors = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 130, (rest.decode(errors="replace"), errors.decode(errors="replace"))
        assert errors.decode().strip() == "gestopt"
        assert b"Rol:" not in rest and not saved.exists()

    def test_a_word_for_a_number_is_asked_again_saying_why(self, server_address: str, tmp_path: Path) -> None:
        """`vier` and `-2` for hours are refused with the reason in Dutch; 4 is then taken."""
        saved = tmp_path / "n.yaml"
        answers = "neighbour\nstructural\nvier\n-2\n4\n1,5\n"
        done = _run(server_address, "ask", "--save", str(saved), stdin=answers)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "'vier' is geen getal: typ cijfers, bijvoorbeeld 4 of 1,5, of 'weet niet'" in lines
        assert "'-2': een aantal kan niet negatief zijn" in lines
        facts = yaml.safe_load(saved.read_text())["scenarios"][0]["facts"]
        assert (facts["hours_per_week"], facts["duration_months"]) == (4, 1.5)

    def test_a_number_beyond_the_list_is_asked_again_in_english(self, server_address: str, tmp_path: Path) -> None:
        """5 on a list of 4 answers is not taken; the message says which numbers are answers."""
        done = _run(server_address, "--lang", "en", "ask", "--save", str(tmp_path / "x"), stdin="8\n5\n1\n4\n1.5\n")
        assert done.returncode == 0, done.stderr
        assert "choose 1-4, or type the answer" in done.stdout.splitlines()


@pytest.fixture
def terminal(server_address: str, tmp_path: Path) -> Iterator[Terminal]:
    """`rolwijzer ask --save FILE` in Dutch in a 150-column terminal."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    command = [*cli_command(server_address), "ask", "--save", str(tmp_path / "terminal")]
    with Terminal(f"{shlex.join(command)}; echo EXIT=$?; sleep 60", width=150) as opened:
        yield opened


class TestAskInATerminal:
    """`ask` in a real terminal: the questionary picker and text prompts."""

    def test_the_picker_hint_is_dutch_and_a_digit_that_is_no_answer_is_refused(
        self, terminal: Terminal, tmp_path: Path
    ) -> None:
        """The hint is Dutch; 5 on four answers then Enter takes nothing and says why; a decimal comma is typed."""
        shown = terminal.wait_for("Welke relatie")
        assert "(kies met het cijfer of de pijltjestoetsen, dan Enter)" in shown
        assert "Use shortcuts" not in shown
        terminal.keys(*(["Down"] * 7), "Enter")
        terminal.wait_for("Hoe regelmatig")
        terminal.keys("5", "Enter")
        shown = terminal.wait_for("5 is geen antwoord: kies 1-4")
        assert "Hoeveel uur" not in shown, "Enter after 5 must not take the highlighted answer"
        terminal.keys("1", "Enter")
        terminal.wait_for("Hoeveel uur")
        terminal.keys("4", "Enter")
        terminal.wait_for("Hoeveel maanden")
        terminal.keys("1", ",", "5", "Enter")
        terminal.wait_for("klaar: stop met vragen")  # the follow-up questions: the last answer ends them
        terminal.keys("Up", "Space", "Enter")
        terminal.wait_for("EXIT=0")
        facts = yaml.safe_load((tmp_path / "terminal.yaml").read_text())["scenarios"][0]["facts"]
        assert facts == {
            "relation_to_beneficiary": "neighbour",
            "regularity": "structural",
            "hours_per_week": 4,
            "duration_months": 1.5,
        }

    def test_a_word_for_a_number_says_why_it_is_not_taken(self, terminal: Terminal) -> None:
        """Typing `vier` and Enter keeps the question open with the reason shown."""
        terminal.wait_for("Welke relatie")
        terminal.keys(*(["Down"] * 7), "Enter")
        terminal.wait_for("Hoe regelmatig")
        terminal.keys("1", "Enter")
        terminal.wait_for("Hoeveel uur")
        terminal.keys("v", "i", "e", "r", "Enter")
        terminal.wait_for("'vier' is geen getal: typ cijfers, bijvoorbeeld 4 of 1,5, of 'weet niet'")
        terminal.keys("C-c")
        terminal.wait_for("EXIT=130")

    def test_ctrl_c_stops_with_130_decides_nothing_and_saves_nothing(self, terminal: Terminal, tmp_path: Path) -> None:
        """Ctrl-C at the first question: `gestopt`, exit 130, no report, no offer to save, no file."""
        terminal.wait_for("Welke relatie")
        terminal.keys("C-c")
        shown = terminal.wait_for("EXIT=130")
        assert "gestopt" in shown
        assert "Cancelled by user" not in shown and "Rol:" not in shown and "Opslaan" not in shown
        assert not (tmp_path / "terminal.yaml").exists()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pem]:
    """A CA and a server certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("pki")
    authority = Authority(folder, "ca")
    return {"ca": authority.pem, "server": authority.issue("server", server=True)}


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, Pem]) -> Iterator[str]:
    """A server on 127.0.0.1 that speaks only TLS."""
    holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
    tls = Tls.from_files(pki["server"].certificate, pki["server"].private_key, None)
    server, port = create_server("127.0.0.1:0", holder, limits=Limits(), tls=tls)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)
    holder.close()


class TestTlsMismatch:
    """A client and server that disagree about TLS are told so, not "is it running?"."""

    def test_a_plaintext_client_is_told_the_server_speaks_tls(self, tls_server: str) -> None:
        """No --ca towards a TLS server: exit code 3 and "spreekt TLS; geef --ca"."""
        done = _run(tls_server, "rules")
        assert done.returncode == 3
        assert done.stderr.startswith(f"de Rolwijzer-server op {tls_server} spreekt TLS; geef --ca")
        assert "make run" not in done.stderr

    def test_a_tls_client_is_told_the_server_speaks_plaintext(self, server_address: str, pki: dict[str, Pem]) -> None:
        """--ca towards a plaintext server: exit code 3 and "does not speak TLS"."""
        done = _run(server_address, "--lang", "en", "--ca", str(pki["ca"].certificate), "rules")
        assert done.returncode == 3
        assert done.stderr.startswith(f"the Rolwijzer server at {server_address} does not speak TLS")

    def test_ca_after_the_command_reaches_the_tls_server(self, tls_server: str, pki: dict[str, Pem]) -> None:
        """--ca is a global option and works after the command too."""
        done = _run(tls_server, "rules", "--ca", str(pki["ca"].certificate))
        assert done.returncode == 0, done.stderr
        assert "R6c (B)" in done.stdout


def test_every_message_exists_in_dutch_and_english_with_the_same_fields() -> None:
    """A message added in one language only would fail with a KeyError at the worst moment.

    Read in a child process: importing rolwijzer.cli sets GRPC_VERBOSITY, which must not leak into this one.
    """
    script = "import json; from rolwijzer.cli.messages import MESSAGES; print(json.dumps(MESSAGES))"
    read = subprocess.run([CLI[0], "-c", script], capture_output=True, text=True, timeout=60, check=True, env=cli_env())
    messages: dict[str, dict[str, str]] = json.loads(read.stdout)
    assert messages["nl"].keys() == messages["en"].keys()
    for key, dutch in messages["nl"].items():
        fields = set(re.findall(r"\{(\w+)", dutch))
        assert fields == set(re.findall(r"\{(\w+)", messages["en"][key])), key
