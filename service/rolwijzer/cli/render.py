"""Print decisions and rules for legal staff with rich: the role large, then every finding with its sources."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rolwijzer.v1 import rolwijzer_pb2 as pb

WORDS = {
    "nl": {
        "role": "Rol",
        "deployer": "ingezet door",
        "candidates": "Mogelijke rollen",
        "liabilities": "Aansprakelijkheid",
        "obligations": "Verplichtingen en toezicht",
        "flags": "Signalen",
        "missing": "Nog te vragen (meest bepalend eerst)",
        "fired": "Toegepaste regels",
        "code": "Code",
        "meaning": "Betekenis",
        "sources": "Bronnen",
        "rules": "Regels",
        "party": "Wie",
        "question": "Vraag",
        "answers": "Mogelijke antwoorden",
        "stage": "Fase",
        "explanation": "Uitleg",
        "version": "Regelset",
        "none": "geen",
        "dont_know": "weet niet",
        "number_or": "een getal, of",
        "condition": "Voorwaarde",
        "conclusion": "Conclusie",
        "note": "Noot",
    },
    "en": {
        "role": "Role",
        "deployer": "deployed by",
        "candidates": "Possible roles",
        "liabilities": "Liability",
        "obligations": "Obligations and supervision",
        "flags": "Flags",
        "missing": "Still to ask (most decisive first)",
        "fired": "Rules applied",
        "code": "Code",
        "meaning": "Meaning",
        "sources": "Sources",
        "rules": "Rules",
        "party": "Who",
        "question": "Question",
        "answers": "Possible answers",
        "stage": "Stage",
        "explanation": "Explanation",
        "version": "Rule set",
        "none": "none",
        "dont_know": "don't know",
        "number_or": "a number, or",
        "condition": "Condition",
        "conclusion": "Conclusion",
        "note": "Note",
    },
}


def words(language: str) -> dict[str, str]:
    """The interface words in `language`."""
    return WORDS.get(language, WORDS["nl"])


def print_decision(console: Console, decision: pb.Decision, language: str) -> None:
    """The decision as a report: role, liabilities, obligations, flags, missing facts, rules applied."""
    w = words(language)
    title = " ".join(decision.role)
    heading = Text(title, style="bold magenta", justify="center")
    lines: list[Text | Table] = [heading, Text(decision.role_text, justify="center")]
    if decision.volunteer_deployer:
        lines.append(Text(f"{w['deployer']}: {decision.volunteer_deployer}", justify="center", style="bold"))
    if decision.role_candidates:
        lines.append(Text(f"{w['candidates']}: {', '.join(decision.role_candidates)}", justify="center"))
    ref = decision.rule_set
    subtitle = f"{w['version']} {ref.id} {ref.version}  ·  {_date(ref.reference_date)}  ·  {decision.decision_id}"
    console.print(Panel(Group(*lines), title=w["role"], subtitle=subtitle, padding=(1, 2)))
    _findings(console, w["liabilities"], decision.liabilities, w, with_party=True)
    _findings(console, w["obligations"], decision.obligations, w)
    _findings(console, w["flags"], decision.flags, w)
    if decision.missing_facts:
        table = Table(title=w["missing"], title_justify="left", expand=True)
        table.add_column(w["question"], ratio=3)
        table.add_column(w["answers"], ratio=2)
        for missing in decision.missing_facts:
            table.add_row(
                Text(f"{missing.question}\n", style="bold") + Text(missing.fact, style="dim"), ", ".join(missing.values)
            )
        console.print(table)
    table = Table(title=w["fired"], title_justify="left", expand=True, show_header=False)
    table.add_column("", no_wrap=True)
    table.add_column(w["explanation"], ratio=1)
    for rule in decision.fired_rules:
        right = Text(rule.explanation)
        right.append(f"\n{_sources(rule.citations)}", style="dim")
        table.add_row(Text(rule.rule_id, style="bold") + Text(f"\n{w['stage']} {rule.stage}", style="dim"), right)
    console.print(table)


def _findings(
    console: Console, title: str, findings: Iterable[pb.Finding], w: dict[str, str], with_party: bool = False
) -> None:
    rows = list(findings)
    if not rows:
        console.print(Text(f"{title}: {w['none']}", style="dim"))
        return
    table = Table(title=title, title_justify="left", expand=True, show_header=False)
    table.add_column(w["code"], no_wrap=True)
    table.add_column(w["meaning"], ratio=1)
    for finding in rows:
        left = Text(finding.code, style="bold")
        if with_party and finding.party:
            left.append(f"\n{finding.party}", style="italic")
        right = Text(finding.text)
        right.append(f"\n{_sources(finding.citations)}", style="dim")
        right.append(f"  [{w['rules']}: {', '.join(finding.rule_ids)}]", style="dim")
        table.add_row(left, right)
    console.print(table)


def _sources(citations: Iterable[pb.Citation]) -> str:
    return "; ".join(c.reference for c in citations)


def _date(value: object) -> str:
    year, month, day = (getattr(value, "year", 0), getattr(value, "month", 0), getattr(value, "day", 0))
    return f"{year:04d}-{month:02d}-{day:02d}"


def print_rule(console: Console, rule: pb.RuleDescription, language: str) -> None:
    """One rule: explanation, condition and conclusion in readable form, and sources."""
    w = words(language)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(w["stage"], rule.stage)
    table.add_row(w["explanation"], rule.explanation)
    table.add_row(w["condition"], rule.condition)
    table.add_row(w["conclusion"], rule.conclusion)
    table.add_row(w["sources"], "\n".join(f"{c.reference}  ({c.title})" for c in rule.citations))
    if rule.note:
        table.add_row(w["note"], rule.note)
    console.print(Panel(table, title=f"[bold]{rule.rule_id}[/bold]", title_align="left"))


def print_rules(console: Console, rules: Iterable[pb.RuleDescription], language: str) -> None:
    """Every rule by stage, with its explanation."""
    w = words(language)
    table = Table(expand=True)
    table.add_column(w["stage"], no_wrap=True)
    table.add_column("", no_wrap=True, style="bold")
    table.add_column(w["explanation"], ratio=1)
    for rule in rules:
        table.add_row(rule.stage, rule.rule_id, rule.explanation)
    console.print(table)
