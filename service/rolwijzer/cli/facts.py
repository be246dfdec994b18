"""Read facts as legal staff write them: `--fact name=value` arguments and situation files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from rolwijzer.cli.client import EXIT_BAD_INPUT, CliError
from rolwijzer.scenarios import fact_value
from rolwijzer.v1 import rolwijzer_pb2 as pb

UNKNOWN_WORDS = {"unknown", "weet niet", "weetniet", "?", "don't know", "dont know"}
TRUE_WORDS, FALSE_WORDS = {"true", "ja", "yes", "j", "y"}, {"false", "nee", "no", "n"}

Catalogue = Mapping[str, pb.FactDescription]


def parse_fact(argument: str, catalogue: Catalogue) -> tuple[str, pb.FactValue]:
    """`name=value`: a list `a,b` is the set of a set fact and one_of otherwise; `unknown` is unknown.

    A name the catalogue does not know is passed on as a symbol, so the server names the mistake.

    Raises:
        CliError: the argument has no `=` or a number fact gets a word (exit code 2).
    """
    name, sep, text = argument.partition("=")
    name, text = name.strip(), text.strip()
    if not sep or not name:
        raise CliError(EXIT_BAD_INPUT, f"--fact {argument!r}: write it as name=value, for example tasks=household")
    kind = catalogue[name].kind if name in catalogue else pb.FACT_KIND_SYMBOL
    if text.lower() in UNKNOWN_WORDS:
        return name, pb.FactValue(unknown=pb.Unknown())
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if kind == pb.FACT_KIND_SET:
        return name, pb.FactValue(symbols=pb.SymbolList(values=parts))
    if len(parts) > 1:
        return name, pb.FactValue(one_of=pb.SymbolList(values=[_normalise(p, kind) for p in parts]))
    if kind == pb.FACT_KIND_BOOLEAN and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return name, pb.FactValue(boolean=text.lower() in TRUE_WORDS)
    if kind == pb.FACT_KIND_NUMBER:
        try:
            return name, pb.FactValue(number=float(text.replace(",", ".")))
        except ValueError:
            raise CliError(EXIT_BAD_INPUT, f"--fact {name}: {text!r} is not a number") from None
    return name, pb.FactValue(symbol=text)


def _normalise(text: str, kind: int) -> str:
    if kind == pb.FACT_KIND_BOOLEAN:
        return "true" if text.lower() in TRUE_WORDS else "false" if text.lower() in FALSE_WORDS else text
    return text


def read_situation(path: Path, catalogue: Catalogue) -> dict[str, pb.FactValue]:
    """The facts of a situation file: a mapping with `facts:`, a one-scenario file, or a mapping of facts.

    Raises:
        CliError: the file cannot be read or holds no facts (exit code 2).
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise CliError(EXIT_BAD_INPUT, f"{path}: cannot be read: {' '.join(str(err).split())}") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("scenarios"), list) and len(loaded["scenarios"]) == 1:
        loaded = loaded["scenarios"][0]
    if isinstance(loaded, dict) and isinstance(loaded.get("facts"), dict):
        loaded = loaded["facts"]
    if not isinstance(loaded, dict):
        raise CliError(EXIT_BAD_INPUT, f"{path}: expected a mapping of facts (or `facts:`)")
    sets = {name for name, fact in catalogue.items() if fact.kind == pb.FACT_KIND_SET}
    return {str(name): fact_value(value, str(name) in sets) for name, value in loaded.items()}
