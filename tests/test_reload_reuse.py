"""A reload rebuilds only the releases whose bytes changed (issue 15), and decides exactly as a fresh load would.

Unchanged releases are taken from the loader's cache of loaded releases and their compiled forms from the holder's
`CompiledStore`; these tests check, through public interfaces, that what is reused is right: decisions follow the
new bytes of a changed release and the old bytes of the others, a reused release is not parsed again, closing a
replaced engine leaves its successor working, and a broken release is refused with the problems of a fresh load.
"""

from __future__ import annotations

import datetime as dt
import gc
import shutil
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rolwijzer.api.convert import facts_from_proto
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS, CompiledStore, Decision, Engine
from rolwijzer.reload import EngineHolder
from rolwijzer.rules import RuleSetError, load_rule_sets
from rolwijzer.rules.loader import clear_release_cache, release_cache_stats
from rolwijzer.rules.manifest import write_manifests
from support import CURRENT_RELEASE, FOUR_HOURS_ONE_MONTH, RELEASES, RULES_ROOT, request

# A day each release is in force on when pinned (1.1.0 starts in 2027; the others cover 2020).
DAYS = {version: dt.date(2027, 6, 1) if version == "1.1.0" else dt.date(2020, 6, 1) for version in RELEASES}
# Lowers the intensity threshold of the current release from 2016 on: FOUR_HOURS_ONE_MONTH then makes a mantelzorger.
THRESHOLD = ("      2015-01-01: 8\n", "      2015-01-01: 8\n      2016-01-01: 2\n")


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Iterator[Path]:
    """A private copy of rules/ without manifests (edited in place), loaded with an empty cache of releases."""
    root = tmp_path / "rules"
    shutil.copytree(RULES_ROOT, root, ignore=shutil.ignore_patterns("README.md", "manifest.yaml"))
    clear_release_cache()
    yield root
    clear_release_cache()  # other tests count from zero too


@pytest.fixture()
def holder(rules_copy: Path) -> Iterator[EngineHolder]:
    """A holder of the copy (not watching: each test reloads when it means to)."""
    held = EngineHolder(rules_copy, DEFAULT_MAX_COMBINATIONS)
    yield held
    held.close()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _decisions(engine: Engine) -> dict[str, Decision]:
    """What each release, pinned on a day it is in force, decides for FOUR_HOURS_ONE_MONTH."""
    found = {}
    for version in RELEASES:
        selection = engine.select(DAYS[version], version)
        inputs = facts_from_proto(request(selection.rule_set, FOUR_HOURS_ONE_MONTH, reference_date=DAYS[version]).facts)
        found[version] = engine.evaluate(inputs, selection)
    return found


def test_a_changed_release_decides_by_its_new_bytes_and_the_others_as_before(
    holder: EngineHolder, rules_copy: Path
) -> None:
    """Only the changed release is parsed and compiled again; every release decides as its bytes say."""
    with holder.engine() as engine:
        before = _decisions(engine)
        compiled_before = {v: engine.select(DAYS[v], v).compiled for v in RELEASES}
    assert before[CURRENT_RELEASE].role == "SOCIAAL_NETWERK"
    loaded = release_cache_stats()
    assert (loaded.hits, loaded.misses) == (0, len(RELEASES))

    _edit(rules_copy / "informele-zorg" / CURRENT_RELEASE / "parameters.yaml", *THRESHOLD)
    assert holder.reload("test")

    reloaded = release_cache_stats()
    assert (reloaded.hits, reloaded.misses) == (len(RELEASES) - 1, len(RELEASES) + 1), "only the edit is parsed"
    with holder.engine() as engine:
        after = _decisions(engine)
        compiled_after = {v: engine.select(DAYS[v], v).compiled for v in RELEASES}
    assert after[CURRENT_RELEASE].role == "MANTELZORGER"
    assert after[CURRENT_RELEASE].rule_set.sha256 != before[CURRENT_RELEASE].rule_set.sha256
    assert {v: d for v, d in after.items() if v != CURRENT_RELEASE} == {
        v: d for v, d in before.items() if v != CURRENT_RELEASE
    }
    reused = {v for v in RELEASES if compiled_after[v] is compiled_before[v]}
    assert reused == set(RELEASES) - {CURRENT_RELEASE}
    # And a fresh load of the same bytes, parsing everything, decides the same.
    clear_release_cache()
    fresh = Engine(load_rule_sets(rules_copy))
    try:
        assert _decisions(fresh) == after
    finally:
        fresh.close()


def test_a_reload_of_unchanged_files_parses_and_compiles_nothing(holder: EngineHolder) -> None:
    """Every release comes from the cache and every compiled form is the one in service; stage memos are emptied."""
    with holder.engine() as engine:
        before = _decisions(engine)
        selection = engine.select(DAYS[CURRENT_RELEASE], CURRENT_RELEASE)
    assert len(selection.compiled.memo) > 0, "test setup: the stage memo is on and was used"
    assert holder.reload("test")
    assert release_cache_stats().hits == len(RELEASES)
    assert len(selection.compiled.memo) == 0, "a reload empties the stage memo (issue 14)"
    with holder.engine() as engine:
        assert engine.select(DAYS[CURRENT_RELEASE], CURRENT_RELEASE).compiled is selection.compiled
        assert _decisions(engine) == before


def test_closing_the_replaced_engine_leaves_the_shared_compiled_forms_working(
    holder: EngineHolder, rules_copy: Path
) -> None:
    """A call holds the old engine across a reload; when it ends the old engine closes, the new one still decides."""
    with holder.engine() as engine:
        before = _decisions(engine)
    _edit(rules_copy / "informele-zorg" / CURRENT_RELEASE / "parameters.yaml", *THRESHOLD)
    with holder.engine() as old:
        assert holder.reload("test")
        with holder.engine() as new:
            assert new is not old
        assert _decisions(old)[CURRENT_RELEASE].role == "SOCIAAL_NETWERK", "the old engine serves its last call"
    # The old engine is closed now (its last call ended); the releases it shared are still compiled for the new one.
    with holder.engine() as engine:
        after = _decisions(engine)
    assert after[CURRENT_RELEASE].role == "MANTELZORGER"
    assert {v: d for v, d in after.items() if v != CURRENT_RELEASE} == {
        v: d for v, d in before.items() if v != CURRENT_RELEASE
    }


def test_engines_of_one_store_free_a_compiled_form_only_when_the_last_one_closes() -> None:
    """Two engines built from one store share every compiled form; closing either leaves the other working."""
    rule_sets = load_rule_sets(RULES_ROOT)
    store = CompiledStore()
    first = Engine(rule_sets, compiled_store=store)
    second = Engine(rule_sets, compiled_store=store)
    held = len(store)
    assert store.compiles == held and store.reuses == held, "the second engine compiled nothing"
    expected = _decisions(first)
    first.close()
    assert len(store) == held
    assert _decisions(second) == expected
    second.close()
    assert len(store) == 0


def test_a_replaced_engine_is_freed_without_a_full_collection() -> None:
    """An engine and its compiled forms hold no reference cycles: with the collector off, dropping the last
    reference frees them. The holder relies on it to skip most full collections (reload.py, `_settle`)."""
    engine = Engine(load_rule_sets(RULES_ROOT))
    compiled = [engine.select(DAYS[v], v).compiled for v in RELEASES]
    refs: list[Callable[[], object]] = [weakref.ref(engine), *(weakref.ref(c) for c in compiled)]
    refs += [weakref.ref(stage.encoder.values) for c in compiled for stage in c.stages.values()]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        engine.close()
        del engine, compiled
        alive = [ref() for ref in refs if ref() is not None]
        assert alive == [], f"{len(alive)} objects kept by reference cycles, e.g. {alive[0]!r}"
    finally:
        if was_enabled:
            gc.enable()


def _problems(root: Path) -> list[str]:
    with pytest.raises(RuleSetError) as raised:
        load_rule_sets(root)
    return [str(problem) for problem in raised.value.problems]


def test_a_release_made_invalid_is_refused_with_the_problems_of_a_fresh_load(
    holder: EngineHolder, rules_copy: Path
) -> None:
    """A broken edit of a cached release: refused, with exactly the problems a load without any cache finds."""
    _edit(
        rules_copy / "informele-zorg" / CURRENT_RELEASE / "stage-e.yaml", "codes: [WKKGZ_GOEDE_ZORG]", "codes: [NOPE]"
    )
    assert not holder.reload("test")
    assert holder.last_failure is not None
    assert any("unknown code 'NOPE'" in line for line in holder.last_failure.problems)
    warm = _problems(rules_copy)
    clear_release_cache()
    assert _problems(rules_copy) == warm
    assert release_cache_stats().releases == len(RELEASES) - 1, "a release with problems is not kept"


def test_unchanged_releases_still_undergo_the_checks_across_releases(holder: EngineHolder, rules_copy: Path) -> None:
    """A manifest added to one release makes it required of all: the cached, unchanged releases are refused too."""
    assert write_manifests(rules_copy / "informele-zorg" / "1.0.0").written
    assert not holder.reload("test")
    assert holder.last_failure is not None
    missing = sorted(line.split(":")[0] for line in holder.last_failure.problems if "manifest.yaml" in line)
    assert missing == [f"informele-zorg/{v}/manifest.yaml" for v in RELEASES if v != "1.0.0"]
    warm = _problems(rules_copy)
    clear_release_cache()
    assert _problems(rules_copy) == warm
