"""Baseline mode for benchmarks: Evaluate answers a fixed, pre-built response without evaluating.

It measures the ceiling of this stack (gRPC, protobuf, the load generator) on the same machine, so the real
service can be reported as a share of it. Never used outside `bench/`.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from rolwijzer.api.config import Limits
from rolwijzer.api.convert import decision_to_proto, facts_from_proto
from rolwijzer.api.servicer import RolwijzerServicer
from rolwijzer.engine import report
from rolwijzer.reload import EngineHolder
from rolwijzer.v1 import rolwijzer_pb2 as pb


class BaselineServicer(RolwijzerServicer):
    """Answers every Evaluate with one real decision made at start, every batch item with it too."""

    def __init__(self, holder: EngineHolder) -> None:
        super().__init__(holder, Limits())
        facts = {
            "relation_to_beneficiary": pb.FactValue(symbol="neighbour"),
            "regularity": pb.FactValue(symbol="structural"),
        }
        with holder.engine() as engine:
            selection = engine.select()
            decision = engine.evaluate(facts_from_proto(facts), selection)
            text = report(selection, decision, "nl")
        self._response = pb.EvaluateResponse(decision=decision_to_proto(text, "baseline", ""))

    def Evaluate(  # noqa: N802 - the method name is fixed by the generated base class
        self, request: pb.EvaluateRequest, context: grpc.ServicerContext
    ) -> pb.EvaluateResponse:
        return self._response

    def EvaluateBatch(  # noqa: N802
        self, requests: Iterator[pb.EvaluateBatchRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.EvaluateBatchResponse]:
        for item in requests:
            yield pb.EvaluateBatchResponse(item_id=item.item_id, decision=self._response.decision)
