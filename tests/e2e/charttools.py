"""Peers of the Helm chart tests, from the Go module proxy: a real ``helm`` and cert-manager's Certificate CRD.

Why build Helm: users install with it, and the chart must render and install exactly as Helm does it (values
schema, ``fail``, upgrades removing objects). ``helm.sh/helm/v3`` has no replace directives, so ``go install
helm.sh/helm/v3/cmd/helm@<pin>`` builds it; the ldflags are those of Helm's own Makefile (version, and the
Kubernetes version ``helm template`` assumes, taken from the client-go the release requires).

Why cert-manager's CRD: the ``certificates.source=certManager`` rendering holds a ``cert-manager.io/v1``
Certificate, which the apiserver can only validate once the real CRD is installed. The module
``github.com/cert-manager/cert-manager`` carries it under ``deploy/crds/``.

Both are cached beside the control plane (``controlplane.cache_root()``), with a lock against parallel sessions.
``python tests/e2e/charttools.py build`` fetches both (``scripts/build-e2e-binaries.sh`` calls it).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from controlplane import BuildError, Log, build_once, cache_root, go_env, run_logged, stderr_log

HELM_VERSION = "v3.19.5"
"""Requires Go 1.24 (as the control plane does) and client-go 0.34, the Kubernetes minor of the e2e apiserver."""
CERT_MANAGER_VERSION = "v1.21.2"
CERTIFICATE_CRD = "deploy/crds/cert-manager.io_certificates.yaml"


def _helm_dir() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}"


def helm_path() -> Path:
    return _helm_dir() / "bin" / "helm"


def certificate_crd_path() -> Path:
    return cache_root() / f"cert-manager-{CERT_MANAGER_VERSION}" / "cert-manager.io_certificates.yaml"


def cached_helm() -> Path | None:
    """The cached helm if its build finished (stamp written last), else None."""
    stamp = _helm_dir() / "build.json"
    return helm_path() if stamp.is_file() and helm_path().is_file() else None


def cached_certificate_crd() -> Path | None:
    path = certificate_crd_path()
    return path if path.is_file() else None


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


def build_helm(go: str, log: Log = stderr_log) -> Path:
    directory = _helm_dir()
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    log_file = directory / "build.log"
    log_file.write_text(f"build of helm {HELM_VERSION} started {time.ctime()}\n")
    started = time.monotonic()
    module = _module(go, f"helm.sh/helm/v3@{HELM_VERSION}", directory)
    ldflags = " ".join(["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
                        "-X helm.sh/helm/v3/internal/version.metadata=",
                        *_k8s_version_flags(Path(module["GoMod"]).read_text())])
    env = go_env()
    env["GOBIN"] = str(directory / "bin")
    env["GOFLAGS"] = ""  # `go install pkg@version` builds outside any module; -mod does not apply
    log(f"go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION} (nice 10; a few minutes on a cold Go build cache)")
    run_logged([go, "install", "-trimpath", "-ldflags", ldflags, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"],
               directory, log_file, env)
    seconds = round(time.monotonic() - started, 1)
    (directory / "build.json").write_text(json.dumps({"helm": HELM_VERSION, "build_seconds": seconds}) + "\n")
    log(f"built helm {HELM_VERSION} in {seconds:.0f}s")
    return helm_path()


def fetch_certificate_crd(go: str) -> Path:
    directory = certificate_crd_path().parent
    directory.mkdir(parents=True, exist_ok=True)
    module = _module(go, f"github.com/cert-manager/cert-manager@{CERT_MANAGER_VERSION}", directory)
    tmp = certificate_crd_path().with_suffix(".tmp")
    shutil.copyfile(Path(module["Dir"]) / CERTIFICATE_CRD, tmp)
    tmp.replace(certificate_crd_path())
    return certificate_crd_path()


def cached_chart_tools() -> tuple[Path, Path] | None:
    helm, crd = cached_helm(), cached_certificate_crd()
    return (helm, crd) if helm and crd else None


def ensure_chart_tools(log: Log = stderr_log) -> tuple[Path, Path]:
    """(helm, Certificate CRD), fetching or building what the cache lacks, one session at a time."""
    def build(go: str) -> tuple[Path, Path]:
        return cached_helm() or build_helm(go, log), cached_certificate_crd() or fetch_certificate_crd(go)

    return build_once(f"helm-{HELM_VERSION}", cached_chart_tools, build)


def main(argv: list[str]) -> int:
    if argv[1:] != ["build"]:
        print("usage: charttools.py build", file=sys.stderr)
        return 2
    helm, crd = ensure_chart_tools()
    print(json.dumps({"helm": str(helm), "certificate_crd": str(crd)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
