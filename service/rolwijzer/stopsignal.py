"""A stop flag for background loops whose timed wait elapses on any clock.

`threading.Event.wait(timeout)` waits with `sem_clockwait` on the monotonic clock. libfaketime, which the suite runs
under to check future dates, fakes that clock but does not intercept `sem_clockwait`, so such a wait never times
out there. `select()` takes a relative timeout and works under a faked, jumping or real clock alike; setting the
flag writes to a pipe, so a waiter wakes at once.
"""

from __future__ import annotations

import os
import select
import threading

__all__ = ["StopSignal"]


class StopSignal:
    """Set once, from any thread or a signal handler's thread; `wait` returns when set or when time is up."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._lock = threading.Lock()
        self._set = False

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        with self._lock:
            if self._set:
                return
            self._set = True
            os.write(self._write, b"x")

    def is_set(self) -> bool:
        """True once `set` was called."""
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or `timeout` seconds have passed (forever when None); return the flag."""
        if not self._set:
            select.select([self._read], [], [], timeout)
        return self._set

    def close(self) -> None:
        """Release the pipe; the flag must not be used afterwards."""
        os.close(self._read)
        os.close(self._write)
