"""Read facts as legal staff write them: `--fact name=value` arguments and situation files."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from rolwijzer.cli.client import EXIT_BAD_INPUT, CliError
from rolwijzer.cli.messages import SITUATION_EXAMPLE, say
from rolwijzer.scenarios import fact_value
from rolwijzer.v1 import rolwijzer_pb2 as pb

UNKNOWN_WORDS = {"unknown", "weet niet", "weetniet", "?", "don't know", "dont know"}
TRUE_WORDS, FALSE_WORDS = {"true", "ja", "yes", "j", "y"}, {"false", "nee", "no", "n"}

Catalogue = Mapping[str, pb.FactDescription]
ONE_OF = "|"
# A number as people write it: digits with at most one decimal comma or point (8, 8,5, 8.5, ,5). A sign is let
# through so that the server names a negative number with its reason.
NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


def parse_number(text: str) -> float | None:
    """`text` as a number, read with a Dutch decimal comma or a decimal point; None when it is not one."""
    text = text.strip()
    return float(text.replace(",", ".")) if NUMBER.fullmatch(text) else None


def parse_facts(arguments: Sequence[str], catalogue: Catalogue, language: str) -> dict[str, pb.FactValue]:
    """Every `--fact`; a fact given twice is refused, since which one was meant cannot be known.

    Raises:
        CliError: an argument cannot be read, or names a fact that another one names too (exit code 2).
    """
    parsed = [parse_fact(argument, catalogue, language) for argument in arguments]
    counts = Counter(name for name, _ in parsed)
    twice = next((name for name, _ in parsed if counts[name] > 1), None)
    if twice is not None:
        raise CliError(EXIT_BAD_INPUT, say(language, "fact_twice", name=twice, count=counts[twice]))
    return dict(parsed)


def parse_fact(argument: str, catalogue: Catalogue, language: str) -> tuple[str, pb.FactValue]:
    """`name=value`: `a|b` is "one of these"; `a,b` is the set of a set fact; `unknown` is unknown.

    Numbers take a decimal comma or point (8,5 is 8.5), which is why "one of" is written with `|`. Symbol and yes/no
    facts still read `a,b` as "one of", as they always did: a comma cannot be part of their values.
    A name the catalogue does not know is passed on as a symbol, so the server names the mistake.

    Raises:
        CliError: the argument has no `=`, a number fact gets something else than numbers, or a set fact gets `|`
            (exit code 2).
    """
    name, sep, text = argument.partition("=")
    name, text = name.strip(), text.strip()
    if not sep or not name:
        raise CliError(EXIT_BAD_INPUT, say(language, "fact_form", argument=argument))
    kind = catalogue[name].kind if name in catalogue else pb.FACT_KIND_SYMBOL
    if text.lower() in UNKNOWN_WORDS:
        return name, pb.FactValue(unknown=pb.Unknown())
    if kind == pb.FACT_KIND_SET:
        if ONE_OF in text:
            raise CliError(EXIT_BAD_INPUT, say(language, "set_one_of", name=name, text=text))
        return name, pb.FactValue(symbols=pb.SymbolList(values=_parts(text, ",")))
    if kind == pb.FACT_KIND_NUMBER:
        return name, _number_value(name, text, language)
    parts = _parts(text, ",", ONE_OF)
    if len(parts) > 1:
        return name, pb.FactValue(one_of=pb.SymbolList(values=[_normalise(p, kind) for p in parts]))
    if kind == pb.FACT_KIND_BOOLEAN and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return name, pb.FactValue(boolean=text.lower() in TRUE_WORDS)
    return name, pb.FactValue(symbol=text)


def _parts(text: str, *separators: str) -> list[str]:
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    return [p.strip() for p in text.split(separators[0]) if p.strip()]


def _number_value(name: str, text: str, language: str) -> pb.FactValue:
    """A number, or "one of" numbers written `8|12`; each may have a decimal comma."""
    parts = _parts(text, ONE_OF)
    numbers = [n for n in map(parse_number, parts) if n is not None]
    if parts and len(numbers) == len(parts):
        if len(numbers) == 1:
            return pb.FactValue(number=numbers[0])
        # The API takes the values of one_of as decimal numbers with a point.
        return pb.FactValue(one_of=pb.SymbolList(values=[_decimal(n) for n in numbers]))
    # 8,5,6 was "one of 8, 5 and 6" before the decimal comma; say how to write either.
    if text.count(",") > 1 and all(parse_number(p) is not None for p in _parts(text, ONE_OF, ",")):
        raise CliError(EXIT_BAD_INPUT, say(language, "too_many_commas", name=name, text=text))
    raise CliError(EXIT_BAD_INPUT, say(language, "not_a_number", name=name, text=text))


def _decimal(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _normalise(text: str, kind: int) -> str:
    if kind == pb.FACT_KIND_BOOLEAN:
        return "true" if text.lower() in TRUE_WORDS else "false" if text.lower() in FALSE_WORDS else text
    return text


def read_situation(path: Path, catalogue: Catalogue, language: str) -> dict[str, pb.FactValue]:
    """The facts of a situation file: `facts:` with the facts below it, or a file of one scenario (as `ask` saves).

    A file without `facts:` is refused rather than decided as a situation in which nothing is known; so is a
    scenario file of several scenarios, which `rolwijzer test` runs.

    Raises:
        CliError: the file cannot be read, is a scenario file, or holds no `facts:` mapping (exit code 2).
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        reason = " ".join(str(err).split())
        raise CliError(EXIT_BAD_INPUT, say(language, "file_unreadable", path=path, reason=reason)) from None
    scenarios = loaded.get("scenarios") if isinstance(loaded, dict) else None
    if isinstance(scenarios, list) and len(scenarios) == 1 and isinstance(scenarios[0], dict):
        loaded = scenarios[0]
    elif isinstance(scenarios, list):
        message = say(language, "file_scenarios", path=path, count=len(scenarios), example=SITUATION_EXAMPLE)
        raise CliError(EXIT_BAD_INPUT, message)
    if not isinstance(loaded, dict) or "facts" not in loaded:
        raise CliError(EXIT_BAD_INPUT, say(language, "file_no_facts", path=path, example=SITUATION_EXAMPLE))
    facts = loaded["facts"]
    if not isinstance(facts, dict):
        raise CliError(EXIT_BAD_INPUT, say(language, "file_facts_not_mapping", path=path, example=SITUATION_EXAMPLE))
    sets = {name for name, fact in catalogue.items() if fact.kind == pb.FACT_KIND_SET}
    return {str(name): fact_value(value, str(name) in sets) for name, value in facts.items()}
