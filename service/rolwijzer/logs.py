"""Logging set-up: structlog, JSON lines by default or a readable console format. Configured once, at start."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

import structlog

FORMATS = ("json", "console")
_configured = {"level": logging.INFO}


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
        else structlog.processors.JSONRenderer(sort_keys=True)
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
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
