"""Scenario files (the format of shared/examples/scenarios.yaml) and how a decision is compared with them.

A scenario has `facts` and `expected`. Expected keys are complete, unordered sets; a key not given is not
compared, unless the file is in the shared format (scenarios with `beschrijving`) or the scenario says
`compare: all`, where a missing key means empty. `includes` and `excludes` check single codes; `fires` lists
rule ids that must fire.

`reference_date` (YYYY-MM-DD), beside `scenarios:` for the whole file or on one scenario, is the day the
scenario is decided on; without it the server decides on its today, like any request without a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rolwijzer.v1 import rolwijzer_pb2 as pb

SET_FIELDS = ("role_candidates", "liable", "obligations", "flags", "missing_facts")
SCALAR_FIELDS = ("role", "volunteer_deployer")


class ScenarioFileError(ValueError):
    """A scenario file cannot be read; the message names the file."""


@dataclass(frozen=True)
class Scenario:
    """One scenario of a file."""

    id: str
    name: str
    file: str
    facts: Mapping[str, Any]
    raw: Mapping[str, Any]
    reference_date: dt.date | None = None


def load_scenarios(path: Path) -> list[Scenario]:
    """The scenarios of one YAML file.

    Raises:
        ScenarioFileError: the file is not YAML or has no `scenarios` list of mappings with `id` and `facts`.
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioFileError(f"{path}: cannot be read: {' '.join(str(err).split())}") from err
    items = loaded.get("scenarios") if isinstance(loaded, dict) else None
    if not isinstance(loaded, dict) or not isinstance(items, list):
        raise ScenarioFileError(f"{path}: needs a top-level `scenarios:` list")
    file_date = _reference_date(loaded, f"{path}")
    found = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict) or "facts" not in item or not isinstance(item["facts"], dict):
            raise ScenarioFileError(f"{path}: scenario #{index} needs `facts` (a mapping)")
        scenario_id = str(item.get("id", f"#{index}"))
        name = str(item.get("name") or item.get("beschrijving") or scenario_id)
        day = _reference_date(item, f"{path}: scenario {scenario_id}") or file_date
        found.append(Scenario(scenario_id, name, path.name, item["facts"], item, day))
    return found


def _reference_date(holder: Mapping[str, Any], where: str) -> dt.date | None:
    value = holder.get("reference_date")
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ScenarioFileError(f"{where}: reference_date {value!r} is not a date (YYYY-MM-DD)") from None


def decision_sets(decision: pb.Decision) -> dict[str, Any]:
    """The decision in the comparison form of scenario files."""
    return {
        "role": decision.role,
        "volunteer_deployer": decision.volunteer_deployer or None,
        "role_candidates": set(decision.role_candidates),
        "liable": {f.code for f in decision.liabilities},
        "obligations": {f.code for f in decision.obligations},
        "flags": {f.code for f in decision.flags},
        "missing_facts": {m.fact for m in decision.missing_facts},
    }


def expected_sets(scenario: Scenario) -> dict[str, Any]:
    """The expected fields to compare, sets as sets."""
    raw = dict(scenario.raw.get("expected") or {})
    if scenario.raw.get("compare") == "all" or "beschrijving" in scenario.raw:
        raw.setdefault("volunteer_deployer", None)
        for key in SET_FIELDS:
            raw.setdefault(key, [])
    return {k: set(v or []) if k in SET_FIELDS else v for k, v in raw.items()}


def differences(scenario: Scenario, decision: pb.Decision) -> list[str]:
    """What differs between the decision and the scenario's expectations; empty when it passes."""
    got = decision_sets(decision)
    found = []
    for key, want in expected_sets(scenario).items():
        if key in SET_FIELDS:
            missing, unexpected = sorted(want - got[key]), sorted(got[key] - want)
            if missing:
                found.append(f"{key}: missing {', '.join(missing)}")
            if unexpected:
                found.append(f"{key}: unexpected {', '.join(unexpected)}")
        elif got.get(key) != want:
            found.append(f"{key}: expected {want}, got {got.get(key)}")
    for key, codes in (scenario.raw.get("includes") or {}).items():
        absent = sorted(set(codes) - got.get(key, set()))
        if absent:
            found.append(f"{key}: missing {', '.join(absent)}")
    for key, codes in (scenario.raw.get("excludes") or {}).items():
        present = sorted(set(codes) & got.get(key, set()))
        if present:
            found.append(f"{key}: unexpected {', '.join(present)}")
    fired = {r.rule_id for r in decision.fired_rules}
    not_fired = sorted(set(scenario.raw.get("fires") or []) - fired)
    if not_fired:
        found.append(f"rules that did not fire: {', '.join(not_fired)}")
    return found


def fact_value(value: object, is_set: bool) -> pb.FactValue:
    """A FactValue as a scenario file means it: 'unknown' is unknown; a list is the set of a set fact, else one_of."""
    if isinstance(value, list):
        values = [str(v).lower() if isinstance(v, bool) else str(v) for v in value]
        if is_set:
            return pb.FactValue(symbols=pb.SymbolList(values=values))
        return pb.FactValue(one_of=pb.SymbolList(values=values))
    if value == "unknown":
        return pb.FactValue(unknown=pb.Unknown())
    if isinstance(value, bool):
        return pb.FactValue(boolean=value)
    if isinstance(value, int | float):
        return pb.FactValue(number=float(value))
    return pb.FactValue(symbol=str(value))


def situation_request(
    facts: Mapping[str, Any], set_facts: set[str] | frozenset[str], reference_date: dt.date | None = None
) -> pb.EvaluateRequest:
    """An EvaluateRequest for the plain facts of a scenario; `set_facts` names the facts that take sets."""
    built = pb.EvaluateRequest(facts={name: fact_value(value, name in set_facts) for name, value in facts.items()})
    if reference_date is not None:
        built.reference_date.year, built.reference_date.month = reference_date.year, reference_date.month
        built.reference_date.day = reference_date.day
    return built


def scenario_request(scenario: Scenario, set_facts: set[str] | frozenset[str]) -> pb.EvaluateRequest:
    """The EvaluateRequest of a scenario: its facts, on its reference date when it has one."""
    return situation_request(scenario.facts, set_facts, scenario.reference_date)
