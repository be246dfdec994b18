"""Read a rule-set folder of YAML files into a validated `RuleSet`.

Every problem found is collected with its file and rule id; `load_rule_set` raises one `RuleSetError` that lists
them all, so a lawyer fixing a file sees every mistake at once. Files are read by `files.py`, which bounds what a
file may cost (see there), and a release with a `manifest.yaml` is loaded only when it is complete (manifest.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any as AnyType

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

_BOOLEAN_LABELS = {
    "true": Text("ja", "yes"),
    "false": Text("nee", "no"),
    "unknown": Text("weet niet", "don't know"),
}


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


# Keys that may stand beside nl and en in one mapping: a symbol's `{value: ..., nl: ..., en: ...}` (and `means`).
_TEXT_NEIGHBOURS = frozenset({"nl", "en", "value", "means"})


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
    sources: dict[str, str] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    # Places problems in the files read (locate.py); it parses a file again only when that file has a problem.
    locator: Locator = field(default_factory=Locator)
    # Texts that YAML cut at an unquoted comma (`{nl: a, b, en: c}` reads "a" and a key "b"): a problem of a current
    # release only, since a published release is never edited (its successor fixes them).
    cut_texts: list[Problem] = field(default_factory=list)

    def problem(self, file: str, item: str, message: str, line: int | None = None, column: int | None = None) -> None:
        """A problem of `file` (a name within the release), placed at its line and column when it has one."""
        self.problems.append(self.located(Problem(file, item, message, line, column)))

    def located(self, problem: Problem) -> Problem:
        """`problem` (its file named within the release) with its place in that file, its file under `label`."""
        return self.locator.place(replace(problem, file=self.label + problem.file), problem.file)

    def release_problem(self, message: str) -> None:
        """A problem of the release folder as a whole."""
        self.problems.append(Problem(self.label.rstrip("/") or str(self.folder), "-", message))

    def text(self, file: str, item: str, raw: object, what: str) -> Text:
        if not isinstance(raw, dict) or not all(isinstance(raw.get(lang), str) for lang in ("nl", "en")):
            self.problem(file, item, f"{what} needs a Dutch (nl) and an English (en) text")
            return Text("", "")
        nl, en = raw["nl"].strip(), raw["en"].strip()
        if not nl or not en:
            self.problem(file, item, f"{what} has an empty Dutch or English text")
        rest = [str(key) for key in raw if key not in _TEXT_NEIGHBOURS]
        if rest:
            message = (
                f"{what} is cut at a comma: {rest[0]!r} became a key of its own, so readers see only part of the "
                "text; put the text in quotes"
            )
            self.cut_texts.append(self.located(Problem(file, item, message)))
        return Text(nl, en)

    def citations(self, file: str, item: str, raw: object) -> tuple[Citation, ...]:
        if not isinstance(raw, list) or not raw:
            self.problem(file, item, "no citation: every entry needs `cite` with at least one source")
            return ()
        found: list[Citation] = []
        for ref in raw:
            source = self._source_of(str(ref))
            if source is None:
                self.problem(file, item, f"citation {ref!r} does not start with a source id of sources.yaml")
                continue
            found.append(Citation(source, str(ref), self.sources[source]))
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


def _load(path: Path, label: str, root: RulesRoot, budget: _Budget) -> _Loaded:
    reader = _Reader(path, root, label, budget)
    documents = _read_documents(path, reader)
    if reader.problems:
        raise RuleSetError(reader.incomplete + reader.problems)
    rule_set = _build(documents, reader)
    reader.problems.extend(reader.located(p) for p in validate_rule_set(rule_set))
    if reader.incomplete or reader.problems:
        raise RuleSetError(reader.incomplete + reader.problems)
    return _Loaded(rule_set, reader)


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
            problems.extend(done.reader.cut_texts)
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


def _read_documents(folder: Path, reader: _Reader) -> dict[str, tuple[str, dict[str, AnyType]]]:
    """Map each top-level section name to (file name, document); rule files are keyed by file name."""
    if not folder.is_dir():
        reader.problem(str(folder), "-", "not a folder")
        return {}
    try:
        names = yaml_names(folder)
    except UnsafeFile as err:
        reader.problem(str(folder), "-", str(err))
        return {}
    contents = _read_contents(folder, names, reader)
    if contents is None:
        return {}  # the release is over a limit: nothing of it was read
    if MANIFEST in names:
        _check_manifest(names, contents, reader)
    if not [n for n in names if n != MANIFEST]:
        reader.problem(str(folder), "-", "no .yaml files")
    documents: dict[str, tuple[str, dict[str, AnyType]]] = {}
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
        if key not in (name, "ruleset") and key not in _SECTIONS:
            reader.problem(name, "-", "is no file of a release: a rule file holds `rules:`; the others are " + _FILES)
            continue
        allowed = _STAGE_KEYS if key == name else _SECTIONS.get(key, frozenset(loaded))  # ruleset.yaml: see _window
        if set(loaded) - allowed:
            reader.problem(name, "-", f"unknown top-level keys {sorted(str(k) for k in set(loaded) - allowed)}")
        documents[key] = (name, loaded)
    reported = {p.file for p in reader.problems}  # a file that is there but unreadable has its own problem
    for required in ("ruleset", "sources", "facts", "codes", "parameters", "predicates"):
        if required not in documents and f"{reader.label}{required}.yaml" not in reported:
            reader.problem(f"{required}.yaml", "-", "missing")
    return documents


# The keys the loader allows, by file and by entry. The models of schema.py (which generate the editors' JSON
# Schemas) say the same; a test holds the two equal. Written out here because importing pydantic and building the
# models costs the server and every CLI start about 250 ms.
# The top-level keys of each file of a release but ruleset.yaml, whose keys are checked with its content (_window).
_SECTIONS: dict[str, frozenset[str]] = {
    "sources": frozenset({"sources"}),
    "facts": frozenset({"facts", "groups"}),
    "codes": frozenset({"roles", "deployers", "codes"}),
    "parameters": frozenset({"parameters"}),
    "predicates": frozenset({"predicates"}),
}
_STAGE_KEYS = frozenset({"rules"})
_RULESET_KEYS = frozenset(
    {"id", "version", "title", "specification", "valid_from", "valid_until", "changes", "supersedes"}
)
_RULE_KEYS = frozenset({"id", "stage", "when", "then", "explain", "cite", "note", "valid_from", "valid_until"})
_CONCLUSION_KEYS = frozenset({"role", "volunteer_deployer", "codes", "set", "exclude"})
# A symbol entry: the keys it needs, and those it may have.
_SYMBOL_KEYS = (frozenset({"value", "nl", "en"}), frozenset({"value", "nl", "en", "means"}))
_FILES = "ruleset, sources, facts, codes, parameters and predicates.yaml"


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


def _build(documents: Mapping[str, tuple[str, dict[str, AnyType]]], reader: _Reader) -> RuleSet:
    meta_file, meta = documents["ruleset"]
    for entry in _entries(reader, documents["sources"], "sources"):
        reader.sources[str(entry.get("id"))] = str(entry.get("title", ""))
    facts = {f.name: f for f in _facts(reader, documents["facts"])}
    groups = {g.name: g for g in _groups(reader, documents["facts"])}
    parameters = {p.name: p for p in _parameters(reader, documents["parameters"])}
    roles = _role_defs(reader, documents["codes"], "roles")
    deployers = _role_defs(reader, documents["codes"], "deployers")
    codes = {c.code: c for c in _codes(reader, documents["codes"])}
    predicates = _predicates(reader, documents["predicates"])
    rules = tuple(
        rule
        for key, document in documents.items()
        if key.endswith(".yaml")
        for rule in _rules(reader, document, predicates)
    )
    valid_from, valid_until = _window(reader, meta_file, meta)
    return RuleSet(
        id=str(meta.get("id", "")),
        version=str(meta.get("version", "")),
        title=reader.text(meta_file, "-", meta.get("title"), "title"),
        sha256=_sha256(reader.contents),
        valid_from=valid_from,
        valid_until=valid_until,
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


def _supersedes(reader: _Reader, file: str, meta: Mapping[str, AnyType]) -> tuple[str, ...]:
    raw = meta.get("supersedes", [])
    versions = tuple(str(v) for v in raw) if isinstance(raw, list) else ()
    if not isinstance(raw, list):
        reader.problem(file, "-", "supersedes must be a list of earlier release versions")
    own = version_key(str(meta.get("version", "")))
    for version in versions:
        if version_key(version) >= own:
            reader.problem(file, "-", f"supersedes {version}, which is not an earlier release")
    return versions


def _window(reader: _Reader, file: str, meta: Mapping[str, AnyType]) -> tuple[dt.date, dt.date | None]:
    known = _RULESET_KEYS
    if set(meta) - known:
        reader.problem(file, "-", f"unknown keys {sorted(set(meta) - known)}")
    valid_from, valid_until = meta.get("valid_from"), meta.get("valid_until")
    if not isinstance(valid_from, dt.date):
        reader.problem(file, "-", "valid_from must be a date (YYYY-MM-DD)")
        valid_from = dt.date.min
    if valid_until is not None and (not isinstance(valid_until, dt.date) or valid_until < valid_from):
        reader.problem(file, "-", "valid_until must be a date (YYYY-MM-DD) on or after valid_from")
        valid_until = None
    return valid_from, valid_until


def _entries(reader: _Reader, document: tuple[str, dict[str, AnyType]], section: str) -> Iterator[dict[str, AnyType]]:
    file, content = document
    items = content.get(section, [])
    if not isinstance(items, list):
        reader.problem(file, "-", f"`{section}` must be a list")
        return
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield item
        else:
            reader.problem(file, f"#{index + 1}", f"each entry of `{section}` must be a mapping")


def _facts(reader: _Reader, document: tuple[str, dict[str, AnyType]]) -> Iterator[FactDef]:
    file = document[0]
    for raw in _entries(reader, document, "facts"):
        name = str(raw.get("name", ""))
        try:
            fact_type = FactType(str(raw.get("type")))
        except ValueError:
            reader.problem(file, name, f"type must be one of {[t.value for t in FactType]}")
            continue
        unknown_allowed = bool(raw.get("unknown", False))
        symbols = _symbols(reader, file, name, fact_type, raw.get("symbols"), unknown_allowed)
        default_raw = raw.get("default")
        yield FactDef(
            name=name,
            type=fact_type,
            symbols=symbols,
            unknown_allowed=unknown_allowed,
            default=_default(fact_type, default_raw),
            default_conditional=default_raw == "conditional",
            decides_role=bool(raw.get("decides_role", False)),
            enumeration=_enumeration(reader, file, name, raw.get("enumerate")),
            question=reader.text(file, name, raw.get("question"), "question"),
            help=reader.text(file, name, raw.get("help"), "help"),
            unit=reader.text(file, name, raw["unit"], "unit") if "unit" in raw else None,
            citations=reader.citations(file, name, raw.get("cite")),
            maximum=_maximum(reader, file, name, fact_type, raw.get("maximum")),
        )


def _maximum(reader: _Reader, file: str, name: str, fact_type: FactType, raw: object) -> float | None:
    if raw is None:
        return None
    if fact_type != FactType.NUMBER or isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        reader.problem(file, name, "maximum is for number facts only, and must be a positive number")
        return None
    return float(raw)


def _symbols(
    reader: _Reader, file: str, name: str, fact_type: FactType, raw: object, unknown_allowed: bool
) -> tuple[SymbolDef, ...]:
    if fact_type == FactType.BOOLEAN:
        values = ["true", "false"] + (["unknown"] if unknown_allowed else [])
        return tuple(SymbolDef(v, _BOOLEAN_LABELS[v]) for v in values)
    if fact_type == FactType.NUMBER:
        return ()
    if not isinstance(raw, list) or not raw:
        reader.problem(file, name, "symbol and set facts need a list of `symbols`")
        return ()
    found = []
    for item in raw:
        if not isinstance(item, dict) or not _SYMBOL_KEYS[0] <= set(item) <= _SYMBOL_KEYS[1]:
            reader.problem(file, name, f"symbol entry {item!r} needs value, nl and en (and may have means)")
            continue
        label = reader.text(file, name, item, f"symbol {item['value']!r}")
        means = item.get("means", [])
        if not isinstance(means, list) or len(means) == 1:
            reader.problem(file, name, f"symbol {item['value']!r}: means must list at least two other symbols")
            means = []
        found.append(SymbolDef(str(item["value"]), label, tuple(str(m) for m in means)))
    plain = {s.value for s in found if not s.means} - {UNKNOWN}
    for symbol in found:
        for meant in symbol.means:
            if meant not in plain:
                reader.problem(file, name, f"symbol {symbol.value!r}: means {meant!r}, which is no plain symbol")
    return tuple(found)


def _default(fact_type: FactType, raw: object) -> Scalar | frozenset[str] | None:
    if raw is None or raw == "conditional":
        return None
    if fact_type == FactType.SET:
        return frozenset(str(v) for v in raw) if isinstance(raw, list) else None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if fact_type == FactType.NUMBER and isinstance(raw, int | float):
        return float(raw)
    return str(raw)


def _enumeration(reader: _Reader, file: str, name: str, raw: object) -> Enumeration | None:
    if raw is None:
        return None
    if raw == "symbols":
        return Enumeration()
    if isinstance(raw, dict) and set(raw) == {"buckets"} and isinstance(raw["buckets"], list):
        buckets = tuple(
            Bucket(str(b["label"]), b["value"] if isinstance(b["value"], int | float) else str(b["value"]))
            for b in raw["buckets"]
            if isinstance(b, dict) and {"label", "value"} <= set(b)
        )
        if len(buckets) != len(raw["buckets"]) or len(buckets) < 2:
            reader.problem(file, name, "enumerate buckets need at least two entries with label and value")
        return Enumeration(buckets=buckets)
    if isinstance(raw, dict) and set(raw) == {"split_at", "boundary"} and isinstance(raw["split_at"], dict):
        boundary = raw["boundary"]
        return Enumeration(
            split_at=ParamRef(str(raw["split_at"].get("param"))),
            boundary=ParamRef(str(boundary.get("param"))) if isinstance(boundary, dict) else None,
        )
    reader.problem(
        file, name, "enumerate must be `symbols`, {buckets: [...]} or {split_at: {param}, boundary: {param}}"
    )
    return None


def _groups(reader: _Reader, document: tuple[str, dict[str, AnyType]]) -> Iterator[Group]:
    file = document[0]
    for raw in _entries(reader, document, "groups"):
        name = str(raw.get("name", ""))
        symbols = raw.get("symbols")
        yield Group(
            name=name,
            fact=str(raw.get("fact", "")),
            symbols=frozenset(str(s) for s in symbols) if isinstance(symbols, list) else frozenset(),
            explain=reader.text(file, name, raw.get("explain"), "explain"),
            citations=reader.citations(file, name, raw.get("cite")),
        )


def _parameters(reader: _Reader, document: tuple[str, dict[str, AnyType]]) -> Iterator[Parameter]:
    file = document[0]
    for raw in _entries(reader, document, "parameters"):
        name = str(raw.get("name", ""))
        values_raw = raw.get("values")
        values: list[tuple[dt.date, Scalar | tuple[str, ...]]] = []
        if not isinstance(values_raw, dict) or not values_raw:
            reader.problem(file, name, "a parameter needs `values` keyed by date (YYYY-MM-DD)")
            values_raw = {}
        for since, value in values_raw.items():
            if not isinstance(since, dt.date):
                reader.problem(file, name, f"value date {since!r} is not a date (YYYY-MM-DD)")
                continue
            values.append((since, _param_value(value)))
        allowed = raw.get("allowed", [])
        yield Parameter(
            name=name,
            explain=reader.text(file, name, raw.get("explain"), "explain"),
            values=tuple(sorted(values, key=lambda v: v[0])),
            allowed=tuple(str(a) for a in allowed) if isinstance(allowed, list) else (),
            fact=str(raw["fact"]) if "fact" in raw else None,
            citations=reader.citations(file, name, raw.get("cite")),
            texts=_param_texts(reader, file, name, raw.get("texts", {})),
        )


def _param_texts(reader: _Reader, file: str, name: str, raw: object) -> dict[str, dict[str, Text]]:
    """A parameter's `texts`: for each placeholder, its Dutch and English wording under each allowed value."""
    if not isinstance(raw, dict) or not all(isinstance(by_value, dict) for by_value in raw.values()):
        reader.problem(file, name, "`texts` maps each placeholder to a text per allowed value")
        return {}
    return {
        str(placeholder): {
            str(value): reader.text(file, name, text, f"text of {{{placeholder}}} for {value}")
            for value, text in by_value.items()
        }
        for placeholder, by_value in raw.items()
    }


def _param_value(raw: object) -> Scalar | tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(str(v) for v in raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return str(raw)


def _role_defs(reader: _Reader, document: tuple[str, dict[str, AnyType]], section: str) -> dict[str, RoleDef]:
    file = document[0]
    found: dict[str, RoleDef] = {}
    for raw in _entries(reader, document, section):
        code = str(raw.get("code", ""))
        if code in found:
            reader.problem(file, code, f"duplicate code in `{section}`")
        found[code] = RoleDef(
            code, reader.text(file, code, raw.get("text"), "text"), reader.citations(file, code, raw.get("cite"))
        )
    return found


def _codes(reader: _Reader, document: tuple[str, dict[str, AnyType]]) -> Iterator[CodeDef]:
    file = document[0]
    seen: set[str] = set()
    for raw in _entries(reader, document, "codes"):
        code = str(raw.get("code", ""))
        if code in seen:
            reader.problem(file, code, "duplicate code")
        seen.add(code)
        try:
            kind = CodeKind(str(raw.get("kind")))
            aggregate = Aggregate(str(raw.get("aggregate", "all")))
        except ValueError:
            reader.problem(file, code, "kind must be context/liability/obligation/flag; aggregate all/any")
            continue
        yield CodeDef(
            code=code,
            kind=kind,
            text=reader.text(file, code, raw.get("text"), "text"),
            party=reader.text(file, code, raw["party"], "party") if "party" in raw else None,
            citations=reader.citations(file, code, raw.get("cite")),
            aggregate=aggregate,
            pattern=bool(raw.get("pattern", False)),
            safety=_flag(reader, file, code, raw, "safety"),
        )


def _flag(reader: _Reader, file: str, item: str, raw: dict[str, AnyType], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        reader.problem(file, item, f"`{key}` is true or false")
        return False
    return value


def _predicates(reader: _Reader, document: tuple[str, dict[str, AnyType]]) -> dict[str, Predicate]:
    """Parse predicates in file order; a predicate may use the ones written above it."""
    file = document[0]
    found: dict[str, Predicate] = {}
    conditions: dict[str, Condition] = {}
    for raw in _entries(reader, document, "predicates"):
        name = str(raw.get("name", ""))
        if name in found:
            reader.problem(file, name, "duplicate predicate")
        condition = _condition(reader, file, name, raw.get("when"), conditions)
        if condition is None:
            continue
        conditions[name] = condition
        found[name] = Predicate(
            name,
            condition,
            reader.text(file, name, raw.get("explain"), "explain"),
            reader.citations(file, name, raw.get("cite")),
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


def _rules(
    reader: _Reader, document: tuple[str, dict[str, AnyType]], predicates: Mapping[str, Predicate]
) -> Iterator[Rule]:
    file = document[0]
    conditions = {name: p.when for name, p in predicates.items()}
    for raw in _entries(reader, document, "rules"):
        rule_id = str(raw.get("id", "")).strip()
        if not rule_id:
            reader.problem(file, "-", "a rule without an id")
            continue
        unknown_keys = set(raw) - _RULE_KEYS
        if unknown_keys:
            reader.problem(file, rule_id, f"unknown keys {sorted(unknown_keys)}")
        when = _condition(reader, file, rule_id, raw.get("when"), conditions)
        then = _conclusion(reader, file, rule_id, raw.get("then"))
        explain = reader.text(file, rule_id, raw.get("explain"), "explanation")
        citations = reader.citations(file, rule_id, raw.get("cite"))
        valid_from, valid_until = _dated(reader, file, rule_id, raw)
        if when is None or then is None:
            continue
        yield Rule(
            id=rule_id,
            stage=str(raw.get("stage", "")),
            when=when,
            then=then,
            explain=explain,
            citations=citations,
            file=file,
            note=str(raw.get("note", "")),
            valid_from=valid_from,
            valid_until=valid_until,
        )


def _dated(
    reader: _Reader, file: str, rule_id: str, raw: Mapping[str, AnyType]
) -> tuple[dt.date | None, dt.date | None]:
    """A rule's dated entry: the day it takes effect and the last day it applies, either may be open."""
    found: list[dt.date | None] = []
    for key in ("valid_from", "valid_until"):
        value = raw.get(key)
        if value is not None and not isinstance(value, dt.date):
            reader.problem(file, rule_id, f"{key} must be a date (YYYY-MM-DD)")
            value = None
        found.append(value)
    since, until = found
    if since is not None and until is not None and until < since:
        reader.problem(file, rule_id, "valid_until is before valid_from")
    return since, until


def _conclusion(reader: _Reader, file: str, rule_id: str, raw: object) -> Conclusion | None:
    allowed = _CONCLUSION_KEYS
    if not isinstance(raw, dict) or not raw or set(raw) - allowed:
        reader.problem(file, rule_id, f"`then` must be a mapping with some of {sorted(allowed)}")
        return None
    codes = raw.get("codes", [])
    set_facts = raw.get("set", {})
    exclude = raw.get("exclude", {})
    if not isinstance(codes, list) or not isinstance(set_facts, dict) or not isinstance(exclude, dict):
        reader.problem(file, rule_id, "`codes` must be a list; `set` and `exclude` mappings")
        return None
    as_scalar: Callable[[object], Scalar] = _scalar
    return Conclusion(
        role=str(raw["role"]) if "role" in raw else None,
        volunteer_deployer=str(raw["volunteer_deployer"]) if "volunteer_deployer" in raw else None,
        codes=tuple(str(c) for c in codes),
        set_facts={str(k): as_scalar(v) for k, v in set_facts.items()},
        exclude={
            str(k): tuple(as_scalar(v) for v in (vs if isinstance(vs, list) else [vs])) for k, vs in exclude.items()
        },
    )


def _scalar(raw: object) -> Scalar:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return float(raw)
    return str(raw)
