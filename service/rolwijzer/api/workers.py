"""`--workers N`: N server processes sharing one port through SO_REUSEPORT, so every core serves.

The first process is a supervisor: it starts the workers (the same command with `--worker-index`), passes
SIGTERM, SIGINT and SIGHUP on to them, and exits when they have, with the worst exit code among them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType


def run_workers(argv: Sequence[str], count: int) -> int:
    """Start `count` workers with the server's own arguments; return when all have exited."""
    workers = [
        subprocess.Popen([sys.executable, "-m", "rolwijzer.api.server", *argv, "--worker-index", str(index)])
        for index in range(1, count + 1)
    ]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    codes = [worker.wait() for worker in workers]
    return max(codes, key=abs) if any(codes) else 0
