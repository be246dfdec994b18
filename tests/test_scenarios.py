"""Scenario suites through the gRPC API: the shared examples and the team's own, compared as sets."""

from __future__ import annotations

from pathlib import Path

import pytest
from rolwijzer.api.convert import facts_from_proto
from rolwijzer.engine import Engine
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import Scenario, differences, load_scenarios
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import SCENARIOS, request

SUITES = sorted(SCENARIOS.glob("*.yaml"))
ALL = [s for path in SUITES for s in load_scenarios(path)]
EDGE_CASES = range(1, 17)  # domain.md §8 lists sixteen


def _ids(scenario: Scenario) -> str:
    return f"{scenario.file}:{scenario.id}"


@pytest.mark.parametrize("scenario", ALL, ids=_ids)
def test_scenario_is_decided_as_expected(
    scenario: Scenario, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
) -> None:
    """Every scenario of tests/scenarios gets exactly its expected role, codes and missing facts over gRPC."""
    decision = stub.Evaluate(
        request(rule_set, scenario.facts, case_reference=scenario.id, reference_date=scenario.reference_date)
    ).decision
    assert differences(scenario, decision) == [], scenario.name


# The worked examples of the specification, copied into the repository (tests/scenarios/examples.yaml) so that a clone
# tests them without anything beside it; test_scenario_is_decided_as_expected decides each one.
WORKED_EXAMPLES = {"EX01", "EX03", "EX04", "EX10", "EX11", "EX19", "EX20", "EX26", "EX27", "EX34", "EX42", "EX51"}
WORKED_EXAMPLES |= {"EX60", "EX61", "EX62", "EX63", "EX64", "EX65"}


def test_the_worked_examples_are_in_the_suite() -> None:
    """tests/scenarios/examples.yaml holds every worked example, each with facts and an expected outcome."""
    examples = {s.id: s.raw for s in load_scenarios(SCENARIOS / "examples.yaml")}
    assert set(examples) == WORKED_EXAMPLES
    assert all(raw.get("facts") is not None and raw.get("expected") for raw in examples.values())


def test_every_rule_that_can_fire_is_shown_by_a_scenario(engine: Engine, rule_set: RuleSet) -> None:
    """Together the suites make every rule fire that the parameters in force allow to fire."""
    fired: set[str] = set()
    fireable: set[str] = set()
    for scenario in ALL:
        inputs = facts_from_proto(request(rule_set, scenario.facts).facts)
        selection = engine.select(scenario.reference_date)
        fired.update(engine.evaluate(inputs, selection).fired_rules)
        fireable |= selection.compiled.fireable_rule_ids()
    never = fireable - fired
    assert not never, f"rules no scenario fires: {sorted(never)}"


def test_every_edge_case_of_domain_section_8_has_a_scenario() -> None:
    """Each of the sixteen edge cases of domain.md §8 is tagged on at least one scenario."""
    tagged: set[int] = set()
    for scenario in ALL:
        tag = scenario.raw.get("edge_case", [])
        tagged.update(tag if isinstance(tag, list) else [tag])
    assert set(EDGE_CASES) - tagged == set()


def test_suites_exist() -> None:
    """The scenario folder holds the shared examples and the team's own suite."""
    assert {Path(p).name for p in SUITES} >= {"examples.yaml", "rules.yaml"}
