"""`--workers N`: N server processes sharing one port through SO_REUSEPORT, so every core serves.

The first process is a supervisor: it starts the workers (the same command with `--worker-index`), passes
SIGTERM, SIGINT, SIGHUP and SIGUSR1 (reopen the decision log) on to them, restarts a worker that dies (after a
pause that doubles with every quick death, up to 30 s), and exits when they have stopped after SIGTERM or SIGINT,
with the worst exit code among them. A worker stops by itself when its supervisor is gone, so killing the
supervisor leaves no orphans serving.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

import structlog

from rolwijzer.waiting import StopSignal

log = structlog.get_logger("rolwijzer.workers")

FIRST_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 30.0
# A worker that ran this long before it died is restarted after the first pause again.
STABLE_SECONDS = 60.0
POLL_SECONDS = 0.2


@dataclass
class _Worker:
    """One worker process and when it may be started again."""

    index: int
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    pause: float = FIRST_PAUSE_SECONDS
    restart_at: float | None = None


def run_workers(
    argv: Sequence[str],
    count: int,
    env: Mapping[str, str] | None = None,
    on_exit: Callable[[int], None] = lambda pid: None,
    early: Sequence[int] = (),
) -> int:
    """Start `count` workers with the server's own arguments; keep them running until SIGTERM or SIGINT.

    `env` is the workers' environment (this process's when None); `on_exit(pid)` is called once for each worker
    found dead before it is restarted (the metrics drop its gauges). `early` holds the signals that came before
    this took them over (the server's `_keep_early_stops`, still filled until then): they are passed on at once.
    """

    def start(index: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "rolwijzer.serve", *argv, "--worker-index", str(index)]
        return subprocess.Popen(command, env=env)

    workers = [_Worker(index, start(index)) for index in range(1, count + 1)]
    stopping = threading.Event()

    def forward(signum: int, _frame: FrameType | None) -> None:
        # Only flags and signals here: a handler must not log (the main thread may hold the log's lock).
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping.set()
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, forward)
    for kept in early:
        forward(kept, None)
    while not stopping.is_set():
        for worker in workers:
            _restart_if_dead(worker, start, stopping, on_exit)
        time.sleep(POLL_SECONDS)  # not a timed lock wait: it elapses under a faked clock too
    codes = [worker.process.wait() for worker in workers]
    return max(codes, key=abs) if any(codes) else 0


def _restart_if_dead(
    worker: _Worker,
    start: Callable[[int], subprocess.Popen[bytes]],
    stopping: threading.Event,
    on_exit: Callable[[int], None],
) -> None:
    code = worker.process.poll()
    if code is None or stopping.is_set():
        return
    now = time.monotonic()
    if worker.restart_at is None:
        if now - worker.started >= STABLE_SECONDS:
            worker.pause = FIRST_PAUSE_SECONDS
        worker.restart_at = now + worker.pause
        on_exit(worker.process.pid)
        log.error("worker_died", worker=worker.index, exit_code=code, restart_in_seconds=worker.pause)
        return
    if now >= worker.restart_at:
        worker.process, worker.started, worker.restart_at = start(worker.index), now, None
        worker.pause = min(worker.pause * 2, MAX_PAUSE_SECONDS)
        log.info("worker_restarted", worker=worker.index, pid=worker.process.pid)


def stop_with_supervisor(stopped: StopSignal) -> threading.Thread:
    """In a worker: send ourselves SIGTERM (the normal drain) once the supervisor that started us is gone."""
    supervisor = os.getppid()

    def watch() -> None:
        while not stopped.wait(1.0):
            if os.getppid() != supervisor:
                log.error("supervisor_gone", supervisor=supervisor)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="supervisor-watch", daemon=True)
    thread.start()
    return thread
