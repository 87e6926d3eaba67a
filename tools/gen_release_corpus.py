"""Generate tests/releases/data: the injection settings and a few golden cases of released Istio versions.

For each release tag (the newest patch of every minor from 1.22 on), from a git checkout of istio/istio:

* ``config.yaml``, ``values.json``, ``mesh.yaml``: the ``config`` and ``values`` keys of the
  ``istio-sidecar-injector`` ConfigMap and the ``mesh`` key of the ``istio`` ConfigMap, exactly as that release's
  own ``TestInjection`` used them: the committed ``pkg/kube/inject/testdata/inputs/default.*.gen.yaml`` where the
  release has them (up to 1.24), else ``helm template istiod manifests/charts/istio-control/istio-discovery
  -n istio-system`` of the release's chart (what its test harness renders; checked byte for byte against the
  committed settings of 1.24 and against the shared corpus at master);
* ``inject/``: input and golden of the SELECTED cases the release's TestInjection runs with those default
  settings (auto-discovered cases, i.e. without flags, overlays, mesh changes or feature-flag setups);
* ``cases.yaml``: the cases with the test environment of that release (ENABLE_NATIVE_SIDECARS default, the fake
  cluster's nodes).

Istio's LICENSE is copied next to the data, with a NOTICE naming the sources.

    python tools/gen_release_corpus.py --istio-git PATH/TO/istio.git --helm PATH/TO/helm [--out tests/releases/data]
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

RELEASES = ("1.22.8", "1.23.6", "1.24.6", "1.25.5", "1.26.8", "1.27.9", "1.28.10", "1.29.6", "1.30.3")
SELECTED = ("hello.yaml", "daemonset.yaml", "statefulset.yaml", "job.yaml", "list.yaml", "frontend.yaml",
            "multi-container.yaml", "hello-probes.yaml", "resource_annotations.yaml", "prometheus-scrape.yaml",
            "status_annotations.yaml", "grpc-agent.yaml")
_INJECT = "pkg/kube/inject/testdata/inject"
_INPUTS = "pkg/kube/inject/testdata/inputs"
_CHART = "manifests/charts/istio-control/istio-discovery"


class Repo:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    def git(self, *args: str) -> bytes:
        return subprocess.run(["git", "-C", str(self.git_dir), *args], capture_output=True, check=True).stdout

    def show(self, tag: str, path: str) -> bytes | None:
        proc = subprocess.run(["git", "-C", str(self.git_dir), "show", f"{tag}:{path}"], capture_output=True)
        return proc.stdout if proc.returncode == 0 else None

    def files(self, tag: str, path: str) -> list[str]:
        return self.git("ls-tree", "--name-only", f"{tag}:{path}").decode().split()


def auto_discovered(repo: Repo, tag: str) -> list[str]:
    """Inputs TestInjection runs with default settings: those without an explicit case for their golden."""
    source = repo.show(tag, "pkg/kube/inject/inject_test.go").decode()
    table = source[source.index("func TestInjection("):]
    table = table[:table.index("alreadyTested")]
    tested = set(re.findall(r'want:\s*"([^"]+)"', table))
    for block in re.split(r"\n\t\t\{\n", table)[1:]:
        found = re.search(r'in:\s*"([^"]+)"', block)
        if found and "want:" not in block:
            tested.add(found.group(1) + ".injected")
    files = set(repo.files(tag, _INJECT))
    return sorted(f for f in files if f.endswith(".yaml") and not f.endswith(".iop.yaml")
                  and f + ".injected" not in tested and f + ".injected" in files)


def settings(repo: Repo, tag: str, helm: Path) -> tuple[str, str, str, str]:
    """(config, values, mesh, where they came from)."""
    committed = repo.show(tag, f"{_INPUTS}/default.template.gen.yaml")
    if committed is not None:
        values = repo.show(tag, f"{_INPUTS}/default.values.gen.yaml")
        mesh = repo.show(tag, f"{_INPUTS}/default.mesh.gen.yaml")
        assert values is not None and mesh is not None
        return committed.decode(), values.decode(), mesh.decode(), f"{_INPUTS}/default.*.gen.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        archive = repo.git("archive", tag, _CHART)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        rendered = subprocess.run([str(helm), "template", "istiod", str(Path(tmp) / _CHART), "-n", "istio-system"],
                                  capture_output=True, check=True, text=True).stdout
    maps = {d["metadata"]["name"]: d["data"] for d in yaml.safe_load_all(rendered)
            if d and d.get("kind") == "ConfigMap"}
    injector = maps["istio-sidecar-injector"]
    return injector["config"], injector["values"], maps["istio"]["mesh"], f"helm template of {_CHART}"


def environment(tag: str) -> dict:
    """The fake cluster and feature flags of the release's TestInjection for default cases."""
    minor = int(tag.split(".")[1])
    native_auto = minor >= 27  # ENABLE_NATIVE_SIDECARS defaults to "auto" from 1.27, before that to false
    nodes = [{"name": "node-1", "kubeletVersion": "v1.33.0"}, {"name": "node-2", "kubeletVersion": "v1.34.0"}]
    return {
        "nodes": nodes if native_auto else [],
        "namespaces": [{"name": "test-ns", "labels": {}, "annotations": {
            "openshift.io/sa.scc.uid-range": "1000620000/10000",
            "openshift.io/sa.scc.supplemental-groups": "1000620000/10000"}}],
        "feature_flags": {"ENABLE_NATIVE_SIDECARS": "auto" if native_auto else "false", "PLATFORM": "",
                          "COMPLIANCE_POLICY": ""},
    }


def generate(repo: Repo, helm: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    index = []
    for tag in RELEASES:
        folder = out / tag
        (folder / "inject").mkdir(parents=True)
        config, values, mesh, origin = settings(repo, tag, helm)
        (folder / "config.yaml").write_text(config)
        (folder / "values.json").write_text(values)
        (folder / "mesh.yaml").write_text(mesh)
        commit = repo.git("rev-list", "-n", "1", tag).decode().strip()
        cases = []
        for name in (n for n in SELECTED if n in auto_discovered(repo, tag)):
            for suffix in ("", ".injected"):
                data = repo.show(tag, f"{_INJECT}/{name}{suffix}")
                assert data is not None
                (folder / "inject" / f"{name}{suffix}").write_bytes(data)
            cases.append({"input": f"inject/{name}", "golden": f"inject/{name}.injected"})
        index.append({"release": tag, "commit": commit, "settings_from": origin, "cases": cases,
                      "environment": environment(tag)})
    (out / "cases.yaml").write_text(yaml.safe_dump(index, sort_keys=False, width=120))
    license_text = repo.show(RELEASES[-1], "LICENSE")
    assert license_text is not None
    (out / "LICENSE").write_bytes(license_text)
    (out / "NOTICE").write_text(_notice(index))


def _notice(index: list[dict]) -> str:
    lines = [
        "Injection settings and test cases of released Istio versions.",
        "",
        "This directory contains files copied from, and data derived from, the Istio project:",
        "https://github.com/istio/istio. Copyright Istio Authors. Licensed under the Apache License, Version 2.0;",
        "LICENSE in this directory is an unmodified copy of the LICENSE file of release " + RELEASES[-1] + ".",
        "",
        "- <release>/inject/: copied unmodified from pkg/kube/inject/testdata/inject/ of the release.",
        "- <release>/config.yaml, values.json, mesh.yaml: copied unmodified from the release's",
        "  pkg/kube/inject/testdata/inputs/default.{template,values,mesh}.gen.yaml where it has them, else derived:",
        "  rendered from the release's manifests/charts/istio-control/istio-discovery chart with helm template.",
        "- cases.yaml: derived from the release's pkg/kube/inject/inject_test.go (func TestInjection).",
        "",
        "Releases and commits:",
    ]
    lines += [f"- {entry['release']}: {entry['commit']} ({entry['settings_from']})" for entry in index]
    lines += ["", "Generated by tools/gen_release_corpus.py."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--istio-git", type=Path, required=True, help="a git checkout (or bare repo) of istio/istio")
    parser.add_argument("--helm", type=Path, required=True, help="a helm v3 binary")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/releases/data")
    args = parser.parse_args()
    generate(Repo(args.istio_git), args.helm, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
