"""Read a rule-set folder of YAML files into a validated `RuleSet`.

Every problem found is collected with its file and rule id; `load_rule_set` raises one `RuleSetError` that lists
them all, so a lawyer fixing a file sees every mistake at once. Files are read by `files.py`, which bounds what a
file may cost (see there), and a release with a `manifest.yaml` is loaded only when it is complete (manifest.py).

Each parsed file is validated once against its model of schema.py, the models the editors' JSON Schemas are
generated from: which keys an entry has and what type each value is, is said there and nowhere else. A problem of
structure names its entry and points at the key it concerns (`Locator.at`). The objects of model.py are built
from the validated models. An entry whose structure is wrong is left out, and the rest is still read (citations,
duplicates, predicates); a release with a problem of structure is not cross-checked as a whole (validate.py), since
a fact left out would make each rule that uses it an "unknown fact".

schema.py (pydantic) is imported on the first load, not with this module: importing it and building its models
costs about 250 ms, which a command that loads no rules does not pay.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast
from typing import Any as AnyType

from cachetools import LRUCache

from rolwijzer.rules.conditions import ConditionError, parse_condition
from rolwijzer.rules.files import (
    MANIFEST,
    MAX_FILES_PER_RELEASE,
    MAX_NODES_PER_FILE,
    MAX_NODES_PER_RELEASE,
    MAX_RELEASE_BYTES,
    MAX_ROOT_BYTES,
    RulesRoot,
    UnsafeFile,
    open_root,
    parse_yaml,
    read_bytes,
    regular_size,
    release_folders,
    yaml_names,
)
from rolwijzer.rules.locate import Locator
from rolwijzer.rules.manifest import manifest_problems, parse_manifest
from rolwijzer.rules.model import (
    UNKNOWN,
    Aggregate,
    Bucket,
    Citation,
    CodeDef,
    CodeKind,
    Conclusion,
    Condition,
    Enumeration,
    FactDef,
    FactType,
    Group,
    Parameter,
    ParamRef,
    Predicate,
    RoleDef,
    Rule,
    RuleSet,
    Scalar,
    SymbolDef,
    Text,
    version_key,
)
from rolwijzer.rules.validate import Problem, internal_references, report_lines, validate_rule_set

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic_core import ErrorDetails

    from rolwijzer.rules import schema

_BOOLEAN_LABELS = {
    "true": Text("ja", "yes"),
    "false": Text("nee", "no"),
    "unknown": Text("weet niet", "don't know"),
}
_REQUIRED = ("ruleset", "sources", "facts", "codes", "parameters", "predicates")
_FILES = "ruleset, sources, facts, codes, parameters and predicates.yaml"


class RuleSetError(Exception):
    """A rule-set folder has problems; `problems` names file, rule id and problem for each."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {line}" for line in report_lines(problems))
        super().__init__(f"the rule set has {len(problems)} problem(s):\n{lines}")


@dataclass
class _Budget:
    """What the releases still to be read may hold together (MAX_ROOT_BYTES), counted down as they are read."""

    bytes: int = MAX_ROOT_BYTES


@dataclass
class _Reader:
    """Accumulates problems while the files are read; file names are shown under `label`."""

    folder: Path
    root: RulesRoot
    label: str = ""
    budget: _Budget = field(default_factory=_Budget)
    problems: list[Problem] = field(default_factory=list)
    # Differences from the manifest: reported first, after the content is checked as usual.
    incomplete: list[Problem] = field(default_factory=list)
    # Problems of the files' structure (schema.py): apart, since with any of them the release is not cross-checked.
    structure: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    # Places problems in the files read (locate.py); it parses a file again only when that file has a problem.
    locator: Locator = field(default_factory=Locator)
    # Texts that YAML cut at an unquoted comma (`{nl: a, b, en: c}` reads "a" and a key "b"): a problem of a current
    # release only, since a published release is never edited (its successor fixes them). Placed only when reported:
    # placing parses the file again, which every superseded release with such texts would pay on each reload.
    cut_texts: list[Problem] = field(default_factory=list)

    def problem(self, file: str, item: str, message: str, line: int | None = None, column: int | None = None) -> None:
        """A problem of `file` (a name within the release), placed at its line and column when it has one."""
        self.problems.append(self.located(Problem(file, item, message, line, column)))

    def located(self, problem: Problem) -> Problem:
        """`problem` (its file named within the release) with its place in that file, its file under `label`."""
        return self.locator.place(replace(problem, file=self.label + problem.file), problem.file)

    def at(self, file: str, item: str, message: str, path: Sequence[str | int]) -> Problem:
        """A problem of `file` placed where `path` (keys and list indexes from the top) leads in it."""
        place = self.locator.at(file, path)
        line, column = place if place is not None else (None, None)
        return self.located(Problem(file, item, message, line, column))

    def release_problem(self, message: str) -> None:
        """A problem of the release folder as a whole."""
        self.problems.append(Problem(self.label.rstrip("/") or str(self.folder), "-", message))

    def text(self, file: str, item: str, text: schema.Text, what: str) -> Text:
        # Texts allow extra keys (schema.py): here they are what an unquoted comma cut off.
        rest = [str(key) for key in text.model_extra or ()]
        if rest:
            message = (
                f"{what} is cut at a comma: {rest[0]!r} became a key of its own, so readers see only part of the "
                "text; put the text in quotes"
            )
            self.cut_texts.append(Problem(file, item, message))
        return Text(text.nl, text.en)

    def citations(self, file: str, item: str, refs: Sequence[str]) -> tuple[Citation, ...]:
        found: list[Citation] = []
        for ref in refs:
            source = self._source_of(ref)
            if source is None:
                self.problem(file, item, f"citation {ref!r} does not start with a source id of sources.yaml")
                continue
            found.append(Citation(source, ref, self.sources[source]))
        return tuple(found)

    def _source_of(self, ref: str) -> str | None:
        matches = [s for s in self.sources if ref == s or ref.startswith(s + " ")]
        return max(matches, key=len) if matches else None


def load_rule_set(folder: Path | str, label: str = "", root: RulesRoot | None = None) -> RuleSet:
    """Load, check and return the rule-set version in `folder`; problems name files as `label` + file name.

    `root` is the rules root no file may leave (by default `folder` itself).

    Raises:
        RuleSetError: any file is unreadable or any entry is invalid; every problem is listed.
    """
    path = Path(folder)
    try:
        opened = root or open_root(path)
    except UnsafeFile as err:
        raise RuleSetError([Problem(label or str(path), "-", str(err))]) from None
    return _load(path, label, opened, _Budget()).rule_set


@dataclass(frozen=True)
class _Loaded:
    """A release as loaded, with what places its later problems (`internal_references`) in its files."""

    rule_set: RuleSet
    reader: _Reader
    # The bytes of its files as read: what the cache of loaded releases counts it as.
    size: int = 0


@dataclass(frozen=True)
class ReleaseCacheStats:
    """How the cache of loaded releases served: loads it answered, loads that parsed, releases it holds."""

    hits: int
    misses: int
    releases: int


# Releases loaded before, by the name they are shown under and the sha256 of every file's bytes as read (the
# manifest included). Releases are immutable in practice and a reload usually follows the change of one of them:
# parsing, validating and building the others again was most of a reload's load (about 120 of 130 ms for the six
# releases of rules/, measured). What a release becomes is a function of those bytes and its name alone (`_build`
# reads nothing else), and so are its problems, so a release found here is as a fresh load would make it; one with
# problems is never stored. Not keyed by the resolved folder: under a ConfigMap mount every deploy resolves to a new
# timestamped folder, which would miss for every release. One entry per name (a release loaded with new bytes
# replaces its entry), and bounded by the bytes of the releases held: the root in service (at most MAX_ROOT_BYTES,
# kept in memory while served anyway) and as much again of releases of other roots or names.
_RELEASES: LRUCache[tuple[str, str, str], _Loaded] = LRUCache(
    maxsize=2 * MAX_ROOT_BYTES, getsizeof=lambda loaded: max(loaded.size, 1)
)
_RELEASES_LOCK = threading.Lock()
_release_counts = {"hits": 0, "misses": 0}


def release_cache_stats() -> ReleaseCacheStats:
    """Counts of the process-wide cache of loaded releases since the process started (or `clear_release_cache`)."""
    with _RELEASES_LOCK:
        return ReleaseCacheStats(_release_counts["hits"], _release_counts["misses"], len(_RELEASES))


def clear_release_cache() -> None:
    """Forget every loaded release and reset the counts: the next load of each release parses it again."""
    with _RELEASES_LOCK:
        _RELEASES.clear()
        _release_counts.update(hits=0, misses=0)


def _load(path: Path, label: str, root: RulesRoot, budget: _Budget) -> _Loaded:
    """Load one release; its bytes are always read (and charged to `budget`), parsed only when not loaded before.

    Raises:
        RuleSetError: the release has problems; the same ones as when it was never loaded before.
    """
    reader = _Reader(path, root, label, budget)
    read = _read_files(path, reader)
    key: tuple[str, str, str] | None = None
    if read is not None and not reader.problems:
        # Only a release read without a problem: any problem found later is a function of the bytes, the names
        # and the label, all in the key, so a stored release would have had it too.
        key = (label, path.name, _sha256(read[1]))
        with _RELEASES_LOCK:
            found = _RELEASES.get(key)
            _release_counts["hits" if found is not None else "misses"] += 1
        if found is not None:
            return found
    documents = _read_documents(path, reader, read)
    if reader.problems or any(document.model is None for document in documents.values()):
        raise RuleSetError(reader.incomplete + reader.problems + reader.structure)
    rule_set = _build(documents, reader)
    if not reader.structure:
        reader.problems.extend(reader.located(p) for p in validate_rule_set(rule_set))
    problems = reader.incomplete + reader.structure + reader.problems
    if problems:
        raise RuleSetError(problems)
    loaded = _Loaded(rule_set, reader, sum(len(data) for data in read[1].values()) if read else 0)
    if key is not None:
        with _RELEASES_LOCK:
            # Its earlier bytes are forgotten: an edited release is not loaded as it was again (an edit undone only
            # parses once more), and keeping every edit would hold megabytes for nothing until the bound is reached.
            for earlier in [k for k in _RELEASES if k[:2] == key[:2]]:
                del _RELEASES[earlier]
            _RELEASES[key] = loaded
    return loaded


def find_rule_set_folders(root: Path | str) -> list[Path]:
    """The rule-set version folders under `root` (folders holding a ruleset.yaml), `root` itself included.

    Under a ConfigMap mount, the folders are those under the target of `root/..data`. Symlinked folders are not
    followed.

    Raises:
        RuleSetError: the root cannot be resolved, or its `..data` link is dangling or leads outside it.
    """
    try:
        return release_folders(open_root(root))
    except UnsafeFile as err:
        raise RuleSetError([Problem(str(root), "-", str(err))]) from None


def load_rule_sets(root: Path | str) -> tuple[RuleSet, ...]:
    """Load every release under `root`, oldest version first, and check that the current ones do not overlap.

    A release named in another's `supersedes` is loaded too (for replay and pins) but is not current. Only the
    current releases must cite findable sources (no seed file names, no domain.md): a superseded release is
    published and immutable, and keeps loading as it was written.

    Raises:
        RuleSetError: any release has problems, none is found, two current releases cover the same day, or a
            current release cites a seed file or domain.md.
    """
    try:
        # Resolved once: every file of this load is read through the same `..data` target, even if it is swapped.
        opened = open_root(root)
        folders = release_folders(opened)
    except UnsafeFile as err:
        raise RuleSetError([Problem(str(root), "-", str(err))]) from None
    base = opened.base
    problems: list[Problem] = []
    labelled: list[_Loaded] = []
    if not folders:
        raise RuleSetError([Problem(str(root), "-", "no rule-set version (no folder with a ruleset.yaml)")])
    # Once one release carries a manifest, each must: a release still being copied in, its manifest not yet
    # written, is then refused instead of going live half-written.
    with_manifest = {folder for folder in folders if os.path.lexists(folder / MANIFEST)}
    budget = _Budget()
    for folder in folders:
        label = "" if folder == base else f"{folder.relative_to(base).as_posix()}/"
        if with_manifest and folder not in with_manifest:
            problems.append(
                Problem(
                    label + MANIFEST,
                    "-",
                    "missing, while other releases have one: the release may be incomplete; "
                    "write it with `rolwijzer-rules manifest`",
                )
            )
        try:
            labelled.append(_load(folder, label, opened, budget))
        except RuleSetError as err:
            problems.extend(err.problems)
    # Which releases are current is known only when every release was read: a release that failed to load might
    # supersede others, so their citations are judged once it loads.
    superseded = {(done.rule_set.id, old) for done in labelled for old in done.rule_set.supersedes}
    for done in labelled if not problems else ():
        if (done.rule_set.id, done.rule_set.version) not in superseded:
            problems.extend(done.reader.located(p) for p in internal_references(done.rule_set))
            problems.extend(done.reader.located(p) for p in done.reader.cut_texts)
    loaded = sorted((done.rule_set for done in labelled), key=lambda r: version_key(r.version))
    problems.extend(_overlaps(loaded))
    if problems:
        raise RuleSetError(problems)
    return tuple(loaded)


def _overlaps(versions: list[RuleSet]) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for version in versions:
        key = (version.id, version.version)
        if key in seen:
            yield Problem(f"{version.folder}/ruleset.yaml", "-", f"version {version.version} is loaded twice")
        seen.add(key)
    superseded = {(r.id, old) for r in versions for old in r.supersedes}
    current = sorted((r for r in versions if (r.id, r.version) not in superseded), key=lambda r: r.valid_from)
    for earlier, later in itertools.pairwise(current):
        if earlier.valid_until is None or later.valid_from <= earlier.valid_until:
            yield Problem(
                f"{later.folder}/ruleset.yaml",
                "-",
                f"valid from {later.valid_from} while {earlier.version} is still in force ({earlier.window()})",
            )


@dataclass(frozen=True)
class _Document:
    """A file of a release: its name, its model (None when its structure is too broken to read) and its content.

    `content` is as parsed, less the entries left out for their structure: its lists match the model's, entry for
    entry. `cited` names each entry left out whose citations are sound, and those: they are still checked.
    """

    name: str
    model: BaseModel | None
    content: Mapping[str, AnyType]
    cited: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _read_files(folder: Path, reader: _Reader) -> tuple[list[str], dict[str, bytes]] | None:
    """The names of the release's `.yaml` entries and the bytes of each readable one (see `_read_contents`).

    None, with a problem, when the folder cannot be listed or the release as a whole is over a limit.
    """
    if not folder.is_dir():
        reader.problem(str(folder), "-", "not a folder")
        return None
    try:
        names = yaml_names(folder)
    except UnsafeFile as err:
        reader.problem(str(folder), "-", str(err))
        return None
    contents = _read_contents(folder, names, reader)
    if contents is None:
        return None  # the release is over a limit: nothing of it was read
    return names, contents


def _read_documents(
    folder: Path, reader: _Reader, read: tuple[list[str], dict[str, bytes]] | None
) -> dict[str, _Document]:
    """Map each file's kind (`facts`) to its document, validated; rule files are keyed by file name.

    `read` is what `_read_files` gave (None: nothing to parse, its problem reported).
    """
    if read is None:
        return {}
    names, contents = read
    if MANIFEST in names:
        _check_manifest(names, contents, reader)
    if not [n for n in names if n != MANIFEST]:
        reader.problem(str(folder), "-", "no .yaml files")
    documents: dict[str, _Document] = {}
    nodes_left = MAX_NODES_PER_RELEASE
    for name, data in contents.items():
        if name == MANIFEST:
            continue
        try:
            loaded, nodes = parse_yaml(data, min(MAX_NODES_PER_FILE, nodes_left))
        except UnsafeFile as err:
            reader.problem(name, "-", str(err), err.line, err.column)
            continue
        nodes_left -= nodes
        if not isinstance(loaded, dict):
            reader.problem(name, "-", "must hold a mapping at the top level")
            continue
        key = name if "rules" in loaded else name.removesuffix(".yaml")
        if key not in (name, *_REQUIRED):
            reader.problem(name, "-", "is no file of a release: a rule file holds `rules:`; the others are " + _FILES)
            continue
        documents[key] = _validated(reader, name, "stage" if key == name else key, loaded)
    reported = {p.file for p in reader.problems}  # a file that is there but unreadable has its own problem
    for required in _REQUIRED:
        if required not in documents and f"{reader.label}{required}.yaml" not in reported:
            reader.problem(f"{required}.yaml", "-", "missing")
    return documents


def _validated(reader: _Reader, name: str, kind: str, content: dict[str, AnyType]) -> _Document:
    """`content` validated by the model of its kind; each problem of its structure reported once, in place.

    A file whose only problems are in entries of its lists is validated again without those entries, so the rest
    of it can be read; any other problem leaves it without a model.
    """
    from pydantic import ValidationError  # noqa: PLC0415 - see the module docstring

    from rolwijzer.rules import schema  # noqa: PLC0415

    model = schema.FILE_KINDS[kind]
    try:
        return _Document(name, model.model_validate(content), content)
    except ValidationError as err:
        errors = err.errors()
    whole = False
    unknown_keys: list[str] = []
    bad: dict[tuple[str, int], set[str]] = {}  # the entries with problems, and their keys that have one
    for error in errors:
        loc = error["loc"]
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(content.get(str(loc[0])), list):
            section, index, key = str(loc[0]), loc[1], str(loc[2]) if len(loc) > 2 else ""
            keys = bad.setdefault((section, index), set())
            if key not in keys:  # one problem per key: each alternative of a union says the same
                keys.add(key)
                item = _item(content[section][index], index)
                reader.structure.append(reader.at(name, item, _message(section, loc[2:], error), loc))
        elif error["type"] == "extra_forbidden" and len(loc) == 1:
            whole, unknown_keys = True, [*unknown_keys, str(loc[0])]
        else:
            whole = True
            reader.structure.append(reader.at(name, "-", _message(None, loc, error), loc))
    if unknown_keys:
        message = f"unknown top-level keys {sorted(unknown_keys)}"
        reader.structure.append(reader.at(name, "-", message, unknown_keys[:1]))
    if whole:
        return _Document(name, None, content)
    kept = {
        key: [entry for index, entry in enumerate(value) if (key, index) not in bad]
        if isinstance(value, list)
        else value
        for key, value in content.items()
    }
    cited = []
    for (section, index), keys in bad.items():
        entry = content[section][index]
        if "cite" not in keys and isinstance(entry, dict) and isinstance(entry.get("cite"), list):
            cited.append((_item(entry, index), tuple(entry["cite"])))
    try:
        return _Document(name, model.model_validate(kept), kept, tuple(cited))
    except ValidationError:  # not expected: every problem was in an entry left out
        return _Document(name, None, content)


def _item(entry: object, index: int) -> str:
    """The name a problem gives an entry: its id, name or code, else its place (`#3`)."""
    if isinstance(entry, dict):
        for key in ("id", "name", "code"):
            value = entry.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return f"#{index + 1}"


# The words of the loader's problems before the models took over its checks, by key, so a lawyer reads the same.
_WORDED = {
    "cite": "no citation: every entry needs `cite` with at least one source",
    "enumerate": "enumerate must be `symbols`, {buckets: [...]} or {split_at: {param}, boundary: {param}}",
    "maximum": "maximum is for number facts only, and must be a positive number",
    "values": "a parameter needs `values` keyed by date (YYYY-MM-DD)",
    "texts": "`texts` maps each placeholder to a text per allowed value",
    "symbols": "each symbol needs value, nl and en (and may have means, at least two other symbols)",
    "then": "`then` must be a mapping with some of role, volunteer_deployer, codes, set and exclude",
}
_TEXT_KEYS = frozenset({"explain", "question", "help", "unit", "title", "text", "party"})
_DATE_KEYS = frozenset({"valid_from", "valid_until", "date"})
_FLAG_KEYS = frozenset({"unknown", "decides_role", "pattern", "safety"})


def _message(section: str | None, path: tuple[str | int, ...], error: ErrorDetails) -> str:
    """What a lawyer reads for one error of pydantic at `path` within an entry of `section` (None: the file)."""
    kind = error["type"]
    if not path:
        return f"each entry of `{section}` must be a mapping"
    key = str(path[0])
    if kind == "extra_forbidden":
        return f"unknown key {str(path[-1])!r}" + (f" in `{key}`" if len(path) > 1 else "")
    if key == "id" and section == "rules":
        return "a rule without an id" if kind == "missing" else "a rule id uses letters, digits and - _ . only"
    if key in _TEXT_KEYS:
        what = "explanation" if (key, section) == ("explain", "rules") else key
        if kind == "string_too_short":
            return f"{what} has an empty Dutch or English text"
        return f"{what} needs a Dutch (nl) and an English (en) text"
    if key in _DATE_KEYS:
        return f"{key} must be a date (YYYY-MM-DD)"
    if key in _FLAG_KEYS:
        return f"`{key}` is true or false"
    if key in _WORDED:
        return _WORDED[key]
    if kind == "missing":
        return f"`{path[-1]}` is missing"
    return f"{key}: {error['msg'].removeprefix('Value error, ')}"


def _read_contents(folder: Path, names: list[str], reader: _Reader) -> dict[str, bytes] | None:
    """The bytes of each readable file, bounded per file, per release and for the whole root (see files.py).

    The sizes are checked with `stat` before anything is read, and the bytes again as they are read. None when
    the release as a whole is over a limit.
    """
    if len(names) > MAX_FILES_PER_RELEASE:
        reader.release_problem(f"{len(names)} .yaml files, over the limit of {MAX_FILES_PER_RELEASE} per release")
        return None
    sizes: dict[str, int] = {}
    for name in names:
        try:
            sizes[name] = regular_size(folder / name, reader.root)
        except UnsafeFile as err:
            reader.problem(name, "-", str(err))
    total = sum(sizes.values())
    if total > MAX_RELEASE_BYTES:
        reader.release_problem(f"the .yaml files hold {total} bytes, over the limit of {_mib(MAX_RELEASE_BYTES)}")
        return None
    if total > reader.budget.bytes:
        reader.release_problem(f"the releases under the rules root hold over {_mib(MAX_ROOT_BYTES)} together")
        return None
    contents: dict[str, bytes] = {}
    read = 0
    for name in sizes:
        try:
            data = read_bytes(folder / name, reader.root)
        except UnsafeFile as err:
            reader.problem(name, "-", str(err))
            continue
        read += len(data)
        if read > min(MAX_RELEASE_BYTES, reader.budget.bytes):
            reader.release_problem("the files grew over the limit of bytes per release while they were read")
            return None
        contents[name] = data
    reader.locator = Locator(contents)
    reader.budget.bytes -= read
    reader.contents = {name: data for name, data in contents.items() if name != MANIFEST}
    return contents


def _mib(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB"


def _check_manifest(names: list[str], contents: dict[str, bytes], reader: _Reader) -> None:
    """Compare the release with its manifest; each difference is a problem of `reader.incomplete`."""
    if MANIFEST not in contents:
        return  # unreadable: reported already
    try:
        declared = parse_manifest(parse_yaml(contents[MANIFEST])[0])
    except UnsafeFile as err:
        reader.problem(MANIFEST, "-", str(err), err.line, err.column)
        return
    except ValueError as err:
        reader.problem(MANIFEST, "-", str(err))
        return
    present = {name: contents.get(name) for name in names if name != MANIFEST}
    for file, message in manifest_problems(declared, present):
        reader.incomplete.append(Problem(reader.label + file, "-", message))


def rule_set_sha256(folder: Path | str) -> str:
    """The sha256 over the rule set's files: their names and contents, in name order (the manifest left out).

    Raises:
        UnsafeFile: a file cannot be read safely (see files.py).
    """
    path = Path(folder)
    root = open_root(path)
    return _sha256({name: read_bytes(path / name, root) for name in yaml_names(path) if name != MANIFEST})


def _sha256(contents: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(contents):
        digest.update(name.encode() + b"\0" + contents[name] + b"\0")
    return digest.hexdigest()


def _build(documents: Mapping[str, _Document], reader: _Reader) -> RuleSet:
    meta = cast("schema.RulesetFile", documents["ruleset"].model)
    meta_file = documents["ruleset"].name
    for source in cast("schema.SourcesFile", documents["sources"].model).sources:
        reader.sources[source.id] = source.title
    for document in documents.values():
        for item, refs in document.cited:
            reader.citations(document.name, item, refs)
    facts_file = cast("schema.FactsFile", documents["facts"].model)
    facts = {f.name: f for f in _facts(reader, documents["facts"].name, facts_file.facts)}
    groups = {g.name: g for g in _groups(reader, documents["facts"].name, facts_file.groups)}
    parameters_file = cast("schema.ParametersFile", documents["parameters"].model)
    parameters = {p.name: p for p in _parameters(reader, documents["parameters"].name, parameters_file.parameters)}
    codes_file = cast("schema.CodesFile", documents["codes"].model)
    roles = _role_defs(reader, documents["codes"].name, codes_file.roles, "roles")
    deployers = _role_defs(reader, documents["codes"].name, codes_file.deployers, "deployers")
    codes = {c.code: c for c in _codes(reader, documents["codes"].name, codes_file.codes)}
    predicates = _predicates(reader, documents["predicates"])
    rules = tuple(
        rule
        for key, document in documents.items()
        if key.endswith(".yaml")
        for rule in _rules(reader, document, predicates)
    )
    if meta.valid_until is not None and meta.valid_until < meta.valid_from:
        reader.problem(meta_file, "-", "valid_until must be a date (YYYY-MM-DD) on or after valid_from")
    return RuleSet(
        id=meta.id,
        version=meta.version,
        title=reader.text(meta_file, "-", meta.title, "title"),
        sha256=_sha256(reader.contents),
        valid_from=meta.valid_from,
        valid_until=meta.valid_until if meta.valid_until is None or meta.valid_until >= meta.valid_from else None,
        folder=reader.label.rstrip("/") or reader.folder.name,
        facts=facts,
        groups=groups,
        parameters=parameters,
        roles=roles,
        deployers=deployers,
        codes=codes,
        predicates={p.name: p for p in predicates.values()},
        rules=rules,
        sources=dict(reader.sources),
        supersedes=_supersedes(reader, meta_file, meta),
    )


def _supersedes(reader: _Reader, file: str, meta: schema.RulesetFile) -> tuple[str, ...]:
    own = version_key(meta.version)
    for version in meta.supersedes:
        if version_key(version) >= own:
            reader.problem(file, "-", f"supersedes {version}, which is not an earlier release")
    return tuple(meta.supersedes)


def _facts(reader: _Reader, file: str, entries: Sequence[schema.Fact]) -> Iterator[FactDef]:
    for raw in entries:
        fact_type = FactType(raw.type)
        yield FactDef(
            name=raw.name,
            type=fact_type,
            symbols=_symbols(reader, file, raw, fact_type),
            unknown_allowed=raw.unknown,
            default=_default(fact_type, raw.default),
            default_conditional=raw.default == "conditional",
            decides_role=raw.decides_role,
            enumeration=_enumeration(raw.enumerate),
            question=reader.text(file, raw.name, raw.question, "question"),
            help=reader.text(file, raw.name, raw.help, "help"),
            unit=reader.text(file, raw.name, raw.unit, "unit") if raw.unit is not None else None,
            citations=reader.citations(file, raw.name, raw.cite),
            maximum=_maximum(reader, file, raw, fact_type),
        )


def _maximum(reader: _Reader, file: str, raw: schema.Fact, fact_type: FactType) -> float | None:
    if raw.maximum is not None and fact_type != FactType.NUMBER:
        reader.problem(file, raw.name, "maximum is for number facts only, and must be a positive number")
        return None
    return raw.maximum


def _symbols(reader: _Reader, file: str, raw: schema.Fact, fact_type: FactType) -> tuple[SymbolDef, ...]:
    if fact_type == FactType.BOOLEAN:
        values = ["true", "false"] + (["unknown"] if raw.unknown else [])
        return tuple(SymbolDef(v, _BOOLEAN_LABELS[v]) for v in values)
    if fact_type == FactType.NUMBER:
        return ()
    if not raw.symbols:
        reader.problem(file, raw.name, "symbol and set facts need a list of `symbols`")
        return ()
    found = tuple(SymbolDef(s.value, Text(s.nl, s.en), tuple(s.means or ())) for s in raw.symbols)
    plain = {s.value for s in found if not s.means} - {UNKNOWN}
    for symbol in found:
        for meant in symbol.means:
            if meant not in plain:
                reader.problem(file, raw.name, f"symbol {symbol.value!r}: means {meant!r}, which is no plain symbol")
    return found


def _default(fact_type: FactType, raw: str | bool | float | list[str] | None) -> Scalar | frozenset[str] | None:
    if raw is None or raw == "conditional":
        return None
    if fact_type == FactType.SET:
        return frozenset(raw) if isinstance(raw, list) else None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if fact_type == FactType.NUMBER and isinstance(raw, float):
        return raw
    return str(raw)


def _enumeration(raw: str | schema.Buckets | schema.Split | None) -> Enumeration | None:
    from rolwijzer.rules import schema  # noqa: PLC0415 - imported by _validated already; see the module docstring

    if isinstance(raw, schema.Buckets):
        return Enumeration(buckets=tuple(Bucket(b.label, b.value) for b in raw.buckets))
    if isinstance(raw, schema.Split):
        boundary = raw.boundary
        return Enumeration(
            split_at=ParamRef(raw.split_at.param), boundary=ParamRef(boundary.param) if boundary else None
        )
    return None if raw is None else Enumeration()  # `symbols`


def _groups(reader: _Reader, file: str, entries: Sequence[schema.Group]) -> Iterator[Group]:
    for raw in entries:
        yield Group(
            name=raw.name,
            fact=raw.fact,
            symbols=frozenset(raw.symbols),
            explain=reader.text(file, raw.name, raw.explain, "explain"),
            citations=reader.citations(file, raw.name, raw.cite),
        )


def _parameters(reader: _Reader, file: str, entries: Sequence[schema.Parameter]) -> Iterator[Parameter]:
    for raw in entries:
        yield Parameter(
            name=raw.name,
            explain=reader.text(file, raw.name, raw.explain, "explain"),
            values=tuple(sorted(((since, _param_value(v)) for since, v in raw.values.items()), key=lambda v: v[0])),
            allowed=tuple(raw.allowed or ()),
            fact=raw.fact,
            citations=reader.citations(file, raw.name, raw.cite),
            texts={
                placeholder: {
                    value: reader.text(file, raw.name, text, f"text of {{{placeholder}}} for {value}")
                    for value, text in by_value.items()
                }
                for placeholder, by_value in (raw.texts or {}).items()
            },
        )


def _param_value(raw: str | bool | float | list[str]) -> Scalar | tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(raw)
    if isinstance(raw, float):
        return raw
    return str(raw)


def _role_defs(reader: _Reader, file: str, entries: Sequence[schema.RoleDef], section: str) -> dict[str, RoleDef]:
    found: dict[str, RoleDef] = {}
    for raw in entries:
        if raw.code in found:
            reader.problem(file, raw.code, f"duplicate code in `{section}`")
        found[raw.code] = RoleDef(
            raw.code, reader.text(file, raw.code, raw.text, "text"), reader.citations(file, raw.code, raw.cite)
        )
    return found


def _codes(reader: _Reader, file: str, entries: Sequence[schema.CodeDef]) -> Iterator[CodeDef]:
    seen: set[str] = set()
    for raw in entries:
        if raw.code in seen:
            reader.problem(file, raw.code, "duplicate code")
        seen.add(raw.code)
        yield CodeDef(
            code=raw.code,
            kind=CodeKind(raw.kind),
            text=reader.text(file, raw.code, raw.text, "text"),
            party=reader.text(file, raw.code, raw.party, "party") if raw.party is not None else None,
            citations=reader.citations(file, raw.code, raw.cite),
            aggregate=Aggregate(raw.aggregate),
            pattern=raw.pattern,
            safety=raw.safety,
        )


def _predicates(reader: _Reader, document: _Document) -> dict[str, Predicate]:
    """Parse predicates in file order; a predicate may use the ones written above it."""
    file = document.name
    found: dict[str, Predicate] = {}
    conditions: dict[str, Condition] = {}
    entries = cast("schema.PredicatesFile", document.model).predicates
    for raw, content in zip(entries, document.content["predicates"], strict=True):
        if raw.name in found:
            reader.problem(file, raw.name, "duplicate predicate")
        condition = _condition(reader, file, raw.name, content["when"], conditions)
        if condition is None:
            continue
        conditions[raw.name] = condition
        found[raw.name] = Predicate(
            raw.name,
            condition,
            reader.text(file, raw.name, raw.explain, "explain"),
            reader.citations(file, raw.name, raw.cite),
        )
    return found


def _condition(
    reader: _Reader, file: str, item: str, raw: object, predicates: Mapping[str, Condition]
) -> Condition | None:
    try:
        return parse_condition(raw, predicates)
    except ConditionError as err:
        reader.problem(file, item, f"condition: {err}")
        return None


def _rules(reader: _Reader, document: _Document, predicates: Mapping[str, Predicate]) -> Iterator[Rule]:
    file = document.name
    conditions = {name: p.when for name, p in predicates.items()}
    entries = cast("schema.StageFile", document.model).rules
    for raw, content in zip(entries, document.content["rules"], strict=True):
        when = _condition(reader, file, raw.id, content["when"], conditions)
        explain = reader.text(file, raw.id, raw.explain, "explanation")
        citations = reader.citations(file, raw.id, raw.cite)
        if raw.valid_from is not None and raw.valid_until is not None and raw.valid_until < raw.valid_from:
            reader.problem(file, raw.id, "valid_until is before valid_from")
        if when is None:
            continue
        yield Rule(
            id=raw.id,
            stage=raw.stage,
            when=when,
            then=_conclusion(raw.then),
            explain=explain,
            citations=citations,
            file=file,
            note=raw.note or "",
            valid_from=raw.valid_from,
            valid_until=raw.valid_until,
        )


def _conclusion(raw: schema.Conclusion) -> Conclusion:
    return Conclusion(
        role=raw.role,
        volunteer_deployer=raw.volunteer_deployer,
        codes=tuple(raw.codes or ()),
        set_facts={name: _scalar(value) for name, value in (raw.set or {}).items()},
        exclude={
            name: tuple(_scalar(v) for v in (values if isinstance(values, list) else [values]))
            for name, values in (raw.exclude or {}).items()
        },
    )


def _scalar(raw: str | bool | float) -> Scalar:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return raw
