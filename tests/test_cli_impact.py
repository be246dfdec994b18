"""`rolwijzer impact`: a population decided on two sides through the batch path, differences counted by kind."""

from __future__ import annotations

import csv
import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
from rolwijzer.api import create_server
from rolwijzer.api.config import Limits
from rolwijzer.cli import impact
from rolwijzer.cli.client import connect
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CURRENT_RELEASE, RULES_ROOT, SCENARIOS
from test_cli import _run

# Exactly 8 hours a week for exactly 3 months: the CBS boundary moves on 2027-01-01, so the role does too.
AT_THE_BOUNDARY = {"relation_to_beneficiary": "child", "regularity": "structural", "hours_per_week": 8}
FAR_FROM_IT = {"relation_to_beneficiary": "partner", "regularity": "structural", "hours_per_week": 30}


def _population(path: Path) -> Path:
    lines = [
        {"id": "boundary", "facts": {**AT_THE_BOUNDARY, "duration_months": 3}},
        {"id": "partner", "facts": {**FAR_FROM_IT, "duration_months": 24}},
        {"id": "short", "facts": {**AT_THE_BOUNDARY, "hours_per_week": 4, "duration_months": 1}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


class TestImpact:
    """Two dates, two releases, JSON lines, CSV and scenario files; one row per situation written on request."""

    def test_the_2027_boundary_moves_only_the_situation_on_it(self, server_address: str, tmp_path: Path) -> None:
        rows = tmp_path / "rows.csv"
        done = _run(
            server_address,
            "impact",
            str(_population(tmp_path / "people.jsonl")),
            "--before",
            "2026-12-31",
            "--after",
            "2027-01-01",
            "--out",
            str(rows),
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "2026-12-31 -> 2027-01-01: 1 of 3 situations change"
        assert "role SOCIAAL_NETWERK -> MANTELZORGER  (e.g. boundary)" in done.stdout
        with rows.open(encoding="utf-8", newline="") as table:
            by_id = {row["id"]: row for row in csv.DictReader(table)}
        assert by_id["boundary"]["role_before"] == "SOCIAAL_NETWERK"
        assert by_id["boundary"]["role_after"] == "MANTELZORGER"
        assert by_id["partner"]["changed"] == "" and by_id["short"]["changed"] == ""

    def test_the_current_correction_release_changes_no_decision_of_the_shared_examples(
        self, server_address: str
    ) -> None:
        """2.1.0 marks codes about safety and rewords a text, 2.2.0 mends cut texts, 2.3.0 words A6 in Dutch, 2.4.0
        names injections among the reserved procedures: no code moves."""
        done = _run(
            server_address,
            "impact",
            str(SCENARIOS / "examples.yaml"),
            "--before",
            "2.0.0",
            "--after",
            CURRENT_RELEASE,
            "--date",
            "2026-06-01",
        )
        assert done.returncode == 0, done.stderr
        expected = f"2.0.0 2026-06-01 -> {CURRENT_RELEASE} 2026-06-01: 0 of 18 situations change"
        assert done.stdout.splitlines() == [expected]

    def test_revision_2_changes_decisions_and_names_examples(self, server_address: str, tmp_path: Path) -> None:
        """1.1.0 -> 2.1.0 on the shared examples: the review's corrections show (EX61: nothing is shared against the
        client's objection); the examples that use facts 1.1.0 does not know are refused, naming the fact."""
        table = tmp_path / "people.csv"
        table.write_text(
            "id,relation_to_beneficiary,regularity,hours_per_week,duration_months,tasks\n"
            "a,partner,structural,20,24,personal_care;household\n"
            "b,neighbour,occasional_on_request,2,1,household\n",
            encoding="utf-8",
        )
        done = _run(
            server_address,
            "impact",
            str(SCENARIOS / "examples.yaml"),
            "--before",
            "1.1.0",
            "--after",
            CURRENT_RELEASE,
            "--date",
            "2027-03-01",
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        head = f"1.1.0 2027-03-01 -> {CURRENT_RELEASE} 2027-03-01: 3 of 18 situations change, 4 refused"
        assert lines[0].startswith(head), lines[0]
        assert "obligations -DELEN_BETROKKEN_HULPVERLENERS  (e.g. EX61)" in [line.strip()[3:].strip() for line in lines]
        refusals = [line for line in lines if line.startswith("  refused ")]
        assert refusals and all(": facts." in line for line in refusals), refusals
        from_csv = _run(server_address, "impact", str(table), "--before", "2026-12-31", "--after", "2027-01-01")
        assert from_csv.returncode == 0 and from_csv.stdout.startswith("2026-12-31 -> 2027-01-01: 0 of 2"), from_csv

    def test_an_unknown_release_is_named(self, server_address: str, tmp_path: Path) -> None:
        population = str(_population(tmp_path / "p.jsonl"))
        done = _run(server_address, "impact", population, "--before", "9.9.9", "--after", CURRENT_RELEASE)
        assert done.returncode == 0, done.stderr
        assert "3 refused" in done.stdout and "9.9.9" in done.stdout


class TestStreams:
    """`--streams N`: the population is shared out over N streams, each on a connection of its own."""

    def test_streams_the_server_refuses_leave_their_situations_to_the_others(self, tmp_path: Path) -> None:
        """A server that takes one stream at a time: of 8 streams, those refused (and any situations they had
        taken) are made up by the one accepted, and the rows equal those of a single stream."""
        people = tmp_path / "people.jsonl"
        people.write_text(
            "".join(
                json.dumps(
                    {
                        "id": f"{relation}-{hours}",
                        "facts": {
                            **AT_THE_BOUNDARY,
                            "relation_to_beneficiary": relation,
                            "hours_per_week": hours,
                            "duration_months": 3,
                        },
                    }
                )
                + "\n"
                for relation in ("child", "partner", "neighbour")
                for hours in range(1, 41)
            ),
            encoding="utf-8",
        )
        holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
        server, port = create_server("127.0.0.1:0", holder, limits=Limits(max_streams=1))
        server.start()
        try:
            rows = {}
            for streams in (8, 1):
                out = tmp_path / f"rows-{streams}.json"
                done = _run(
                    f"127.0.0.1:{port}",
                    "impact",
                    str(people),
                    "--before",
                    "2026-12-31",
                    "--after",
                    "2027-01-01",
                    "--streams",
                    str(streams),
                    "--out",
                    str(out),
                )
                assert done.returncode == 0, done.stderr
                assert (
                    done.stdout.startswith("2026-12-31 -> 2027-01-01: ") and " of 120 situations change" in done.stdout
                )
                rows[streams] = json.loads(out.read_text(encoding="utf-8"))
        finally:
            server.stop(grace=None)
            holder.close()
        assert rows[8] == rows[1]
        assert len(rows[1]) == 120 and not any(row.get("refused") for row in rows[1])

    def test_a_stream_refused_for_the_stream_limit_is_opened_again_on_a_new_connection(self, tmp_path: Path) -> None:
        """Two streams to a server whose one slot is taken are both refused and opened again through `redial`; here
        that reaches a second server with room (as a new connection may reach another worker), once each, and the
        rows equal those of a single stream."""
        people = impact.read_population(_population(tmp_path / "p.jsonl"))
        sides = (impact.parse_side("2026-12-31", None, "--before"), impact.parse_side("2027-01-01", None, "--after"))
        holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
        busy, busy_port = create_server("127.0.0.1:0", holder, limits=Limits(max_streams=1))
        room, room_port = create_server("127.0.0.1:0", holder, limits=Limits(max_streams=2))
        busy.start()
        room.start()
        opened: list[grpc.Channel] = []
        redials: list[int] = []
        release = threading.Event()

        def redial() -> tuple[grpc.Channel, pb_grpc.RolwijzerServiceStub]:
            redials.append(1)
            return connect(f"127.0.0.1:{room_port}", own_connection=True)

        def held() -> Iterator[pb.EvaluateBatchRequest]:
            yield pb.EvaluateBatchRequest(item_id="hold", request=pb.EvaluateRequest())
            release.wait(30)

        try:
            for _ in range(3):
                channel, _stub = connect(f"127.0.0.1:{busy_port}", own_connection=True)
                opened.append(channel)
            stubs = [pb_grpc.RolwijzerServiceStub(channel) for channel in opened]
            holding = stubs[0].EvaluateBatch(held(), timeout=60)
            next(iter(holding))  # answered: the busy server's one slot is taken until `release`
            shared = impact.compare(stubs[1:], "busy", people, sides, {"tasks"}, "nl", redial=redial)
            release.set()
            list(holding)
            alone = impact.compare(stubs[:1], "busy", people, sides, {"tasks"}, "nl")
        finally:
            release.set()
            for channel in opened:
                channel.close()
            busy.stop(grace=None)
            room.stop(grace=None)
            holder.close()
        assert [dataclasses.asdict(c) for c in shared] == [dataclasses.asdict(c) for c in alone]
        assert [bool(c.fields) for c in shared] == [True, False, False]
        assert len(redials) == 2

    def test_a_stream_count_out_of_range_is_named(self, server_address: str, tmp_path: Path) -> None:
        population = str(_population(tmp_path / "p.jsonl"))
        for count in ("0", "9", "two"):
            done = _run(
                server_address,
                "impact",
                population,
                "--before",
                "2026-12-31",
                "--after",
                "2027-01-01",
                "--streams",
                count,
            )
            assert done.returncode == 2 and "--streams" in done.stderr, (count, done)
