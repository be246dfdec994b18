"""Print decisions and rules for legal staff with rich: the role large, then every finding with its sources.

On a terminal: a panel and tables. Anywhere else (a pipe, a file, a test): plain lines, one item per line, nothing
wrapped or truncated, no box drawing and no colour, so that paths, ids, roles and codes stay whole and greppable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rolwijzer.source_titles import source_title
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
        "fired_combinations": "Toegepaste regels (in {count} doorgerekende combinaties; niet noodzakelijk alle samen)",
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
        "a_number": "een getal",
        "considered": "doorgerekend",
        "follow_ups": "Nog te vragen voor het toezicht (veiligheid eerst)",
        "safety": "veiligheid",
        "open_on": "hangt nog af van",
        "defaulted": "Aangenomen (niet gegeven, standaardwaarde)",
        "all_that_apply": "alles wat van toepassing is",
        "stop": "klaar: stop met vragen",
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
        "fired_combinations": "Rules applied (in {count} combinations worked through; not necessarily all together)",
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
        "a_number": "a number",
        "considered": "worked through",
        "follow_ups": "Still to ask for the supervision (safety first)",
        "safety": "safety",
        "open_on": "still depends on",
        "defaulted": "Assumed (not given, default value)",
        "all_that_apply": "all that apply",
        "stop": "done: stop asking",
    },
}


# The stages as the rule files name them, as a reader of the report says them. The rule files use short English
# tags ("H-enumeration", "B-context"); only the letter is the stage's name in the documentation.
STAGES = {
    "nl": {"H-enumeration": "H (opsomming)", "B-context": "B (context)"},
    "en": {"H-enumeration": "H (enumeration)", "B-context": "B (context)"},
}


def stage_name(stage: str, language: str) -> str:
    """A stage tag of the rule files as a reader says it: `H-enumeration` is "H (opsomming)"."""
    return STAGES.get(language, STAGES["nl"]).get(stage, stage)


def fired_heading(decision: pb.Decision, w: dict[str, str]) -> str:
    """The heading of the rules applied; with unknowns each fired in some of the combinations worked through.

    The decision does not say which rules fired together (R6b, R6c and R6d exclude one another), nor whether the
    combinations agreed, so the heading says only that they need not have fired together.
    """
    count = decision.combinations_evaluated
    return w["fired_combinations"].format(count=count) if count > 1 else w["fired"]


def words(language: str) -> dict[str, str]:
    """The interface words in `language`."""
    return WORDS.get(language, WORDS["nl"])


def print_line(console: Console, text: str) -> None:
    """One line of data exactly as given: never wrapped, cropped, styled or read as markup."""
    console.print(text, soft_wrap=True, markup=False, highlight=False, emoji=False)


def _flat(text: str) -> str:
    """A text from the server on one line (its line breaks become spaces)."""
    return " ".join(text.splitlines())


def print_decision(
    console: Console,
    decision: pb.Decision,
    language: str,
    catalogue: Mapping[str, pb.FactDescription] | None = None,
) -> None:
    """The decision as a report: role, liabilities, obligations, flags, missing facts, rules applied.

    With the facts catalogue, the possible answers to each missing fact are the ones `--fact` and `ask` accept, with
    their labels.
    """
    w = words(language)
    facts = catalogue or {}
    if not console.is_terminal:
        _print_decision_plain(console, decision, w, facts, language)
        return
    heading = Text(decision.role, style="bold magenta", justify="center")
    lines: list[Text | Table] = [heading, Text(decision.role_text, justify="center")]
    if decision.volunteer_deployer:
        lines.append(Text(f"{w['deployer']}: {decision.volunteer_deployer}", justify="center", style="bold"))
    if decision.role_candidates:
        lines.append(Text(f"{w['candidates']}: {', '.join(decision.role_candidates)}", justify="center"))
    ref = decision.rule_set
    subtitle = Text(f"{w['version']} {ref.id} {ref.version}  ·  {_date(ref.reference_date)}  ·  {decision.decision_id}")
    console.print(Panel(Group(*lines), title=w["role"], subtitle=subtitle, padding=(1, 2)))
    depends = open_codes(decision)
    _findings(console, w["liabilities"], decision.liabilities, w, with_party=True)
    _findings(console, w["obligations"], decision.obligations, w, depends)
    _findings(console, w["flags"], decision.flags, w, depends)
    for title, questions in ((w["missing"], decision.missing_facts), (w["follow_ups"], decision.follow_up_facts)):
        if not questions:
            continue
        table = Table(title=title, title_justify="left", expand=True)
        table.add_column(w["question"], ratio=3)
        table.add_column(w["answers"], ratio=2)
        for question in questions:
            marker = f" ({w['safety']})" if getattr(question, "safety_related", False) else ""
            table.add_row(
                Text(f"{question.question}\n", style="bold") + Text(f"{question.fact}{marker}", style="dim"),
                Text(", ".join(answers(question.values, facts.get(question.fact), w))),
            )
        console.print(table)
    if decision.defaulted_facts:
        console.print(Text(f"{w['defaulted']}: {', '.join(decision.defaulted_facts)}", style="dim"))
    table = Table(title=fired_heading(decision, w), title_justify="left", expand=True, show_header=False)
    table.add_column("", no_wrap=True)
    table.add_column(w["explanation"], ratio=1)
    for rule in decision.fired_rules:
        right = Text(rule.explanation)
        right.append(f"\n{_sources(rule.citations)}", style="dim")
        table.add_row(
            Text(rule.rule_id, style="bold") + Text(f"\n{w['stage']} {stage_name(rule.stage, language)}", style="dim"),
            right,
        )
    console.print(table)


def open_codes(decision: pb.Decision) -> dict[str, list[str]]:
    """For each obligation or flag that an unanswered follow-up fact can still change: those facts."""
    found: dict[str, list[str]] = {}
    for follow_up in decision.follow_up_facts:
        for code in follow_up.codes:
            found.setdefault(code, []).append(follow_up.fact)
    return found


def answers(values: Sequence[str], fact: pb.FactDescription | None, w: dict[str, str]) -> list[str]:
    """The answers to a missing or follow-up fact that the CLI accepts, as `value (label)`.

    The server lists the values it worked through, which may be group names (`related`) or number ranges (`<= 8`):
    neither can be given as an answer. Symbols are shown from the catalogue: the ones worked through when they are
    all answers, else every answer but "unknown"; a number fact says it takes a number, with the ranges worked
    through.
    """
    if fact is None:
        return list(values)
    if fact.kind == pb.FACT_KIND_NUMBER:
        notes = [fact.unit] if fact.unit else []
        notes += [f"{w['considered']}: {', '.join(values)}"] if values else []
        return [f"{w['a_number']} ({'; '.join(notes)})" if notes else w["a_number"]]
    labels = {s.value: s.label for s in fact.symbols if s.value != "unknown"}
    chosen = list(values) if values and all(v in labels for v in values) else list(labels)
    shown = [f"{value} ({labels[value]})" for value in chosen]
    return [f"{w['all_that_apply']}: {shown[0]}", *shown[1:]] if fact.kind == pb.FACT_KIND_SET and shown else shown


def _print_decision_plain(
    console: Console,
    decision: pb.Decision,
    w: dict[str, str],
    facts: Mapping[str, pb.FactDescription],
    language: str,
) -> None:
    ref = decision.rule_set
    lines = [f"{w['role']}: {decision.role}"]
    if decision.role_text:
        lines.append(_flat(decision.role_text))
    if decision.volunteer_deployer:
        lines.append(f"{w['deployer'].capitalize()}: {decision.volunteer_deployer}")
    if decision.role_candidates:
        lines.append(f"{w['candidates']}: {', '.join(decision.role_candidates)}")
    lines.append(f"{w['version']}: {ref.id} {ref.version} · {_date(ref.reference_date)} · {decision.decision_id}")
    depends = open_codes(decision)
    for title, findings, with_party in (
        (w["liabilities"], decision.liabilities, True),
        (w["obligations"], decision.obligations, False),
        (w["flags"], decision.flags, False),
    ):
        if not findings:
            lines.append(f"{title}: {w['none']}")
            continue
        lines.append(f"{title}:")
        for finding in findings:
            party = f" ({finding.party})" if with_party and finding.party else ""
            rules = f" [{w['rules'].lower()}: {', '.join(finding.rule_ids)}]" if finding.rule_ids else ""
            open_on = f" ({w['open_on']}: {', '.join(depends[finding.code])})" if finding.code in depends else ""
            lines.append(
                f"  {finding.code}{party} — {_flat(finding.text)}{_plain_sources(finding.citations, w)}{rules}{open_on}"
            )
    for title, questions in ((w["missing"], decision.missing_facts), (w["follow_ups"], decision.follow_up_facts)):
        if not questions:
            continue
        lines.append(f"{title}:")
        for question in questions:
            offered = answers(question.values, facts.get(question.fact), w)
            shown = f" — {w['answers'].lower()}: {', '.join(offered)}" if offered else ""
            marker = f" ({w['safety']})" if getattr(question, "safety_related", False) else ""
            lines.append(f"  {question.fact}{marker} — {_flat(question.question)}{shown}")
    if decision.defaulted_facts:
        lines.append(f"{w['defaulted']}: {', '.join(decision.defaulted_facts)}")
    lines.append(f"{fired_heading(decision, w)}:")
    for rule in decision.fired_rules:
        stage = stage_name(rule.stage, language)
        lines.append(f"  {rule.rule_id} ({stage}) — {_flat(rule.explanation)}{_plain_sources(rule.citations, w)}")
    for line in lines:
        print_line(console, line)


def _plain_sources(citations: Iterable[pb.Citation], w: dict[str, str]) -> str:
    sources = _sources(citations)
    return f" [{w['sources'].lower()}: {sources}]" if sources else ""


def _findings(
    console: Console,
    title: str,
    findings: Iterable[pb.Finding],
    w: dict[str, str],
    depends: Mapping[str, list[str]] | None = None,
    with_party: bool = False,
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
        if depends and finding.code in depends:
            right.append(f"\n{w['open_on']}: {', '.join(depends[finding.code])}", style="yellow")
        table.add_row(left, right)
    console.print(table)


def _sources(citations: Iterable[pb.Citation]) -> str:
    return "; ".join(c.reference for c in citations)


def _date(value: object) -> str:
    year, month, day = (getattr(value, "year", 0), getattr(value, "month", 0), getattr(value, "day", 0))
    return f"{year:04d}-{month:02d}-{day:02d}"


def print_rule(console: Console, rule: pb.RuleDescription, language: str) -> None:
    """One rule: explanation, condition and conclusion as the server words them in `language`, and sources."""
    w = words(language)
    if not console.is_terminal:
        lines = [
            rule.rule_id,
            f"{w['stage']}: {stage_name(rule.stage, language)}",
            f"{w['explanation']}: {_flat(rule.explanation)}",
            f"{w['condition']}: {_flat(rule.condition)}",
            f"{w['conclusion']}: {_flat(rule.conclusion)}",
            f"{w['sources']}:",
            *(_plain_citation(c) for c in rule.citations),
        ]
        if rule.note:
            lines.append(f"{w['note']}: {_flat(rule.note)}")
        for line in lines:
            print_line(console, line)
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(w["stage"], Text(stage_name(rule.stage, language)))
    table.add_row(w["explanation"], Text(rule.explanation))
    table.add_row(w["condition"], Text(rule.condition))
    table.add_row(w["conclusion"], Text(rule.conclusion))
    table.add_row(w["sources"], Text("\n".join(_plain_citation(c).strip() for c in rule.citations)))
    if rule.note:
        table.add_row(w["note"], Text(rule.note))
    console.print(Panel(table, title=Text(rule.rule_id, style="bold"), title_align="left"))


def _plain_citation(citation: pb.Citation) -> str:
    title = source_title(citation.title)
    return f"  {citation.reference} ({_flat(title)})" if title else f"  {citation.reference}"


def print_rules(console: Console, rules: Iterable[pb.RuleDescription], language: str) -> None:
    """Every rule by stage, with its explanation."""
    w = words(language)
    if not console.is_terminal:
        for rule in rules:
            print_line(console, f"{rule.rule_id} ({stage_name(rule.stage, language)}) — {_flat(rule.explanation)}")
        return
    table = Table(expand=True)
    table.add_column(w["stage"], no_wrap=True)
    table.add_column("", no_wrap=True, style="bold")
    table.add_column(w["explanation"], ratio=1)
    for rule in rules:
        table.add_row(Text(stage_name(rule.stage, language)), Text(rule.rule_id), Text(rule.explanation))
    console.print(table)
