"""A command in a real terminal: a detached tmux session, its screen read and keys sent, bounded waits.

Each terminal has a tmux server of its own (`-L`), killed at the end: with the shared default server, a session
started just as the previous test's last session closed could meet that server on its way out and fail.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

__all__ = ["Terminal"]


class Terminal:
    """`command` (a shell line) in a `width` x 50 terminal; use as a context manager, or call `close`."""

    def __init__(self, command: str, width: int = 120) -> None:
        self.socket = f"rolwijzer-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "main", "-x", str(width), "-y", "50", command)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def screen(self, history: bool = False) -> str:
        """What the pane shows; with `history`, everything it scrolled past too."""
        return self._tmux("capture-pane", "-p", *(["-S", "-"] if history else []), "-t", "main")

    def wait_for(self, text: str, seconds: float = 20) -> str:
        """The screen once it shows `text`; fails after `seconds`."""
        deadline = time.monotonic() + seconds
        while text not in (shown := self.screen()):
            assert time.monotonic() < deadline, f"{text!r} not shown:\n{shown}"
            time.sleep(0.1)
        return shown

    def keys(self, *sent: str) -> None:
        """Type keys (tmux key names such as "Enter", "Down", "C-c", or text)."""
        self._tmux("send-keys", "-t", "main", *sent)

    def wait_for_file(self, path: Path, seconds: float = 20) -> None:
        """Wait until `path` exists (and a moment longer, for the writer to finish)."""
        deadline = time.monotonic() + seconds
        while not path.exists():
            assert time.monotonic() < deadline, self.screen()
            time.sleep(0.1)
        time.sleep(0.2)

    def close(self) -> None:
        """End the session and its tmux server."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)
