"""A synthetic population of care situations, seeded, for benchmarks and impact analyses.

The shares are assumptions chosen to look like an intake caseload (mostly partners and children, mostly structural
help, a few volunteers and paid carers, some facts not yet known); they are not statistics. Every value is checked
against the facts catalogue of the release given, so the population stays valid when the catalogue changes.

    python bench/population.py --count 100000 --seed 7 > population.jsonl

Each line is one situation: {"id": "P000001", "facts": {...}}, facts written as a scenario file writes them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "service"))
sys.path.insert(0, str(REPO / "tests"))

from rolwijzer.rules import FactType, RuleSet, load_rule_set  # noqa: E402 - after the path set-up
from support import RULES  # noqa: E402

__all__ = ["population"]

RELATIONS = {
    "partner": 25,
    "child": 30,
    "parent": 3,
    "sibling": 5,
    "other_family": 7,
    "friend": 8,
    "neighbour": 10,
    "acquaintance": 4,
    "none": 8,
}
REGULARITY = {"structural": 70, "occasional_on_request": 25, "one_off": 5}
TASKS = {
    "household": 0.6,
    "social_contact": 0.5,
    "emotional_support": 0.4,
    "personal_care": 0.35,
    "accompaniment": 0.3,
    "administration": 0.25,
    "medication_oral": 0.2,
    "supervision_presence": 0.15,
    "transfer_lifting": 0.1,
    "risky_act": 0.05,
    "reserved_act": 0.05,
}
PAYMENT = {"unpaid": 85, "expense_allowance": 7, "pgb_paid": 5, "paid_by_org": 2, "paid_other": 1}
UNRELATED_INITIATIVE = {"care_org_request": 50, "external_org_request": 30, "client_or_family": 20}
CLIENT_AGE = {"adult": 90, "16_17": 3, "12_15": 3, "under_12": 4}
# The share of situations in which a fact that decides the role is not known yet (at most three per situation).
UNKNOWN_SHARE = 0.05
MAX_UNKNOWN = 3


def population(rule_set: RuleSet, count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` situations as plain facts, the same for the same seed and catalogue."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _checked(rule_set, _situation(rng), rng)


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _situation(rng: random.Random) -> dict[str, Any]:
    relation = _pick(rng, RELATIONS)
    regularity = _pick(rng, REGULARITY)
    structural = regularity == "structural"
    facts: dict[str, Any] = {
        "relation_to_beneficiary": relation,
        "regularity": regularity,
        # Hours: a long tail (a few carers give most of the care); occasional help is an hour or two.
        "hours_per_week": round(min(rng.lognormvariate(2.0, 0.8), 80.0) if structural else rng.uniform(0.5, 4), 1),
        "duration_months": round(min(rng.lognormvariate(2.4, 1.0), 240.0), 1),
        "tasks": sorted(task for task, share in TASKS.items() if rng.random() < share),
        "payment": _pick(rng, PAYMENT),
        "client_age_group": _pick(rng, CLIENT_AGE),
    }
    if relation == "none":
        facts["initiative"] = _pick(rng, UNRELATED_INITIATIVE)
        facts["registered_volunteer"] = rng.choice(["no", "care_org", "external_org"])
        facts["vog"] = rng.choice(["present", "absent"])
    if relation in ("partner", "child"):
        facts["same_household"] = rng.random() < (0.9 if relation == "partner" else 0.2)
    facts["helper_avp"] = rng.choice(["yes", "yes", "yes", "no"])
    facts["setting"] = rng.choice(["home", "home", "home", "residential", "day_care"])
    return facts


def _checked(rule_set: RuleSet, facts: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Drop what the catalogue does not allow, and leave a few role-deciding facts unknown."""
    kept: dict[str, Any] = {}
    for name, value in facts.items():
        fact = rule_set.facts.get(name)
        if fact is None:
            continue
        if fact.type == FactType.SYMBOL and value not in fact.symbol_values:
            continue
        kept[name] = [v for v in value if v in fact.symbol_values] if fact.type == FactType.SET else value
    open_facts = [n for n in kept if rule_set.facts[n].decides_role and rule_set.facts[n].unknown_allowed]
    for name in rng.sample(open_facts, k=min(MAX_UNKNOWN, len(open_facts))):
        if rng.random() < UNKNOWN_SHARE:
            kept[name] = "unknown"
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rules", type=Path, default=RULES, help="the release whose catalogue the values must fit")
    args = parser.parse_args()
    rule_set = load_rule_set(args.rules)
    for index, facts in enumerate(population(rule_set, args.count, args.seed), start=1):
        print(json.dumps({"id": f"P{index:06d}", "facts": facts}, ensure_ascii=False))


if __name__ == "__main__":
    main()
