"""`rolwijzer test`: run scenario files against the server, with a rule-coverage report and JUnit XML."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from rolwijzer.cli.client import EXIT_BAD_INPUT, CliError, call
from rolwijzer.cli.messages import say
from rolwijzer.cli.render import print_line, stage_name
from rolwijzer.scenarios import Scenario, ScenarioFileError, differences, load_scenarios, scenario_request
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

PROGRESS_FROM = 6

# The report's words. rolwijzer.scenarios writes a scenario's differences in English ("role: expected X, got Y");
# for Dutch readers the CLI says them in Dutch (_dutch below), keeping codes and fact names as they are.
WORDS = {
    "nl": {
        "pass": "goed",
        "fail": "FOUT",
        "summary": "{passed} goed, {failed} fout",
        "differences": "verschillen",
        "coverage": "regeldekking",
        "stage": "fase",
        "fired": "toegepast",
        "never": "nooit toegepast",
        "fired_line": "toegepaste regels: {covered}/{total}",
        "refused": "geweigerd door de server: {error}",
    },
    "en": {
        "pass": "pass",
        "fail": "FAIL",
        "summary": "{passed} passed, {failed} failed",
        "differences": "differences",
        "coverage": "rule coverage",
        "stage": "stage",
        "fired": "fired",
        "never": "never fired",
        "fired_line": "rules fired: {covered}/{total}",
        "refused": "refused by the server: {error}",
    },
}
_DUTCH = (
    (re.compile(r"^(\w+): expected (.*), got (.*)$", re.S), r"\1: verwacht \2, gekregen \3"),
    (re.compile(r"^(\w+): missing "), r"\1: ontbreekt: "),
    (re.compile(r"^(\w+): unexpected "), r"\1: onverwacht: "),
    (re.compile(r"^rules that did not fire: "), "regels die niet werden toegepast: "),
)


def _words(language: str) -> dict[str, str]:
    return WORDS["en"] if language == "en" else WORDS["nl"]


def _difference(text: str, language: str) -> str:
    """One difference of rolwijzer.scenarios in the reader's language (it writes English)."""
    if language == "en":
        return text
    for pattern, replacement in _DUTCH:
        text = pattern.sub(replacement, text)
    return text


@dataclass
class Result:
    """The outcome of one scenario."""

    scenario: Scenario
    differences: list[str] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    seconds: float = 0.0
    # The server refused the scenario's situation (bad input): an error of the scenario file, not a wrong decision.
    refused: bool = False

    @property
    def passed(self) -> bool:
        """True when the decision matched every expectation."""
        return not self.differences


def collect(paths: Sequence[Path], language: str) -> list[Scenario]:
    """The scenarios of the files and folders given (folders: every *.yaml below them).

    Raises:
        CliError: a path does not exist, a file is not a scenario file, or no scenario is found at all: a run of
            nothing must not pass as "0 passed, 0 failed" (exit code 2).
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.yaml")))
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(EXIT_BAD_INPUT, say(language, "no_such_path", path=path))
    try:
        scenarios = [scenario for file in files for scenario in load_scenarios(file)]
    except ScenarioFileError as err:
        raise CliError(EXIT_BAD_INPUT, str(err)) from None
    if not scenarios:
        raise CliError(EXIT_BAD_INPUT, say(language, "no_scenarios", paths=", ".join(map(str, paths))))
    return scenarios


def run(
    scenarios: Sequence[Scenario],
    stub: pb_grpc.RolwijzerServiceStub,
    server: str,
    set_facts: set[str],
    console: Console,
    language: str,
) -> list[Result]:
    """Evaluate every scenario; a progress bar is shown for more than a handful on a terminal."""
    results: list[Result] = []
    disable = len(scenarios) < PROGRESS_FROM or not console.is_terminal
    with Progress(console=console, transient=True, disable=disable) as progress:
        task = progress.add_task("scenarios", total=len(scenarios))
        for scenario in scenarios:
            request = scenario_request(scenario, set_facts)
            request.language, request.case_reference = language, f"test:{scenario.id}"[:128]
            started = time.perf_counter()
            try:
                decision = call(stub.Evaluate, request, server, language).decision
                found = [_difference(d, language) for d in differences(scenario, decision)]
                fired = {r.rule_id for r in decision.fired_rules}
                result = Result(scenario, found, fired, time.perf_counter() - started)
            except CliError as err:
                if err.exit_code != EXIT_BAD_INPUT:
                    raise
                refusal = [_words(language)["refused"].format(error=err)]
                result = Result(scenario, refusal, seconds=time.perf_counter() - started, refused=True)
            results.append(result)
            progress.advance(task)
    return results


def print_report(
    console: Console, results: Sequence[Result], rules: Sequence[pb.RuleDescription], language: str
) -> None:
    """A line per scenario, the summary line, and which rules fired in at least one scenario, by stage."""
    w = _words(language)
    if not console.is_terminal:
        _print_report_plain(console, results, rules, language)
        return
    table = Table(expand=True)
    table.add_column("", no_wrap=True)
    table.add_column("scenario", no_wrap=True)
    table.add_column(w["differences"], ratio=1)
    for result in results:
        mark = f"[green]{w['pass']}[/green]" if result.passed else f"[red]{w['fail']}[/red]"
        label = f"{result.scenario.file}:{result.scenario.id}"
        table.add_row(mark, Text(label), Text("\n".join(result.differences) or result.scenario.name))
    console.print(table)
    passed = sum(r.passed for r in results)
    console.print(w["summary"].format(passed=passed, failed=len(results) - passed), highlight=False)
    fired = _fired(results)
    coverage = Table(title=w["coverage"], title_justify="left", expand=True)
    coverage.add_column(w["stage"], no_wrap=True)
    coverage.add_column(w["fired"], no_wrap=True)
    coverage.add_column(w["never"], ratio=1)
    for stage, ids in _stages(rules).items():
        never = [i for i in ids if i not in fired]
        coverage.add_row(
            Text(stage_name(stage, language)), f"{len(ids) - len(never)}/{len(ids)}", Text(", ".join(never) or "—")
        )
    console.print(coverage)
    console.print(_fired_line(rules, fired, w), highlight=False)


def _print_report_plain(
    console: Console, results: Sequence[Result], rules: Sequence[pb.RuleDescription], language: str
) -> None:
    """The report as plain lines: `pass  file:id` or `FAIL  file:id: difference; ...`, summary, coverage by stage."""
    w = _words(language)
    for result in results:
        label = f"{result.scenario.file}:{result.scenario.id}"
        if result.passed:
            print_line(console, f"{w['pass']}  {label}")
        else:
            found = "; ".join(" ".join(d.splitlines()) for d in result.differences)
            print_line(console, f"{w['fail']}  {label}: {found}")
    passed = sum(r.passed for r in results)
    print_line(console, w["summary"].format(passed=passed, failed=len(results) - passed))
    fired = _fired(results)
    print_line(console, f"{w['coverage']}:")
    for stage, ids in _stages(rules).items():
        never = [i for i in ids if i not in fired]
        line = f"{stage_name(stage, language)}  {len(ids) - len(never)}/{len(ids)}"
        if never:
            line += f"  {w['never']}: {', '.join(never)}"
        print_line(console, line)
    print_line(console, _fired_line(rules, fired, w))


def _fired(results: Sequence[Result]) -> set[str]:
    return set().union(*(r.fired for r in results)) if results else set()


def _stages(rules: Sequence[pb.RuleDescription]) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    for rule in rules:
        stages.setdefault(rule.stage, []).append(rule.rule_id)
    return stages


def _fired_line(rules: Sequence[pb.RuleDescription], fired: set[str], w: dict[str, str]) -> str:
    covered = sum(1 for r in rules if r.rule_id in fired)
    return w["fired_line"].format(covered=covered, total=len(rules))


def write_junit(path: Path, results: Sequence[Result]) -> None:
    """JUnit XML: one testsuite per scenario file, one testcase per scenario with its time; a wrong decision is a
    failure, a situation the server refused an error."""
    xml = JUnitXml("rolwijzer")
    by_file: dict[str, list[Result]] = {}
    for result in results:
        by_file.setdefault(result.scenario.file, []).append(result)
    for file, members in by_file.items():
        suite = TestSuite(file)
        for result in members:
            case = TestCase(result.scenario.id, file, round(result.seconds, 6))
            if not result.passed:
                kind = Error if result.refused else Failure
                case.result = [kind(result.differences[0], "refused" if result.refused else "wrong decision")]
                case.result[0].text = "\n".join(result.differences)
            suite.add_testcase(case)
        # junitparser leaves these two methods unannotated; they count tests, failures, errors and time.
        suite.update_statistics()  # type: ignore[no-untyped-call]
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    xml.write(str(path), pretty=True)
