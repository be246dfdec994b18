"""The one place the CLI's consoles are made: rich layout on a terminal, plain unwrapped lines anywhere else.

Also what happens when the reader of our output goes away (`rolwijzer rules | head -3`): the command stops quietly.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

# What a shell reports for a command that SIGPIPE stopped (128 + 13), as `cat` or `yes` get in `... | head`.
EXIT_OUTPUT_CLOSED = 141


class OutputClosed(Exception):
    """Standard output is a pipe whose reader has gone away: nothing more can be shown, so the command stops."""


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's default prints nothing but exits with 1, as if the command had failed; stop the command instead and
        # let main() choose the exit code.
        self.quiet = True
        raise OutputClosed


def make_console(stderr: bool = False) -> Console:
    """A console for standard output (or standard error).

    On a terminal: rich's defaults (colour, tables, panels). Anywhere else (a pipe, a file, a test, CI) nothing may be
    wrapped or truncated, so the console soft-wraps (rich never inserts line breaks in or crops what is printed) and
    prints no colour, no highlighting and no emoji codes.
    """
    console = _Console(stderr=stderr)
    if console.is_terminal:
        return console
    return _Console(stderr=stderr, soft_wrap=True, no_color=True, highlight=False, emoji=False)


def discard_output() -> None:
    """Point standard output at /dev/null, so that what is still buffered cannot fail again when Python exits."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
