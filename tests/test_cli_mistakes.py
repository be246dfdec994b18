"""What a new user of `rolwijzer` trips over (issue 15): each mistake is refused or understood, and said in words.

The CLI runs as legal staff run it (a subprocess, output piped, COLUMNS=40) against a real server on 127.0.0.1.
Decisions that depend on the date are asked for an explicit --date, so the tests hold under a faked clock.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certs import Authority, Pem
from rolwijzer.api import create_server
from rolwijzer.api.config import Limits, Tls
from rolwijzer.engine import DEFAULT_MAX_COMBINATIONS
from rolwijzer.reload import EngineHolder
from support import RULES_ROOT
from test_cli import CLI, cli_env

DAY = "2026-06-01"  # a day the current release covers, before the 2027 change
PARTNER = ("--fact", "relation_to_beneficiary=partner", "--fact", "regularity=structural")
# A child helping 8 hours a week for 3 months: exactly at the threshold, which counts from 2027 on.
AT_THRESHOLD = (
    "--fact",
    "relation_to_beneficiary=child",
    "--fact",
    "regularity=structural",
    "--fact",
    "hours_per_week=8",
    "--fact",
    "duration_months=3",
    "--fact",
    "tasks=household",
)
NEIGHBOUR_ANSWERS = "neighbour\nstructural\n4\n1,5\n"


def _cli(*args: str, stdin: str = "", cwd: Path | None = None, columns: str = "40") -> subprocess.CompletedProcess[str]:
    """`rolwijzer ARGS` exactly as given (the caller places --server), output piped, 40 columns."""
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_env({"COLUMNS": columns}),
    )


def _run(server: str, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _cli("--server", server, *args, stdin=stdin, cwd=cwd)


def _decision(server: str, *args: str) -> dict[str, Any]:
    done = _run(server, "evaluate", "--json", *args)
    assert done.returncode == 0, done.stderr
    decision: dict[str, Any] = json.loads(done.stdout)
    return decision


def _flags(decision: dict[str, Any]) -> set[str]:
    return {f["code"] for f in decision.get("flags", [])}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pem]:
    """A CA and a server certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("pki")
    authority = Authority(folder, "ca")
    return {"ca": authority.pem, "server": authority.issue("server", server=True)}


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, Pem]) -> Iterator[str]:
    """A server on 127.0.0.1 that speaks only TLS."""
    holder = EngineHolder(RULES_ROOT, DEFAULT_MAX_COMBINATIONS)
    tls = Tls.from_files(pki["server"].certificate, pki["server"].private_key, None)
    server, port = create_server("127.0.0.1:0", holder, limits=Limits(), tls=tls)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)
    holder.close()


class TestTlsMismatch:
    """A client and server that disagree about TLS are told so, not "is it running?"."""

    def test_a_plaintext_client_is_told_the_server_speaks_tls(self, tls_server: str) -> None:
        """No --ca towards a TLS server: exit code 3 and "spreekt TLS; geef --ca"."""
        done = _run(tls_server, "rules")
        assert done.returncode == 3
        assert done.stderr.startswith(f"de Rolwijzer-server op {tls_server} spreekt TLS; geef --ca")
        assert "make run" not in done.stderr

    def test_a_tls_client_is_told_the_server_speaks_plaintext(self, server_address: str, pki: dict[str, Pem]) -> None:
        """--ca towards a plaintext server: exit code 3 and "does not speak TLS"."""
        done = _run(server_address, "--lang", "en", "--ca", str(pki["ca"].certificate), "rules")
        assert done.returncode == 3
        assert done.stderr.startswith(f"the Rolwijzer server at {server_address} does not speak TLS")


def test_every_message_exists_in_dutch_and_english_with_the_same_fields() -> None:
    """A message added in one language only would fail with a KeyError at the worst moment.

    Read in a child process: importing rolwijzer.cli sets GRPC_VERBOSITY, which must not leak into this one.
    """
    script = "import json; from rolwijzer.cli.messages import MESSAGES; print(json.dumps(MESSAGES))"
    read = subprocess.run([CLI[0], "-c", script], capture_output=True, text=True, timeout=60, check=True, env=cli_env())
    messages: dict[str, dict[str, str]] = json.loads(read.stdout)
    assert messages["nl"].keys() == messages["en"].keys()
    for key, dutch in messages["nl"].items():
        fields = set(re.findall(r"\{(\w+)", dutch))
        assert fields == set(re.findall(r"\{(\w+)", messages["en"][key])), key
