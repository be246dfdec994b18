"""The one place the CLI's consoles are made: rich layout on a terminal, plain unwrapped lines anywhere else."""

from __future__ import annotations

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console for standard output (or standard error).

    On a terminal: rich's defaults (colour, tables, panels). Anywhere else (a pipe, a file, a test, CI) nothing may be
    wrapped or truncated, so the console soft-wraps (rich never inserts line breaks in or crops what is printed) and
    prints no colour, no highlighting and no emoji codes.
    """
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, soft_wrap=True, no_color=True, highlight=False, emoji=False)
