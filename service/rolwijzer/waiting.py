"""Waiting between threads with timeouts that elapse on any clock: a stop flag, a wake-up flag, a one-item handoff.

`threading.Event.wait(timeout)` and `queue.Queue.get(timeout)` wait with `sem_clockwait` on the monotonic clock.
libfaketime, which the suite runs under to check future dates, fakes that clock but does not intercept
`sem_clockwait`, so such a wait never times out there. `poll()` takes a relative timeout and works under a
faked, jumping or real clock alike; setting a flag or handing over an item writes to a pipe, so a waiter wakes at
once. (Not `select()`: it refuses file descriptors from 1024 on, which a server with many connections and files
open reaches.)
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Closed", "Handoff", "StopSignal", "Wakeup", "wait_until"]

T = TypeVar("T")


# How often `wait_until` looks.
POLL_SECONDS = 0.05


def _readable(fd: int, timeout: float | None) -> bool:
    """Whether `fd` can be read within `timeout` seconds (None: wait until it can)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    # In whole milliseconds, rounded up: a timeout rounded down to 0 would turn a caller's wait loop into a spin.
    return bool(poller.poll(None if timeout is None else max(0, math.ceil(timeout * 1000))))


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Wait until `condition()` holds, at most about `seconds`; return whether it holds.

    For what another library lets us know only through a threading.Event or a thread's end, whose timed waits never
    elapse under a faked clock: it looks every POLL_SECONDS with sleeps, which do elapse, and counts them rather
    than reading a clock.
    """
    for _ in range(max(1, round(seconds / POLL_SECONDS))):
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


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
            _readable(self._read, timeout)
        return self._set

    def close(self) -> None:
        """Release the pipe; the flag must not be used afterwards."""
        os.close(self._read)
        os.close(self._write)


class Wakeup:
    """A flag one thread raises and another waits for, lowered again by the wait (unlike StopSignal, which stays
    set): for a writer thread woken by each new record, with a timeout that elapses on any clock (poll)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._lock = threading.Lock()
        self._raised = False

    def raise_(self) -> None:
        """Raise the flag; a waiter wakes at once."""
        with self._lock:
            if self._raised:
                return
            self._raised = True
            os.write(self._write, b"x")

    def wait(self, timeout: float) -> None:
        """Wait until the flag is raised or `timeout` seconds have passed, and lower it."""
        _readable(self._read, timeout)
        with self._lock:
            if self._raised:
                self._raised = False
                os.read(self._read, 1)

    def close(self) -> None:
        """Release the pipe; the flag must not be used afterwards."""
        os.close(self._read)
        os.close(self._write)


class Closed(Exception):
    """The handoff was closed: nothing more will be given or taken."""


class Handoff(Generic[T]):
    """One item at a time from a producer thread to a consumer, who may give up after a timeout.

    `give` returns only when the consumer has taken the item, so a fast producer never piles items up; `take`
    waits at most its timeout. `close` wakes both sides with `Closed`. Producer and consumer each call `leave`
    once when they are done; the last one to leave frees the pipes.
    """

    def __init__(self) -> None:
        self._ready_read, self._ready_write = os.pipe()
        self._taken_read, self._taken_write = os.pipe()
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._closed = False
        self._parties = 2

    def give(self, item: T) -> None:
        """Hand `item` over and wait until it is taken.

        Raises:
            Closed: the handoff was closed (the item may not have been taken).
        """
        with self._lock:
            if self._closed:
                raise Closed
            self._items.append(item)
            os.write(self._ready_write, b"x")
        _readable(self._taken_read, None)
        with self._lock:
            if self._closed:
                raise Closed
            os.read(self._taken_read, 1)

    def take(self, timeout: float) -> T:
        """The next item, waiting at most `timeout` seconds.

        Raises:
            TimeoutError: nothing was given in time.
            Closed: the handoff was closed.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing was given for {timeout:g} s")
            if not _readable(self._ready_read, remaining):
                continue
            with self._lock:
                if self._closed:
                    raise Closed
                os.read(self._ready_read, 1)
                item = self._items.pop()
                os.write(self._taken_write, b"x")
            return item

    def close(self) -> None:
        """Wake both sides with `Closed`; later calls raise `Closed` too."""
        with self._lock:
            if not self._closed:
                self._closed = True
                os.write(self._ready_write, b"x")
                os.write(self._taken_write, b"x")

    def leave(self) -> None:
        """Say this side is done (once per side); the last side to leave frees the pipes."""
        with self._lock:
            self._parties -= 1
            last = self._parties == 0
        if last:
            for fd in (self._ready_read, self._ready_write, self._taken_read, self._taken_write):
                os.close(fd)
