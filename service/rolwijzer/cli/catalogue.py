"""What a release holds, for readers: which release is shown, the facts catalogue, and what differs between two.

`rolwijzer rules`, `explain` and `facts` say first which release they describe (a rule text means nothing without
it); `rolwijzer rules diff A B` lists, for legal review, every rule, parameter, code and text that differs between
two releases. Plain lines when the output is not a terminal, as everywhere in the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rolwijzer.cli.render import print_line, source_title, stage_name
from rolwijzer.v1 import rolwijzer_pb2 as pb

WORDS = {
    "nl": {
        "release": "Regelset",
        "from": "geldig vanaf",
        "until": "tot en met",
        "open": "zonder einddatum",
        "superseded_by": "vervangen door",
        "in_force": "nu van kracht",
        "not_in_force": "nu niet van kracht",
        "kinds": {
            pb.FACT_KIND_SYMBOL: "keuze",
            pb.FACT_KIND_BOOLEAN: "ja/nee",
            pb.FACT_KIND_NUMBER: "getal",
            pb.FACT_KIND_SET: "verzameling (alles wat van toepassing is)",
        },
        "kind": "soort",
        "answers": "antwoorden",
        "default": "standaard",
        "unit": "eenheid",
        "decides_role": "★ bepaalt de rol",
        "follow_up": "kan een vervolgvraag zijn",
        "help": "toelichting",
        "legend": "★ = bepaalt de rol (wordt doorgerekend als het onbekend is)",
        "unknown_allowed": "'weet niet' mag",
        "diff_title": "Verschillen van {a} naar {b}",
        "no_differences": "geen verschillen",
        "rules": "Regels",
        "parameters": "Parameters",
        "codes": "Codes",
        "facts": "Feiten en vragen",
        "added": "toegevoegd",
        "removed": "vervallen",
        "changed": "gewijzigd",
        "was": "was",
        "now": "nu",
        "none": "(geen)",
        "safety": "veiligheid",
        "fields": {
            "stage": "fase",
            "condition": "voorwaarde",
            "conclusion": "conclusie",
            "explanation": "uitleg",
            "citations": "bronnen",
            "note": "noot",
            "valid_from": "geldt vanaf",
            "valid_until": "geldt tot en met",
            "values": "waarden (vanaf datum: waarde)",
            "kind": "soort",
            "text": "tekst",
            "party": "wie",
            "safety": "veiligheid",
            "question": "vraag",
            "help": "toelichting",
            "answers": "antwoorden",
            "default": "standaard",
            "unit": "eenheid",
            "decides_role": "bepaalt de rol",
            "title": "titel",
        },
    },
    "en": {
        "release": "Rule set",
        "from": "valid from",
        "until": "until",
        "open": "no end date",
        "superseded_by": "superseded by",
        "in_force": "in force today",
        "not_in_force": "not in force today",
        "kinds": {
            pb.FACT_KIND_SYMBOL: "choice",
            pb.FACT_KIND_BOOLEAN: "yes/no",
            pb.FACT_KIND_NUMBER: "number",
            pb.FACT_KIND_SET: "set (all that apply)",
        },
        "kind": "kind",
        "answers": "answers",
        "default": "default",
        "unit": "unit",
        "decides_role": "★ decides the role",
        "follow_up": "can be a follow-up question",
        "help": "help",
        "legend": "★ = decides the role (worked through when unknown)",
        "unknown_allowed": "'don't know' allowed",
        "diff_title": "Differences from {a} to {b}",
        "no_differences": "no differences",
        "rules": "Rules",
        "parameters": "Parameters",
        "codes": "Codes",
        "facts": "Facts and questions",
        "added": "added",
        "removed": "removed",
        "changed": "changed",
        "was": "was",
        "now": "now",
        "none": "(none)",
        "safety": "safety",
        "fields": {"values": "values (from date: value)", "valid_until": "valid until", "valid_from": "valid from"},
    },
}


def _w(language: str) -> dict[str, Any]:
    return WORDS.get(language, WORDS["nl"])


def _date(value: object) -> str:
    year, month, day = (getattr(value, "year", 0), getattr(value, "month", 0), getattr(value, "day", 0))
    return f"{year:04d}-{month:02d}-{day:02d}"


def release_line(info: pb.RuleSetInfo, language: str) -> str:
    """One line naming the release: id, version, the dates it covers, whether it is superseded, its title."""
    w = _w(language)
    until = f"{w['until']} {_date(info.valid_until)}" if info.HasField("valid_until") else w["open"]
    state = f"{w['superseded_by']} {info.superseded_by}" if info.superseded_by else None
    if state is None:
        state = w["in_force"] if info.in_force_today else w["not_in_force"]
    title = f" — {' '.join(info.title.split())}" if info.title else ""
    return f"{w['release']}: {info.id} {info.version} ({w['from']} {_date(info.valid_from)}, {until}; {state}){title}"


def print_release(console: Console, info: pb.RuleSetInfo, language: str) -> None:
    """The release a listing describes, as its first line (bold on a terminal)."""
    line = release_line(info, language)
    if console.is_terminal:
        console.print(Text(line, style="bold"))
    else:
        print_line(console, line)


def answer_texts(fact: pb.FactDescription) -> list[str]:
    """The answers a fact takes, as `value (label)`, as `--fact` and `ask` accept them."""
    return [f"{s.value} ({s.label})" if s.label and s.label != s.value else s.value for s in fact.symbols]


def fact_lines(fact: pb.FactDescription, language: str) -> list[str]:
    """One fact of the catalogue as plain lines: name and question, then one detail per line, indented."""
    w = _w(language)
    star = "★ " if fact.decides_role else ""
    lines = [f"{star}{fact.name} — {' '.join(fact.question.split())}"]
    if fact.help:
        lines.append(f"  {w['help']}: {' '.join(fact.help.split())}")
    details = [f"{w['kind']}: {w['kinds'].get(fact.kind, '?')}"]
    if fact.unit:
        details.append(f"{w['unit']}: {fact.unit}")
    if fact.default_value:
        details.append(f"{w['default']}: {fact.default_value}")
    if fact.unknown_allowed:
        details.append(w["unknown_allowed"])
    if fact.decides_role:
        details.append(w["decides_role"])
    if fact.can_follow_up:
        details.append(w["follow_up"])
    lines.append(f"  {'; '.join(details)}")
    if fact.symbols:
        lines.append(f"  {w['answers']}: {', '.join(answer_texts(fact))}")
    return lines


def print_facts(console: Console, described: pb.DescribeRuleSetResponse, language: str) -> None:
    """The facts catalogue in the order an intake asks: question, help, kind, answers, default, unit, ★, follow-up."""
    w = _w(language)
    print_release(console, described.rule_set, language)
    if not console.is_terminal:
        print_line(console, w["legend"])
        for fact in described.facts:
            for line in fact_lines(fact, language):
                print_line(console, line)
        return
    table = Table(expand=True, caption=w["legend"], caption_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column(w["facts"], ratio=2)
    table.add_column(w["answers"], ratio=2)
    for fact in described.facts:
        left = Text(fact.name, style="bold")
        right = Text(" ".join(fact.question.split()))
        if fact.help:
            right.append(f"\n{' '.join(fact.help.split())}", style="dim")
        right.append("\n" + fact_lines(fact, language)[-2 if fact.symbols else -1].strip(), style="italic")
        table.add_row(
            Text("★" if fact.decides_role else ""), left + Text("\n") + right, Text("\n".join(answer_texts(fact)))
        )
    console.print(table)


def facts_json(described: pb.DescribeRuleSetResponse) -> str:
    """The catalogue as JSON for scripts: the release, then every fact with its fields (proto JSON names)."""
    kinds = {v: k.removeprefix("FACT_KIND_").lower() for k, v in pb.FactKind.items()}
    facts = [
        {
            "name": f.name,
            "question": f.question,
            "help": f.help,
            "kind": kinds.get(f.kind, "unspecified"),
            "answers": [{"value": s.value, "label": s.label} for s in f.symbols],
            "unknownAllowed": f.unknown_allowed,
            "default": f.default_value,
            "unit": f.unit,
            "decidesRole": f.decides_role,
            "canFollowUp": f.can_follow_up,
        }
        for f in described.facts
    ]
    info = described.rule_set
    release = {
        "id": info.id,
        "version": info.version,
        "validFrom": _date(info.valid_from),
        "validUntil": _date(info.valid_until) if info.HasField("valid_until") else None,
        "supersededBy": info.superseded_by or None,
        "title": info.title,
    }
    return json.dumps({"ruleSet": release, "facts": facts}, ensure_ascii=False, indent=2)


# ---- rules diff ----------------------------------------------------------------------------------------------------


def _citations(citations: Iterable[pb.Citation]) -> str:
    return "; ".join(c.reference for c in citations)


def _rule_fields(rule: pb.RuleDescription, language: str) -> dict[str, str]:
    return {
        "stage": stage_name(rule.stage, language),
        "condition": rule.condition,
        "expression": rule.expression,
        "conclusion": rule.conclusion,
        "explanation": " ".join(rule.explanation.split()),
        "citations": _citations(rule.citations),
        "note": " ".join(rule.note.split()),
        "valid_from": _date(rule.valid_from) if rule.HasField("valid_from") else "",
        "valid_until": _date(rule.valid_until) if rule.HasField("valid_until") else "",
    }


def _parameter_fields(parameter: pb.ParameterDescription) -> dict[str, str]:
    return {
        "explanation": " ".join(parameter.explanation.split()),
        "values": "; ".join(f"{_date(v.valid_from)}: {v.value}" for v in parameter.values) or parameter.value,
    }


def _code_fields(code: pb.CodeDescription, language: str) -> dict[str, str]:
    return {
        "kind": code.kind,
        "text": " ".join(code.text.split()),
        "party": code.party,
        "citations": _citations(code.citations),
        "safety": ("ja" if language == "nl" else "yes") if code.safety_related else "",
    }


def _fact_fields(fact: pb.FactDescription) -> dict[str, str]:
    return {
        "question": " ".join(fact.question.split()),
        "help": " ".join(fact.help.split()),
        "answers": ", ".join(answer_texts(fact)),
        "default": fact.default_value,
        "unit": fact.unit,
        "decides_role": str(fact.decides_role),
    }


def _source_titles(described: pb.DescribeRuleSetResponse) -> dict[str, str]:
    found: dict[str, str] = {}
    for citations in [*(r.citations for r in described.rules), *(c.citations for c in described.codes)]:
        for citation in citations:
            found[citation.reference] = source_title(citation.title)
    return found


Section = dict[str, Any]


def _compare(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], order: Sequence[str]) -> Section:
    # Added and removed items carry their fields: a reviewer reads what a new rule says, not only its id.
    added = {k: after[k] for k in order if k in after and k not in before}
    removed = {k: v for k, v in before.items() if k not in after}
    changed: dict[str, dict[str, list[str]]] = {}
    for key in order:
        if key in before and key in after:
            fields = {
                name: [before[key].get(name, ""), value]
                for name, value in after[key].items()
                if before[key].get(name, "") != value
            }
            if fields:
                changed[key] = fields
    return {"added": added, "removed": removed, "changed": changed}


def diff(a: pb.DescribeRuleSetResponse, b: pb.DescribeRuleSetResponse, language: str) -> dict[str, Any]:
    """What differs from release `a` to release `b`: rules, parameters, codes, facts (questions, answers) and the
    titles of the sources, each as added, removed and changed (field: [was, now])."""

    result: dict[str, Any] = {"from": a.rule_set.version, "to": b.rule_set.version}
    rules_a = {r.rule_id: _rule_fields(r, language) for r in a.rules}
    rules_b = {r.rule_id: _rule_fields(r, language) for r in b.rules}
    result["rules"] = _compare(rules_a, rules_b, list(rules_b))
    parameters_b = {p.name: _parameter_fields(p) for p in b.parameters}
    result["parameters"] = _compare(
        {p.name: _parameter_fields(p) for p in a.parameters}, parameters_b, list(parameters_b)
    )
    codes_b = {c.code: _code_fields(c, language) for c in b.codes}
    result["codes"] = _compare({c.code: _code_fields(c, language) for c in a.codes}, codes_b, list(codes_b))
    facts_b = {f.name: _fact_fields(f) for f in b.facts}
    result["facts"] = _compare({f.name: _fact_fields(f) for f in a.facts}, facts_b, list(facts_b))
    titles_a, titles_b = _source_titles(a), _source_titles(b)
    result["sources"] = _compare(
        {k: {"title": v} for k, v in titles_a.items()}, {k: {"title": v} for k, v in titles_b.items()}, list(titles_b)
    )
    return result


def _summary(fields: dict[str, str]) -> str:
    """What an added or removed item says, in one phrase: a rule's explanation, a code's text, a fact's question."""
    for name in ("explanation", "text", "question", "title", "values"):
        if fields.get(name):
            return f" — {fields[name]}"
    return ""


def print_diff(
    console: Console, a: pb.DescribeRuleSetResponse, b: pb.DescribeRuleSetResponse, found: dict[str, Any], language: str
) -> None:
    """The differences as plain lines, one change per line, on a terminal too: a reviewer reads them in order."""
    w = _w(language)
    print_release(console, a.rule_set, language)
    print_release(console, b.rule_set, language)
    print_line(console, w["diff_title"].format(a=found["from"], b=found["to"]) + ":")
    titles = {"rules": w["rules"], "parameters": w["parameters"], "codes": w["codes"], "facts": w["facts"]}
    titles["sources"] = "Bronnen" if language != "en" else "Sources"
    empty = True
    for section, title in titles.items():
        part = found[section]
        if not (part["added"] or part["removed"] or part["changed"]):
            continue
        empty = False
        print_line(console, f"{title}:")
        for sign, kind in (("+", "added"), ("-", "removed")):
            for key, fields in part[kind].items():
                print_line(console, f"  {sign} {key} ({w[kind]}){_summary(fields)}")
        for key, fields in part["changed"].items():
            print_line(console, f"  ~ {key} ({w['changed']}):")
            for field, (was, now) in fields.items():
                name = w["fields"].get(field, field.replace("_", " "))
                print_line(console, f"      {name}: {w['was']}: {was or w['none']}")
                print_line(console, f"      {' ' * len(name)}  {w['now']}: {now or w['none']}")
    if empty:
        print_line(console, w["no_differences"])
