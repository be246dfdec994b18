"""Hostile or broken rule files are refused cheaply; the rules in service keep serving and the watcher keeps watching.

Each attack of the security review is run against a real EngineHolder, behind a real server on 127.0.0.1 where
GetStatus or health is involved. Files are kept small: a file over the limit is 1 MiB + 1 byte, and a 200 MiB file
is sparse. Every wait is bounded, so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.api import create_server
from rolwijzer.engine import (
    DEFAULT_MAX_COMBINATIONS,
    Engine,
    EvaluationError,
    FactInput,
    NumberInput,
    SetInput,
    SymbolInput,
)
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSet, RuleSetError, load_rule_set, load_rule_sets, rule_set_sha256, validate
from rolwijzer.rules import files as rule_files
from rolwijzer.rules.files import MAX_DEPTH, MAX_FILE_BYTES, UnsafeFile, open_root, parse_yaml, read_bytes
from rolwijzer.rules.manifest import write_manifests
from rolwijzer.rules.validate import MAX_PROBLEM_CHARS, MAX_REPORTED_PROBLEMS, Problem
from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from rolwijzer.waiting import StopSignal
from structlog.testing import capture_logs
from support import CURRENT_RELEASE, FOUR_HOURS_ONE_MONTH, RELEASES, RULES, RULES_ROOT, SUPERSEDED, request

CHECK = Path(sys.executable).parent / "rolwijzer-rules"
WATCH_INTERVAL = 0.05
MIB = 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 50 * 1024  # ru_maxrss is in KiB on Linux
# The intensity threshold of the current release: lowering it makes the four-hour helper a mantelzorger.
THRESHOLD, LOWER_THRESHOLD = "      2015-01-01: 8\n", "      2015-01-01: 2\n"
# Under 500 bytes that expand to 28 * 9^9 strings ("billion laughs"), like the review's 464-byte bomb.
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{new}: &{new} [{','.join(['*' + old] * 9)}]\n" for old, new in zip("abcdefgh", "bcdefghi", strict=True))
    + f"rules: [{', '.join(['*i'] * 28)}]\n"
)
NO_MANIFEST = shutil.ignore_patterns("README.md", "manifest.yaml")


def _wait_for(predicate: Callable[[], object], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _edit(path: Path, old: str, new: str) -> None:
    """Replace a file in one step, as a deploy would."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}"
    partial = path.parent / f".{path.name}.partial"
    partial.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.replace(partial, path)


def _truncate_before(path: Path, marker: str) -> None:
    """Keep `path` up to `marker`, as a copy or an editor interrupted there leaves it: still valid YAML."""
    text = path.read_text(encoding="utf-8")
    assert marker in text, f"test setup: {marker!r} not in {path.name}"
    path.write_text(text[: text.index(marker)], encoding="utf-8")


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of rules/ without manifests: the attacks below are refused without their help."""
    root = tmp_path / "rules"
    shutil.copytree(RULES_ROOT, root, ignore=NO_MANIFEST)
    return root


@pytest.fixture()
def release(rules_copy: Path) -> Path:
    """The current release folder of the copy."""
    return rules_copy / "informele-zorg" / CURRENT_RELEASE


@dataclass
class Served:
    """A server on 127.0.0.1 whose holder watches a rules folder."""

    holder: EngineHolder
    watcher: threading.Thread
    stub: pb_grpc.RolwijzerServiceStub
    channel: grpc.Channel
    rule_set: RuleSet

    def decide(self) -> tuple[str, str]:
        """The role and the release sha256 of the four-hour helper: which rules are in service."""
        decision = self.stub.Evaluate(request(self.rule_set, FOUR_HOURS_ONE_MONTH), timeout=10).decision
        return decision.role, decision.rule_set.sha256

    def status(self) -> pb.GetStatusResponse:
        return self.stub.GetStatus(pb.GetStatusRequest(), timeout=10)

    def problems(self) -> list[str]:
        """The problems of the last refused reload, once there is one."""
        _wait_for(lambda: self.status().HasField("last_reload_error"))
        return list(self.status().last_reload_error.problems)

    def serving(self) -> bool:
        health = health_pb2_grpc.HealthStub(self.channel)
        response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def picks_up(self, change: Callable[[], None]) -> None:
        """Make `change` (the threshold lowered) and wait until the server answers with it, without error."""
        change()
        _wait_for(lambda: self.decide()[0] == "MANTELZORGER")
        _wait_for(lambda: not self.status().HasField("last_reload_error"))
        assert self.watcher.is_alive()


@contextmanager
def _serve(root: Path, rule_set: RuleSet) -> Iterator[Served]:
    holder = EngineHolder(root, DEFAULT_MAX_COMBINATIONS)
    stop = StopSignal()
    watcher = holder.watch(WATCH_INTERVAL, stop)
    server, port = create_server("127.0.0.1:0", holder)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Served(holder, watcher, pb_grpc.RolwijzerServiceStub(channel), channel, rule_set)
    finally:
        stop.set()
        server.stop(grace=None)
        watcher.join(timeout=10)
        holder.close()


@pytest.fixture()
def served(rules_copy: Path, rule_set: RuleSet) -> Iterator[Served]:
    """The copy without manifests, served and watched."""
    with _serve(rules_copy, rule_set) as serving:
        yield serving


def _assert_refused(served: Served, before: tuple[str, str], file: str, reason: str) -> list[str]:
    """The change is refused with a short problem naming the file; the old rules keep serving; health is SERVING."""
    problems = served.problems()
    assert any(file in p and reason in p for p in problems), problems
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in problems)
    assert len(problems) <= MAX_REPORTED_PROBLEMS + 1
    assert served.decide() == before
    assert served.serving()
    assert served.watcher.is_alive()
    return problems


def _lower_threshold(release: Path) -> Callable[[], None]:
    return lambda: _edit(release / "parameters.yaml", THRESHOLD, LOWER_THRESHOLD)


class TestAliasBombs:
    """YAML anchors and aliases are refused before anything is built from them."""

    def test_a_billion_laughs_file_is_refused_in_bounded_memory_and_a_short_status(
        self, served: Served, release: Path
    ) -> None:
        """The bomb is refused naming file and line; memory stays flat; GetStatus answers with a short reason."""
        assert len(ALIAS_BOMB.encode()) < 500
        before, peak = served.decide(), _peak_rss_kib()
        started = time.perf_counter()
        (release / "bomb.yaml").write_text(ALIAS_BOMB, encoding="utf-8")
        problems = _assert_refused(
            served, before, f"{CURRENT_RELEASE}/bomb.yaml", "anchors and aliases are not allowed"
        )
        assert time.perf_counter() - started < 10
        assert _peak_rss_kib() - peak < RSS_GROWTH_LIMIT_KIB
        assert sum(len(p) for p in problems) < 2_000

    def test_an_alias_is_refused_even_without_its_anchor_being_used(self) -> None:
        """An anchor alone, or an alias to an anchor, each is named with its line."""
        with pytest.raises(UnsafeFile, match=r"anchor &x \(line 2\)"):
            parse_yaml(b"a: 1\nb: &x 2\n")
        with pytest.raises(UnsafeFile, match=r"alias|anchor"):
            parse_yaml(b"a: [1, *x]\n")

    def test_a_merge_key_is_refused_because_it_needs_an_alias(self) -> None:
        """`<<: *base` is a way to repeat text; rule files do not use it."""
        with pytest.raises(UnsafeFile, match="anchors and aliases are not allowed"):
            parse_yaml(b"base: &base {a: 1}\nrule: {<<: *base, b: 2}\n")


class TestOversizedFiles:
    """Bytes are bounded per file (1 MiB), per release (4 MiB) and for the whole root, checked before reading."""

    def test_a_file_over_the_limit_is_refused_before_it_is_parsed(self, served: Served, release: Path) -> None:
        """1 MiB + 1 byte with an unknown top-level key: refused by its size, named, memory flat."""
        before, peak = served.decide(), _peak_rss_kib()
        head = "unknown_key: "
        (release / "big.yaml").write_text(head + "x" * (MAX_FILE_BYTES + 1 - len(head)), encoding="utf-8")
        _assert_refused(
            served, before, f"{CURRENT_RELEASE}/big.yaml", "1048577 bytes, over the limit of 1 MiB per file"
        )
        assert _peak_rss_kib() - peak < RSS_GROWTH_LIMIT_KIB

    def test_a_200_mib_file_is_refused_by_its_size_without_being_read(self, served: Served, release: Path) -> None:
        """A sparse 200 MiB file (no disk used): refused at once by stat, memory flat; the next good change loads."""
        before, peak = served.decide(), _peak_rss_kib()
        started = time.perf_counter()
        with (release / "comments.yaml").open("wb") as sparse:
            sparse.truncate(200 * MIB)
        _assert_refused(served, before, f"{CURRENT_RELEASE}/comments.yaml", f"{200 * MIB} bytes, over the limit")
        assert time.perf_counter() - started < 10
        assert _peak_rss_kib() - peak < RSS_GROWTH_LIMIT_KIB
        (release / "comments.yaml").unlink()
        served.picks_up(_lower_threshold(release))

    def test_a_release_over_its_limit_is_refused(self, release: Path) -> None:
        """Five files of 0.9 MiB each are each allowed, together over 4 MiB: refused before any is read."""
        for index in range(5):
            (release / f"notes-{index}.yaml").write_text("#" * (9 * MIB // 10) + "\n", encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [(p.file, p.item, p.message) for p in caught.value.problems] == [
            (
                str(release),
                "-",
                f"the .yaml files hold {5 * (9 * MIB // 10 + 1) + _shipped_bytes()} bytes, over the limit of 4 MiB",
            )
        ]

    def test_a_small_file_with_unknown_keys_is_refused_too(self, release: Path) -> None:
        """Below the limits, a file that is no part of a release, or a section with a stray key, is named."""
        (release / "big.yaml").write_text("unknown_key: x\n", encoding="utf-8")
        facts = release / "facts.yaml"
        facts.write_text(facts.read_text(encoding="utf-8") + "extra: 1\n", encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [_unplaced(p) for p in caught.value.problems] == [
            "big.yaml: -: is no file of a release: a rule file holds `rules:`; the others are ruleset, sources, "
            "facts, codes, parameters and predicates.yaml",
            "facts.yaml: -: unknown top-level keys ['extra']",
        ]

    def test_a_file_that_grows_after_its_size_was_checked_is_cut_off_and_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """stat reports a small file, then it holds more: at most limit + 1 bytes are read, and it is refused."""
        path = tmp_path / "grows.yaml"
        path.write_bytes(b"a" * 200)
        monkeypatch.setattr(rule_files, "_stat", lambda target: (os.stat(target).st_mode, 50))
        with pytest.raises(UnsafeFile, match="grew over the limit of 100 bytes"):
            read_bytes(path, open_root(tmp_path), limit=100)


def _shipped_bytes() -> int:
    return sum(path.stat().st_size for path in RULES.glob("*.yaml") if path.name != "manifest.yaml")


class TestNonRegularFiles:
    """Only regular files inside the rules root are read; nothing else is opened for reading."""

    def test_a_symlink_to_dev_zero_is_refused_at_once(self, served: Served, release: Path) -> None:
        """`zero.yaml -> /dev/zero` leaves the root: refused without a read, memory flat, then a good change loads."""
        before, peak = served.decide(), _peak_rss_kib()
        started = time.perf_counter()
        (release / "zero.yaml").symlink_to("/dev/zero")
        _assert_refused(served, before, f"{CURRENT_RELEASE}/zero.yaml", "a symlink that leads outside the rules root")
        assert time.perf_counter() - started < 10
        assert _peak_rss_kib() - peak < RSS_GROWTH_LIMIT_KIB
        (release / "zero.yaml").unlink()
        served.picks_up(_lower_threshold(release))

    def test_a_fifo_blocks_neither_the_watcher_nor_a_reload(self, served: Served, release: Path) -> None:
        """A FIFO named *.yaml is refused as such; a direct reload returns; a later good change is applied."""
        fifo = release / "pipe.yaml"
        os.mkfifo(fifo)
        try:
            before = served.decide()
            _assert_refused(served, before, f"{CURRENT_RELEASE}/pipe.yaml", "a FIFO, not a regular file")
            done: list[bool] = []
            reload = threading.Thread(target=lambda: done.append(served.holder.reload("test")), daemon=True)
            reload.start()
            reload.join(timeout=20)
            assert done == [False]
            fifo.unlink()
            served.picks_up(_lower_threshold(release))
        finally:
            _release_readers(fifo)

    def test_a_symlink_that_leaves_the_root_is_not_read(self, rules_copy: Path, release: Path) -> None:
        """A rule file replaced by a symlink to a good copy outside the root is refused all the same."""
        outside = rules_copy.parent / "outside-stage-e.yaml"
        shutil.copyfile(release / "stage-e.yaml", outside)
        (release / "stage-e.yaml").unlink()
        (release / "stage-e.yaml").symlink_to(outside)
        with pytest.raises(RuleSetError) as caught:
            load_rule_sets(rules_copy)
        assert [str(p) for p in caught.value.problems] == [
            f"informele-zorg/{CURRENT_RELEASE}/stage-e.yaml: -: a symlink that leads outside the rules root"
        ]

    def test_a_symlink_that_stays_inside_the_root_is_followed(self, rules_copy: Path, release: Path) -> None:
        """A rule file kept elsewhere in the root and linked into the release loads as if it were there."""
        shared = rules_copy / "shared"
        shared.mkdir()
        (release / "stage-e.yaml").rename(shared / "stage-e.txt")
        (release / "stage-e.yaml").symlink_to(Path("..", "..", "shared", "stage-e.txt"))
        loaded = {r.version: r for r in load_rule_sets(rules_copy)}
        assert loaded[CURRENT_RELEASE].sha256 == rule_set_sha256(RULES)


def _release_readers(fifo: Path) -> None:
    """Open a FIFO for writing once, so any reader a regression left blocked on it returns; then remove it."""
    with contextlib.suppress(OSError):  # no reader (ENXIO) or already gone: nothing blocks
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    fifo.unlink(missing_ok=True)


class TestDeepNesting:
    """Nesting is checked before the YAML library builds anything; its own limit is not what protects us."""

    def test_200_kb_of_open_brackets_are_refused_by_our_check(self, release: Path) -> None:
        """The raw text is refused at level 33 of line 1, with our message, not libyaml's."""
        (release / "deep.yaml").write_text("[" * 200_000, encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [str(p) for p in caught.value.problems] == [
            f"deep.yaml: -: nests deeper than {MAX_DEPTH} levels (line 1)"
        ]

    def test_deep_block_nesting_is_refused(self) -> None:
        """Block style (`- - - …`) has no brackets: the event stream is checked too."""
        with pytest.raises(UnsafeFile, match=f"nests deeper than {MAX_DEPTH} levels"):
            parse_yaml(("- " * (MAX_DEPTH + 1) + "x\n").encode())

    def test_brackets_hidden_in_quotes_do_not_fool_the_check(self) -> None:
        """A quoted text that closes brackets lowers the raw count; the exact count on the events still refuses."""
        text = "[" * 20 + '"' + "]" * 20 + '", ' + "[" * 20 + "x" + "]" * 40
        with pytest.raises(UnsafeFile, match=f"nests deeper than {MAX_DEPTH} levels"):
            parse_yaml(text.encode())

    def test_nesting_up_to_the_limit_parses(self) -> None:
        """32 levels are allowed: the shipped files nest at most 11."""
        document, _ = parse_yaml(("[" * MAX_DEPTH + "x" + "]" * MAX_DEPTH).encode())
        assert isinstance(document, list)

    def test_too_many_values_are_refused_before_they_are_built(self) -> None:
        """Half a million one-letter values in 1 MiB would cost libyaml about 300 MB: refused after 20,000."""
        with pytest.raises(UnsafeFile, match="holds more than 20000 YAML values"):
            parse_yaml(("[" + "a," * 400_000 + "a]").encode())

    def test_values_are_bounded_per_release_too(self, release: Path) -> None:
        """Four files of 19,001 values each are each allowed; the fourth takes the release over 80,000."""
        for index in range(4):
            (release / f"stage-x{index}.yaml").write_text("x: [" + "a," * 19_000 + "a]\n", encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        problems = [str(p) for p in caught.value.problems if "holds more than" in str(p)]
        assert len(problems) == 1 and problems[0].startswith("stage-x3.yaml: -: holds more than"), problems
        assert problems[0].endswith("(at most 20000 per file, 80000 per release)")


class TestShortProblems:
    """A problem is one short line, never a file's content; a report lists at most 50 and counts the rest."""

    def test_a_yaml_error_on_a_huge_line_is_clipped(self, release: Path) -> None:
        """An unterminated quote on a 600 KB line: one problem line of at most 300 characters."""
        (release / "broken.yaml").write_text("a: 'unterminated " + "x" * 600_000, encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        problems = [str(p) for p in caught.value.problems]
        assert len(problems) == 1 and problems[0].startswith("broken.yaml:1:")
        assert _unplaced(caught.value.problems[0]).startswith("broken.yaml: -: cannot be read as YAML: while scanning")
        assert len(problems[0]) <= MAX_PROBLEM_CHARS

    def test_a_huge_rule_id_and_a_huge_citation_are_clipped(self, release: Path) -> None:
        """A 100,000-character rule id and citation: every line is at most 300 characters, the whole error short."""
        rule = f"rules:\n  - id: {'R' * 100_000}\n    stage: B\n    cite: [{'Q' * 100_000}]\n"
        (release / "stage-x.yaml").write_text(rule, encoding="utf-8")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        problems = [str(p) for p in caught.value.problems]
        assert any(_unplaced(p).startswith("stage-x.yaml: RRRR") for p in caught.value.problems)
        assert any(p.startswith("stage-x.yaml:2:5: RRRR") and "citation 'QQQQ" in p for p in problems), problems
        assert all(len(p) <= MAX_PROBLEM_CHARS for p in problems)
        assert len(str(caught.value)) < 20_000

    def test_getstatus_lists_the_first_50_problems_and_counts_the_rest(self, served: Served, release: Path) -> None:
        """200 rules without anything but an id: 51 lines, the last saying how many more."""
        rules = "".join(f"  - {{id: X{i}}}\n" for i in range(200))
        (release / "stage-x.yaml").write_text("rules:\n" + rules, encoding="utf-8")
        problems = served.problems()
        assert len(problems) == MAX_REPORTED_PROBLEMS + 1
        assert problems[-1].startswith("… and ") and problems[-1].endswith(" more problem(s)")
        place = re.compile(rf"informele-zorg/{CURRENT_RELEASE}/stage-x\.yaml:\d+:\d+: X\d+: ")
        assert all(place.match(p) for p in problems[:-1]), problems[:3]


class TestTheWatcherSurvives:
    """Whatever goes wrong, the watcher reports it, keeps polling and applies the next good change."""

    def test_a_dangling_symlink_is_reported_and_a_later_change_applied(self, served: Served, release: Path) -> None:
        """`gone.yaml -> nowhere.yaml`: refused with a short reason; after it is removed the next change loads."""
        before = served.decide()
        (release / "gone.yaml").symlink_to("nowhere.yaml")
        _assert_refused(served, before, f"{CURRENT_RELEASE}/gone.yaml", "does not exist (or is a dangling symlink)")
        (release / "gone.yaml").unlink()
        served.picks_up(_lower_threshold(release))

    def test_a_file_that_vanishes_between_listing_and_reading_is_reported(
        self, served: Served, release: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A listed file that is gone when it is read (fingerprint and load alike) is a problem, not a crash."""
        before = served.decide()
        listed_files, listed_names = rule_files.yaml_files, rule_files.yaml_names

        def files_with_ghost(base: Path) -> Iterator[Path]:
            yield from listed_files(base)
            yield release / "ghost.yaml"

        monkeypatch.setattr(rule_files, "yaml_files", files_with_ghost)
        monkeypatch.setattr("rolwijzer.rules.loader.yaml_names", lambda folder: [*listed_names(folder), "ghost.yaml"])
        os.utime(next(release.glob("*.yaml")))  # an event makes the watcher look; no content changes
        _assert_refused(served, before, f"{CURRENT_RELEASE}/ghost.yaml", "does not exist")
        monkeypatch.undo()
        served.picks_up(_lower_threshold(release))

    def test_files_appearing_and_vanishing_quickly_do_not_stop_the_watcher(self, served: Served, release: Path) -> None:
        """One second of a file created and removed as fast as possible; then a good change is applied."""
        churn = release / "churn.yaml"
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            churn.write_text("# a note\n", encoding="utf-8")
            churn.unlink()
        assert served.watcher.is_alive()
        served.picks_up(_lower_threshold(release))

    def test_an_unexpected_error_is_logged_shown_and_survived(
        self, served: Served, release: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An error inside a look: rules_watch_failed is logged once, GetStatus shows it short, polling goes on."""
        failing = threading.Event()

        def broken_fingerprint(root: Path) -> object:
            failing.set()
            raise RuntimeError("boom " * 1_000)

        touched = next(release.glob("*.yaml"))
        with capture_logs() as logs:
            monkeypatch.setattr("rolwijzer.reload.fingerprint", broken_fingerprint)
            os.utime(touched)  # an event makes the watcher look; its contents stay the same
            problems = served.problems()
            assert failing.is_set()
            for _ in range(5):  # several more looks fail the same way
                os.utime(touched)
                time.sleep(WATCH_INTERVAL * 2)
            monkeypatch.undo()
            served.picks_up(_lower_threshold(release))
        assert len(problems) == 1 and problems[0].startswith("the rules watcher failed: RuntimeError: boom boom")
        assert len(problems[0]) <= MAX_PROBLEM_CHARS
        failures = [entry for entry in logs if entry["event"] == "rules_watch_failed"]
        assert len(failures) == 1 and len(failures[0]["reason"]) <= 200


@pytest.fixture()
def with_manifests(tmp_path: Path) -> Path:
    """A private copy of rules/ with the shipped manifests."""
    root = tmp_path / "rules"
    shutil.copytree(RULES_ROOT, root, ignore=shutil.ignore_patterns("README.md"))
    return root


def _unplaced(problem: Problem) -> str:
    """The problem as shown, without its `:line:column` (tests/test_rules_check.py checks the places)."""
    return str(replace(problem, line=None, column=None))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK), *args], capture_output=True, text=True, timeout=120, check=False)


class TestManifests:
    """A release with a manifest.yaml is loaded only when it holds exactly the files and contents it lists."""

    def test_the_shipped_manifests_are_current(self, with_manifests: Path) -> None:
        """Every shipped release has one, and writing them again changes nothing."""
        result = write_manifests(with_manifests)
        assert (result.written, result.problems) == ([], [])
        assert len(result.unchanged) == len(RELEASES)

    def test_a_half_written_file_is_refused_and_the_old_rules_keep_serving(
        self, with_manifests: Path, rule_set: RuleSet
    ) -> None:
        """stage-b.yaml cut before its last rules still parses: refused as incomplete; then the full deploy loads."""
        release = with_manifests / "informele-zorg" / CURRENT_RELEASE
        with _serve(with_manifests, rule_set) as served:
            before = served.decide()
            _truncate_before(release / "stage-b.yaml", "  - id: R6d")
            problems = _assert_refused(
                served, before, f"{CURRENT_RELEASE}/stage-b.yaml", "sha256 differs from manifest.yaml"
            )
            assert problems[0] == (
                f"informele-zorg/{CURRENT_RELEASE}/stage-b.yaml: -: sha256 differs from manifest.yaml: "
                "the release is incomplete or changed"
            )
            shutil.copyfile(RULES / "stage-b.yaml", release / "stage-b.yaml")

            def deploy() -> None:
                _edit(release / "parameters.yaml", THRESHOLD, LOWER_THRESHOLD)
                write_manifests(with_manifests)

            served.picks_up(deploy)

    def test_a_missing_file_and_an_extra_file_are_refused(self, with_manifests: Path) -> None:
        """Both differences are named with their file."""
        release = with_manifests / "informele-zorg" / CURRENT_RELEASE
        (release / "stage-e.yaml").unlink()
        (release / "stage-z.yaml").write_text("# not in the manifest\n", encoding="utf-8")
        problems = _load_problems(with_manifests)
        prefix = f"informele-zorg/{CURRENT_RELEASE}/"
        assert problems[:2] == [
            f"{prefix}stage-e.yaml: -: listed in manifest.yaml but missing: the release is incomplete or changed",
            f"{prefix}stage-z.yaml: -: not listed in manifest.yaml: the release is incomplete or changed",
        ]

    def test_a_release_without_a_manifest_beside_releases_with_one_is_refused(self, with_manifests: Path) -> None:
        """A release still being copied in, its manifest not yet written, does not go live."""
        new = with_manifests / "informele-zorg" / "9.0.0"
        shutil.copytree(RULES, new, ignore=shutil.ignore_patterns("manifest.yaml"))
        assert "informele-zorg/9.0.0/manifest.yaml: -: missing, while other releases have one" in "\n".join(
            _load_problems(with_manifests)
        )

    def test_a_malformed_manifest_is_refused(self, with_manifests: Path) -> None:
        """A manifest must map .yaml names to sha256:<hex>."""
        manifest = with_manifests / "informele-zorg" / CURRENT_RELEASE / "manifest.yaml"
        manifest.write_text("files: {stage-b.yaml: md5:abc}\n", encoding="utf-8")
        assert f"informele-zorg/{CURRENT_RELEASE}/manifest.yaml: -: each entry of `files:`" in "\n".join(
            _load_problems(with_manifests)
        )

    def test_the_manifest_command_writes_and_check_reports_a_stale_manifest(self, rules_copy: Path) -> None:
        """`rolwijzer-rules manifest` writes one per release; after an edit `check` exits 1 until it is run again."""
        written = _run("manifest", str(rules_copy))
        output = written.stdout + written.stderr
        assert written.returncode == 0 and written.stdout.count("wrote") == len(RELEASES), output
        assert _run("check", str(rules_copy)).returncode == 0
        _edit(rules_copy / "informele-zorg" / CURRENT_RELEASE / "parameters.yaml", THRESHOLD, LOWER_THRESHOLD)
        stale = _run("check", str(rules_copy))
        assert stale.returncode == 1
        assert f"informele-zorg/{CURRENT_RELEASE}/parameters.yaml: -: sha256 differs from manifest.yaml" in stale.stdout
        again = _run("manifest", str(rules_copy))
        assert again.stdout.count("wrote") == 1 and again.stdout.count("unchanged") == len(SUPERSEDED)
        assert _run("check", str(rules_copy)).returncode == 0


def _load_problems(root: Path) -> list[str]:
    """The problems as kept (a path whole, whatever the length of the temporary folder), not as shown."""
    with pytest.raises(RuleSetError) as caught:
        load_rule_sets(root)
    return [f"{p.file}: {p.item}: {p.message}" for p in caught.value.problems]


def _swap(root: Path, target: str) -> None:
    """Point `..data` at `target` in one step, as the kubelet does: a new symlink renamed over the old one."""
    temporary = root / "..data_tmp"
    temporary.symlink_to(target)
    os.replace(temporary, root / "..data")


@pytest.fixture()
def configmap(tmp_path: Path) -> Path:
    """A rules root mounted the ConfigMap way: two timestamped folders, `..data` pointing at the first.

    The second holds the current release with the threshold lowered. Like the kubelet, the root also links each
    top-level entry through `..data`; the loader reads through `..data` only, so no release is loaded twice.
    """
    root = tmp_path / "mounted"
    root.mkdir()
    first, second = root / "..2026_01_01_00_00_00.1", root / "..2026_01_02_00_00_00.2"
    shutil.copytree(RULES_ROOT, first, ignore=shutil.ignore_patterns("README.md"))
    shutil.copytree(RULES_ROOT, second, ignore=shutil.ignore_patterns("README.md"))
    _edit(second / "informele-zorg" / CURRENT_RELEASE / "parameters.yaml", THRESHOLD, LOWER_THRESHOLD)
    assert write_manifests(second).written
    _swap(root, first.name)
    (root / "informele-zorg").symlink_to(Path("..data", "informele-zorg"))
    return root


class TestConfigMapMounts:
    """A `..data` symlink swapped to a new folder is followed, and one load never mixes two targets."""

    def test_a_swap_of_data_is_applied_and_so_is_the_swap_back(self, configmap: Path, rule_set: RuleSet) -> None:
        """Each release loads once (not twice); each swap brings the other folder's rules into service."""
        with _serve(configmap, rule_set) as served:
            assert [r.version for r in served.status().rule_sets] == list(RELEASES)
            old = served.decide()
            _swap(configmap, "..2026_01_02_00_00_00.2")
            _wait_for(lambda: served.decide()[0] == "MANTELZORGER")
            _swap(configmap, "..2026_01_01_00_00_00.1")
            _wait_for(lambda: served.decide() == old)
            assert not served.status().HasField("last_reload_error")

    def test_a_swap_in_the_middle_of_a_load_does_not_mix_the_targets(
        self, configmap: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`..data` moves to the other folder after the first file is read: the load still reads only the first."""
        first = configmap / "..2026_01_01_00_00_00.1" / "informele-zorg" / CURRENT_RELEASE
        reads = []
        read = rule_files.read_bytes

        def read_then_swap(path: Path, root: rule_files.RulesRoot, limit: int = MAX_FILE_BYTES) -> bytes:
            reads.append(path)
            if len(reads) == 1:
                _swap(configmap, "..2026_01_02_00_00_00.2")
            return read(path, root, limit)

        monkeypatch.setattr("rolwijzer.rules.loader.read_bytes", read_then_swap)
        loaded = {r.version: r for r in load_rule_sets(configmap)}
        assert os.readlink(configmap / "..data") == "..2026_01_02_00_00_00.2"
        assert loaded[CURRENT_RELEASE].sha256 == rule_set_sha256(first)
        assert all("..2026_01_01_00_00_00.1" in path.parts for path in reads)

    def test_data_that_leads_outside_the_root_is_refused(self, configmap: Path, tmp_path: Path) -> None:
        """A `..data` link out of the root is not followed."""
        shutil.copytree(RULES_ROOT, tmp_path / "elsewhere")
        _swap(configmap, str(tmp_path / "elsewhere"))
        assert _load_problems(configmap) == [f"{configmap}: -: ..data leads outside the rules root"]


class TestTheEngineCanDecide:
    """A release that could answer INTERNAL is refused: stage B always decides, stage H always concludes."""

    def test_stage_b_cut_before_its_last_rules_is_refused_by_the_loader_and_the_check(self, release: Path) -> None:
        """Without R6d no rule decides a related helper below the threshold; loader and check both say so."""
        _truncate_before(release / "stage-b.yaml", "  - id: R6d")
        expected = "stage-b.yaml: R6c: stage B may leave the role undecided: no rule without dates matches for sure"
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [_unplaced(p).startswith(expected) for p in caught.value.problems] == [True]
        checked = _run("check", str(release))
        shown = re.sub(r"^stage-b\.yaml:[0-9]+:[0-9]+: ", "stage-b.yaml: ", checked.stdout)
        assert checked.returncode == 1 and shown.startswith(expected), checked.stdout

    def test_that_release_would_indeed_answer_internal(self, release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Served anyway (the check switched off), it fails on the four-hour helper: the check is not theoretical."""
        _truncate_before(release / "stage-b.yaml", "  - id: R6d")
        monkeypatch.setattr(validate, "_check_decisions", lambda rs: iter(()))
        engine = Engine([load_rule_set(release)])
        try:
            inputs: dict[str, FactInput] = {
                "relation_to_beneficiary": SymbolInput("child"),
                "regularity": SymbolInput("structural"),
                "hours_per_week": NumberInput(4),
                "duration_months": NumberInput(1),
                "tasks": SetInput(("household",)),
            }
            with pytest.raises(EvaluationError, match="no stage B rule decided the role"):
                engine.evaluate(inputs)
        finally:
            engine.close()

    def test_a_catch_all_that_decides_every_value_of_a_fact_is_accepted(self, release: Path) -> None:
        """R6c's release with a last rule `payment is unpaid or is not unpaid` loads: every value is decided."""
        _truncate_before(release / "stage-b.yaml", "  - id: R6d")
        with (release / "stage-b.yaml").open("a", encoding="utf-8") as stage_b:
            stage_b.write(CATCH_ALL)
        assert load_rule_set(release).stage_rules("B")[-1].id == "R-catch-all"

    def test_a_conditional_default_left_unset_in_some_situations_is_refused(self, release: Path) -> None:
        """Without A1-task-owner-informal nothing sets task_owner for a helper who is no relative."""
        _truncate_rule(release / "stage-a.yaml", "  - id: A1-task-owner-informal", "  - id: A2")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [str(p) for p in caught.value.problems] == [
            "stage-a.yaml: task_owner: ★ fact task_owner has `default: conditional`, but no A1 rule without dates "
            "surely sets it when it is not given and initiative=client_or_family, relation_to_beneficiary=partner; "
            "the engine could not decide such a situation"
        ]

    def test_that_release_would_indeed_answer_internal_for_a_partner(
        self, release: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Served anyway (the check switched off), a partner without a stated task owner fails in stage H."""
        _truncate_rule(release / "stage-a.yaml", "  - id: A1-task-owner-informal", "  - id: A2")
        monkeypatch.setattr(validate, "_check_decisions", lambda rs: iter(()))
        engine = Engine([load_rule_set(release)])
        try:
            inputs: dict[str, FactInput] = {"relation_to_beneficiary": SymbolInput("partner")}
            with pytest.raises(EvaluationError, match="task_owner is still open"):
                engine.evaluate(inputs)
        finally:
            engine.close()

    def test_the_shipped_releases_meet_every_invariant(self) -> None:
        """Every shipped release: stage B decides relation_to_beneficiary's every value; stage H concludes."""
        for rule_set in load_rule_sets(RULES_ROOT):
            assert list(validate._check_decisions(rule_set)) == [], rule_set.version

    def test_stage_h_without_a_rule_for_differing_roles_is_refused(self, release: Path) -> None:
        """The rule that concludes ONBEPAALD gone: when the combinations disagree, nothing would decide."""
        _edit(release / "stage-fgh.yaml", "then: {role: ONBEPAALD}", "then: {codes: [VRAAG_FEITEN]}")
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [str(p) for p in caught.value.problems] == [
            "stage-fgh.yaml: H: when the combinations give different roles, no stage H rule without dates surely "
            "concludes the role"
        ]

    def test_excluding_two_values_of_a_fact_is_refused(self, release: Path) -> None:
        """A question with one_of those two values would leave no combination."""
        _edit(
            release / "stage-fgh.yaml",
            "then: {exclude: {initiative: [external_org_request]}}",
            "then: {exclude: {initiative: [external_org_request, care_org_request]}}",
        )
        with pytest.raises(RuleSetError) as caught:
            load_rule_set(release)
        assert [str(p) for p in caught.value.problems] == [
            "stage-fgh.yaml: initiative: stage H-enumeration excludes 2 values of initiative; at most one may be "
            "excluded, or a question could leave no combination"
        ]


def _truncate_rule(path: Path, start: str, following: str) -> None:
    """Remove the rule that begins with the line `start`, up to the line `following`."""
    text = path.read_text(encoding="utf-8")
    begin = text.index(start)
    path.write_text(text[:begin] + text[text.index(following, begin) :], encoding="utf-8")


CATCH_ALL = """
  - id: R-catch-all
    stage: B
    when: {any: [{fact: payment, is: unpaid}, {fact: payment, is_not: unpaid}]}
    then: {role: SOCIAAL_NETWERK}
    explain:
      nl: Wat geen andere regel beslist, is hulp van het sociaal netwerk.
      en: What no other rule decides is social-network help.
    cite: ["S001 § Definitie"]
"""
