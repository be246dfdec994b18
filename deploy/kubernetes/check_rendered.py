"""Check a rendered kustomization against the server itself, offline (kubernetes-validate checks the schemas).

1. The rules volume, laid out as the kubelet projects it (a timestamped folder, `..data` pointing at it, each
   top-level entry linked through `..data`), loads with the server's own loader into the same releases, byte for
   byte (same sha256), as rules/.
2. Every flag the Deployment passes is one `rolwijzer-server` knows.
3. The stop arithmetic holds: preStop sleep + the server's drain notice + its grace + 2 s to close the decision
   log fit within terminationGracePeriodSeconds; the probes ask the port --health-address listens on.

Usage: python deploy/kubernetes/check_rendered.py RENDERED.yaml (with service/ on PYTHONPATH). Exit 1 on a problem.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from rolwijzer.api.server import DRAIN_NOTICE_SECONDS, GRACE_SECONDS
from rolwijzer.rules import RuleSetError, load_rule_sets

REPO = Path(__file__).resolve().parents[2]
CLOSE_SECONDS = 2


def _project(volume: dict[str, Any], configmaps: dict[str, dict[str, str]], root: Path) -> None:
    """Write the projected volume the way the kubelet's atomic writer does."""
    payload = root / "..2026_01_01_00_00_00.000000001"
    for source in volume["projected"]["sources"]:
        data = configmaps[source["configMap"]["name"]]
        for item in source["configMap"]["items"]:
            target = payload / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[item["key"]], encoding="utf-8")
    (root / "..data").symlink_to(payload.name)
    for entry in os.listdir(payload):
        (root / entry).symlink_to(Path("..data", entry))


def _rules_problems(deployment: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> list[str]:
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "rules")
    with tempfile.TemporaryDirectory() as folder:
        mounted = Path(folder) / "rules"
        mounted.mkdir()
        _project(volume, configmaps, mounted)
        try:
            served = {(r.id, r.version): r.sha256 for r in load_rule_sets(mounted)}
        except RuleSetError as err:
            return [f"the rules volume does not load: {err}"]
    shipped = {(r.id, r.version): r.sha256 for r in load_rule_sets(REPO / "rules")}
    if served != shipped:
        return [f"the rules volume loads {sorted(served)}, rules/ holds {sorted(shipped)} (or their contents differ)"]
    print(f"rules volume: loads as rules/ does: {', '.join(f'{i} {v}' for i, v in sorted(served))}")
    return []


def _container_problems(pod: dict[str, Any]) -> list[str]:
    (container,) = pod["containers"]
    problems = []
    known = subprocess.run(
        [str(Path(sys.executable).parent / "rolwijzer-server"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    flags = [arg.split("=", 1)[0] for arg in container.get("args", []) if arg.startswith("--")]
    problems += [
        f"the Deployment passes {flag}, which rolwijzer-server does not know" for flag in flags if flag not in known
    ]
    health = next(arg.rsplit(":", 1)[1] for arg in container["args"] if arg.startswith("--health-address="))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if str(container[probe]["grpc"]["port"]) != health:
            problems.append(f"{probe} asks port {container[probe]['grpc']['port']}, health listens on {health}")
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    given = [arg.split("=", 1)[1] for arg in container["args"] if arg.startswith("--drain-seconds=")]
    drain = float(given[-1]) if given else DRAIN_NOTICE_SECONDS
    needed = pre_stop + drain + GRACE_SECONDS + CLOSE_SECONDS
    grace = pod["terminationGracePeriodSeconds"]
    if needed > grace:
        problems.append(f"stopping may take {needed:g} s, terminationGracePeriodSeconds is {grace}")
    print(f"stop: preStop {pre_stop} + drain {drain:g} + grace {GRACE_SECONDS:g} + close {CLOSE_SECONDS}")
    print(f"      = {needed:g} s within terminationGracePeriodSeconds {grace}")
    return problems


def main(rendered: Path) -> int:
    """Run the checks on one rendered file; print the problems."""
    documents = [d for d in yaml.safe_load_all(rendered.read_text(encoding="utf-8")) if d]
    configmaps = {d["metadata"]["name"]: d["data"] for d in documents if d["kind"] == "ConfigMap"}
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    problems = _rules_problems(deployment, configmaps) + _container_problems(deployment["spec"]["template"]["spec"])
    for problem in problems:
        print(f"{rendered}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
