"""Logging set-up: structlog, JSON lines by default or a readable console format. Configured once, at start.

Lines at `info` and below are handed to a writer thread, which writes what waits every FLUSH_SECONDS; a line at
`warning` or above is written at once by the thread that logs it, after every line waiting before it. Why: a
server logging at `info` wrote one line per decision from its request threads, and each write (a system call that
lets go of the GIL while 8 callers wait for it) cost about 130 us of server CPU per call, measured side by side
with a server whose lines were formatted but not written (75 us), against 15 us for both in a process with one
thread. What waits is written at exit (atexit) and before any `warning` line, so order is kept and a clean stop
loses nothing; a process killed outright loses at most FLUSH_SECONDS of `info` lines (the decision log, not this
log, is the record of decisions).
"""

from __future__ import annotations

import atexit
import json
import logging
import select
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TextIO

import orjson
import structlog

__all__ = ["FLUSH_SECONDS", "FORMATS", "configure_logging", "dropped_lines", "enabled", "flush"]

FORMATS = ("json", "console")
FLUSH_SECONDS = 0.05
# More than this many lines waiting (the writer held up by a stream that does not take them): the thread that logs
# writes them itself, as every thread did before, so a stalled stream slows the callers instead of filling memory.
MAX_WAITING = 10_000
# At most this many bytes per write: a pipe shared by several worker processes takes such a write whole, so lines
# of different workers never interleave (each write holds whole lines; a longer line is written alone).
CHUNK_BYTES = select.PIPE_BUF
_configured = {"level": logging.INFO}
_dropped = {"lines": 0}


class _Lines:
    """The lines waiting for the stream, and the writer thread that writes them every FLUSH_SECONDS."""

    def __init__(self) -> None:
        self._waiting: list[str] = []
        self._lock = threading.Lock()  # the waiting lines
        self._io = threading.Lock()  # the stream: held while lines are taken and written, so they keep their order
        self._file: TextIO | None = None
        self._writer: threading.Thread | None = None

    def use(self, file: TextIO) -> None:
        """Write to `file` from now on (what waits goes to the stream it was logged for first)."""
        if file is not self._file:
            self.flush()
            self._file = file

    def later(self, line: str) -> None:
        """Let `line` wait for the writer thread (or write it and what waits at once when too many wait)."""
        with self._lock:
            self._waiting.append(line)
            crowded = len(self._waiting) >= MAX_WAITING
        if crowded:
            self.flush()
        elif self._writer is None:
            self._start()

    def now(self, line: str) -> None:
        """Write what waits and then `line`, before returning."""
        self._drain(line)

    def flush(self) -> None:
        """Write what waits."""
        self._drain(None)

    def _drain(self, last: str | None) -> None:
        """Write what waits, then `last` if given. The lines are taken under the stream's lock, so they keep their
        order however the threads that log and the writer thread meet."""
        with self._io:
            with self._lock:
                lines, self._waiting = self._waiting, []
            if last is not None:
                lines.append(last)
            if lines:
                self._write(lines)

    def _start(self) -> None:
        with self._lock:
            if self._writer is not None:
                return
            self._writer = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._writer.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)  # a sleep, not a timed lock wait: it elapses under a faked clock too
            self.flush()

    def _write(self, lines: list[str]) -> None:
        """Write whole lines in writes of at most CHUNK_BYTES; a broken stream drops and counts them. Holds _io."""
        file = self._file or sys.stderr
        chunk: list[str] = []
        size = 0
        for line in lines:
            length = len(line.encode("utf-8")) + 1
            if chunk and size + length > CHUNK_BYTES:
                self._put(file, chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += length
        if chunk:
            self._put(file, chunk)

    @staticmethod
    def _put(file: TextIO, chunk: list[str]) -> None:
        try:
            file.write("\n".join(chunk) + "\n")
            file.flush()
        except (OSError, ValueError):
            _dropped["lines"] += len(chunk)


_LINES = _Lines()
atexit.register(_LINES.flush)


def flush() -> None:
    """Write every log line still waiting for the writer thread."""
    _LINES.flush()


class _NeverFailingLogger:
    """The structlog logger: `info` and `debug` lines wait for the writer thread, lines of `warning` and above are
    written at once (see the module docstring); a broken stream (a closed pipe, a full disk, a closed stream) never
    fails the call or the shutdown that logs: its lines are dropped and counted."""

    def __init__(self, file: TextIO) -> None:
        _LINES.use(file)

    def later(self, message: str) -> None:
        _LINES.later(message)

    def now(self, message: str) -> None:
        _LINES.now(message)

    log = debug = info = msg = later
    warn = warning = err = error = critical = exception = fatal = failure = now


def _json_line(event: Mapping[str, object], default: Callable[[object], object]) -> str:
    """The event as one JSON line, keys sorted, UTF-8 text as it is.

    orjson: the line per decision took about 100 us with the standard library's encoder, most of the cost of
    logging at `info` (measured in process); orjson is a maintained Rust encoder that structlog documents for
    this. The standard encoder remains for what orjson refuses (an integer beyond 64 bits), so a log line never
    fails the call that logs it.
    """
    try:
        return orjson.dumps(event, default=default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(event, default=default, sort_keys=True, ensure_ascii=False)


def dropped_lines() -> int:
    """How many log lines a broken sink swallowed since the start."""
    return _dropped["lines"]


def enabled(level: int) -> bool:
    """True when events of `level` are logged; lets hot paths skip building what would be dropped."""
    return level >= _configured["level"]


def configure_logging(
    log_format: str = "json", level: int = logging.INFO, every_line: Mapping[str, object] | None = None
) -> None:
    """Send structlog events to standard error as JSON lines or, with "console", as readable lines.

    `every_line` is added to every event of every thread (for example the worker number).
    """
    _configured["level"] = level
    fixed = dict(every_line or {})

    def add_fixed(_logger: object, _name: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
        event.update(fixed)
        return event

    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer(serializer=_json_line)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_fixed,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line, so lines of several worker processes sharing stderr never interleave.
        logger_factory=lambda *_args: _NeverFailingLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
