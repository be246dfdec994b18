"""Logging set-up: structlog, JSON lines by default or a readable console format. Configured once, at start."""

from __future__ import annotations

import logging
import sys

import structlog

FORMATS = ("json", "console")


def configure_logging(log_format: str = "json", level: int = logging.INFO) -> None:
    """Send structlog events to standard error as JSON lines or, with "console", as readable lines."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
