"""Read rule files safely: regular files inside the rules root, of bounded size, as plain YAML.

A rules folder is written by people and by deploys and read by a long-running server, so nothing that lands in it
may exhaust the server's memory, block its watcher or bring other files into a release:

- only regular files are read: a FIFO, device or socket is refused without being opened for reading, and a
  symlink is followed only when it stays inside the rules root;
- each file, each release and all releases together are bounded in bytes, checked with `stat` before reading and
  again while reading (at most the limit + 1 byte is read, so a file that grows meanwhile is refused);
- YAML anchors and aliases are refused before anything is built from the text (an alias bomb of a few hundred
  bytes expands to gigabytes), and so are nesting deeper than MAX_DEPTH and more than MAX_NODES_PER_FILE values;
- a problem says what is wrong in a few words and never quotes more than a short excerpt of a file.

The rules root may be mounted the Kubernetes ConfigMap way: a `..data` symlink that is swapped atomically to a new
timestamped folder. `open_root` resolves it once, and a load or a look reads every file through that one target,
so it never mixes files of the old and the new target.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from cachetools import LRUCache

from rolwijzer.rules.validate import clip

KIB = 1024
MIB = 1024 * KIB
# Bytes. The largest shipped file is 35 KB and a release about 160 KB (12 files); these leave 25-30 times room for
# growth, while a release that is read, parsed and kept stays far below the memory the server is given.
MAX_FILE_BYTES = 1 * MIB
MAX_RELEASE_BYTES = 4 * MIB
# All releases under the root together: every release is kept in memory (and compiled) while it is served.
MAX_ROOT_BYTES = 16 * MIB
# A release is a dozen files; a folder with hundreds is a mistake, and each file costs a read on every look.
MAX_FILES_PER_RELEASE = 50
# YAML values (scalars, lists, mappings). libyaml builds about 1 KB per value before it is turned into Python data,
# so 1 MiB of `[a,a,a,...]` (half a million values) would take about 300 MB; the shipped files hold at most 2,127
# values and a release at most 9,003.
MAX_NODES_PER_FILE = 20_000
MAX_NODES_PER_RELEASE = 80_000
# Nesting levels of lists and mappings. The shipped files nest at most 11 levels (a rule's condition included).
MAX_DEPTH = 32
# The files the watcher hashes on one look: more than any real rules folder holds.
MAX_WATCHED_FILES = 2_000

MANIFEST = "manifest.yaml"
CONFIGMAP_DATA = "..data"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: about 10x faster, the same safe schema
_READ_CHUNK = 64 * KIB
_FLOW_BRACKETS = re.compile(r"[\[\]{}]")
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


class UnsafeFile(Exception):
    """A file (or the root) that is not read; the message says why in a few words.

    `line` and `column` (1-based) say where in the file, when the problem has a place (a YAML syntax error).
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class RulesRoot:
    """Where one load reads: `real` is the resolved root no file may leave; `base` is the folder of the releases.

    `base` is `real`, or the folder that `real/..data` pointed to when the root was opened.
    """

    real: Path
    base: Path

    def holds(self, path: Path) -> bool:
        """Whether the resolved `path` lies inside the root."""
        return path == self.real or path.is_relative_to(self.real)


def open_root(root: Path | str) -> RulesRoot:
    """Resolve the rules root, and its `..data` link once (the ConfigMap pattern).

    Raises:
        UnsafeFile: the root cannot be resolved, or `..data` is dangling, leaves the root or is no folder.
    """
    real = _resolve(Path(root), "the rules root")
    data = real / CONFIGMAP_DATA
    if not os.path.lexists(data):
        return RulesRoot(real, real)
    base = _resolve(data, CONFIGMAP_DATA)
    if not (base != real and base.is_relative_to(real)):
        raise UnsafeFile(f"{CONFIGMAP_DATA} leads outside the rules root")
    if not base.is_dir():
        raise UnsafeFile(f"{CONFIGMAP_DATA} does not lead to a folder")
    return RulesRoot(real, base)


def _resolve(path: Path, what: str) -> Path:
    try:
        return path.resolve(strict=True)
    except FileNotFoundError:
        raise UnsafeFile(f"{what} does not exist (or is a dangling symlink)") from None
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Python 3.11)
        raise UnsafeFile(f"{what} cannot be resolved: {_reason(err)}") from None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return clip(str(err) or type(err).__name__, 80)


def yaml_files(base: Path) -> Iterator[Path]:
    """Every `*.yaml` entry under `base`, in name order, whatever its type.

    Folders are walked without following symlinks (a symlinked folder would load a release twice or leave the
    root); `.git` is skipped. A folder that vanishes while it is walked is passed over.
    """
    for folder, folders, names in os.walk(base, followlinks=False):
        folders[:] = sorted(f for f in folders if f != ".git")
        for name in sorted(names):
            if name.endswith(".yaml"):
                yield Path(folder, name)


def release_folders(root: RulesRoot) -> list[Path]:
    """The release folders under the root: those holding a `ruleset.yaml`."""
    return sorted({path.parent for path in yaml_files(root.base) if path.name == "ruleset.yaml"})


def yaml_names(folder: Path) -> list[str]:
    """The names of the `*.yaml` entries of one folder, in name order, whatever their type.

    Raises:
        UnsafeFile: the folder cannot be listed.
    """
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if e.name.endswith(".yaml"))
    except OSError as err:
        raise UnsafeFile(f"cannot be listed: {_reason(err)}") from None


def regular_size(path: Path, root: RulesRoot, limit: int = MAX_FILE_BYTES) -> int:
    """The size of the regular file `path` (following a symlink that stays inside the root), at most `limit`.

    Never opens the file, so a FIFO or a device cannot block or flood the caller.

    Raises:
        UnsafeFile: the file vanished, is no regular file, leads outside the root or is over `limit` bytes.
    """
    return _target(path, root, limit)[1]


def _target(path: Path, root: RulesRoot, limit: int) -> tuple[Path, int]:
    target = _resolve(path, "the file")
    if not root.holds(target):
        raise UnsafeFile("a symlink that leads outside the rules root")
    mode, size = _stat(target)
    _require_regular(mode)
    if size > limit:
        raise UnsafeFile(f"{size} bytes, over the limit of {_size(limit)} per file")
    return target, size


def _stat(target: Path) -> tuple[int, int]:
    try:
        found = os.stat(target)
    except OSError as err:
        raise UnsafeFile(f"cannot be read: {_reason(err)}") from None
    return found.st_mode, found.st_size


def _require_regular(mode: int) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise UnsafeFile(f"{kind}, not a regular file")
    if not stat.S_ISREG(mode):
        raise UnsafeFile("not a regular file")


def read_bytes(path: Path, root: RulesRoot, limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of the regular file `path` inside the root, of at most `limit` bytes.

    The size is checked with `stat` first and the read stops after `limit` + 1 bytes, so a file that grows after
    the check is refused too. The file is opened without blocking and without following a symlink put in its place
    after it was resolved, and checked again on the open descriptor.

    Raises:
        UnsafeFile: see `regular_size`; also when the file changes kind or grows over `limit` while it is read.
    """
    target, _ = _target(path, root, limit)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except OSError as err:
        raise UnsafeFile(f"cannot be read: {_reason(err)}") from None
    try:
        _require_regular(os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise UnsafeFile(f"cannot be read: {_reason(err)}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UnsafeFile(f"grew over the limit of {_size(limit)} per file while it was read")
    return b"".join(chunks)


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"


# Documents parsed before, by their bytes' sha256 and the bound they were checked against. A reload reads every
# release again, but released files never change: parsing them is most of a load (about 300 of 500 ms for the six
# releases of rules/, measured), and a copy of the document costs a tenth of that. Bounded by YAML values, the
# measure of what a parsed file costs in memory: as many as four full releases hold.
_PARSED: LRUCache[tuple[bytes, int], tuple[object, int]] = LRUCache(
    maxsize=4 * MAX_NODES_PER_RELEASE, getsizeof=lambda parsed: max(parsed[1], 1)
)
_PARSED_LOCK = threading.Lock()


def parse_yaml(data: bytes, max_nodes: int = MAX_NODES_PER_FILE) -> tuple[object, int]:
    """Parse one rule file: the document and the number of YAML values it holds.

    Before anything is built, the raw text is checked for bracket nesting and the event stream (which libyaml
    produces one event at a time, in constant memory) for anchors, aliases, nesting and the number of values.
    The same bytes checked against the same bound give a copy of the document parsed the first time: the caller
    may change what it gets.

    Raises:
        UnsafeFile: the file is not UTF-8, not YAML, uses an anchor or alias, nests deeper than MAX_DEPTH or holds
            more than `max_nodes` values; the message quotes at most a short excerpt. A YAML syntax error carries
            the line and column where it was found.
    """
    key = (hashlib.sha256(data).digest(), max_nodes)
    with _PARSED_LOCK:
        parsed = _PARSED.get(key)
    if parsed is not None:
        return copy.deepcopy(parsed[0]), parsed[1]
    text = _checked_text(data, max_nodes)
    try:
        nodes = _check_events(text, max_nodes)  # before anything is built
        document = yaml.load(text, Loader=_LOADER)
    except UnsafeFile:
        raise
    except yaml.YAMLError as err:
        raise _yaml_error(err, text) from None
    except (ValueError, TypeError, RecursionError, MemoryError) as err:  # e.g. an integer of 5,000 digits
        raise UnsafeFile(f"cannot be read as YAML: {type(err).__name__}: {clip(str(err), 160)}") from None
    with _PARSED_LOCK:
        _PARSED[key] = (copy.deepcopy(document), nodes)
    return document, nodes


def parse_yaml_tree(data: bytes, max_nodes: int = MAX_NODES_PER_FILE) -> yaml.Node | None:
    """The YAML node tree of one rule file (None for an empty file): each node knows its line and column.

    Only asked for when a problem is to be placed (locate.py), so a load without problems never builds or keeps a
    tree. Same checks and same errors as `parse_yaml`.
    """
    text = _checked_text(data, max_nodes)
    try:
        _check_events(text, max_nodes)  # before anything is built
        return yaml.compose(text, Loader=_LOADER)
    except UnsafeFile:
        raise
    except yaml.YAMLError as err:
        raise _yaml_error(err, text) from None
    except (ValueError, TypeError, RecursionError, MemoryError) as err:
        raise UnsafeFile(f"cannot be read as YAML: {type(err).__name__}: {clip(str(err), 160)}") from None


def _checked_text(data: bytes, max_nodes: int) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnsafeFile(f"is not UTF-8 text (byte {err.start})") from None
    _check_flow_depth(text)
    return text


def _yaml_error(err: yaml.YAMLError, text: str) -> UnsafeFile:
    """The error in words, without PyYAML's `in "<unicode string>", line 3` parts: the place goes to line/column."""
    if isinstance(err, yaml.reader.ReaderError):  # a character YAML does not allow
        found = UnsafeFile(f"cannot be read as YAML: character #x{err.character:04x}: {clip(err.reason, 80)}")
        if isinstance(err.position, int) and err.position >= 0:
            # libyaml counts UTF-8 bytes, PyYAML's own reader characters.
            before = text[: err.position] if _LOADER is yaml.SafeLoader else _utf8_prefix(text, err.position)
            found.line = before.count("\n") + 1
            found.column = len(before) - before.rfind("\n")
        return found
    if not isinstance(err, yaml.MarkedYAMLError):
        return UnsafeFile(f"cannot be read as YAML: {clip(str(err), 200)}")
    words = ", ".join(clip(part, 120) for part in (err.context, err.problem) if part)
    mark = err.problem_mark or err.context_mark
    context = err.context_mark
    if context is not None and mark is not None and context.line != mark.line:
        words += f" (started on line {context.line + 1})"
    found = UnsafeFile(f"cannot be read as YAML: {words or 'a syntax error'}")
    if mark is not None:
        found.line, found.column = mark.line + 1, mark.column + 1
    return found


def _utf8_prefix(text: str, size: int) -> str:
    """The characters of `text` in its first `size` UTF-8 bytes."""
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def _check_flow_depth(text: str) -> None:
    """Refuse deep `[`/`{` nesting on the raw text, before libyaml sees it.

    Brackets in quoted text and comments are counted too, so this overestimates only when a text opens many
    brackets it does not close; it may underestimate when a quoted text closes brackets, which the exact check on
    the event stream then catches.
    """
    depth = 0
    for match in _FLOW_BRACKETS.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                raise UnsafeFile(f"nests deeper than {MAX_DEPTH} levels (line {line})")
        elif depth:
            depth -= 1


_OPENING = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_VALUES = (yaml.ScalarEvent, *_OPENING)


def _check_events(text: str, max_nodes: int) -> int:
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeFile(f"uses the YAML alias *{clip(str(event.anchor), 40)} {_at(event)}: {_NO_ANCHORS}")
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            raise UnsafeFile(f"uses the YAML anchor &{clip(str(event.anchor), 40)} {_at(event)}: {_NO_ANCHORS}")
        if isinstance(event, _VALUES):
            nodes += 1
            if nodes > max_nodes:
                raise UnsafeFile(
                    f"holds more than {max_nodes} YAML values {_at(event)} (at most {MAX_NODES_PER_FILE} per file, "
                    f"{MAX_NODES_PER_RELEASE} per release)"
                )
        if isinstance(event, _OPENING):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeFile(f"nests deeper than {MAX_DEPTH} levels {_at(event)}")
        elif isinstance(event, _CLOSING):
            depth -= 1
    return nodes


_NO_ANCHORS = "anchors and aliases are not allowed in rule files"


def _at(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"(line {mark.line + 1})" if mark is not None else ""


def sha256_of(data: bytes) -> str:
    """The hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def fingerprint(root: Path | str) -> tuple[tuple[str, str], ...]:
    """Names and content hashes of the `*.yaml` files under the root; it changes when any file's content does.

    Contents, not modification times: a file replaced within one clock tick keeps its time but not its hash. Never
    opens a FIFO or device and never raises for a file: a file that cannot be read is listed with the reason, so it
    counts as a change and the next load reports it. At most MAX_ROOT_BYTES are hashed on one look; files beyond
    that are listed with their size and modification time.
    """
    try:
        opened = open_root(root)
    except UnsafeFile as err:
        return (("-", f"unreadable: {err}"),)
    found: list[tuple[str, str]] = [("-", opened.base.name)] if opened.base != opened.real else []
    budget = MAX_ROOT_BYTES
    for count, path in enumerate(yaml_files(opened.base)):
        name = path.relative_to(opened.base).as_posix()
        if count >= MAX_WATCHED_FILES:
            found.append(("-", f"more than {MAX_WATCHED_FILES} files"))
            break
        try:
            size = regular_size(path, opened)
            if size > budget:
                found.append((name, f"not hashed: {size} bytes, mtime {os.stat(path).st_mtime_ns}"))
                continue
            data = read_bytes(path, opened)
        except (UnsafeFile, OSError) as err:
            found.append((name, f"unreadable: {err}"))
            continue
        budget -= len(data)
        found.append((name, sha256_of(data)))
    return tuple(found)
