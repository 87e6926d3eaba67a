"""Peers of the deploy/ tests, from the Go module proxy: a real ``helm`` and ``promtool``, and the CRDs of
cert-manager (Certificate) and prometheus-operator (PrometheusRule).

Why build Helm: users install with it, and the chart must render and install exactly as Helm does it (values
schema, ``fail``, upgrades removing objects). ``helm.sh/helm/v3`` has no replace directives, so ``go install
helm.sh/helm/v3/cmd/helm@<pin>`` builds it; the ldflags are those of Helm's own Makefile (version, and the
Kubernetes version ``helm template`` assumes, taken from the client-go the release requires).

Why promtool: it is Prometheus's own PromQL parser and rule evaluator. It checks the syntax of every alert and
dashboard query, runs the alert rules' unit tests and lints our /metrics exposition. ``github.com/prometheus/
prometheus`` has exclude directives, which ``go install pkg@version`` refuses, so it is built from a small module
whose go.mod re-states them (as ``controlplane.py`` does for Kubernetes' replaces).

Why the CRDs: the apiserver validates a Certificate or a PrometheusRule only once the real CRD is installed; the
modules ``github.com/cert-manager/cert-manager`` and ``github.com/prometheus-operator/prometheus-operator``
carry them.

Everything is cached beside the control plane (``controlplane.cache_root()``), built once under a lock.
``python tests/e2e/deploytools.py build`` prepares it all (``scripts/build-e2e-binaries.sh`` calls it).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from controlplane import (BuildError, Log, build_go_module, build_once, cache_root, go_env, run_logged,
                          stderr_log)

HELM_VERSION = "v3.19.5"
"""Requires Go 1.24 (as the control plane does) and client-go 0.34, the Kubernetes minor of the e2e apiserver."""
PROMETHEUS_MODULE_VERSION = "v0.308.1"
"""Prometheus 3.8.1; the last release line whose go.mod asks for no more than Go 1.24."""
CRDS = {
    "certificate": ("github.com/cert-manager/cert-manager", "v1.21.2", "deploy/crds/cert-manager.io_certificates.yaml"),
    "prometheusrule": ("github.com/prometheus-operator/prometheus-operator", "v0.85.0",
                       "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"),
}
TOOLS_NAME = f"deploy-tools-helm-{HELM_VERSION}-prometheus-{PROMETHEUS_MODULE_VERSION}"


@dataclass(frozen=True)
class DeployTools:
    helm: Path
    promtool: Path
    certificate_crd: Path
    prometheusrule_crd: Path


def _directory() -> Path:
    return cache_root() / TOOLS_NAME


def _paths() -> DeployTools:
    directory = _directory()
    return DeployTools(helm=directory / "bin" / "helm", promtool=directory / "bin" / "promtool",
                       certificate_crd=directory / "crds" / "certificate.yaml",
                       prometheusrule_crd=directory / "crds" / "prometheusrule.yaml")


def cached_deploy_tools() -> DeployTools | None:
    """The cached tools if every one is there (each is written under a temporary name first), else None."""
    tools = _paths()
    return tools if all(Path(p).is_file() for p in vars(tools).values()) else None


def _module(go: str, module: str, cwd: Path) -> dict[str, str]:
    """``go mod download -json`` of one module version: its unpacked directory and go.mod."""
    out = subprocess.run([go, "mod", "download", "-json", module], cwd=cwd, capture_output=True, text=True,
                         env=go_env())
    if out.returncode != 0:
        raise BuildError(f"go mod download {module} failed: {out.stderr.strip() or out.stdout.strip()}")
    return json.loads(out.stdout)


def _k8s_version_flags(helm_go_mod: str) -> list[str]:
    """Helm's Makefile stamps the Kubernetes version from its client-go (v0.34.x -> 1.34); without it Helm assumes
    1.20 and refuses charts declaring a newer ``kubeVersion``."""
    match = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.\d+", helm_go_mod, re.MULTILINE)
    if not match:
        raise BuildError("cannot find k8s.io/client-go in Helm's go.mod")
    flags = []
    for package in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={match.group(1)}"]
    return flags


def _build_helm(go: str, target: Path, log_file: Path, log: Log) -> None:
    module = _module(go, f"helm.sh/helm/v3@{HELM_VERSION}", target.parent)
    ldflags = " ".join(["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
                        "-X helm.sh/helm/v3/internal/version.metadata=",
                        *_k8s_version_flags(Path(module["GoMod"]).read_text())])
    gobin = target.parent / "helm.tmp"
    env = {**go_env(), "GOBIN": str(gobin), "GOFLAGS": ""}  # `go install pkg@version`: no main module, no -mod
    log(f"go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION} (nice 10; minutes on a cold Go build cache)")
    run_logged([go, "install", "-trimpath", "-ldflags", ldflags, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"],
               target.parent, log_file, env)
    (gobin / "helm").replace(target)


def promtool_go_mod(prometheus_go_mod: str) -> str:
    """go.mod requiring Prometheus with its own exclude directives (they apply only in the main module)."""
    go_line = next((ln for ln in prometheus_go_mod.splitlines() if re.match(r"^go \d", ln)), "go 1.24.0")
    excludes = re.findall(r"^exclude \(.*?^\)|^exclude [^(\n].*$", prometheus_go_mod, re.MULTILINE | re.DOTALL)
    return "\n\n".join([
        "// Generated by tests/e2e/deploytools.py; builds promtool for the deploy/monitoring tests.\n"
        "module injector.test/promtool",
        go_line, f"require github.com/prometheus/prometheus {PROMETHEUS_MODULE_VERSION}", *excludes]) + "\n"


def _build_promtool(go: str, target: Path, log_file: Path, log: Log) -> None:
    src = target.parent.parent / "promtool-src"
    src.mkdir(parents=True, exist_ok=True)
    module = _module(go, f"github.com/prometheus/prometheus@{PROMETHEUS_MODULE_VERSION}", src)
    (src / "tools.go").write_text('//go:build tools\n\npackage tools\n\n'
                                  'import _ "github.com/prometheus/prometheus/cmd/promtool"\n')
    log("go mod tidy + go build promtool (nice 10; several minutes and ~1 GB of modules on a cold cache)")
    tmp = target.with_suffix(".tmp")
    build_go_module(go, src, promtool_go_mod(Path(module["GoMod"]).read_text()),
                    ["-ldflags", "-s -w", "-o", str(tmp), "github.com/prometheus/prometheus/cmd/promtool"], log_file)
    tmp.replace(target)


def _fetch_crd(go: str, key: str, target: Path) -> None:
    module, version, path = CRDS[key]
    found = _module(go, f"{module}@{version}", target.parent)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(Path(found["Dir"]) / path, tmp)
    tmp.replace(target)


def _build_all(go: str, log: Log) -> DeployTools:
    tools = _paths()
    for path in vars(tools).values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    log_file = _directory() / "build.log"
    log_file.write_text(f"deploy tools build started {time.ctime()}\n")
    started = time.monotonic()
    if not tools.helm.is_file():
        _build_helm(go, tools.helm, log_file, log)
    if not tools.promtool.is_file():
        _build_promtool(go, tools.promtool, log_file, log)
    for key, target in (("certificate", tools.certificate_crd), ("prometheusrule", tools.prometheusrule_crd)):
        if not target.is_file():
            _fetch_crd(go, key, target)
    log(f"helm, promtool and CRDs ready in {time.monotonic() - started:.0f}s (log: {log_file})")
    return tools


def ensure_deploy_tools(log: Log = stderr_log) -> DeployTools:
    """The tools, building or fetching what the cache lacks, once across concurrent sessions."""
    return build_once(TOOLS_NAME, cached_deploy_tools, lambda go: _build_all(go, log))


def main(argv: list[str]) -> int:
    if argv[1:] != ["build"]:
        print("usage: deploytools.py build", file=sys.stderr)
        return 2
    print(json.dumps({k: str(v) for k, v in vars(ensure_deploy_tools()).items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
