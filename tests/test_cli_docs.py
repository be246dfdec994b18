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
    # Each flag's entry runs from its line to the next flag's; argparse may wrap it anywhere.
    entries = re.split(r"^\s{2}(?=--[a-z])", done.stdout, flags=re.M)[1:]
    named = {}
    for entry in entries:
        found = re.search(r"\[env\s+var:\s+(ROLWIJZER_[A-Z_]+)\]", entry)
        if found:
            named[entry.split()[0]] = found.group(1)
    # Every flag has its variable, by construction, and the README names it.
    assert set(named) == flags - {"--help"}, sorted(flags - set(named) - {"--help"})
    for flag, env in named.items():
        assert env == "ROLWIJZER_" + flag[2:].replace("-", "_").upper()
        assert env in rows[flag], f"{flag}: the README names no {env}"


def test_every_rpc_is_in_the_readme() -> None:
    """Each RPC of the service, and the request's `view`, is documented."""
    proto = (REPO / "protos" / "rolwijzer" / "v1" / "rolwijzer.proto").read_text(encoding="utf-8")
    rpcs = re.findall(r"^\s*rpc (\w+)\(", proto, re.M)
    assert len(rpcs) == 6
    for rpc in rpcs:
        assert f"`{rpc}(" in README, rpc
    assert "`view`" in README and "DECISION_VIEW_FULL" in README


def test_the_docs_need_nothing_beside_the_clone() -> None:
    """The README links docs/decision-procedure.md, which exists; neither names the specification outside the clone."""
    procedure = REPO / "docs" / "decision-procedure.md"
    assert "(docs/decision-procedure.md)" in README and procedure.is_file()
    for text in (README, procedure.read_text(encoding="utf-8")):
        assert "shared/" not in text
