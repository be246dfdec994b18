"""What differs from one release to another: the one comparison behind CompareRuleSets, which the CLI's
`rolwijzer rules diff` and the rulebook page show.

Both releases are described as DescribeRuleSet describes them, then compared section by section (rules,
parameters, codes, facts, the titles of the sources they cite), field by field, as text with white space
normalised. Values are never worded for a reader (a stage is its tag, a yes/no is "true" or empty): each client
words them in its own language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from google.type import date_pb2

from rolwijzer.api.convert import date_from_proto, describe
from rolwijzer.engine import Selection
from rolwijzer.source_titles import source_title
from rolwijzer.v1 import rolwijzer_pb2 as pb

__all__ = ["compare"]

Fields = dict[str, str]

# An added or removed item is summed up by its first non-empty field of these: what a rule explains, what a code
# or a source says, what a fact asks, or a parameter's values.
_SUMMARY_FIELDS = ("explanation", "text", "question", "title", "values")


def compare(
    before: Selection, after: Selection, language: str, today: dt.date, superseded_by: Mapping[str, str]
) -> pb.CompareRuleSetsResponse:
    """Everything that differs from release `before` to release `after`, texts in `language`.

    `superseded_by` maps a superseded version to the one that corrects it, as the releases' RuleSetInfo says.
    """
    a, b = (describe(s, language, today, superseded_by.get(s.rule_set.version, "")) for s in (before, after))
    return pb.CompareRuleSetsResponse(
        from_rule_set=a.rule_set,
        to_rule_set=b.rule_set,
        rules=_section({r.rule_id: _rule(r) for r in a.rules}, {r.rule_id: _rule(r) for r in b.rules}),
        parameters=_section(
            {p.name: _parameter(p) for p in a.parameters}, {p.name: _parameter(p) for p in b.parameters}
        ),
        codes=_section({c.code: _code(c) for c in a.codes}, {c.code: _code(c) for c in b.codes}),
        facts=_section({f.name: _fact(f) for f in a.facts}, {f.name: _fact(f) for f in b.facts}),
        sources=_section(_sources(a), _sources(b)),
    )


def _section(before: Mapping[str, Fields], after: Mapping[str, Fields]) -> pb.SectionChanges:
    """Items only in `after`, only in `before`, and in both with differing fields (in `after`'s order)."""
    changed = []
    for key, fields in after.items():
        if key in before:
            old = before[key]
            differing = [
                pb.FieldChange(name=name, before=old.get(name, ""), after=value)
                for name, value in fields.items()
                if old.get(name, "") != value
            ]
            if differing:
                changed.append(pb.ItemChange(key=key, fields=differing))
    return pb.SectionChanges(
        added=[_summary(k, v) for k, v in after.items() if k not in before],
        removed=[_summary(k, v) for k, v in before.items() if k not in after],
        changed=changed,
    )


def _summary(key: str, fields: Fields) -> pb.ItemSummary:
    # A reviewer reads what a new or dropped item says, not only its key.
    return pb.ItemSummary(key=key, summary=next((fields[n] for n in _SUMMARY_FIELDS if fields.get(n)), ""))


def _one_line(text: str) -> str:
    """`text` with every run of white space one space: YAML folding and line breaks are no change in the law."""
    return " ".join(text.split())


def _day(value: date_pb2.Date) -> str:
    day = date_from_proto(value)
    return day.isoformat() if day else ""


def _flag(value: bool) -> str:
    return "true" if value else ""


def _citations(citations: Iterable[pb.Citation]) -> str:
    return "; ".join(c.reference for c in citations)


def _rule(rule: pb.RuleDescription) -> Fields:
    return {
        "stage": rule.stage,
        "condition": rule.condition,
        "expression": rule.expression,
        "conclusion": rule.conclusion,
        "explanation": _one_line(rule.explanation),
        "citations": _citations(rule.citations),
        "note": _one_line(rule.note),
        "valid_from": _day(rule.valid_from),
        "valid_until": _day(rule.valid_until),
    }


def _parameter(parameter: pb.ParameterDescription) -> Fields:
    entries = "; ".join(f"{_day(v.valid_from)}: {v.value}" for v in parameter.values)
    return {"explanation": _one_line(parameter.explanation), "values": entries or parameter.value}


def _code(code: pb.CodeDescription) -> Fields:
    return {
        "kind": code.kind,
        "text": _one_line(code.text),
        "party": code.party,
        "citations": _citations(code.citations),
        "safety": _flag(code.safety_related),
    }


def _fact(fact: pb.FactDescription) -> Fields:
    # An answer as `value (label)`, as the CLI's --fact and `ask` accept it; the value alone when it has no other label.
    answers = [f"{s.value} ({s.label})" if s.label and s.label != s.value else s.value for s in fact.symbols]
    return {
        "question": _one_line(fact.question),
        "help": _one_line(fact.help),
        "answers": ", ".join(answers),
        "default": fact.default_value,
        "unit": fact.unit,
        "decides_role": _flag(fact.decides_role),
    }


def _sources(described: pb.DescribeRuleSetResponse) -> dict[str, Fields]:
    """The title of every source the rules and codes cite, by the citation's reference.

    Without the seed file names the superseded releases put in their titles (they cannot be corrected): a file
    name is no change in the law, so 1.1.0 -> 2.0.0 lists only titles that say something else.
    """
    found: dict[str, Fields] = {}
    for citations in [*(r.citations for r in described.rules), *(c.citations for c in described.codes)]:
        for citation in citations:
            found[citation.reference] = {"title": source_title(citation.title)}
    return found
