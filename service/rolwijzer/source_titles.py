"""Source titles as readers see them, for the server's descriptions and the CLI alike.

Kept apart from the rules package so that the CLI, which prints citations the server sends, starts without
loading the rule files' reader and checks.
"""

from __future__ import annotations

import re

__all__ = ["source_title"]

# A title that is a seed file's name, or ends in one: superseded releases (1.0.0, 1.1.0) name their sources
# "Organisation — title (seed 001_a381be725bee7cce.txt)" and cannot be corrected (releases are immutable).
_SEED_SUFFIX = re.compile(r"\s*\(seed [^()]*\.txt\)\s*$")
_FILE_NAME = re.compile(r"^[\w.-]+\.(txt|md|pdf|html?|ya?ml)$")


def source_title(title: str) -> str:
    """A source's title as a reader needs it: without a seed file's name; empty when it is nothing but a file name."""
    cleaned = _SEED_SUFFIX.sub("", title).strip()
    return "" if _FILE_NAME.match(cleaned) else cleaned
