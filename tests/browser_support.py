"""The web pages' test server and browser: a real rolwijzer server with its HTTP port, Debian's Chromium driven
by Playwright, and helpers that walk the intake wizard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from support import REPO, stop_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Starting Chromium is not what these tests judge, and its first start on a fresh machine can take far longer than
# any page step (CI once waited more than 15 s for it): a launch gets its own, generous bound and a second try.
LAUNCH_MS = 90_000
LAUNCH_ATTEMPTS = 2
START_SECONDS = 30.0
SERVICE = "/rolwijzer.v1.RolwijzerService/"


@dataclass(frozen=True)
class WebServer:
    """Where the pages are served (http://host:port) and the same server's gRPC address (host:port)."""

    url: str
    grpc_address: str

    def post(self, method: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """One call of the API over its HTTP port (Connect, JSON), as the pages make it: the HTTP status and the
        answer (or the Connect error)."""
        answer = httpx.post(f"{self.url}{SERVICE}{method}", json=dict(body), timeout=20)
        result: dict[str, Any] = answer.json()
        return answer.status_code, result

    def api(self, method: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The answer of one call that must succeed."""
        status, result = self.post(method, body)
        if status != 200:
            raise AssertionError(f"{method}: HTTP {status}: {result}")
        return result


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium started headless through Playwright: at most LAUNCH_ATTEMPTS tries of LAUNCH_MS each, the
    last try's failure raised."""
    for _ in range(LAUNCH_ATTEMPTS - 1):
        try:
            return _launch(playwright)
        except PlaywrightTimeoutError:
            continue
    return _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=LAUNCH_MS)


def _started(log: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The server's `server_started` log line, waiting at most START_SECONDS (a sleep loop: faketime-safe)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"server_started"' in line:
                event: dict[str, Any] = json.loads(line)
                return event
        if process.poll() is not None:
            text = log.read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"the server exited with {process.returncode}:\n{text}")
        time.sleep(0.1)
    stop_process(process)
    pytest.fail(f"no server_started within {START_SECONDS} s:\n{log.read_text(encoding='utf-8')}")


def web_server(folder: Path) -> Iterator[WebServer]:
    """A new `rolwijzer.api.server` serving the pages and the API on free ports of 127.0.0.1, stopped afterwards."""
    log = folder / "server.log"
    paths = [str(REPO / "service"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rolwijzer.api.server",
                "--address",
                "127.0.0.1:0",
                "--http-address",
                "127.0.0.1:0",
                "--metrics-address",
                "127.0.0.1:0",
                "--watch-interval",
                "0",
                "--rules",
                str(REPO / "rules"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=environment,
        )
    try:
        started = _started(log, process)
        if not started.get("http_port"):
            pytest.fail(f"the server_started line names no http_port: {started}")
        yield WebServer(f"http://127.0.0.1:{started['http_port']}", f"127.0.0.1:{started['port']}")
    finally:
        stop_process(process)
