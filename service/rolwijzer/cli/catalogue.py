"""What a release holds, for readers: which release is shown, the facts catalogue, and what differs between two.

`rolwijzer rules`, `explain` and `facts` say first which release they describe (a rule text means nothing without
it); `rolwijzer rules diff A B` prints, for legal review, every rule, parameter, code and text that differs between
two releases, as the server's CompareRuleSets finds them (the CLI only words its values). Plain lines when the
output is not a terminal, as everywhere in the CLI.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rolwijzer.cli.render import print_line, stage_name
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


def _value(field: str, value: str, language: str) -> str:
    """A compared field's value as a reader says it: the server sends stage tags and yes/no as "true"."""
    if field == "stage":
        return stage_name(value, language)
    if value == "true" and field in ("safety", "decides_role"):
        return "ja" if language == "nl" else "yes"
    return value


def print_diff(console: Console, found: pb.CompareRuleSetsResponse, language: str) -> None:
    """The differences as plain lines, one change per line, on a terminal too: a reviewer reads them in order."""
    w = _w(language)
    print_release(console, found.from_rule_set, language)
    print_release(console, found.to_rule_set, language)
    print_line(console, w["diff_title"].format(a=found.from_rule_set.version, b=found.to_rule_set.version) + ":")
    titles = {"rules": w["rules"], "parameters": w["parameters"], "codes": w["codes"], "facts": w["facts"]}
    titles["sources"] = "Bronnen" if language != "en" else "Sources"
    empty = True
    for section, title in titles.items():
        part: pb.SectionChanges = getattr(found, section)
        if not (part.added or part.removed or part.changed):
            continue
        empty = False
        print_line(console, f"{title}:")
        for sign, kind, items in (("+", "added", part.added), ("-", "removed", part.removed)):
            for item in items:
                print_line(console, f"  {sign} {item.key} ({w[kind]}){f' — {item.summary}' if item.summary else ''}")
        for change in part.changed:
            print_line(console, f"  ~ {change.key} ({w['changed']}):")
            for field in change.fields:
                name = w["fields"].get(field.name, field.name.replace("_", " "))
                was, now = (_value(field.name, v, language) for v in (field.before, field.after))
                print_line(console, f"      {name}: {w['was']}: {was or w['none']}")
                print_line(console, f"      {' ' * len(name)}  {w['now']}: {now or w['none']}")
    if empty:
        print_line(console, w["no_differences"])
