"""Concurrent evaluations do not see each other's facts or conclusions."""

from __future__ import annotations

import random
import threading
from typing import Any

from google.protobuf import json_format
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import load_scenarios
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import SCENARIOS, request

THREADS = 4
CALLS_PER_THREAD = 150


def _comparable(decision: pb.Decision) -> dict[str, Any]:
    """The decision without the fields that differ per call (its id and case reference)."""
    as_dict = json_format.MessageToDict(decision)
    as_dict.pop("decisionId")
    as_dict.pop("caseReference", None)
    return as_dict


def test_four_threads_get_the_same_decisions_as_one_by_one(
    stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
) -> None:
    """4 threads calling the server in random order get exactly the decisions computed one by one."""
    scenarios = [s for path in sorted(SCENARIOS.glob("*.yaml")) for s in load_scenarios(path)]
    requests = [request(rule_set, s.facts) for s in scenarios]
    reference = [_comparable(stub.Evaluate(r).decision) for r in requests]
    assert len({str(d) for d in reference}) > 20, "the scenarios must differ for cross-talk to show"

    mismatches: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for call in range(CALLS_PER_THREAD):
                index = rng.randrange(len(requests))
                case = f"t{seed}-{call}"
                req = pb.EvaluateRequest()
                req.CopyFrom(requests[index])
                req.case_reference = case
                decision = stub.Evaluate(req).decision
                if decision.case_reference != case or _comparable(decision) != reference[index]:
                    mismatches.append((seed, index))
        except BaseException as err:  # collected and asserted below, so a failure in a thread fails the test
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert mismatches == []
