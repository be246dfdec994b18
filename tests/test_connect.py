"""The HTTP port: RolwijzerService over Connect (JSON, binary) and gRPC-Web, answering as the gRPC port does, with
CORS, TLS and the web pages; real servers on 127.0.0.1 only."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import pytest
from certs import Pem
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY
from rolwijzer.api.config import Limits, Tls
from rolwijzer.api.http import create_http_server
from rolwijzer.rules import RuleSet
from rolwijzer.scenarios import load_scenarios
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CHEAP_FACTS, CURRENT_RELEASE, REPO, SCENARIOS, request, stop_process
from web_support import END_STREAM, SERVICE_PATH, Ports, both_ports, envelope, envelopes, grpc_web

BIN = Path(sys.executable).parent
ORIGIN = "https://zorg.example"
SERVICE = "rolwijzer.v1.RolwijzerService"


@pytest.fixture(scope="module")
def web_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A web folder like rolwijzer/web, with a secret beside it that must never be served."""
    root = tmp_path_factory.mktemp("site")
    folder = root / "web"
    (folder / "static" / "img").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html><title>Rolwijzer</title>", encoding="utf-8")
    (folder / "regels.html").write_text("<!doctype html><title>Regels</title>", encoding="utf-8")
    (folder / "static" / "app.js").write_text("console.log('rolwijzer');", encoding="utf-8")
    (folder / "static" / "style.css").write_text("body { margin: 0 }", encoding="utf-8")
    (folder / "static" / "img" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "secret.txt").write_text("health data", encoding="utf-8")
    (folder / "static" / "out").symlink_to(root)  # a link that leads out of static/
    return folder


@pytest.fixture(scope="module")
def ports(web_folder: Path) -> Iterator[Ports]:
    with both_ports(web_folder, cors_origins=[ORIGIN]) as opened:
        yield opened


@pytest.fixture(scope="module")
def web(ports: Ports) -> Iterator[httpx.Client]:
    """One kept-alive HTTP/1.1 connection to the HTTP port."""
    with httpx.Client(base_url=ports.base, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def grpc_stub(ports: Ports) -> Iterator[pb_grpc.RolwijzerServiceStub]:
    with grpc.insecure_channel(ports.grpc_address) as channel:
        yield pb_grpc.RolwijzerServiceStub(channel)


def _json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def _without_id(decision: pb.Decision) -> pb.Decision:
    copy = pb.Decision()
    copy.CopyFrom(decision)
    copy.ClearField("decision_id")
    return copy


def _post(web: httpx.Client, method: str, message: Any) -> httpx.Response:
    return web.post(f"{SERVICE_PATH}/{method}", json=_json(message))


def _rpcs(method: str, code: str) -> float:
    return REGISTRY.get_sample_value("rolwijzer_rpcs_total", {"service": SERVICE, "method": method, "code": code}) or 0


# --- Connect JSON: every RPC --------------------------------------------------------------------------------


class TestConnectJson:
    """Each RPC over Connect with JSON answers what the gRPC port answers."""

    def test_evaluate(self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet) -> None:
        req = request(rule_set, CHEAP_FACTS, language="en", case_reference="case-7")
        before = _rpcs("Evaluate", "OK")
        answer = _post(web, "Evaluate", req)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert _rpcs("Evaluate", "OK") == before + 1, "the gRPC port's metrics count Connect calls too"
        decision = json_format.Parse(answer.text, pb.EvaluateResponse()).decision
        assert decision.decision_id and decision.case_reference == "case-7"
        assert _without_id(decision) == _without_id(grpc_stub.Evaluate(req, timeout=30).decision)

    def test_list_rule_sets(self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub) -> None:
        answer = _post(web, "ListRuleSets", pb.ListRuleSetsRequest())
        assert answer.status_code == 200
        listed = json_format.Parse(answer.text, pb.ListRuleSetsResponse())
        assert listed == grpc_stub.ListRuleSets(pb.ListRuleSetsRequest(), timeout=30)
        assert [r.version for r in listed.rule_sets][-1] == CURRENT_RELEASE

    def test_describe_rule_set(self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub) -> None:
        req = pb.DescribeRuleSetRequest(version=CURRENT_RELEASE, language="en")
        answer = _post(web, "DescribeRuleSet", req)
        assert answer.status_code == 200
        assert json_format.Parse(answer.text, pb.DescribeRuleSetResponse()) == grpc_stub.DescribeRuleSet(req)

    def test_describe_rule_set_with_get(self, web: httpx.Client) -> None:
        """A read without side effects may be a GET (cacheable), as Connect allows for NO_SIDE_EFFECTS methods."""
        message = json.dumps({"version": CURRENT_RELEASE})
        answer = web.get(f"{SERVICE_PATH}/DescribeRuleSet", params={"encoding": "json", "message": message})
        assert answer.status_code == 200, answer.text
        assert answer.json()["ruleSet"]["version"] == CURRENT_RELEASE

    def test_compare_rule_sets_with_get(self, web: httpx.Client) -> None:
        """The comparison of two releases is a read too: a GET answers it."""
        message = json.dumps({"fromVersion": "2.2.0", "toVersion": "2.3.0"})
        answer = web.get(f"{SERVICE_PATH}/CompareRuleSets", params={"encoding": "json", "message": message})
        assert answer.status_code == 200, answer.text
        found = json_format.Parse(answer.text, pb.CompareRuleSetsResponse())
        assert [change.key for change in found.rules.changed] == ["A6"]

    def test_get_status(self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub) -> None:
        answer = _post(web, "GetStatus", pb.GetStatusRequest())
        assert answer.status_code == 200
        assert json_format.Parse(answer.text, pb.GetStatusResponse()) == grpc_stub.GetStatus(pb.GetStatusRequest())

    def test_evaluate_batch_with_items(
        self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        """One message with many items (half-duplex streaming): one result per item, a bad item its own status."""
        good = request(rule_set, CHEAP_FACTS)
        bad = pb.EvaluateRequest(facts={"hours_per_weak": pb.FactValue(number=3)})
        items = [pb.BatchItem(item_id=str(i), request=r) for i, r in enumerate([good, bad, good])]
        message = pb.EvaluateBatchRequest(items=items)
        answer = web.post(
            f"{SERVICE_PATH}/EvaluateBatch",
            content=envelope(json_format.MessageToJson(message).encode()),
            headers={"content-type": "application/connect+json"},
        )
        assert answer.status_code == 200
        (first, last) = envelopes(answer.content)
        assert last == (END_STREAM, b"{}")
        results = json_format.Parse(first[1], pb.EvaluateBatchResponse()).results
        assert [r.item_id for r in results] == ["0", "1", "2"]
        assert [r.WhichOneof("result") for r in results] == ["decision", "status", "decision"]
        assert "did you mean 'hours_per_week'?" in results[1].status.message
        (over_grpc,) = grpc_stub.EvaluateBatch(iter([message]), timeout=30)
        assert results[1].status == over_grpc.results[1].status
        assert _without_id(results[0].decision) == _without_id(over_grpc.results[0].decision)

    def test_evaluate_batch_with_several_messages(self, web: httpx.Client, rule_set: RuleSet) -> None:
        """Several one-situation messages in one body: one answer each, in order (half-duplex)."""
        body = b"".join(
            envelope(json_format.MessageToJson(pb.EvaluateBatchRequest(item_id=str(i), request=r)).encode())
            for i, r in enumerate([request(rule_set, CHEAP_FACTS), pb.EvaluateRequest(language="fr")])
        )
        answer = web.post(
            f"{SERVICE_PATH}/EvaluateBatch", content=body, headers={"content-type": "application/connect+json"}
        )
        *messages, last = envelopes(answer.content)
        answers = [json_format.Parse(m[1], pb.EvaluateBatchResponse()) for m in messages]
        assert [(a.item_id, a.WhichOneof("result")) for a in answers] == [("0", "decision"), ("1", "status")]
        assert last == (END_STREAM, b"{}")

    def test_the_callers_timeout_bounds_the_evaluation(self, web: httpx.Client) -> None:
        """Connect-Timeout-Ms reaches the servicer as time_remaining: a costly situation with 1 ms is refused
        DEADLINE_EXCEEDED with the servicer's ErrorInfo, as a gRPC deadline would be."""
        open_facts = {
            name: pb.FactValue(unknown=pb.Unknown())
            for name in ("relation_to_beneficiary", "helper_employment", "payment", "initiative", "duration_months")
        }
        req = pb.EvaluateRequest(
            facts={**open_facts, "tasks": pb.FactValue(symbols=pb.SymbolList(values=["personal_care"]))}
        )
        before = REGISTRY.get_sample_value("rolwijzer_requests_rejected_total", {"reason": "deadline"}) or 0
        answer = web.post(f"{SERVICE_PATH}/Evaluate", json=_json(req), headers={"connect-timeout-ms": "1"})
        error = answer.json()
        assert error["code"] == "deadline_exceeded", error
        assert error["details"][0]["debug"]["reason"] == "EVALUATION_TOO_SLOW"
        after = REGISTRY.get_sample_value("rolwijzer_requests_rejected_total", {"reason": "deadline"})
        assert after == before + 1, "a refusal over Connect is counted like one over gRPC"
        assert web.post(f"{SERVICE_PATH}/Evaluate", json=_json(req)).status_code == 200, "decided given the time"

    def test_an_undecodable_batch_item_is_answered_in_the_stream(self, web: httpx.Client) -> None:
        answer = web.post(
            f"{SERVICE_PATH}/EvaluateBatch",
            content=envelope(b'{"items": 3}'),
            headers={"content-type": "application/connect+json"},
        )
        (first, last) = envelopes(answer.content)
        status = json_format.Parse(first[1], pb.EvaluateBatchResponse()).status
        assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert status.message == "item: the bytes are not a valid EvaluateBatchRequest message"
        assert last == (END_STREAM, b"{}")


class TestErrors:
    """Refusals keep their code, message and details in Connect's JSON error format."""

    def test_bad_request_in_the_json_error_format(self, web: httpx.Client) -> None:
        req = pb.EvaluateRequest(facts={"hours_per_weak": pb.FactValue(number=3)})
        answer = _post(web, "Evaluate", req)
        assert answer.status_code == 400
        error = answer.json()
        assert error["code"] == "invalid_argument"
        assert error["message"] == "facts.hours_per_weak: unknown fact 'hours_per_weak'; did you mean 'hours_per_week'?"
        (detail,) = error["details"]
        assert detail["type"] == "google.rpc.BadRequest"
        bad = error_details_pb2.BadRequest.FromString(base64.b64decode(detail["value"] + "=="))
        assert [(v.field, v.description) for v in bad.field_violations] == [
            ("facts.hours_per_weak", "unknown fact 'hours_per_weak'; did you mean 'hours_per_week'?")
        ]
        assert detail["debug"] == json_format.MessageToDict(bad)

    def test_error_info_for_a_date_no_release_covers(self, web: httpx.Client) -> None:
        req = pb.EvaluateRequest(reference_date=date_pb2.Date(year=2001, month=1, day=1))
        error = _post(web, "Evaluate", req).json()
        assert error["code"] == "failed_precondition"
        (detail,) = error["details"]
        assert detail["type"] == "google.rpc.ErrorInfo"
        assert detail["debug"]["reason"] == "NO_RULE_SET_IN_FORCE"
        assert detail["debug"]["domain"] == "rolwijzer.v1"

    def test_retry_info_when_the_batch_streams_are_taken(self, web_folder: Path) -> None:
        """No stream slot: RESOURCE_EXHAUSTED with ErrorInfo and RetryInfo at the end of the Connect stream."""
        with both_ports(web_folder, limits=Limits(max_streams=0)) as opened, httpx.Client(timeout=30) as client:
            answer = client.post(
                f"{opened.base}{SERVICE_PATH}/EvaluateBatch",
                content=envelope(b"{}"),
                headers={"content-type": "application/connect+json"},
            )
        ((flags, payload),) = envelopes(answer.content)
        assert flags == END_STREAM
        error = json.loads(payload)["error"]
        assert error["code"] == "resource_exhausted"
        types = {d["type"]: d.get("debug") for d in error["details"]}
        assert types["google.rpc.ErrorInfo"]["reason"] == "TOO_MANY_STREAMS"
        assert types["google.rpc.RetryInfo"] == {"retryDelay": "1s"}

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b"{not json", "application/json"),
            (b'{"fatcs": {}}', "application/json"),
            (b"\xff\xff\xff", "application/proto"),
        ],
        ids=["broken-json", "unknown-field", "broken-proto"],
    )
    def test_an_undecodable_body_is_an_invalid_argument(
        self, web: httpx.Client, body: bytes, content_type: str
    ) -> None:
        """Never INTERNAL or UNKNOWN with a stack trace: INVALID_ARGUMENT naming the request and what is wrong."""
        answer = web.post(f"{SERVICE_PATH}/Evaluate", content=body, headers={"content-type": content_type})
        assert answer.status_code == 400
        error = answer.json()
        assert error["code"] == "invalid_argument"
        assert error["message"].startswith(
            "request: the bytes are not a valid EvaluateRequest message"
            if content_type == "application/proto"
            else "request: not a valid EvaluateRequest in JSON: "
        )
        assert "Traceback" not in answer.text
        assert error["details"][0]["debug"]["fieldViolations"][0]["field"] == "request"
        if b"fatcs" in body:
            assert "fatcs" in error["message"], "a misspelt field is refused by name, not dropped"


def test_a_body_over_the_size_limit_is_resource_exhausted(web: httpx.Client) -> None:
    """As on the gRPC port (--max-request-bytes)."""
    big = pb.EvaluateRequest(case_reference="x" * (Limits().max_request_bytes + 1))
    answer = web.post(
        f"{SERVICE_PATH}/Evaluate", content=big.SerializeToString(), headers={"content-type": "application/proto"}
    )
    assert answer.json()["code"] == "resource_exhausted"


# --- binary and gRPC-Web -----------------------------------------------------------------------------------


def test_undecodable_bytes_get_the_same_answer_on_both_ports(web: httpx.Client, ports: Ports) -> None:
    garbage = b"\xff\xff\xff"
    with grpc.insecure_channel(ports.grpc_address) as channel:
        raw = channel.unary_unary(f"{SERVICE_PATH}/Evaluate", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as caught:
            raw(garbage, timeout=30)
    over_grpc = rpc_status.from_call(cast(grpc.Call, caught.value))
    answer = web.post(f"{SERVICE_PATH}/Evaluate", content=garbage, headers={"content-type": "application/proto"})
    error = answer.json()
    assert error["code"] == "invalid_argument" and over_grpc.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert error["message"] == over_grpc.message == "request: the bytes are not a valid EvaluateRequest message"
    assert base64.b64decode(error["details"][0]["value"] + "==") == over_grpc.details[0].value


def test_connect_binary_evaluate(web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet) -> None:
    req = request(rule_set, CHEAP_FACTS)
    answer = web.post(
        f"{SERVICE_PATH}/Evaluate", content=req.SerializeToString(), headers={"content-type": "application/proto"}
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/proto"
    decision = pb.EvaluateResponse.FromString(answer.content).decision
    assert _without_id(decision) == _without_id(grpc_stub.Evaluate(req, timeout=30).decision)


class TestGrpcWeb:
    def test_evaluate(self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet) -> None:
        req = request(rule_set, CHEAP_FACTS)
        answer = grpc_web(web, f"{SERVICE_PATH}/Evaluate", req)
        assert answer.code == 0
        (message,) = answer.messages
        decision = pb.EvaluateResponse.FromString(message).decision
        assert _without_id(decision) == _without_id(grpc_stub.Evaluate(req, timeout=30).decision)

    def test_an_error_carries_its_status_in_the_trailers(
        self, web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub
    ) -> None:
        req = pb.EvaluateRequest(language="fr")
        answer = grpc_web(web, f"{SERVICE_PATH}/Evaluate", req)
        assert answer.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        with pytest.raises(grpc.RpcError) as caught:
            grpc_stub.Evaluate(req, timeout=30)
        over_grpc = rpc_status.from_call(cast(grpc.Call, caught.value))
        assert answer.message == over_grpc.message == "language: must be one of nl, en (empty means nl)"
        assert list(answer.status().details) == list(over_grpc.details)


# --- buf curl: a client none of us wrote --------------------------------------------------------------------


def _buf_curl(protocol: str, url: str, data: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "buf"), "curl", "--protocol", protocol, *extra, "--data", data, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


@pytest.mark.parametrize("protocol", ["connect", "grpcweb"])
class TestBufCurl:
    def test_evaluate(
        self, protocol: str, ports: Ports, grpc_stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
    ) -> None:
        req = request(rule_set, CHEAP_FACTS)
        done = _buf_curl(
            protocol, f"{ports.base}{SERVICE_PATH}/Evaluate", json_format.MessageToJson(req), "--schema", "protos"
        )
        assert done.returncode == 0, done.stderr
        decision = json_format.Parse(done.stdout, pb.EvaluateResponse()).decision
        assert _without_id(decision) == _without_id(grpc_stub.Evaluate(req, timeout=30).decision)

    def test_describe_rule_set(self, protocol: str, ports: Ports) -> None:
        data = json.dumps({"version": CURRENT_RELEASE})
        done = _buf_curl(protocol, f"{ports.base}{SERVICE_PATH}/DescribeRuleSet", data, "--schema", "protos")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["ruleSet"]["version"] == CURRENT_RELEASE

    def test_an_error_with_its_details(self, protocol: str, ports: Ports) -> None:
        data = json.dumps({"facts": {"hours_per_weak": {"number": 3}}})
        done = _buf_curl(protocol, f"{ports.base}{SERVICE_PATH}/Evaluate", data, "--schema", "protos")
        assert done.returncode != 0
        error = json.loads(done.stderr)
        assert error["code"] == "invalid_argument"
        assert error["message"] == "facts.hours_per_weak: unknown fact 'hours_per_weak'; did you mean 'hours_per_week'?"
        assert error["details"][0]["type"] == "google.rpc.BadRequest"


# --- CORS ---------------------------------------------------------------------------------------------------


class TestCors:
    def _preflight(self, web: httpx.Client, origin: str) -> httpx.Response:
        return web.options(
            f"{SERVICE_PATH}/Evaluate",
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,connect-protocol-version",
            },
        )

    def test_a_preflight_from_an_allowed_origin(self, web: httpx.Client) -> None:
        answer = self._preflight(web, ORIGIN)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
        assert {"connect-protocol-version", "connect-timeout-ms", "grpc-timeout", "x-grpc-web", "x-user-agent",
                "content-type"} <= allowed  # fmt: skip
        exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
        assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= exposed
        assert "POST" in answer.headers["access-control-allow-methods"]

    def test_a_preflight_from_another_origin_is_refused(self, web: httpx.Client) -> None:
        answer = self._preflight(web, "https://evil.example")
        assert answer.status_code == 403
        assert "access-control-allow-origin" not in answer.headers

    def test_a_call_from_an_allowed_origin_may_read_the_answer(self, web: httpx.Client) -> None:
        answer = web.post(f"{SERVICE_PATH}/GetStatus", json={}, headers={"origin": ORIGIN})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "grpc-status" in answer.headers["access-control-expose-headers"].lower()

    def test_a_call_from_another_origin_gets_no_cors_headers(self, web: httpx.Client) -> None:
        answer = web.post(f"{SERVICE_PATH}/GetStatus", json={}, headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers


# --- the web pages ------------------------------------------------------------------------------------------


class TestStaticFiles:
    @pytest.mark.parametrize(
        ("path", "kind", "cache"),
        [
            ("/", "text/html", "no-cache"),
            ("/regels", "text/html", "no-cache"),
            ("/static/app.js", "javascript", "max-age=3600"),
            ("/static/style.css", "text/css", "max-age=3600"),
            ("/static/img/logo.svg", "image/svg+xml", "max-age=3600"),
        ],
    )
    def test_served_with_type_and_cache_control(self, web: httpx.Client, path: str, kind: str, cache: str) -> None:
        answer = web.get(path)
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]
        assert cache in answer.headers["cache-control"]

    def test_the_pages_are_the_folders_files(self, web: httpx.Client, web_folder: Path) -> None:
        assert web.get("/").text == (web_folder / "index.html").read_text(encoding="utf-8")
        assert web.get("/regels").text == (web_folder / "regels.html").read_text(encoding="utf-8")

    @pytest.mark.parametrize(
        "path",
        [
            "/static/../../secret.txt",
            "/static/%2e%2e/%2e%2e/secret.txt",
            "/static/..%2f..%2fsecret.txt",
            "/static/out/secret.txt",
            "/static/",
            "/index.html",
            "/secret.txt",
            "/nothing",
            "/static/missing.js",
        ],
    )
    def test_nothing_else_is_served(self, ports: Ports, path: str) -> None:
        """Raw paths (http.client does not normalise `..`): traversal, a link out, and unknown paths are 404."""
        connection = http.client.HTTPConnection("127.0.0.1", ports.http_port, timeout=30)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        assert answer.status == 404, (path, body)
        assert b"health data" not in body


# --- TLS ----------------------------------------------------------------------------------------------------


def _client_context(pki: dict[str, Pem], client: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"].certificate)
    if client is not None:
        context.load_cert_chain(pki[client].certificate, pki[client].private_key)
    return context


class TestTls:
    def test_the_http_port_speaks_tls(self, pki: dict[str, Pem], web_folder: Path) -> None:
        tls = Tls.from_files(pki["server"].certificate, pki["server"].private_key, None)
        with both_ports(web_folder, tls=tls) as opened:
            url = f"https://127.0.0.1:{opened.http_port}{SERVICE_PATH}/GetStatus"
            with httpx.Client(verify=_client_context(pki, None), timeout=30) as client:
                assert client.post(url, json={}).status_code == 200
            with pytest.raises(httpx.HTTPError), httpx.Client(timeout=30) as plain:
                plain.post(url.replace("https", "http"), json={})

    def test_mutual_tls_admits_only_the_cas_clients(self, pki: dict[str, Pem], web_folder: Path) -> None:
        tls = Tls.from_files(pki["server"].certificate, pki["server"].private_key, pki["ca"].certificate)
        with both_ports(web_folder, tls=tls) as opened:
            url = f"https://127.0.0.1:{opened.http_port}{SERVICE_PATH}/GetStatus"
            with httpx.Client(verify=_client_context(pki, "client"), timeout=30) as client:
                assert client.post(url, json={}).status_code == 200
            for stranger in (None, "stranger"):
                with pytest.raises(httpx.HTTPError), httpx.Client(verify=_client_context(pki, stranger)) as client:
                    client.post(url, json={})


# --- parity: the same answers on both ports -----------------------------------------------------------------


def _good_cases(rule_set: RuleSet) -> list[tuple[str, pb.EvaluateRequest]]:
    chosen = [s for s in load_scenarios(SCENARIOS / "examples.yaml")][:4]
    cases = [(f"{s.id}-nl", request(rule_set, s.facts, reference_date=s.reference_date)) for s in chosen]
    for language in ("nl", "en"):
        for view in (pb.DECISION_VIEW_BASIC, pb.DECISION_VIEW_FULL, pb.DECISION_VIEW_CODES):
            req = request(rule_set, CHEAP_FACTS, language=language)
            req.view = view
            cases.append((f"cheap-{language}-{pb.DecisionView.Name(view)}", req))
    return cases


def _bad_cases(rule_set: RuleSet) -> list[tuple[str, pb.EvaluateRequest]]:
    many = pb.EvaluateRequest(facts={f"fact_{i}": pb.FactValue(boolean=True) for i in range(Limits().max_facts + 1)})
    bad_date = request(rule_set, CHEAP_FACTS)
    bad_date.reference_date.CopyFrom(date_pb2.Date(year=2026, month=2, day=30))
    old = request(rule_set, CHEAP_FACTS, reference_date=dt.date(2001, 1, 1))
    unknown_version = request(rule_set, CHEAP_FACTS)
    unknown_version.rule_set_version = "9.9.9"
    return [
        ("unknown-fact", pb.EvaluateRequest(facts={"hours_per_weak": pb.FactValue(number=3)})),
        ("misspelt-symbol", pb.EvaluateRequest(facts={"relation_to_beneficiary": pb.FactValue(symbol="neighbor")})),
        ("bad-language", request(rule_set, CHEAP_FACTS, language="de")),
        ("too-many-facts", many),
        ("bad-date", bad_date),
        ("no-release-in-force", old),
        ("unknown-version", unknown_version),
    ]


def _comparable(answer: Any) -> Any:
    """An answer as both ports must give it: a decision without its id (every call makes a new one)."""
    return _without_id(answer.decision) if isinstance(answer, pb.EvaluateResponse) else answer


def _over_grpc(stub: pb_grpc.RolwijzerServiceStub, req: Any, method: str = "Evaluate") -> tuple[str, Any]:
    try:
        return "answer", _comparable(getattr(stub, method)(req, timeout=30))
    except grpc.RpcError as err:
        status = rpc_status.from_call(cast(grpc.Call, err))
        assert status is not None
        return "error", (grpc.StatusCode(cast(grpc.Call, err).code()).name, status.message, list(status.details))


def _over_connect(web: httpx.Client, req: Any, method: str = "Evaluate") -> tuple[str, Any]:
    answer = _post(web, method, req)
    if answer.status_code == 200:
        return "answer", _comparable(json_format.Parse(answer.text, getattr(pb, f"{method}Response")()))
    error = answer.json()
    details = [
        any_pb2.Any(type_url=f"type.googleapis.com/{d['type']}", value=base64.b64decode(d["value"] + "=="))
        for d in error.get("details", [])
    ]
    return "error", (error["code"].upper().replace("CANCELED", "CANCELLED"), error["message"], details)


def test_parity_of_grpc_and_connect_json(
    web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub, rule_set: RuleSet
) -> None:
    """Identical decisions (but for their ids) and identical refusals: code, message and details."""
    kinds = set()
    for name, req in _good_cases(rule_set) + _bad_cases(rule_set):
        via_grpc, via_connect = _over_grpc(grpc_stub, req), _over_connect(web, req)
        assert via_connect == via_grpc, name
        kinds.add((name.split("-")[0], via_grpc[0]))
    assert ("unknown", "error") in kinds and ("cheap", "answer") in kinds


def _violated_fields(details: list[any_pb2.Any]) -> list[str]:
    bad = error_details_pb2.BadRequest()
    assert details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


def test_parity_of_compare_rule_sets(web: httpx.Client, grpc_stub: pb_grpc.RolwijzerServiceStub) -> None:
    """CompareRuleSets, which `rules diff` and the rulebook show, answers alike on both ports; an unknown release is
    INVALID_ARGUMENT naming the request's field, every bad field in one answer."""
    cases = [
        pb.CompareRuleSetsRequest(from_version="2.0.0", to_version="2.1.0"),
        pb.CompareRuleSetsRequest(from_version="1.0.0", to_version=CURRENT_RELEASE, language="en"),
        pb.CompareRuleSetsRequest(from_version="9.9.9", to_version="2.1.0"),
        pb.CompareRuleSetsRequest(from_version="2.0.0", to_version="", language="de"),
    ]
    outcomes = [_over_grpc(grpc_stub, req, "CompareRuleSets") for req in cases]
    assert [_over_connect(web, req, "CompareRuleSets") for req in cases] == outcomes
    kind, found = outcomes[0]
    assert kind == "answer" and (found.from_rule_set.version, found.to_rule_set.version) == ("2.0.0", "2.1.0")
    assert "AANSPR_INSTELLING_CENTRAAL" in [change.key for change in found.codes.changed]
    assert outcomes[1][0] == "answer"
    kind, (code, message, details) = outcomes[2]
    assert (kind, code) == ("error", "INVALID_ARGUMENT") and "9.9.9" in message
    assert _violated_fields(details) == ["from_version"]
    kind, (code, _, details) = outcomes[3]
    assert (kind, code) == ("error", "INVALID_ARGUMENT")
    assert _violated_fields(details) == ["language", "to_version"]


# --- the command ----------------------------------------------------------------------------------------------


class _Command:
    """`rolwijzer-server` in a subprocess on free loopback ports; its first line is the start (or the error)."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", ROLWIJZER_METRICS_ADDRESS="0")
        self.process = subprocess.Popen(
            [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0", *args],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def started(self) -> dict[str, Any]:
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                pytest.fail(f"the server exited with {self.process.wait(10)}")
            event = json.loads(line)
            if event["event"] == "server_started":
                return cast(dict[str, Any], event)
        pytest.fail("no server_started within 60 s")


class TestCommand:
    def test_serves_both_ports_and_drains_on_sigterm(self, rule_set: RuleSet) -> None:
        command = _Command()
        try:
            started = command.started()
            assert started["http_address"] == "127.0.0.1:0" and started["http_port"] > 0
            base = f"http://127.0.0.1:{started['http_port']}"
            with httpx.Client(base_url=base, timeout=30) as client:
                answer = _post(client, "Evaluate", request(rule_set, CHEAP_FACTS))
                assert answer.status_code == 200
            with grpc.insecure_channel(f"127.0.0.1:{started['port']}") as channel:
                pb_grpc.RolwijzerServiceStub(channel).GetStatus(pb.GetStatusRequest(), timeout=30)
        finally:
            assert stop_process(cast(subprocess.Popen[bytes], command.process), signal.SIGTERM) == 0

    def test_http_address_0_turns_the_http_port_off(self) -> None:
        command = _Command("--http-address", "0")
        try:
            started = command.started()
            assert started["http_port"] is None and started["http_address"] is None
        finally:
            assert stop_process(cast(subprocess.Popen[bytes], command.process), signal.SIGTERM) == 0

    def test_plaintext_http_on_a_network_address_is_refused(self) -> None:
        done = subprocess.run(
            [str(BIN / "rolwijzer-server"), "--address", "127.0.0.1:0", "--http-address", "0.0.0.0:0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert "refusing plaintext on --http-address 0.0.0.0:0" in done.stderr


# --- drain ----------------------------------------------------------------------------------------------------


def test_stopping_lets_a_call_in_flight_finish_and_refuses_new_ones() -> None:
    """HttpServer.stop(grace), as the SIGTERM drain calls it: the call in flight gets its answer; then the port is
    closed."""
    entered = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        time.sleep(1.0)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"done"]

    server, port = create_http_server("127.0.0.1:0", slow)
    server.start()
    answers: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=30)))
    caller.start()
    assert entered.wait(10)
    started = time.monotonic()
    server.stop(5)
    caller.join(10)
    assert [a.text for a in answers] == ["done"]
    assert time.monotonic() - started < 5
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_workers_share_one_http_port_and_both_answer(rule_set: RuleSet, tmp_path: Path) -> None:
    """--workers 2 with the HTTP port at :0: the supervisor picks one port, both workers listen on it
    (SO_REUSEPORT) and calls over fresh connections reach both."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        grpc_port = probe.getsockname()[1]
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [str(BIN / "rolwijzer-server"), "--address", f"127.0.0.1:{grpc_port}", "--workers", "2"],
            stderr=log_file,
            env=dict(os.environ, PYTHONUNBUFFERED="1", ROLWIJZER_METRICS_ADDRESS="0"),
        )
    try:

        def events(name: str) -> list[dict[str, Any]]:
            lines = (json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{"))
            return [line for line in lines if line.get("event") == name]

        deadline = time.monotonic() + 60
        while len(events("server_started")) < 2:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        (http_port,) = {line["http_port"] for line in events("server_started")}
        for _ in range(30):  # a connection of its own each time: SO_REUSEPORT spreads connections
            with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as client:
                assert _post(client, "Evaluate", request(rule_set, CHEAP_FACTS)).status_code == 200
        # The workers write `info` lines every 50 ms (rolwijzer.logs): wait for the last ones.
        deadline = time.monotonic() + 10
        while {line.get("worker") for line in events("decision_made")} != {1, 2} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {line.get("worker") for line in events("decision_made")} == {1, 2}
    finally:
        assert stop_process(process) == 0
