"""`rolwijzer ask`: an intake that asks the most decisive missing fact until role and liability are settled, then
the follow-up facts that decide the supervision, safety first, until none is left or the user stops."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.text import Text

from rolwijzer.cli.client import call
from rolwijzer.cli.facts import parse_number
from rolwijzer.cli.messages import say
from rolwijzer.cli.render import words
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

MAX_QUESTIONS = 80
DONT_KNOW = "unknown"
DONT_KNOW_WORDS = ("", "?", "weet niet", "don't know", "dont know", DONT_KNOW)
# The answer that ends the follow-up questions (offered as the last choice of each), and the words that type it.
STOP = "~stop"
STOP_WORDS = ("stop", "klaar", "done")

# A picker takes (question, [(value, label)]) and returns the chosen value, or None when input ended.
Picker = Callable[[str, list[tuple[str, str]]], str | None]
# A picker of several answers returns the chosen values (maybe none), [STOP] to stop, or None when input ended; it
# refuses STOP beside other answers (`many_problem`).
ManyPicker = Callable[[str, list[tuple[str, str]]], list[str] | None]
# A number prompt takes the question and a check (what is wrong with a typed text, or None) and returns the text that
# passed the check, or None when input ended.
NumberCheck = Callable[[str], str | None]
NumberPrompt = Callable[[str, NumberCheck], str | None]


@dataclass
class Intake:
    """The answers given so far, as request values and as plain scenario values."""

    values: dict[str, pb.FactValue] = field(default_factory=dict)
    plain: dict[str, object] = field(default_factory=dict)

    def answer_all(self, fact: pb.FactDescription, chosen: list[str]) -> None:
        """The answer to a set fact: every value that applies (maybe none)."""
        self.values[fact.name] = pb.FactValue(symbols=pb.SymbolList(values=chosen))
        self.plain[fact.name] = list(chosen)

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


@dataclass(frozen=True)
class Prompts:
    """How the intake asks: one answer, several answers, a number; and where it says what comes next."""

    pick: Picker
    pick_many: ManyPicker
    ask_number: NumberPrompt
    tell: Callable[[str], None]


def interview(
    stub: pb_grpc.RolwijzerServiceStub,
    server: str,
    catalogue: Mapping[str, pb.FactDescription],
    base: pb.EvaluateRequest,
    prompts: Prompts,
) -> tuple[Intake, pb.Decision]:
    """Ask the missing facts until role and liability are settled, then the follow-up facts, most decisive first,
    until none is left or the user chooses to stop; return the answers and the last decision.

    `base` holds what every evaluation of the intake carries besides the facts: language, reference date, pinned
    release, case reference and the full view (with follow-up facts). Input that ends (None from a prompt) stops
    the questions; Ctrl-C raises KeyboardInterrupt through here, so that nothing is decided.
    """
    intake = Intake()
    asked: set[str] = set()
    decision = _evaluate(stub, server, intake, base)
    following = False
    for _ in range(MAX_QUESTIONS):
        pending = [m.fact for m in decision.missing_facts if m.fact not in asked]
        if not pending and not following and base.view == pb.DECISION_VIEW_FULL:
            following = True
            decision = _evaluate(stub, server, intake, base, follow_ups=True)
            if any(f.fact not in asked for f in decision.follow_up_facts):
                prompts.tell(say(base.language, "follow_ups_start", stop=words(base.language)["stop"]))
        if not pending:
            pending = [f.fact for f in decision.follow_up_facts if f.fact not in asked]
        if not pending:
            break
        fact = catalogue[pending[0]]
        asked.add(fact.name)
        if fact.kind == pb.FACT_KIND_SET:
            chosen = _ask_many(fact, base.language, prompts.pick_many, following)
            if chosen is None or chosen == [STOP]:
                break
            intake.answer_all(fact, chosen)
        else:
            answer = _ask(fact, base.language, prompts.pick, prompts.ask_number, following)
            if answer is None or answer == STOP:
                break
            intake.answer(fact, answer)
        decision = _evaluate(stub, server, intake, base, follow_ups=following)
    return intake, decision


def _evaluate(
    stub: pb_grpc.RolwijzerServiceStub, server: str, intake: Intake, base: pb.EvaluateRequest, follow_ups: bool = False
) -> pb.Decision:
    """The decision on the answers so far; with the follow-up facts only when asked, since they cost many times
    the decision itself and are not needed while role or liability are still open."""
    request = pb.EvaluateRequest()
    request.CopyFrom(base)
    full = follow_ups and base.view == pb.DECISION_VIEW_FULL
    request.view = pb.DECISION_VIEW_FULL if full else pb.DECISION_VIEW_BASIC
    for name, value in intake.values.items():
        request.facts[name].CopyFrom(value)
    return call(stub.Evaluate, request, server, base.language).decision


def _ask(
    fact: pb.FactDescription, language: str, pick: Picker, ask_number: NumberPrompt, can_stop: bool = False
) -> str | None:
    question = f"{fact.question}  ({fact.help})" if fact.help else fact.question
    dont_know, number_or, stop = words(language)["dont_know"], words(language)["number_or"], words(language)["stop"]
    if fact.kind == pb.FACT_KIND_NUMBER:
        unit = f" [{fact.unit}]" if fact.unit else ""
        ending = f" ('{STOP_WORDS[1]}' = {stop})" if can_stop else ""
        unknown = f" — {number_or} '{dont_know}'" if fact.unknown_allowed else ""
        raw = ask_number(
            f"{question}{unit}{unknown}{ending}",
            lambda text: None if can_stop and _is_stop(text) else number_problem(text, language),
        )
        if raw is None or (can_stop and _is_stop(raw)):
            return None if raw is None else STOP
        number = parse_number(raw)
        return DONT_KNOW if number is None else str(number)
    choices = [(s.value, s.label) for s in fact.symbols if s.value != DONT_KNOW]
    if fact.unknown_allowed:  # a follow-up fact may not take `unknown`: then "don't know" is no answer
        choices.append((DONT_KNOW, dont_know))
    if can_stop:
        choices.append((STOP, stop))
    return pick(question, choices)


def _ask_many(fact: pb.FactDescription, language: str, pick_many: ManyPicker, can_stop: bool) -> list[str] | None:
    question = f"{fact.question}  ({fact.help})" if fact.help else fact.question
    choices = [(s.value, s.label) for s in fact.symbols if s.value != DONT_KNOW]
    if can_stop:
        choices.append((STOP, words(language)["stop"]))
    return pick_many(question, choices)


def many_problem(chosen: list[str], language: str) -> str | None:
    """Why these answers to a set fact cannot be taken together, in `language`; None when they can.

    Stopping beside answers is refused rather than read as either: the answers would be lost, or the stop.
    """
    if STOP in chosen and len(chosen) > 1:
        return say(language, "stop_alone", stop=words(language)["stop"])
    return None


def _is_stop(text: str) -> bool:
    return text.strip().lower() in STOP_WORDS


def number_problem(text: str, language: str) -> str | None:
    """Why a typed answer to a number question cannot be taken, in `language`; None when it can."""
    if text.strip().lower() in (*DONT_KNOW_WORDS, words(language)["dont_know"]):
        return None
    number = parse_number(text)
    if number is None:
        return say(language, "number_invalid", text=text.strip())
    if number < 0:
        return say(language, "number_negative", text=text.strip())
    return None


def line_picker(console: Console, read: Callable[[], str | None], language: str) -> Prompts:
    """Numbered answers read line by line: for pipes, scripts and plain terminals.

    Questions and answers are server texts: printed as Text (never read as markup), one per line; in a pipe the console
    soft-wraps (see `make_console`), so nothing is wrapped or cropped. An answer that cannot be taken is asked again,
    saying why.
    """

    def show(text: Text) -> None:
        console.print(text, soft_wrap=True)

    def offer(question: str, choices: list[tuple[str, str]]) -> None:
        console.print()
        show(Text(question, style="bold"))
        for number, (value, label) in enumerate(choices, start=1):
            show(Text.assemble(f"  {number}. {label}  ", (f"({value})", "dim")))

    def pick(question: str, choices: list[tuple[str, str]]) -> str | None:
        offer(question, choices)
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
            if _is_stop(text) and any(value == STOP for value, _ in choices):
                return STOP
            show(Text(say(language, "choose", first=1, last=len(choices)), style="red"))

    def pick_many(question: str, choices: list[tuple[str, str]]) -> list[str] | None:
        offer(question, choices)
        while True:
            raw = read()
            if raw is None:
                return None
            text = raw.strip()
            if _is_stop(text) and any(value == STOP for value, _ in choices):
                return [STOP]
            numbers = text.replace(",", " ").split()
            if numbers == ["0"]:
                return []
            if numbers and all(n.isdigit() and 1 <= int(n) <= len(choices) for n in numbers):
                chosen = list(dict.fromkeys(choices[int(n) - 1][0] for n in numbers))
                problem = many_problem(chosen, language)
                if problem is None:
                    return chosen
                show(Text(problem, style="red"))
                continue
            show(Text(say(language, "choose_many", first=1, last=len(choices)), style="red"))

    def ask_number(question: str, check: NumberCheck) -> str | None:
        console.print()
        show(Text(question, style="bold"))
        while True:
            raw = read()
            if raw is None:
                return None
            problem = check(raw)
            if problem is None:
                return raw
            show(Text(problem, style="red"))

    def tell(message: str) -> None:
        console.print()
        show(Text(message, style="bold"))

    return Prompts(pick, pick_many, ask_number, tell)


def read_line() -> str | None:
    """One line of standard input, or None at its end."""
    line = sys.stdin.readline()
    return None if line == "" else line.rstrip("\n")


def scenario_path(path: Path) -> Path:
    """Where a scenario named `path` is saved: with `.yaml` added unless it ends in .yaml or .yml already."""
    return path if path.suffix.lower() in (".yaml", ".yml") else path.with_name(f"{path.name}.yaml")


def save_scenario(
    path: Path, intake: Intake, decision: pb.Decision, name: str, reference_date: dt.date | None = None
) -> None:
    """Write the situation and its decision as a one-scenario file that `rolwijzer test` runs.

    With a reference date (`ask --date`) the scenario is decided on that date again when it is run.
    """
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
    scenario: dict[str, object] = {"id": path.stem, "name": name}
    if reference_date is not None:
        scenario["reference_date"] = reference_date.isoformat()
    scenario.update({"facts": intake.plain, "compare": "all", "expected": expected})
    document = {"scenarios": [scenario]}
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
