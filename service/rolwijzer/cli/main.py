"""`rolwijzer`: the legal staff's client of a running Rolwijzer server.

Exit codes: 0 done; 1 a scenario failed or the server failed; 2 bad input (with the server's reasons);
3 the server cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import json_format
from rich.console import Console

from rolwijzer.api.server import DEFAULT_RULES
from rolwijzer.cli import ask, audit_cmd, suite
from rolwijzer.cli.client import EXIT_BAD_INPUT, EXIT_FAILED, ClientTls, CliError, call, connect, default_server
from rolwijzer.cli.console import make_console
from rolwijzer.cli.facts import parse_fact, read_situation
from rolwijzer.cli.render import print_decision, print_line, print_rule, print_rules
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rolwijzer", description="Ask a Rolwijzer server about care situations.")
    parser.add_argument(
        "--server", default=default_server(), help="host:port of the server (env ROLWIJZER_SERVER; default %(default)s)"
    )
    parser.add_argument(
        "--ca",
        type=Path,
        default=_env_path("ROLWIJZER_CA"),
        help="CA certificate (PEM) that signed the server's certificate: use TLS (env ROLWIJZER_CA)",
    )
    parser.add_argument(
        "--cert", type=Path, default=_env_path("ROLWIJZER_CERT"), help="client certificate (PEM) for mutual TLS"
    )
    parser.add_argument(
        "--key", type=Path, default=_env_path("ROLWIJZER_KEY"), help="client private key (PEM) for mutual TLS"
    )
    parser.add_argument(
        "--lang",
        choices=("nl", "en"),
        default=os.environ.get("ROLWIJZER_LANG", "nl"),
        help="language of the texts (env ROLWIJZER_LANG; default %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    evaluate = commands.add_parser("evaluate", help="decide one situation and print the report")
    evaluate.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a fact, e.g. relation_to_beneficiary=partner, tasks=personal_care,household, "
        "duration_months=unknown (repeatable)",
    )
    evaluate.add_argument("--file", type=Path, help="a situation file (facts: ...); --fact values override it")
    evaluate.add_argument("--json", action="store_true", help="print the decision as proto JSON")

    intake = commands.add_parser("ask", help="an intake, one question at a time, most decisive first")
    intake.add_argument("--save", type=Path, help="save the situation as a scenario file here (else asked)")

    test = commands.add_parser("test", help="run scenario files and report rule coverage")
    test.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    test.add_argument("--junit", type=Path, help="also write JUnit XML here")

    explain = commands.add_parser("explain", help="explain one rule")
    explain.add_argument("rule_id")
    commands.add_parser("rules", help="list the rules by stage")

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


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; print errors as one plain message and return the exit code."""
    args = _parser().parse_args(argv)
    console = make_console()
    errors = make_console(stderr=True)
    try:
        if args.command == "audit":
            if args.audit_command == "verify":
                return audit_cmd.run_verify(args.files, args.key_file, args.expect_shutdown, console)
            if args.audit_command == "new-key":
                return audit_cmd.run_new_key(args.file, console)
            return audit_cmd.run_replay(args.file, args.rules, console)
        channel, stub = connect(args.server, ClientTls(args.ca, args.cert, args.key), args.lang)
        with channel:
            return _run(args, stub, console)
    except CliError as err:
        print_line(errors, str(err))
        return err.exit_code
    except KeyboardInterrupt:
        print_line(errors, "stopped")
        return EXIT_FAILED


def _run(args: argparse.Namespace, stub: pb_grpc.RolwijzerServiceStub, console: Console) -> int:
    described = call(stub.DescribeRuleSet, pb.DescribeRuleSetRequest(language=args.lang), args.server, args.lang)
    catalogue = {f.name: f for f in described.facts}
    if args.command == "evaluate":
        return _evaluate(args, stub, catalogue, console)
    if args.command == "ask":
        return _ask(args, stub, catalogue, console)
    if args.command == "test":
        sets = {name for name, f in catalogue.items() if f.kind == pb.FACT_KIND_SET}
        scenarios = suite.collect(args.paths)
        results = suite.run(scenarios, stub, args.server, sets, console, args.lang)
        suite.print_report(console, results, described.rules, args.lang)
        if args.junit:
            suite.write_junit(args.junit, results)
        return 0 if all(r.passed for r in results) else EXIT_FAILED
    if args.command == "explain":
        rule = next((r for r in described.rules if r.rule_id == args.rule_id), None)
        if rule is None:
            raise CliError(EXIT_BAD_INPUT, f"no rule {args.rule_id!r}; `rolwijzer rules` lists them")
        print_rule(console, rule, args.lang)
        return 0
    print_rules(console, described.rules, args.lang)
    return 0


def _evaluate(
    args: argparse.Namespace,
    stub: pb_grpc.RolwijzerServiceStub,
    catalogue: dict[str, pb.FactDescription],
    console: Console,
) -> int:
    facts = read_situation(args.file, catalogue) if args.file else {}
    facts.update(parse_fact(argument, catalogue) for argument in args.fact)
    request = pb.EvaluateRequest(facts=facts, language=args.lang)
    decision = call(stub.Evaluate, request, args.server, args.lang).decision
    if args.json:
        print(json_format.MessageToJson(decision, ensure_ascii=False))
    else:
        print_decision(console, decision, args.lang)
    return 0


def _ask(
    args: argparse.Namespace,
    stub: pb_grpc.RolwijzerServiceStub,
    catalogue: dict[str, pb.FactDescription],
    console: Console,
) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    pick, ask_number = ask.terminal_picker() if interactive else ask.line_picker(console, ask.read_line)
    intake, decision = ask.interview(stub, args.server, catalogue, args.lang, pick, ask_number)
    console.print()
    print_decision(console, decision, args.lang)
    target = args.save
    if target is None:
        prompt = (
            "Opslaan als scenario? Bestandsnaam (leeg = niet opslaan)"
            if args.lang == "nl"
            else ("Save as a scenario? File name (empty = do not save)")
        )
        if interactive:
            answer = ask.terminal_text(prompt)
        else:
            console.print()
            print_line(console, prompt)
            answer = ask.read_line()
        target = Path(answer.strip()) if answer and answer.strip() else None
    if target is not None:
        ask.save_scenario(target, intake, decision, "Intake via rolwijzer ask")
        print_line(console, f"→ {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
