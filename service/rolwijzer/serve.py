"""The `rolwijzer-server` command (and each `--workers` worker): Ctrl-C while Python loads the server ends it
quietly, with exit code 130, instead of a traceback from whatever module was being read.

From `main` on, the server takes SIGINT and SIGTERM itself (`rolwijzer.api.server.main`): one that comes while it
starts is kept and acted on once it has started, so the stop drains and closes as any other.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

EXIT_STOPPED = 130


def main() -> int:
    """Load the server and run it; 130 when stopped with Ctrl-C while loading."""
    try:
        from rolwijzer.api.server import main as serve  # noqa: PLC0415 - the import is what Ctrl-C may interrupt
    except KeyboardInterrupt:
        print("rolwijzer-server: stopped while starting", file=sys.stderr)
        return EXIT_STOPPED
    return serve()


if __name__ == "__main__":
    sys.exit(main())
