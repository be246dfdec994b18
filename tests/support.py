"""Helpers shared by the tests: turn plain scenario values into request messages, and decisions into sets."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from rolwijzer.rules import FactType, RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb

REPO = Path(__file__).resolve().parents[1]
RULES_ROOT = REPO / "rules"
RULES = RULES_ROOT / "informele-zorg" / "1.0.0"  # the version in force today (until 2026-12-31)
SCENARIOS = REPO / "tests" / "scenarios"
SHARED_EXAMPLES = REPO.parent / "shared" / "examples" / "scenarios.yaml"

SET_FIELDS = ("role_candidates", "liable", "obligations", "flags", "missing_facts")


def fact_value(rule_set: RuleSet, name: str, value: Any) -> pb.FactValue:
    """A FactValue as a scenario file means it: 'unknown' is unknown, a list is one_of (symbols for sets)."""
    fact = rule_set.facts.get(name)
    if isinstance(value, list):
        values = [str(v).lower() if isinstance(v, bool) else str(v) for v in value]
        if fact is not None and fact.type == FactType.SET:
            return pb.FactValue(symbols=pb.SymbolList(values=values))
        return pb.FactValue(one_of=pb.SymbolList(values=values))
    if value == "unknown":
        return pb.FactValue(unknown=pb.Unknown())
    if isinstance(value, bool):
        return pb.FactValue(boolean=value)
    if isinstance(value, int | float):
        return pb.FactValue(number=float(value))
    return pb.FactValue(symbol=str(value))


def request(
    rule_set: RuleSet, facts: Mapping[str, Any], language: str = "", case_reference: str = ""
) -> pb.EvaluateRequest:
    """An EvaluateRequest for plain facts."""
    return pb.EvaluateRequest(
        facts={name: fact_value(rule_set, name, value) for name, value in facts.items()},
        language=language,
        case_reference=case_reference,
    )


def as_sets(decision: pb.Decision) -> dict[str, Any]:
    """The decision in the comparison form of the scenario files."""
    return {
        "role": decision.role,
        "volunteer_deployer": decision.volunteer_deployer or None,
        "role_candidates": set(decision.role_candidates),
        "liable": {f.code for f in decision.liabilities},
        "obligations": {f.code for f in decision.obligations},
        "flags": {f.code for f in decision.flags},
        "missing_facts": {m.fact for m in decision.missing_facts},
    }


def load_scenarios(path: Path) -> list[dict[str, Any]]:
    """The scenarios of one file, each tagged with the file it came from."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    scenarios: list[dict[str, Any]] = loaded["scenarios"]
    for scenario in scenarios:
        scenario["_file"] = path.name
    return scenarios


def expected_sets(scenario: dict[str, Any]) -> dict[str, Any]:
    """The keys to compare: all of them for complete scenarios (the shared format), else those given."""
    raw = dict(scenario.get("expected", {}))
    if scenario.get("compare") == "all" or "beschrijving" in scenario:
        raw.setdefault("volunteer_deployer", None)
        for key in SET_FIELDS:
            raw.setdefault(key, [])
    return {k: set(v) if k in SET_FIELDS else v for k, v in raw.items()}
