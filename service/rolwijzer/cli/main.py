"""`rolwijzer`: the legal staff's client of a running Rolwijzer server.

Exit codes: 0 done; 1 a scenario failed or the server failed; 2 bad input (with the server's reasons);
3 the server cannot be reached; 130 stopped with Ctrl-C; 141 the reader of the output went away (`| head`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import json_format
from rich.console import Console

from rolwijzer.cli import ask, impact, suite
from rolwijzer.cli import catalogue as catalogue_cmd
from rolwijzer.cli.catalogue import print_release
from rolwijzer.cli.client import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_STOPPED,
    ClientTls,
    CliError,
    call,
    connect,
    default_server,
)
from rolwijzer.cli.console import EXIT_OUTPUT_CLOSED, OutputClosed, discard_output, make_console
from rolwijzer.cli.facts import parse_facts, read_situation
from rolwijzer.cli.messages import say
from rolwijzer.cli.render import print_decision, print_line, print_rule, print_rules
from rolwijzer.locations import DEFAULT_RULES
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rolwijzer", description="Ask a Rolwijzer server about care situations.")
    _global_options(parser, everywhere=False)
    # The same options after the command (`rolwijzer evaluate --lang en`): without a default there, so that one
    # given before the command is not overwritten by a default.
    after = argparse.ArgumentParser(add_help=False)
    _global_options(after, everywhere=True)
    decision = argparse.ArgumentParser(add_help=False)
    decision.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="decide as on this date: the release and parameter values in force then (default: the server's today)",
    )
    decision.add_argument(
        "--release", metavar="VERSION", help="decide with this rule-set release (it must be in force on the date)"
    )
    decision.add_argument(
        "--case-reference", metavar="TEXT", help="your reference of the case, echoed and logged (never personal data)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser(
        "evaluate", parents=[after, decision], help="decide one situation and print the report"
    )
    evaluate.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a fact, e.g. relation_to_beneficiary=partner, hours_per_week=8,5 (decimal comma or point), "
        "tasks=personal_care,household (a set: all that apply), relation_to_beneficiary=partner|child "
        "(one of these), duration_months=unknown (repeatable; each fact once)",
    )
    evaluate.add_argument("--file", type=Path, help="a situation file (facts: ...); --fact values override it")

    intake = commands.add_parser(
        "ask", parents=[after, decision], help="an intake, one question at a time, most decisive first"
    )
    intake.add_argument(
        "--save", type=Path, help="save the situation as a scenario file here; .yaml is added (else asked)"
    )

    test = commands.add_parser("test", parents=[after], help="run scenario files and report rule coverage")
    test.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    test.add_argument("--junit", type=Path, help="also write JUnit XML here")

    impact_command = commands.add_parser(
        "impact",
        parents=[after],
        help="who changes role, deployer, liability, obligations or flags between two releases or two dates",
    )
    impact_command.add_argument(
        "population", type=Path, help="situations: JSON lines ({id, facts}), CSV (a column per fact) or a scenario file"
    )
    impact_command.add_argument(
        "--before", required=True, metavar="VERSION|DATE", help="a release (e.g. 2.0.0) or a date (YYYY-MM-DD)"
    )
    impact_command.add_argument("--after", required=True, metavar="VERSION|DATE", help="the other side, likewise")
    impact_command.add_argument(
        "--date", metavar="YYYY-MM-DD", help="the date releases are decided on (default: the server's today)"
    )
    impact_command.add_argument(
        "--out", type=Path, help="also write one row per situation here (CSV when it ends in .csv, else JSON)"
    )
    impact_command.add_argument(
        "--streams",
        type=_streams,
        default=impact.DEFAULT_STREAMS,
        metavar="N",
        help=f"batch streams at once, each on a connection of its own (1-{impact.MAX_STREAMS}, default "
        f"{impact.DEFAULT_STREAMS}): a server's workers, or a cluster's pods, share them out",
    )

    # Which release `rules`, `explain` and `facts` describe: the one in force on --date, or the pinned --release.
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument(
        "--date", metavar="YYYY-MM-DD", help="describe the release in force on this date (default: the server's today)"
    )
    which.add_argument("--release", metavar="VERSION", help="describe this release (any loaded one, also superseded)")
    explain = commands.add_parser("explain", parents=[after, which], help="explain one rule")
    explain.add_argument("rule_id")
    rules = commands.add_parser(
        "rules",
        parents=[after, which],
        help="list the rules by stage; `rules diff A B`: what differs between releases A and B",
        usage="rolwijzer rules [--date YYYY-MM-DD | --release VERSION]\n       rolwijzer rules diff A B [--json]",
    )
    rules.add_argument(
        "diff", nargs="*", metavar="diff A B", help="compare release A with release B (rules, parameters, codes, texts)"
    )
    commands.add_parser(
        "facts",
        parents=[after, which],
        help="the facts catalogue: every question with its answers, default, unit, ★ and follow-up",
    )

    audit = commands.add_parser("audit", help="check or replay a decision log (local; no server needed)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the hash chain and the sealed checkpoints; exit 1 when a line was removed or altered"
    )
    verify.add_argument("files", type=Path, nargs="+", metavar="file", help="a log, or rotated logs oldest first")
    verify.add_argument(
        "--key-file",
        type=Path,
        default=_env_path("ROLWIJZER_AUDIT_KEY_FILE"),
        help="the server's --audit-key-file: check the checkpoints' seals (env ROLWIJZER_AUDIT_KEY_FILE)",
    )
    verify.add_argument(
        "--expect-shutdown",
        action="store_true",
        help="the server has stopped cleanly: the last file must end with its sealed shutdown checkpoint",
    )
    new_key = audit_commands.add_parser("new-key", help="create a key file for rolwijzer-server --audit-key-file")
    new_key.add_argument("file", type=Path)
    replay = audit_commands.add_parser("replay", help="decide records with facts again; report what would differ")
    replay.add_argument("file", type=Path)
    replay.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="rules folder (default %(default)s)")
    return parser


def _global_options(parser: argparse.ArgumentParser, everywhere: bool) -> None:
    """--server, --ca, --cert, --key, --lang and --json; `everywhere`: the copy for after the command."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if everywhere else value

    parser.add_argument(
        "--server",
        default=default(default_server()),
        help=f"host:port of the server (env ROLWIJZER_SERVER; default {default_server()})",
    )
    parser.add_argument(
        "--ca",
        type=Path,
        default=default(_env_path("ROLWIJZER_CA")),
        help="CA certificate (PEM) that signed the server's certificate: use TLS (env ROLWIJZER_CA)",
    )
    parser.add_argument(
        "--cert",
        type=Path,
        default=default(_env_path("ROLWIJZER_CERT")),
        help="client certificate (PEM) for mutual TLS (env ROLWIJZER_CERT)",
    )
    parser.add_argument(
        "--key",
        type=Path,
        default=default(_env_path("ROLWIJZER_KEY")),
        help="client private key (PEM) for mutual TLS (env ROLWIJZER_KEY)",
    )
    language = os.environ.get("ROLWIJZER_LANG", "nl")
    parser.add_argument(
        "--lang",
        choices=("nl", "en"),
        default=default(language),
        help=f"language of the texts and messages (env ROLWIJZER_LANG; default {language})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="evaluate: print the decision as proto JSON; facts, rules diff: print them as JSON",
    )


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; print errors as one plain message and return the exit code.

    When the reader of standard output goes away (`rolwijzer rules | head -3`) the command stops quietly with the
    status a shell gives a command that SIGPIPE stopped, as `cat` would. SIGPIPE itself stays ignored (Python's
    default): restoring its default action would kill the process at any write to a closed pipe or socket, midway
    through writing a scenario or JUnit file, where a BrokenPipeError stops only the printing.

    SIGINT always stops a command (exit 130; `ask` decides and saves nothing), also when the process inherited it
    ignored: a shell without job control starts its background commands so, and Python then leaves it ignored.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            return _main(argv)
        finally:
            # Flush what print() buffered here, where a closed pipe can be handled, not as Python exits, where it
            # prints "Exception ignored ... BrokenPipeError" and exits with 120.
            sys.stdout.flush()
    except (BrokenPipeError, OutputClosed):
        discard_output()
        return EXIT_OUTPUT_CLOSED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    console = make_console()
    errors = make_console(stderr=True)
    try:
        if args.command == "audit":
            # Only `audit` runs the engine in this process (replay): the other commands talk to a server and start
            # without loading the engine and the rule files' reader (about half a second).
            from rolwijzer.cli import audit_cmd  # noqa: PLC0415

            if args.audit_command == "verify":
                return audit_cmd.run_verify(args.files, args.key_file, args.expect_shutdown, console, args.lang)
            if args.audit_command == "new-key":
                return audit_cmd.run_new_key(args.file, console, args.lang)
            return audit_cmd.run_replay(args.file, args.rules, console, args.lang)
        if args.json and args.command not in ("evaluate", "facts") and not (args.command == "rules" and args.diff):
            raise CliError(EXIT_BAD_INPUT, say(args.lang, "json_only_evaluate"))
        channel, stub = connect(args.server, ClientTls(args.ca, args.cert, args.key), args.lang)
        with channel:
            return _run(args, stub, console)
    except CliError as err:
        print_line(errors, str(err))
        return err.exit_code
    except KeyboardInterrupt:
        # Ctrl-C: stop; in `ask`, nothing is decided or saved.
        print_line(errors, say(args.lang, "stopped"))
        return EXIT_STOPPED


def _run(args: argparse.Namespace, stub: pb_grpc.RolwijzerServiceStub, console: Console) -> int:
    language = args.lang
    if args.command == "rules" and args.diff:
        return _diff(args, stub, console)
    base = _decision_request(args)
    # The catalogue (questions, answers, labels) of the release that will decide, or that `rules`, `explain` and
    # `facts` describe: the pinned one, or the one in force on the date.
    describe = pb.DescribeRuleSetRequest(language=language)
    if base.rule_set_version:
        describe.version = base.rule_set_version
    elif base.HasField("reference_date"):
        describe.reference_date.CopyFrom(base.reference_date)
    described = call(stub.DescribeRuleSet, describe, args.server, language)
    catalogue = {f.name: f for f in described.facts}
    if args.command == "evaluate":
        return _evaluate(args, stub, catalogue, base, console)
    if args.command == "ask":
        return _ask(args, stub, catalogue, base, console)
    if args.command == "test":
        sets = {name for name, f in catalogue.items() if f.kind == pb.FACT_KIND_SET}
        scenarios = suite.collect(args.paths, language)
        results = suite.run(scenarios, stub, args.server, sets, console, language)
        suite.print_report(console, results, described.rules, language)
        if args.junit:
            suite.write_junit(args.junit, results)
        return 0 if all(r.passed for r in results) else EXIT_FAILED
    if args.command == "impact":
        return _impact(args, stub, catalogue, console)
    if args.command == "explain":
        rule = next((r for r in described.rules if r.rule_id == args.rule_id), None)
        if rule is None:
            raise CliError(EXIT_BAD_INPUT, say(language, "no_rule", rule_id=args.rule_id))
        print_release(console, described.rule_set, language)
        print_rule(console, rule, language)
        return 0
    if args.command == "facts":
        if args.json:
            print(catalogue_cmd.facts_json(described))
        else:
            catalogue_cmd.print_facts(console, described, language)
        return 0
    print_release(console, described.rule_set, language)
    print_rules(console, described.rules, language)
    return 0


def _impact(
    args: argparse.Namespace,
    stub: pb_grpc.RolwijzerServiceStub,
    catalogue: dict[str, pb.FactDescription],
    console: Console,
) -> int:
    day = _date(args.date, args.lang) if args.date else None
    sides = (impact.parse_side(args.before, day, "--before"), impact.parse_side(args.after, day, "--after"))
    situations = impact.read_population(args.population)
    sets = {name for name, f in catalogue.items() if f.kind == pb.FACT_KIND_SET}
    tls = ClientTls(args.ca, args.cert, args.key)
    more = [connect(args.server, tls, args.lang, own_connection=True) for _ in range(args.streams - 1)]
    try:
        with impact.make_progress(make_console(stderr=True)) as progress:
            stubs = [stub, *(other for _, other in more)]
            redial = functools.partial(connect, args.server, tls, args.lang, own_connection=True)
            changes = impact.compare(stubs, args.server, situations, sides, sets, args.lang, progress, redial)
    finally:
        for channel, _ in more:
            channel.close()
    impact.print_summary(console, changes, sides)
    if args.out:
        impact.write_rows(args.out, changes)
        print_line(console, f"-> {args.out}")
    return 0


def _diff(args: argparse.Namespace, stub: pb_grpc.RolwijzerServiceStub, console: Console) -> int:
    """`rolwijzer rules diff A B`: what differs from release A to release B (the server's CompareRuleSets)."""
    language = args.lang
    if len(args.diff) != 3 or args.diff[0] != "diff":
        raise CliError(EXIT_BAD_INPUT, say(language, "rules_diff_usage", given=" ".join(args.diff)))
    compare = pb.CompareRuleSetsRequest(from_version=args.diff[1], to_version=args.diff[2], language=language)
    found = call(stub.CompareRuleSets, compare, args.server, language)
    if args.json:
        print(json_format.MessageToJson(found, ensure_ascii=False, indent=2))
    else:
        catalogue_cmd.print_diff(console, found, language)
    return 0


def _decision_request(args: argparse.Namespace) -> pb.EvaluateRequest:
    """What every evaluation of this command carries besides the facts: language, date, release, case reference.

    Raises:
        CliError: --date is not a date (exit code 2).
    """
    request = pb.EvaluateRequest(language=args.lang, rule_set_version=getattr(args, "release", None) or "")
    # rules, explain and facts take --date and --release only; evaluate and ask ask for the full view: follow-up
    # facts for `ask` to go on with and for `evaluate` to show under their own heading.
    if args.command in ("evaluate", "ask"):
        request.case_reference = args.case_reference or ""
        request.view = pb.DECISION_VIEW_FULL
    if getattr(args, "date", None) is not None:
        day = _date(args.date, args.lang)
        request.reference_date.year, request.reference_date.month, request.reference_date.day = (
            day.year,
            day.month,
            day.day,
        )
    return request


def _streams(text: str) -> int:
    """`--streams`: a whole number from 1 to impact.MAX_STREAMS."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= impact.MAX_STREAMS:
        raise argparse.ArgumentTypeError(f"{count}: give 1 to {impact.MAX_STREAMS} streams")
    return count


def _date(text: str, language: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(EXIT_BAD_INPUT, say(language, "bad_date", text=text)) from None


def _evaluate(
    args: argparse.Namespace,
    stub: pb_grpc.RolwijzerServiceStub,
    catalogue: dict[str, pb.FactDescription],
    base: pb.EvaluateRequest,
    console: Console,
) -> int:
    language = args.lang
    facts = read_situation(args.file, catalogue, language) if args.file else {}
    facts.update(parse_facts(args.fact, catalogue, language))
    request = pb.EvaluateRequest()
    request.CopyFrom(base)
    for name, value in facts.items():
        request.facts[name].CopyFrom(value)
    decision = call(stub.Evaluate, request, args.server, language).decision
    if args.json:
        print(json_format.MessageToJson(decision, ensure_ascii=False))
    else:
        print_decision(console, decision, language, catalogue)
    return 0


def _ask(
    args: argparse.Namespace,
    stub: pb_grpc.RolwijzerServiceStub,
    catalogue: dict[str, pb.FactDescription],
    base: pb.EvaluateRequest,
    console: Console,
) -> int:
    language = args.lang
    if not base.case_reference:
        base.case_reference = "rolwijzer-ask"
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        # prompt_toolkit only for a person at a terminal: piped intakes start without it.
        from rolwijzer.cli import terminal_prompts  # noqa: PLC0415

        prompts = terminal_prompts.terminal_picker(language)
    else:
        prompts = ask.line_picker(console, ask.read_line, language)
    intake, decision = ask.interview(stub, args.server, catalogue, base, prompts)
    console.print()
    print_decision(console, decision, language, catalogue)
    target = args.save
    if target is None:
        prompt = say(language, "save_prompt")
        if interactive:
            answer = terminal_prompts.terminal_text(prompt)
        else:
            console.print()
            print_line(console, prompt)
            answer = ask.read_line()
        target = Path(answer.strip()) if answer and answer.strip() else None
    if target is not None:
        target = ask.scenario_path(target)
        day = _date(args.date, language) if args.date is not None else None
        ask.save_scenario(target, intake, decision, "Intake via rolwijzer ask", day)
        print_line(console, f"→ {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
