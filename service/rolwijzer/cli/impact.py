"""`rolwijzer impact`: who changes role, deployer, liability, obligations or flags between two releases or dates.

A population of situations (JSON lines, CSV or a scenario file) is decided twice through the server's batch path
(many situations per message, codes only), once per side, and every difference is counted by kind, with example
situations. For legal staff weighing a change in the law (two dates) or a correction (two releases).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import re
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc
from google.rpc import status_pb2
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from rolwijzer.cli.client import EXIT_BAD_INPUT, EXIT_FAILED, CliError, error_reason, explain, field_violations
from rolwijzer.cli.render import print_line
from rolwijzer.client import BatchRefused, evaluate_many
from rolwijzer.scenarios import ScenarioFileError, load_scenarios, situation_request
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

__all__ = [
    "DEFAULT_STREAMS",
    "MAX_STREAMS",
    "Side",
    "Situation",
    "compare",
    "make_progress",
    "parse_side",
    "print_summary",
    "read_population",
    "summary",
    "write_rows",
]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The fields compared, in the order they are reported.
FIELDS = ("role", "volunteer_deployer", "liabilities", "obligations", "flags")
EXAMPLES = 3
# Streams at once, each on its own connection. The kernel spreads connections over a server's workers by a hash
# (SO_REUSEPORT), so four reach both workers of a `--workers 2` server in 7 runs of 8, where two did in 1 of 2
# (measured: one run of `make bench` had both of its two on one worker). A worker takes 2 streams (--max-streams);
# the ones it refuses leave their situations to the others.
DEFAULT_STREAMS = 4
MAX_STREAMS = 8
# How often a stream refused for its worker's stream limit is opened again on a new connection. The kernel hands
# each connection to a worker by a hash: 4 streams to 2 workers split 3-1 or 4-0 in 5 runs of 8, and then one worker
# does most of the work while the other idles (measured: 38 and 50 s against 26 s split 2-2). A server that takes
# 2 streams per worker refuses the third, and a new connection reaches the other worker one time in two.
REDIALS = 6
STREAMS_BUSY = "TOO_MANY_STREAMS"


@dataclass(frozen=True)
class Side:
    """One side of the comparison: a release (decided on `day`, or today), or the release in force on a date."""

    version: str = ""
    day: dt.date | None = None

    def label(self) -> str:
        return " ".join(part for part in (self.version, self.day.isoformat() if self.day else "") if part)


@dataclass(frozen=True)
class Situation:
    """One situation of the population: its id and facts as a scenario file writes them."""

    id: str
    facts: dict[str, Any]


@dataclass
class Change:
    """How one situation's decision differs between the sides (empty `fields` when it does not)."""

    id: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    refused: str = ""

    @property
    def fields(self) -> list[str]:
        return [name for name in FIELDS if self.before.get(name) != self.after.get(name)]


def parse_side(text: str, day: dt.date | None, option: str) -> Side:
    """`2027-01-01` is the release in force on that date; anything else is a release version, decided on `day`.

    Raises:
        CliError: a date that is no date (exit code 2).
    """
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            return Side(day=dt.date.fromisoformat(text))
        except ValueError:
            raise CliError(EXIT_BAD_INPUT, f"{option} {text!r}: no such date") from None
    return Side(version=text, day=day)


def read_population(path: Path) -> list[Situation]:
    """JSON lines ({"id", "facts"}), CSV (a column per fact, `id` optional, set members separated by `;`), or a
    scenario file (.yaml).

    Raises:
        CliError: the file cannot be read or holds no situation (exit code 2).
    """
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            found = [Situation(s.id, dict(s.facts)) for s in load_scenarios(path)]
        elif path.suffix.lower() == ".csv":
            found = list(_from_csv(path))
        else:
            found = list(_from_json_lines(path))
    except (OSError, ScenarioFileError, ValueError) as err:
        raise CliError(EXIT_BAD_INPUT, f"{path}: {err}") from None
    if not found:
        raise CliError(EXIT_BAD_INPUT, f"{path}: no situations")
    return found


def _from_json_lines(path: Path) -> Iterator[Situation]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError(f"line {number}: an object with `facts` expected")
            facts = item.get("facts", item)
            if not isinstance(facts, dict):
                raise ValueError(f"line {number}: `facts` is not an object")
            yield Situation(str(item.get("id", f"line {number}")), facts)


def _from_csv(path: Path) -> Iterator[Situation]:
    with path.open(encoding="utf-8", newline="") as rows:
        for number, row in enumerate(csv.DictReader(rows), start=2):
            facts: dict[str, Any] = {}
            for name, value in row.items():
                if name == "id" or value is None or value.strip() == "":
                    continue
                facts[name] = [v.strip() for v in value.split(";") if v.strip()] if ";" in value else _scalar(value)
            yield Situation(row.get("id") or f"row {number}", facts)


def _scalar(text: str) -> bool | float | str:
    """A CSV cell as a scenario file would hold it: yes/no, a number (decimal comma or point), or a symbol."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return float(text.replace(",", ".")) if re.fullmatch(r"-?\d+([.,]\d+)?", text) else text


def compare(
    stubs: Sequence[pb_grpc.RolwijzerServiceStub],
    server: str,
    situations: Sequence[Situation],
    sides: tuple[Side, Side],
    set_facts: set[str],
    language: str,
    progress: Progress | None = None,
    redial: Callable[[], tuple[grpc.Channel, pb_grpc.RolwijzerServiceStub]] | None = None,
) -> list[Change]:
    """Decide every situation on both sides, over one EvaluateBatch stream per stub at once.

    Give each stub its own connection: a server's workers share a port by connection (SO_REUSEPORT), so streams
    on one connection all reach one worker. The streams take chunks of CHUNK situations from one queue, so a fast
    stream does more. A stream the server refuses because its worker has as many streams as it takes is opened
    again on a new connection from `redial` (at most REDIALS times): the kernel may hand that one to a worker with
    room. A stream that is refused otherwise, or breaks, ends; the situations left unanswered are then decided on
    one stream, again while each round answers some.

    Raises:
        CliError: a round answered nothing while a stream of it failed (a side's release or date, the connection).
    """
    found = _Answers(situations, progress)

    def requests(chunks: _Chunks, taken: list[Sequence[int]]) -> Iterator[tuple[str, pb.EvaluateRequest]]:
        while (chunk := chunks.take()) is not None:
            taken.append(chunk)
            for index in chunk:
                # Built once and copied for each side: a copy costs half of building from the facts (measured).
                base = situation_request(situations[index].facts, set_facts)
                base.language = language
                base.view = pb.DECISION_VIEW_CODES  # only codes are compared: no texts to build or send
                for which, side in enumerate(sides):
                    request = pb.EvaluateRequest()
                    request.CopyFrom(base)
                    request.rule_set_version = side.version
                    if side.day is not None:
                        day = request.reference_date
                        day.year, day.month, day.day = side.day.year, side.day.month, side.day.day
                    yield f"{index}:{which}", request

    redialled: list[grpc.Channel] = []

    def stream(stub: pb_grpc.RolwijzerServiceStub, chunks: _Chunks) -> Exception | None:
        for attempt in range(REDIALS + 1):
            started, taken = False, list[Sequence[int]]()
            try:
                for item_id, answer in evaluate_many(stub, requests(chunks, taken)):
                    started = True
                    found.take(item_id, answer)
            except grpc.RpcError as err:
                busy = error_reason(cast(grpc.Call, err)) == STREAMS_BUSY
                if started or not busy or redial is None or attempt == REDIALS:
                    return err
                # gRPC reads ahead before the server's answer: what the refused stream took, it answered none of.
                chunks.put_back(taken)
                try:
                    channel, stub = redial()
                except CliError:
                    return err  # the server cannot be reached again: the refusal is what it said
                redialled.append(channel)
            except BatchRefused as err:
                return err
            else:
                return None
        return None  # not reached: the last attempt returns

    left, streams = list(range(len(situations))), stubs
    try:
        while left:
            failures = [f for f in _each(functools.partial(stream, chunks=_Chunks(left)), streams) if f is not None]
            still = [index for index in left if not found.complete(index)]
            if still and len(still) == len(left):
                if not failures:  # never seen: a stream that ends without failing has answered what it took
                    raise CliError(EXIT_FAILED, f"no stream answered any of {len(still)} situations")
                failure = failures[0]  # a round with streams failing answered nothing: the server's last word
                if isinstance(failure, BatchRefused):
                    raise CliError(EXIT_BAD_INPUT, f"the server refused a batch: {failure}") from None
                raise explain(cast(grpc.Call, failure), server, language) from None
            # A refused stream may have taken situations along (gRPC reads the first message before the server's
            # answer): the rest goes over one stream, from which no other can take any.
            left, streams = still, stubs[:1]
    finally:
        for channel in redialled:
            channel.close()
    return found.changes


def _each(
    work: Callable[[pb_grpc.RolwijzerServiceStub], Exception | None], stubs: Sequence[pb_grpc.RolwijzerServiceStub]
) -> list[Exception | None]:
    """`work` on every stub at once, a thread each (one stub: in this thread), and what each returned.

    The threads are daemons and joined without a timeout, which Ctrl-C interrupts: the CLI then stops at once
    (closing its channels ends the streams), where a thread pool would first wait for every stream to end.
    """
    if len(stubs) == 1:
        return [work(stubs[0])]
    found: list[Exception | None] = [None] * len(stubs)

    def run(index: int) -> None:
        found[index] = work(stubs[index])

    threads = [
        threading.Thread(target=run, args=(i,), name=f"impact-stream-{i}", daemon=True) for i in range(len(stubs))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


class _Answers:
    """The answers of both sides as the streams bring them (each stream its own situations), and the progress."""

    _BOTH = 0b11

    def __init__(self, situations: Sequence[Situation], progress: Progress | None) -> None:
        self.changes = [Change(s.id) for s in situations]
        self._answered = [0] * len(situations)  # per situation, a bit per side that has its answer
        self._progress = progress
        self._task = progress.add_task("impact", total=len(situations)) if progress else None

    def take(self, item_id: str, answer: pb.Decision | status_pb2.Status) -> None:
        """Keep one side's answer for one situation (item id "index:side")."""
        index, which = (int(part) for part in item_id.split(":"))
        change = self.changes[index]
        if isinstance(answer, status_pb2.Status):
            change.refused = _reason(answer)
        elif which == 0:
            change.before = _sets(answer)
        else:
            change.after = _sets(answer)
        done = self.complete(index)
        self._answered[index] |= 1 << which
        if self._progress is not None and self._task is not None and not done and self.complete(index):
            self._progress.advance(self._task)

    def complete(self, index: int) -> bool:
        """Whether both sides of situation `index` have their answer."""
        return self._answered[index] == self._BOTH


# Situations a stream takes at once: one message of DEFAULT_PER_MESSAGE items holds 50 of them, on two sides.
CHUNK = 50


class _Chunks:
    """The situations still to decide, handed out CHUNK at a time to the streams that ask (thread-safe)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self._waiting = deque(indices[at : at + CHUNK] for at in range(0, len(indices), CHUNK))
        self._lock = threading.Lock()

    def take(self) -> Sequence[int] | None:
        with self._lock:
            return self._waiting.popleft() if self._waiting else None

    def put_back(self, chunks: Sequence[Sequence[int]]) -> None:
        """Chunks taken but not answered, handed out again first."""
        with self._lock:
            self._waiting.extendleft(reversed(chunks))


def _reason(status: status_pb2.Status) -> str:
    """The refusal with its field violations, e.g. "facts.emergency: unknown fact" (a release without it)."""
    return "; ".join(f"{v.field}: {v.description}" for v in field_violations(status)) or status.message


def _sets(decision: pb.Decision) -> dict[str, Any]:
    return {
        "role": decision.role,
        "volunteer_deployer": decision.volunteer_deployer,
        "liabilities": sorted(f.code for f in decision.liabilities),
        "obligations": sorted(f.code for f in decision.obligations),
        "flags": sorted(f.code for f in decision.flags),
    }


class _Rate(ProgressColumn):
    """Situations decided per second (both sides)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f}/s")


def make_progress(console: Console) -> Progress:
    """A progress bar with the count, rate and time left; shown on a terminal only."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def summary(changes: Sequence[Change], sides: tuple[Side, Side]) -> list[str]:
    """The report: how many changed, then each kind of change with its count and example situations."""
    changed = [c for c in changes if c.fields and not c.refused]
    refused = [c for c in changes if c.refused]
    head = f"{sides[0].label()} -> {sides[1].label()}: {len(changed)} of {len(changes)} situations change"
    lines = [head + (f", {len(refused)} refused" if refused else "")]
    kinds: dict[str, list[str]] = defaultdict(list)
    for change in changed:
        for kind in _kinds(change):
            kinds[kind].append(change.id)
    counts = Counter({kind: len(ids) for kind, ids in kinds.items()})
    for kind, count in counts.most_common():
        examples = ", ".join(kinds[kind][:EXAMPLES])
        lines.append(f"  {count:>6}  {kind}  (e.g. {examples})")
    for change in refused[:EXAMPLES]:
        lines.append(f"  refused {change.id}: {change.refused}")
    return lines


def _kinds(change: Change) -> Iterable[str]:
    """Each difference of one situation as a kind of change, e.g. "role MANTELZORGER -> SOCIAAL_NETWERK"."""
    for name in change.fields:
        before, after = change.before.get(name), change.after.get(name)
        if isinstance(before, list) and isinstance(after, list):
            yield from (f"{name} +{code}" for code in sorted(set(after) - set(before)))
            yield from (f"{name} -{code}" for code in sorted(set(before) - set(after)))
        else:
            yield f"{name} {before or '-'} -> {after or '-'}"


def print_summary(console: Console, changes: Sequence[Change], sides: tuple[Side, Side]) -> None:
    for line in summary(changes, sides):
        print_line(console, line)


def write_rows(path: Path, changes: Sequence[Change]) -> None:
    """One row per situation (CSV when the name ends in .csv, else JSON): what changed, before and after."""
    rows = [
        {
            "id": c.id,
            "changed": " ".join(c.fields),
            "refused": c.refused,
            **{f"{name}_before": _cell(c.before.get(name)) for name in FIELDS},
            **{f"{name}_after": _cell(c.after.get(name)) for name in FIELDS},
        }
        for c in changes
    ]
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _cell(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")
