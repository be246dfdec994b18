"""The README and docs/ describe what the repository holds: every server flag, every RPC, nothing outside it."""

from __future__ import annotations

import re
import subprocess
import sys

from support import REPO
from test_cli import cli_env

README = (REPO / "README.md").read_text(encoding="utf-8")
SERVER = ("-c", "import sys; from rolwijzer.api.server import main; sys.exit(main())")


def test_every_server_flag_of_help_is_in_the_readme() -> None:
    """Each flag `rolwijzer-server --help` lists is in the README's flag table, with its environment variable."""
    done = subprocess.run(
        [sys.executable, *SERVER, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=cli_env({"COLUMNS": "200"}),
    )
    assert done.returncode == 0, done.stderr
    flags = set(re.findall(r"^\s+(--[a-z][a-z-]*)", done.stdout, re.M))
    assert len(flags) > 20, done.stdout
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(--[a-z-]+)` \| ([^|]*) \|", README, re.M)}
    assert flags - {"--help"} <= set(rows), f"flags missing from the README: {sorted(flags - set(rows) - {'--help'})}"
    for flag, help_text in re.findall(r"^\s+(--[a-z][a-z-]*)[^\n]*\n?((?:\s{20,}.*\n)*)", done.stdout, re.M):
        env = re.search(r"env (ROLWIJZER_[A-Z_]+)", help_text)
        if env and flag in rows:
            assert env.group(1) in rows[flag], f"{flag}: the README names no {env.group(1)}"


def test_every_rpc_is_in_the_readme() -> None:
    """Each RPC of the service, and the request's `view`, is documented."""
    proto = (REPO / "protos" / "rolwijzer" / "v1" / "rolwijzer.proto").read_text(encoding="utf-8")
    rpcs = re.findall(r"^\s*rpc (\w+)\(", proto, re.M)
    assert len(rpcs) == 5
    for rpc in rpcs:
        assert f"`{rpc}(" in README, rpc
    assert "`view`" in README and "DECISION_VIEW_FULL" in README


def test_the_docs_need_nothing_beside_the_clone() -> None:
    """The README links docs/decision-procedure.md, which exists; neither names the specification outside the clone."""
    procedure = REPO / "docs" / "decision-procedure.md"
    assert "(docs/decision-procedure.md)" in README and procedure.is_file()
    for text in (README, procedure.read_text(encoding="utf-8")):
        assert "shared/" not in text
