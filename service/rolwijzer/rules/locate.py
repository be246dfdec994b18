"""Point a problem at its place in a rule file: the offending key or value, else the entry it concerns.

The loader keeps the bytes of each file it read; when a file has a problem, the locator composes its YAML node
tree (files.parse_yaml_tree, with the same safety checks) once, and each node knows its line and column. A problem
names its file and its item (a rule id, a fact, code or predicate name, `#3` for the third entry, or `-` for the
file as a whole), and often quotes the offending name (`unknown fact 'paymnt'`). `Locator.place` finds, in order:

1. the entry: the mapping in one of the file's lists whose `id`, `name` or `code` is the item (for a `duplicate`
   problem the last such entry, the one that repeats); for `-` the document itself;
2. within it, the first key or value that a quoted name of the message (`'…'` or a `backticked` key) equals, or a
   key of the entry that the message names as a word (`valid_from must be a date`);
3. else the entry's own start.

A problem of a file's structure (schema.py) has a path instead, keys and list indexes from the document's top;
`Locator.at` follows it: the key of the last mapping entry it reaches, or the list item, so a bad or misspelt key
points at itself and a missing one at the entry (or key) that lacks it.

Only files with problems are parsed again, so a load without problems pays nothing and keeps no tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import yaml

from rolwijzer.rules.files import UnsafeFile, parse_yaml_tree
from rolwijzer.rules.validate import Problem

__all__ = ["Locator"]

# The lists of a release's files whose entries a problem can name.
_SECTIONS = ("rules", "facts", "groups", "sources", "parameters", "predicates", "roles", "deployers", "codes")
_NAME_KEYS = ("id", "name", "code")
_QUOTED = re.compile(r"'([^'\n]{1,200})'|`([^`\n]{1,60})`")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ORDINAL = re.compile(r"#([0-9]{1,9})")
# Words of a message that name a key by another word: "explanation needs a Dutch (nl) and an English (en) text".
_KEY_WORDS = {"explanation": "explain"}


class Locator:
    """Places problems in one release's files, given their bytes by file name; `place` gives line and column."""

    def __init__(self, contents: Mapping[str, bytes] | None = None) -> None:
        self._contents = dict(contents or {})
        self._trees: dict[str, yaml.Node | None] = {}
        self._entries: dict[str, dict[str, list[yaml.Node]]] = {}

    def _tree(self, file: str) -> yaml.Node | None:
        """The node tree of `file`, composed on first use; None when it is unknown, empty or unreadable."""
        if file not in self._trees:
            data = self._contents.get(file)
            try:
                self._trees[file] = parse_yaml_tree(data) if data is not None else None
            except UnsafeFile:
                self._trees[file] = None
        return self._trees[file]

    def place(self, problem: Problem, file: str) -> Problem:
        """`problem` with the 1-based line and column of its place in `file`, when it has none yet and one is found.

        Never raises: a problem whose file, entry or name is not found is returned as it is.
        """
        if problem.line is not None:
            return problem
        tree = self._tree(file)
        if tree is None:
            return problem
        node = self._find(file, tree, problem)
        if node is None or node.start_mark is None:
            return problem
        return replace(problem, line=node.start_mark.line + 1, column=node.start_mark.column + 1)

    def at(self, file: str, path: Sequence[str | int]) -> tuple[int, int] | None:
        """The 1-based line and column of the deepest node of `file` that `path` reaches; None without a tree.

        A part no node has is passed over: a missing key (always the last), or a name pydantic puts in the path
        (the tag of a condition's kind, the model of a union it tried).
        """
        tree = self._tree(file)
        if tree is None:
            return None
        node = place = tree
        for part in path:
            if isinstance(node, yaml.MappingNode):
                pair = next((pair for pair in node.value if _key_text(pair[0]) == str(part)), None)
                if pair is not None:
                    place, node = pair
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                place = node = node.value[part]
        mark = place.start_mark
        return (mark.line + 1, mark.column + 1) if mark is not None else None

    def _find(self, file: str, tree: yaml.Node, problem: Problem) -> yaml.Node | None:
        if problem.item == "-":
            return _within(tree, problem.message, top_level=True) or None
        entry = self._entry(file, tree, problem)
        if entry is None:
            return None
        return _within(entry, problem.message, top_level=False) or entry

    def _entry(self, file: str, tree: yaml.Node, problem: Problem) -> yaml.Node | None:
        ordinal = _ORDINAL.fullmatch(problem.item)
        if ordinal is not None:
            for _, items in _sections(tree):
                index = int(ordinal.group(1)) - 1
                if index < len(items):
                    return items[index]
            return None
        if file not in self._entries:
            self._entries[file] = _index(tree)
        found = self._entries[file].get(problem.item)
        if not found and problem.item.endswith("…"):  # a long id, clipped by Problem
            start = problem.item[:-1]
            found = next((nodes for name, nodes in self._entries[file].items() if name.startswith(start)), None)
        if not found:
            return None
        return found[-1] if "duplicate" in problem.message else found[0]


def _sections(tree: yaml.Node) -> Iterator[tuple[str, list[yaml.Node]]]:
    if isinstance(tree, yaml.MappingNode):
        for key, value in tree.value:
            if isinstance(key, yaml.ScalarNode) and key.value in _SECTIONS and isinstance(value, yaml.SequenceNode):
                yield key.value, value.value


def _index(tree: yaml.Node) -> dict[str, list[yaml.Node]]:
    """Each entry of the file's lists by its id, name or code."""
    found: dict[str, list[yaml.Node]] = {}
    for _, items in _sections(tree):
        for item in items:
            if not isinstance(item, yaml.MappingNode):
                continue
            for key, value in item.value:
                if isinstance(key, yaml.ScalarNode) and key.value in _NAME_KEYS and isinstance(value, yaml.ScalarNode):
                    found.setdefault(value.value.strip(), []).append(item)
                    break
    return found


def _within(scope: yaml.Node, message: str, top_level: bool) -> yaml.Node | None:
    """The key or value in `scope` that the message names, if any; at the top level only the document's keys."""
    keys = _keys(scope)
    for match in _QUOTED.finditer(message):
        quoted = match.group(1) or match.group(2)
        if quoted in keys:
            return keys[quoted]
        if not top_level:
            found = _scalar(scope, quoted)
            if found is not None:
                return found
    for word in _WORD.findall(message):
        key = _KEY_WORDS.get(word, word)
        if key in keys:
            return keys[key]
    return None


def _keys(node: yaml.Node) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: key for key, _ in node.value if isinstance(key, yaml.ScalarNode)}


def _key_text(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _scalar(scope: yaml.Node, text: str) -> yaml.Node | None:
    """The first scalar (key or value) under `scope` whose text is `text`, in file order."""
    stack: list[yaml.Node] = [scope]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.value == text:
                return node
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in reversed(node.value) for part in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None
