"""What the container image runs, without a container engine: the project's wheel, installed with its dependencies
into a clean venv outside the checkout, serving rules given by path (as the Dockerfile's ROLWIJZER_RULES does) from
a folder outside the checkout, with no PYTHONPATH leading back to the sources.

It installs the dependencies from the package index (or pip's cache): about 10 s here. Under faketime it is skipped,
since pip would check the index's TLS certificates against the faked date; CI runs it first on the true date.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2
from rolwijzer.api.connect import SERVICE_NAME as SERVICE
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CHEAP_FACTS, REPO, RULES_ROOT, health_status, request, stop_process

pytestmark = pytest.mark.skipif(
    "faketime" in os.environ.get("LD_PRELOAD", "") or "FAKETIME" in os.environ,
    reason="pip checks the package index's TLS certificates against the clock, which faketime moves; "
    "this test runs in the same CI job on the true date",
)

PYTHON = sys.executable
SERVING = health_pb2.HealthCheckResponse.SERVING
STEP_SECONDS = 300  # each pip step: generous for a cold cache on a busy 2-core machine, still a bound


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a setup step to its end, bounded; fail with its output."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_SECONDS, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def _clean_env() -> dict[str, str]:
    """The environment without anything that leads Python back to this checkout or this venv."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"} and not key.startswith("ROLWIJZER_")
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv outside the checkout with the wheel built from pyproject.toml and service/ (what the Dockerfile copies)
    and its dependencies; yields the venv's bin folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy, so the build writes no build/ or egg-info into the checkout
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copytree(REPO / "service", source / "service", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    assert (source / "service" / "rolwijzer" / "v1" / "rolwijzer_pb2.py").exists(), "run `make proto` first"
    env = _clean_env()
    # No build isolation: setuptools is in the dev venv already (grpcio-tools needs it); the wheel is pure Python.
    _run(
        PYTHON,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(base / "wheels"),
        str(source),
        cwd=base,
        env=env,
    )
    (wheel,) = (base / "wheels").glob("rolwijzer-*.whl")
    _run(PYTHON, "-m", "venv", str(base / "venv"), cwd=base, env=env)
    _run(str(base / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), cwd=base, env=env)
    yield base / "venv" / "bin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _files(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def test_the_installed_wheel_serves_rules_given_by_path_from_outside_the_checkout(
    installed: Path, rule_set: RuleSet, tmp_path: Path
) -> None:
    """Health on the main and the health-only port, a decision, the intake page and a Connect JSON call on the
    HTTP port (the pages come from the wheel), SIGTERM exit 0; nothing written in the venv."""
    located = _run(
        str(installed / "python"), "-c", "import rolwijzer; print(rolwijzer.__file__)", cwd=tmp_path, env=_clean_env()
    )
    assert Path(located.stdout.strip()).is_relative_to(installed.parent), located.stdout
    rules = tmp_path / "app-rules"
    shutil.copytree(RULES_ROOT, rules)
    elsewhere = tmp_path / "workdir"  # the image's WORKDIR is no source folder either
    elsewhere.mkdir()
    address, health_address = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    http_address = f"127.0.0.1:{_free_port()}"
    # As the image and the Deployment give them: by environment, bytecode never written (read-only root).
    env = dict(
        _clean_env(),
        ROLWIJZER_RULES=str(rules),
        ROLWIJZER_ADDRESS=address,
        ROLWIJZER_HEALTH_ADDRESS=health_address,
        ROLWIJZER_HTTP_ADDRESS=http_address,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )
    before = _files(installed.parent)
    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(installed / "rolwijzer-server")], cwd=elsewhere, env=env, stderr=output)
        try:
            deadline = time.monotonic() + 60
            while health_status(health_address) != SERVING or health_status(address) != SERVING:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"not SERVING within 60 s: {log.read_text()}"
                time.sleep(0.1)
            with grpc.insecure_channel(address) as channel:
                answer = pb_grpc.RolwijzerServiceStub(channel).Evaluate(request(rule_set, CHEAP_FACTS), timeout=10)
            assert answer.decision.rule_set.version == rule_set.version
            with httpx.Client(base_url=f"http://{http_address}", timeout=10) as web:
                page = web.get("/")
                assert page.status_code == 200 and "static/wizard.js" in page.text
                assert web.get("/static/wizard.js").status_code == 200
                described = web.post(f"/{SERVICE}/ListRuleSets", json={})
                assert described.status_code == 200 and rule_set.version in described.text
        finally:
            code = stop_process(process)
    assert code == 0, log.read_text()
    assert '"server_started"' in log.read_text() and str(rules) in log.read_text()
    assert _files(installed.parent) == before, "the server wrote into its installation"


def test_without_a_rules_path_the_installed_server_says_it_has_no_rules(installed: Path, tmp_path: Path) -> None:
    """The default (rules/ beside the source tree) does not exist in an installation: why the image sets the path."""
    done = subprocess.run(
        [str(installed / "rolwijzer-server"), "--address", f"127.0.0.1:{_free_port()}"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        check=False,
    )
    assert done.returncode == 2 and "cannot load the rules" in done.stderr, done.stderr
