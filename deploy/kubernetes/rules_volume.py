"""Write (or check) the two kustomize files that put rules/ into the pods as one ConfigMap-backed volume.

A ConfigMap's keys are file names without folders, and the server wants the release layout
(`informele-zorg/2.0.0/manifest.yaml`). So each release becomes a ConfigMap of its own (its files as keys), and one
projected volume places every key at its path in the tree. One volume means one `..data` symlink that the kubelet
swaps atomically, the layout tests/test_rule_attacks.py::TestConfigMapMounts serves; one ConfigMap per release
keeps each far under the 1 MiB object limit (and under the 256 KiB annotation limit of client-side
`kubectl apply`), however many releases there are.

  base/rules-configmaps.yaml  kustomize ConfigMapGenerator configs (`generators:`), one per release folder
  base/rules-volume.yaml      a patch of the Deployment: the `rules` volume with an item per file

Usage: python deploy/kubernetes/rules_volume.py [--check]. With --check, exit 1 when either file differs from what
rules/ now needs (a release added or a file renamed without running `make deploy-rules`), or a release is too large.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RULES = REPO / "rules"
BASE = HERE / "base"
GENERATORS = BASE / "rules-configmaps.yaml"
VOLUME = BASE / "rules-volume.yaml"
# A ConfigMap may hold 1 MiB in all; the last-applied annotation of client-side apply at most 256 KiB.
# Stay well under the smaller, with room for kustomize's metadata.
MAX_RELEASE_BYTES = 200 * 1024
HEADER = "# Written by deploy/kubernetes/rules_volume.py from rules/ (`make deploy-rules`); do not edit.\n"


def releases() -> list[Path]:
    """The release folders under rules/ (those with a manifest.yaml), in path order."""
    return sorted(manifest.parent for manifest in RULES.rglob("manifest.yaml"))


def configmap_name(release: Path) -> str:
    """`rules-informele-zorg-2.0.0`: a DNS subdomain, as ConfigMap names must be."""
    return "rules-" + "-".join(release.relative_to(RULES).parts).lower()


def _files(release: Path) -> list[Path]:
    files = sorted(path for path in release.iterdir() if path.is_file())
    folders = [path.name for path in release.iterdir() if path.is_dir()]
    if folders:
        raise SystemExit(f"{release}: sub-folders {folders} cannot be ConfigMap keys; extend rules_volume.py")
    return files


def generators() -> str:
    """ConfigMapGenerator configs; kustomize adds a hash of the content to each name, so a change of the rules
    rolls the pods (readiness-gated, `kubectl rollout undo`-able) instead of editing what runs."""
    parts = []
    for release in releases():
        files = "".join(f"  - {_relative(path)}\n" for path in _files(release))
        name = configmap_name(release)
        parts.append(f"apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: {name}\nfiles:\n{files}")
    return HEADER + "---\n".join(parts)


def volume() -> str:
    """A strategic-merge patch of the Deployment with the projected `rules` volume."""
    sources = []
    for release in releases():
        folder = release.relative_to(RULES).as_posix()
        items = "".join(
            f"                  - key: {path.name}\n                    path: {folder}/{path.name}\n"
            for path in _files(release)
        )
        sources.append(
            f"            - configMap:\n                name: {configmap_name(release)}\n"
            f"                items:\n{items}"
        )
    return (
        HEADER
        + "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: rolwijzer\nspec:\n  template:\n    spec:\n"
        + "      volumes:\n        - name: rules\n          projected:\n            sources:\n"
        + "".join(sources)
    )


def _relative(path: Path) -> str:
    """A file's path as kustomize reads it, relative to base/ (outside it, hence --load-restrictor)."""
    return Path("../../..", path.relative_to(REPO)).as_posix()


def _too_large() -> list[str]:
    problems = []
    for release in releases():
        size = sum(path.stat().st_size for path in _files(release))
        if size > MAX_RELEASE_BYTES:
            problems.append(f"{release.relative_to(REPO)}: {size} bytes, more than {MAX_RELEASE_BYTES} in a ConfigMap")
    return problems


def main(argv: list[str]) -> int:
    """Write the files, or with --check compare them; print what differs."""
    wanted = {GENERATORS: generators(), VOLUME: volume()}
    problems = _too_large()
    if argv[1:] == ["--check"]:
        stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
        problems += [f"{path.relative_to(REPO)} does not match rules/: run `make deploy-rules`" for path in stale]
    elif argv[1:]:
        problems.append(f"usage: {argv[0]} [--check]")
    else:
        for path, text in wanted.items():
            path.write_text(text)
    for problem in problems:
        print(problem, file=sys.stderr)
    sizes = ", ".join(f"{configmap_name(r)} {sum(p.stat().st_size for p in _files(r)) // 1024} KiB" for r in releases())
    print(f"rules volume: {len(releases())} releases ({sizes})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
