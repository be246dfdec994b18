"""Traces: a real server on 127.0.0.1 records a span per call with its steps as children, never a fact value."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import REPO, request

DAY = dt.date(2026, 6, 1)
NEIGHBOUR = {"relation_to_beneficiary": "neighbour", "regularity": "structural", "hours_per_week": 3.25}


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span of this process, kept in memory (the global provider can be set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()  # later tests' spans are no longer kept
    exporter.clear()


def _tree(finished: tuple[ReadableSpan, ...], root: ReadableSpan) -> dict[str, ReadableSpan]:
    """The spans under `root` (by name), root included."""
    found = {root.name: root}
    ids = {root.context.span_id}
    for candidate in sorted(finished, key=lambda s: s.start_time or 0):
        if candidate.parent is not None and candidate.parent.span_id in ids:
            found[candidate.name] = candidate
            ids.add(candidate.context.span_id)
    return found


class TestSpans:
    """Evaluate: the RPC span, then decide, check, evaluate (enumeration, aggregation), report and the log write."""

    def test_a_call_has_a_span_with_every_step_as_a_child(
        self, spans: InMemorySpanExporter, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        spans.clear()
        built = request(rule_set, NEIGHBOUR, reference_date=DAY, case_reference="trace-1")
        decision = stub.Evaluate(built, timeout=10).decision
        finished = spans.get_finished_spans()
        root = next(s for s in finished if s.name == "rolwijzer.v1.RolwijzerService/Evaluate")
        tree = _tree(finished, root)
        assert {"decide", "check", "evaluate", "enumeration", "aggregation", "report"} <= set(tree)
        assert tree["decide"].parent is not None and tree["decide"].parent.span_id == root.context.span_id
        assert tree["enumeration"].parent is not None
        assert tree["enumeration"].parent.span_id == tree["evaluate"].context.span_id
        attributes = dict(tree["decide"].attributes or {})
        assert attributes == {
            "rolwijzer.release": decision.rule_set.version,
            "rolwijzer.role": decision.role,
            "rolwijzer.combinations": decision.combinations_evaluated,
        }

    def test_no_span_holds_a_fact_value_or_the_case_reference(
        self, spans: InMemorySpanExporter, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        spans.clear()
        stub.Evaluate(request(rule_set, NEIGHBOUR, reference_date=DAY, case_reference="trace-2"), timeout=10)
        values = {str(v) for s in spans.get_finished_spans() for v in (s.attributes or {}).values()}
        assert values and not values & {"neighbour", "structural", "3.25", "trace-2"}


def test_traces_are_off_unless_an_otlp_endpoint_is_set() -> None:
    """Without OTEL_EXPORTER_OTLP_ENDPOINT nothing is configured (the API's spans do nothing); with it, an
    exporter is installed."""
    code = "from rolwijzer import tracing; print(tracing.configure())"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["PYTHONPATH"] = str(REPO / "service")
    run = [sys.executable, "-c", code]
    off = subprocess.run(run, env=environment, capture_output=True, text=True, timeout=60, check=True)
    on_env = {**environment, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    on = subprocess.run(run, env=on_env, capture_output=True, text=True, timeout=60, check=True)
    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")


def test_the_batch_path_traces_each_situation(
    spans: InMemorySpanExporter, stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
) -> None:
    spans.clear()
    items = [
        pb.BatchItem(item_id=str(n), request=request(rule_set, {**NEIGHBOUR, "hours_per_week": n})) for n in (1, 2)
    ]
    (answer,) = list(stub.EvaluateBatch(iter([pb.EvaluateBatchRequest(items=items)]), timeout=30))
    assert len(answer.results) == 2
    assert [s.name for s in spans.get_finished_spans()].count("decide") == 2
