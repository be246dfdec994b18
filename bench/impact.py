"""How long `rolwijzer impact` takes over a population of IMPACT_COUNT (default 100,000) situations, as a user runs it.

bench/population.py writes the population as JSON lines into a temporary folder; a server with bench/load.py's
flags (2 workers, the default cache, logging at `warning`) runs on 127.0.0.1; the installed `rolwijzer` console
script compares the day before and the day of the 2027 change in the law (every situation decided twice, so twice
IMPACT_COUNT decisions over IMPACT_STREAMS (default: the CLI's, 4) EvaluateBatch streams, each on its own
connection, 100 situations a message, codes only). Connections spread over the workers by the kernel's hash
(SO_REUSEPORT), so four streams reach both workers in 7 runs of 8: the figure printed says how the run's workers
shared the work (their CPU time). Timed: the CLI's whole run, from start to exit, reading the file included;
writing the file is not.

Bounded by IMPACT_SECONDS (default 60, twice the goal): a run that would take minutes on the 2-core machine would
not leave `make bench` its 10 minutes. The CLI draws its progress bar (rich treats standard error as a terminal
under TTY_COMPATIBLE=1), so a run stopped at the limit still says how many situations it had compared, and the
time the whole population would take at the rate since its first count. Writes bench/results/impact.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rolwijzer.cli.impact import DEFAULT_STREAMS

from bench.load import REPO, Server, children, cpu_seconds

COUNT = int(os.environ.get("IMPACT_COUNT", "100000"))
STREAMS = int(os.environ.get("IMPACT_STREAMS", str(DEFAULT_STREAMS)))
WORKERS = 2
SECONDS = float(os.environ.get("IMPACT_SECONDS", "60"))
SIDES = ("2026-12-31", "2027-01-01")
RESULTS = REPO / "bench" / "results" / "impact.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _compared(progress: str) -> int:
    """The last count the progress bar showed ("12345/100000"), 0 before its first refresh."""
    counts = re.findall(rf"(\d+)/{COUNT}\b", ANSI.sub("", progress))
    return int(counts[-1]) if counts else 0


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of the CLI: whether it ended by itself, how long it took, how many situations it compared."""

    finished: bool
    seconds: float
    compared: int
    summary: str  # its first line of output, e.g. "2026-12-31 -> 2027-01-01: 30 of 10000 situations change"
    # When the progress bar first showed a count, and that count: the rate of a stopped run is taken from there,
    # past the start-up (imports, reading the file, the first message), so the time it projects is not inflated.
    first_seconds: float
    first_compared: int
    # The CLI's own CPU time (user and system): it shares the 2 cores with the server's workers.
    cpu_seconds: float

    def projected_seconds(self) -> float:
        """The whole population's time: measured when finished, else at the rate since the first count."""
        if self.finished:
            return self.seconds
        if self.compared <= self.first_compared or self.seconds <= self.first_seconds:
            return float("inf")
        rate = (self.compared - self.first_compared) / (self.seconds - self.first_seconds)
        return self.seconds + (COUNT - self.compared) / rate


def _run(command: list[str], folder: Path) -> Run:
    """Run the CLI to its end or to SECONDS; what it compared, in how long, and its first line of output."""
    out, err = folder / "stdout", folder / "stderr"
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI is the only child that ends meanwhile
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=dict(os.environ, TTY_COMPATIBLE="1"))
        first_seconds, first_compared = 0.0, 0
        while time.perf_counter() < started + SECONDS:
            try:
                process.wait(timeout=0.5)  # returns the moment the CLI ends, so the time is its own
                break
            except subprocess.TimeoutExpired:
                pass
            if not first_compared:
                first_compared = _compared(err.read_text())
                first_seconds = time.perf_counter() - started
        finished = process.poll() is not None
        seconds = time.perf_counter() - started
        compared = COUNT if finished else _compared(err.read_text())  # before the stop, which takes seconds
        if not finished:
            # Ctrl-C first, as a user would; a CLI blocked in the stream's C code may not see it, so then a kill.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
    if finished and process.returncode != 0:
        raise RuntimeError(f"rolwijzer impact failed ({process.returncode}): {err.read_text()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - reaped.ru_utime + after.ru_stime - reaped.ru_stime
    lines = ANSI.sub("", out.read_text()).splitlines()
    summary = lines[0] if finished and lines else ""
    return Run(finished, seconds, compared, summary, first_seconds, first_compared, cpu)


def main() -> None:
    """Write the population, time the CLI against a fresh server, print and write the figures."""
    written = time.time()
    with tempfile.TemporaryDirectory(prefix="rolwijzer-impact-") as name:
        folder = Path(name)
        people = folder / "population.jsonl"
        generating = time.perf_counter()
        with people.open("w", encoding="utf-8") as out:
            script = REPO / "bench" / "population.py"
            subprocess.run([sys.executable, str(script), "--count", str(COUNT)], stdout=out, check=True, timeout=300)
        generated = time.perf_counter() - generating
        # The server's own limit of 2 streams per worker (bench/load.py's servers take 4): a worker with 2 refuses a
        # third, and the CLI opens it again on a new connection, which the kernel may hand to the other worker.
        server = Server("--max-streams", "2", workers=WORKERS)
        try:
            workers = children(server.process.pid)
            started = [cpu_seconds(pid) for pid in workers]
            cli = str(Path(sys.executable).parent / "rolwijzer")
            sides = ["--before", SIDES[0], "--after", SIDES[1], "--streams", str(STREAMS)]
            found = _run([cli, "--server", server.address, "impact", str(people), *sides], folder)
            shares = [cpu_seconds(pid) - before for pid, before in zip(workers, started, strict=True)]
        finally:
            server.stop()
    seconds, compared = found.seconds, found.compared
    projected = found.projected_seconds()
    print(
        f"bench/impact.py: rolwijzer impact over {COUNT:,} situations ({2 * COUNT:,} decisions), {WORKERS} workers, "
        f"{STREAMS} streams (population written in {generated:.0f} s, not counted)"
    )
    print(
        f"  CPU during the run: the workers {' / '.join(f'{cpu:.1f} s' for cpu in shares)}, "
        f"the CLI {found.cpu_seconds:.1f} s"
    )
    if found.finished:
        print(f"  {seconds:.1f} s, {2 * COUNT / seconds:,.0f} decisions/s: {found.summary}")
    else:
        print(
            f"  stopped at {seconds:.0f} s with {compared:,} compared (the first {found.first_compared:,} after "
            f"{found.first_seconds:.1f} s): {projected:.0f} s for all at the rate since then"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "written": written,
        "situations": COUNT,
        "limit_seconds": SECONDS,
        "workers": WORKERS,
        "streams": STREAMS,
        "worker_cpu_seconds": shares,
        **dataclasses.asdict(found),
        "projected_seconds": projected,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
