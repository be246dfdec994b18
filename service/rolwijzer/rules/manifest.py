"""A release's manifest: every file of the release with its sha256, so that only a complete release is loaded.

A deploy or an editor writes a release file by file; a file that is half written may still be valid YAML and
valid rules. With a `manifest.yaml` in the release folder, the release is loaded only when the folder holds
exactly the `.yaml` files the manifest lists, each with the content it names; otherwise it is refused and the
releases in service stay. `rolwijzer-rules manifest DIR` writes the manifests of every release under DIR.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rolwijzer.rules.files import (
    MANIFEST,
    MAX_FILES_PER_RELEASE,
    UnsafeFile,
    open_root,
    read_bytes,
    release_folders,
    sha256_of,
    yaml_names,
)
from rolwijzer.rules.validate import Problem

_HASH = re.compile(r"sha256:([0-9a-f]{64})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.yaml")
_HEADER = (
    "# The files of this release and their sha256: the release is loaded only when the folder holds exactly these\n"
    "# .yaml files with exactly this content. Written by `rolwijzer-rules manifest`; run it after every change.\n"
)
INCOMPLETE = "the release is incomplete or changed"


def manifest_text(contents: Mapping[str, bytes]) -> str:
    """The manifest of a release whose `.yaml` files (the manifest itself left out) hold `contents`."""
    lines = [f"  {name}: sha256:{sha256_of(data)}\n" for name, data in sorted(contents.items()) if name != MANIFEST]
    return _HEADER + "files:\n" + "".join(lines)


def parse_manifest(document: object) -> dict[str, str]:
    """The file names and hex sha256 a parsed manifest declares.

    Raises:
        ValueError: the manifest is not `files:` mapping file names to `sha256:<64 hex digits>`.
    """
    files = document.get("files") if isinstance(document, dict) and set(document) == {"files"} else None
    if not isinstance(files, dict) or len(files) > MAX_FILES_PER_RELEASE:
        raise ValueError("must hold `files:`, mapping each .yaml file of the release to sha256:<64 hex digits>")
    declared: dict[str, str] = {}
    for name, value in files.items():
        found = _HASH.fullmatch(value) if isinstance(value, str) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == MANIFEST or found is None:
            raise ValueError("each entry of `files:` is a .yaml file name and sha256:<64 hex digits>")
        declared[name] = found.group(1)
    return declared


def manifest_problems(declared: Mapping[str, str], present: Mapping[str, bytes | None]) -> list[tuple[str, str]]:
    """(file, problem) for each difference between the manifest and the release's `.yaml` files.

    `present` maps every `.yaml` file of the folder but the manifest to its content, or None when it could not be
    read (its own problem is reported elsewhere).
    """
    found: list[tuple[str, str]] = []
    for name in sorted(set(declared) | set(present)):
        if name not in present:
            found.append((name, f"listed in {MANIFEST} but missing: {INCOMPLETE}"))
        elif name not in declared:
            found.append((name, f"not listed in {MANIFEST}: {INCOMPLETE}"))
        else:
            content = present[name]
            if content is not None and sha256_of(content) != declared[name]:
                found.append((name, f"sha256 differs from {MANIFEST}: {INCOMPLETE}"))
    return found


@dataclass
class ManifestResult:
    """What `write_manifests` did: the manifests written, those already current, and the problems that stopped one."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def write_manifests(root: Path | str) -> ManifestResult:
    """Write (or refresh) the manifest of every release under `root`; a release with an unreadable file gets none.

    Each manifest is written to a temporary file and renamed into place, so a reader never sees half a manifest.
    """
    result = ManifestResult()
    try:
        opened = open_root(root)
        folders = release_folders(opened)
    except UnsafeFile as err:
        result.problems.append(Problem(str(root), "-", str(err)))
        return result
    for folder in folders:
        label = "" if folder == opened.base else f"{folder.relative_to(opened.base).as_posix()}/"
        contents: dict[str, bytes] = {}
        try:
            names = [n for n in yaml_names(folder) if n != MANIFEST]
        except UnsafeFile as err:
            result.problems.append(Problem(label or str(folder), "-", str(err)))
            continue
        for name in names:
            try:
                contents[name] = read_bytes(folder / name, opened)
            except UnsafeFile as err:
                result.problems.append(Problem(label + name, "-", str(err)))
        if len(contents) != len(names):
            continue
        text = manifest_text(contents)
        path = folder / MANIFEST
        try:
            current = read_bytes(path, opened).decode("utf-8") if os.path.lexists(path) else None
        except (UnsafeFile, UnicodeDecodeError):
            current = None
        if current == text:
            result.unchanged.append(path)
            continue
        partial = folder / f".{MANIFEST}.partial"
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
        except OSError as err:
            result.problems.append(Problem(label + MANIFEST, "-", f"cannot be written: {err.strerror or err}"))
            continue
        result.written.append(path)
    return result
