"""Logging set-up: structlog, JSON lines by default or a readable console format. Configured once, at start."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import TextIO

import orjson
import structlog

FORMATS = ("json", "console")
_configured = {"level": logging.INFO}
_dropped = {"lines": 0}


class _NeverFailingLogger:
    """Writes like structlog's WriteLogger, one write per line; a broken sink (a closed pipe, a full disk, a
    closed stream) never fails the call or the shutdown that logs: the line is dropped and counted."""

    def __init__(self, file: TextIO) -> None:
        self._inner = structlog.WriteLogger(file)

    def msg(self, message: str) -> None:
        try:
            self._inner.msg(message)
        except (OSError, ValueError):
            _dropped["lines"] += 1

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


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
