"""The decision log's faster encodings give the very bytes of their definitions, so existing logs keep verifying:
`seal` (one encoding of the record) against the canonical JSON of the record encoded twice, and the facts' bytes
made from the request's map (`canonical_request_facts`) against `canonical_facts(facts_json(...))`, and
`facts_hmac` from a copied keyed state against HMAC-SHA256 keyed afresh."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rolwijzer.api.convert import canonical_request_facts, decision_record, facts_json
from rolwijzer.audit_file import FactsDigest, canonical, canonical_facts, own_hash, parse_line, seal
from rolwijzer.audit_keys import AuditKey
from rolwijzer.v1 import rolwijzer_pb2 as pb
from support import examples

SAME = settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys around the two chain fields in sorted order, the chain fields themselves, and any text at all.
NEAR = ["", "a", "case_reference", "p", "prev", "prev_sha256", "prev_sha256x", "prev_sha255", "q", "s", "sha", "sha256"]
KEYS = st.one_of(st.sampled_from(NEAR), st.text(max_size=12))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
VALUES = st.recursive(
    st.one_of(SCALARS, st.just("sha256-to-come")),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
HASHES = st.one_of(st.just("0" * 64), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), st.text())


def _seal_by_definition(record: Mapping[str, Any], prev: str) -> tuple[bytes, str]:
    """`seal` as it was first written: the chained record's canonical JSON, hashed, then encoded again with it."""
    chained = dict(record, prev_sha256=prev)
    digest = hashlib.sha256(json_bytes(chained)).hexdigest()
    return json_bytes(dict(chained, sha256=digest)) + b"\n", digest


def json_bytes(value: object) -> bytes:
    """The canonical JSON as first defined: json.dumps with its options, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@SAME
@given(record=st.dictionaries(KEYS, VALUES, max_size=10), prev=HASHES)
def test_seal_gives_the_bytes_of_its_definition(record: dict[str, Any], prev: str) -> None:
    """Byte-identical lines and hashes, whatever the keys (the chain fields' own names too) and values."""
    line, digest = seal(record, prev)
    assert (line, digest) == _seal_by_definition(record, prev)
    assert canonical(record) == json_bytes(record)


@SAME
@given(record=st.dictionaries(st.text(max_size=12).filter(lambda k: k != "sha256"), VALUES, max_size=10))
def test_a_sealed_line_carries_its_own_hash(record: dict[str, Any]) -> None:
    """What the log writes is what verify and the torn-tail repair accept as a whole record."""
    line, digest = seal(record, "0" * 64)
    parsed = parse_line(line)
    assert parsed is not None and parsed["sha256"] == digest
    if not _has_nan(record):  # NaN != NaN: a parsed NaN never equals the record's, but the hash is over the text
        assert own_hash(parsed) == digest


def _has_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


def test_a_decision_record_seals_as_before() -> None:
    """A record as the servicer makes it, chained to a real head."""
    record = {
        "decision_id": "d-1",
        "time": "2026-12-02T03:46:44.123456+00:00",
        "case_reference": "zaak ë 7",
        "rule_set": {"id": "wmo", "version": "2026.1", "sha256": "a" * 64},
        "reference_date": "2026-01-01",
        "facts_hmac": "b" * 64,
        "facts_key_id": "k1",
        "role": "MANTELZORGER",
        "volunteer_deployer": False,
        "role_candidates": ["MANTELZORGER"],
        "liabilities": ["L1"],
        "obligations": [],
        "flags": ["F\u2028"],
        "missing_facts": [],
        "fired_rules": ["R1", "R2"],
    }
    assert seal(record, "c" * 64) == _seal_by_definition(record, "c" * 64)
    # A nested field that looks like the placeholder seal uses for the hash while it encodes.
    for placeholder in ("sha256-to-come", "x"):
        nested = dict(record, rule_set={"id": "wmo", "sha256": placeholder}, z={"a": 1, "sha256": placeholder})
        assert seal(nested, "c" * 64) == _seal_by_definition(nested, "c" * 64)


SYMBOLS = st.one_of(
    st.sampled_from(["partner", "child", "4", "4.0", "4e0", " 4 ", "-0", "0.0", ".5", "1e999", "nan", "x"]),
    st.text(max_size=10),
)


@st.composite
def fact_values(draw: st.DrawFn) -> pb.FactValue:
    """A FactValue of any kind, or of none."""
    kind = draw(st.sampled_from(["symbol", "boolean", "number", "symbols", "one_of", "unknown", None]))
    value = pb.FactValue()
    if kind == "symbol":
        value.symbol = draw(SYMBOLS)
    elif kind == "boolean":
        value.boolean = draw(st.booleans())
    elif kind == "number":
        value.number = draw(st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 4.0, 1e300, -1.5])))
    elif kind in ("symbols", "one_of"):
        getattr(value, kind).values.extend(draw(st.lists(SYMBOLS, max_size=5)))
        if not draw(st.booleans()):
            getattr(value, kind).SetInParent()  # set, even when empty
    elif kind == "unknown":
        value.unknown.SetInParent()
    return value


@SAME
@given(facts=st.dictionaries(st.text(max_size=10), fact_values(), max_size=6))
# Found by CI: a number with a trailing "\x1f", which str.strip removes and float() does not accept.
@example(facts={"": pb.FactValue(one_of=pb.SymbolList(values=["0\x1f"]))})
def test_request_facts_give_the_bytes_of_proto_json(facts: dict[str, pb.FactValue]) -> None:
    """canonical_request_facts is canonical_facts(facts_json(...)) for every kind, and so are stored facts."""
    request = pb.EvaluateRequest(facts=facts)
    stored = facts_json(request.facts)
    assert canonical_request_facts(request.facts) == canonical_facts(stored)
    record = decision_record(pb.Decision(), request.facts, include_facts=True)
    assert record["facts"] == stored  # what --audit-include-facts stores, and verify hashes again
    digest = record["facts_hmac"]
    assert isinstance(digest, FactsDigest) and digest.data == canonical_facts(stored)
    assert "facts" not in decision_record(pb.Decision(), request.facts, include_facts=False)


@SAME
@given(secret=st.binary(min_size=32, max_size=64), data=st.binary(max_size=300))
def test_facts_hmac_is_hmac_sha256_with_the_derived_facts_key(secret: bytes, data: bytes) -> None:
    """The keyed state copied per record gives the HMAC keyed afresh, as logs written before were hashed."""
    key = AuditKey(secret, anchored=True)
    facts_key = hmac.new(secret, b"rolwijzer audit facts v1", hashlib.sha256).digest()
    assert key.facts_hmac(data) == hmac.new(facts_key, data, hashlib.sha256).hexdigest()
    assert key.facts_hmac(data) == key.facts_hmac(data)  # the shared state is left as it was
