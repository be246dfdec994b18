"""`rolwijzer ask`: an intake that asks the most decisive missing fact until role and liability are settled."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import questionary
import yaml
from rich.console import Console
from rich.text import Text

from rolwijzer.cli.client import call
from rolwijzer.cli.render import words
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

MAX_QUESTIONS = 40
DONT_KNOW = "unknown"

# A picker takes (question, [(value, label)]) and returns the chosen value, or None when input ended.
Picker = Callable[[str, list[tuple[str, str]]], str | None]


@dataclass
class Intake:
    """The answers given so far, as request values and as plain scenario values."""

    values: dict[str, pb.FactValue] = field(default_factory=dict)
    plain: dict[str, object] = field(default_factory=dict)

    def answer(self, fact: pb.FactDescription, value: str) -> None:
        if value == DONT_KNOW:
            self.values[fact.name] = pb.FactValue(unknown=pb.Unknown())
            self.plain[fact.name] = DONT_KNOW
        elif fact.kind == pb.FACT_KIND_BOOLEAN:
            self.values[fact.name] = pb.FactValue(boolean=value == "true")
            self.plain[fact.name] = value == "true"
        elif fact.kind == pb.FACT_KIND_NUMBER:
            number = float(value)
            self.values[fact.name] = pb.FactValue(number=number)
            self.plain[fact.name] = int(number) if number.is_integer() else number
        else:
            self.values[fact.name] = pb.FactValue(symbol=value)
            self.plain[fact.name] = value


def interview(
    stub: pb_grpc.RolwijzerServiceStub,
    server: str,
    catalogue: Mapping[str, pb.FactDescription],
    language: str,
    pick: Picker,
    ask_number: Callable[[str], str | None],
) -> tuple[Intake, pb.Decision]:
    """Ask until no missing fact is left that has not been asked; return the answers and the last decision."""
    intake = Intake()
    asked: set[str] = set()
    decision = _evaluate(stub, server, intake, language)
    for _ in range(MAX_QUESTIONS):
        pending = [m for m in decision.missing_facts if m.fact not in asked]
        if not pending:
            break
        fact = catalogue[pending[0].fact]
        asked.add(fact.name)
        answer = _ask(fact, language, pick, ask_number)
        if answer is None:
            break
        intake.answer(fact, answer)
        decision = _evaluate(stub, server, intake, language)
    return intake, decision


def _evaluate(stub: pb_grpc.RolwijzerServiceStub, server: str, intake: Intake, language: str) -> pb.Decision:
    request = pb.EvaluateRequest(facts=intake.values, language=language, case_reference="rolwijzer-ask")
    return call(stub.Evaluate, request, server).decision


def _ask(fact: pb.FactDescription, language: str, pick: Picker, ask_number: Callable[[str], str | None]) -> str | None:
    question = f"{fact.question}  ({fact.help})" if fact.help else fact.question
    dont_know, number_or = words(language)["dont_know"], words(language)["number_or"]
    if fact.kind == pb.FACT_KIND_NUMBER:
        unit = f" [{fact.unit}]" if fact.unit else ""
        while True:
            raw = ask_number(f"{question}{unit} — {number_or} '{dont_know}'")
            if raw is None:
                return None
            text = raw.strip().lower().replace(",", ".")
            if text in ("", "?", dont_know, "weet niet", "don't know", DONT_KNOW):
                return DONT_KNOW
            try:
                if float(text) >= 0:
                    return text
            except ValueError:
                pass
    choices = [(s.value, s.label) for s in fact.symbols if s.value != DONT_KNOW]
    choices.append((DONT_KNOW, dont_know))
    return pick(question, choices)


def line_picker(console: Console, read: Callable[[], str | None]) -> tuple[Picker, Callable[[str], str | None]]:
    """Numbered answers read line by line: for pipes, scripts and plain terminals.

    Questions and answers are server texts: printed as Text (never read as markup), one per line; in a pipe the console
    soft-wraps (see `make_console`), so nothing is wrapped or cropped.
    """

    def show(text: Text) -> None:
        console.print(text, soft_wrap=True)

    def pick(question: str, choices: list[tuple[str, str]]) -> str | None:
        console.print()
        show(Text(question, style="bold"))
        for number, (value, label) in enumerate(choices, start=1):
            show(Text.assemble(f"  {number}. {label}  ", (f"({value})", "dim")))
        while True:
            raw = read()
            if raw is None:
                return None
            text = raw.strip()
            if text.isdigit() and 1 <= int(text) <= len(choices):
                return choices[int(text) - 1][0]
            for value, label in choices:
                if text.lower() in (value.lower(), label.lower()):
                    return value
            show(Text(f"choose 1-{len(choices)}", style="red"))

    def ask_number(question: str) -> str | None:
        console.print()
        show(Text(question, style="bold"))
        return read()

    return pick, ask_number


def terminal_picker() -> tuple[Picker, Callable[[str], str | None]]:
    """Arrow keys or the number shortcut in a real terminal (questionary)."""

    def pick(question: str, choices: list[tuple[str, str]]) -> str | None:
        answer = questionary.select(
            question,
            choices=[questionary.Choice(label, value=value) for value, label in choices],
            use_shortcuts=len(choices) <= 36,
        ).ask()
        return None if answer is None else str(answer)

    return pick, terminal_text


def terminal_text(question: str) -> str | None:
    """A line of text typed in a real terminal, or None when the person cancels."""
    answer = questionary.text(question).ask()
    return None if answer is None else str(answer)


def read_line() -> str | None:
    """One line of standard input, or None at its end."""
    line = sys.stdin.readline()
    return None if line == "" else line.rstrip("\n")


def save_scenario(path: Path, intake: Intake, decision: pb.Decision, name: str) -> None:
    """Write the situation and its decision as a one-scenario file that `rolwijzer test` runs."""
    expected: dict[str, object] = {
        "role": decision.role,
        "liable": sorted(f.code for f in decision.liabilities),
        "obligations": sorted(f.code for f in decision.obligations),
        "flags": sorted(f.code for f in decision.flags),
    }
    if decision.volunteer_deployer:
        expected["volunteer_deployer"] = decision.volunteer_deployer
    if decision.role_candidates:
        expected["role_candidates"] = sorted(decision.role_candidates)
    if decision.missing_facts:
        expected["missing_facts"] = sorted(m.fact for m in decision.missing_facts)
    document = {
        "scenarios": [{"id": path.stem, "name": name, "facts": intake.plain, "compare": "all", "expected": expected}]
    }
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
