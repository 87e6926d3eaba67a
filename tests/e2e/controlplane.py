"""A throwaway Kubernetes control plane (etcd + kube-apiserver) on 127.0.0.1 for the e2e tier.

Why build from source: this machine has no container engine, Debian ships no kube-apiserver, and Debian's etcd
(3.4) is older than what kube-apiserver 1.34 is built and tested against (3.6). Everything we need is reachable
through the Go module proxy, so we build three binaries from one pinned Kubernetes release:

* ``kube-apiserver`` and ``kubectl`` from ``k8s.io/kubernetes`` (``kubectl kustomize`` renders ``deploy/``;
  Debian's kubectl 1.20 embeds a kustomize too old for components);
* ``etcd`` from ``go.etcd.io/etcd/server/v3``, at the exact version ``k8s.io/kubernetes`` pins for its own client,
  so server and client cannot drift apart.

``k8s.io/kubernetes`` is not meant to be consumed as a module: its go.mod replaces every ``k8s.io/*`` staging
module with a local ``./staging/...`` directory, and replace directives of a dependency are ignored. We therefore
write a small module whose go.mod re-creates those replaces pointing at the published ``v0.<minor>.<patch>`` tags.
The list of staging modules is read from the pinned release's own go.mod, so bumping the pin needs no list edits.

The binaries are cached outside the repository (``$INJECTOR_E2E_CACHE`` or ``~/.cache/injector-e2e``); the first
build takes several minutes on two cores, later sessions start the control plane in a few seconds.

The build helpers here (``cache_dir``, ``build_once``, ``build_go_module``, the Istio pin) serve every Go peer of
the project: the deploy/ tools, the Go template oracle, bench/vs_istio's Istio webhook.

Run ``python tests/e2e/controlplane.py build`` to pre-build, ``python tests/e2e/controlplane.py run`` to start a
control plane by hand (prints a kubeconfig path, stops on Ctrl-C).
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime
import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The one Kubernetes release the e2e tier runs against. The staging modules follow as v0.<minor>.<patch>.
KUBERNETES_VERSION = "v1.34.4"
#: Bump when the build recipe changes in a way that must invalidate cached binaries.
BUILD_RECIPE = 1
#: Minimum Go toolchain for KUBERNETES_VERSION (its go.mod says ``go 1.24.0``).
MIN_GO = (1, 24)
#: istio.io/istio for the Go peers built on Istio's own code (the template oracle of tests/gooracle, Istio's webhook
#: in bench/vs_istio): one pin, so they share one module download. Istio tags its releases without the ``v`` Go
#: wants, so the proxy serves it only as pseudo-versions of commits; this is commit eed52ebb66ad (2026-08-27, master
#: after the 1.30 branch, ``VERSION`` 1.31). Bump it with the proxy's ``@v/list`` / ``go list -m -versions``.
ISTIO_MODULE_VERSION = "v0.0.0-20260827124520-eed52ebb66ad"
#: Its go.mod says ``go 1.26.0``.
ISTIO_MIN_GO = (1, 26)

Log = Callable[[str], None]
T = TypeVar("T")


def stderr_log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# Building the binaries
# --------------------------------------------------------------------------------------------------------------


class BuildError(RuntimeError):
    """The binaries could not be built; the message carries the tail of the build log."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the built control-plane binaries and what they were built from."""

    kube_apiserver: Path
    etcd: Path
    kubectl: Path
    kubernetes_version: str
    build_seconds: float | None


def cache_dir(env_var: str, name: str) -> Path:
    """``$<env_var>``, else ``<XDG cache>/<name>``: outside the repository, so that ``git clean`` and fresh worktrees
    keep the multi-minute builds of our Go peers."""
    explicit = os.environ.get(env_var)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / name


def cache_root() -> Path:
    """Where the control plane (and the build locks of every Go peer) live."""
    return cache_dir("INJECTOR_E2E_CACHE", "injector-e2e")


def find_go() -> str | None:
    """``$GO``, then ``go`` on PATH, then the tarball install location (PATH often lacks it in CI shells)."""
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def go_version(go: str) -> tuple[int, int]:
    """(major, minor) of the toolchain; GOTOOLCHAIN=local so go never downloads a different toolchain."""
    out = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True, env=go_env()
    ).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if not match:
        raise BuildError(f"cannot parse Go version {out!r}")
    return int(match.group(1)), int(match.group(2))


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"  # never fetch toolchains: the one installed is the one we test with
    env["GOFLAGS"] = "-mod=mod"
    env["CGO_ENABLED"] = "0"  # static binaries, no C compiler needed (upstream builds these with cgo off too)
    env.setdefault("GOPROXY", "https://proxy.golang.org,direct")
    return env


def staging_version(kubernetes_version: str) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y."""
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if not match:
        raise ValueError(f"expected a release like v1.34.4, got {kubernetes_version!r}")
    return f"v0.{match.group(1)}.{match.group(2)}"


def _build_dir(kubernetes_version: str) -> Path:
    return cache_root() / f"kubernetes-{kubernetes_version}"


def _stamp_path(kubernetes_version: str) -> Path:
    return _build_dir(kubernetes_version) / "build.json"


def _binaries_for(kubernetes_version: str, build_seconds: float | None) -> Binaries:
    bin_dir = _build_dir(kubernetes_version) / "bin"
    return Binaries(
        kube_apiserver=bin_dir / "kube-apiserver",
        etcd=bin_dir / "etcd",
        kubectl=bin_dir / "kubectl",
        kubernetes_version=kubernetes_version,
        build_seconds=build_seconds,
    )


def cached_binaries(kubernetes_version: str = KUBERNETES_VERSION) -> Binaries | None:
    """The cached build if it is complete and was made by the current recipe, else None."""
    try:
        stamp = json.loads(_stamp_path(kubernetes_version).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("recipe") != BUILD_RECIPE:
        return None
    binaries = _binaries_for(kubernetes_version, stamp.get("build_seconds"))
    if all(p.is_file() for p in (binaries.kube_apiserver, binaries.etcd, binaries.kubectl)):
        return binaries
    return None


def run_logged(cmd: Sequence[str], cwd: Path, log_file: Path, env: dict[str, str]) -> None:
    """Run a build step at low CPU priority (this machine is shared), appending output to the build log."""
    if shutil.which("nice"):
        cmd = ["nice", "-n", "10", *cmd]
    with log_file.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-40:])
        raise BuildError(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log_file}:\n{tail}")


def build_go_module(go: str, src: Path, go_mod: str, build_args: Sequence[str], log_file: Path) -> float:
    """Write ``go.mod`` into ``src`` (dropping a stale go.sum), ``go mod tidy``, then ``go build -trimpath
    <build_args>`` there: how each of our Go peers is built from a small module of ours, its requirements resolved
    through the module proxy. Returns the seconds it took."""
    started = time.monotonic()
    env = go_env()
    (src / "go.mod").write_text(go_mod)
    (src / "go.sum").unlink(missing_ok=True)
    run_logged([go, "mod", "tidy"], src, log_file, env)
    run_logged([go, "build", "-trimpath", *build_args], src, log_file, env)
    return round(time.monotonic() - started, 1)


_REPLACE_LINE = re.compile(r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s*=>\s*\./staging/src/\1\s*$")


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The k8s.io/* modules that k8s.io/kubernetes replaces with its ./staging directories."""
    return sorted({m.group(1) for line in kubernetes_go_mod.splitlines() if (m := _REPLACE_LINE.match(line))})


def render_go_mod(kubernetes_version: str, kubernetes_go_mod: str) -> str:
    """go.mod for the build module: require the release, re-point every staging replace at its published tag.

    The ``go`` and ``godebug`` lines are copied because only the main module's settings apply, and the release was
    tested with its own.
    """
    modules = staging_modules(kubernetes_go_mod)
    if not modules:
        raise BuildError("found no ./staging replace directives in k8s.io/kubernetes go.mod")
    go_line = next((ln for ln in kubernetes_go_mod.splitlines() if re.match(r"^go \d", ln)), "go 1.24.0")
    godebug = [ln for ln in kubernetes_go_mod.splitlines() if ln.startswith("godebug ")]
    staging = staging_version(kubernetes_version)
    lines = [
        "// Generated by tests/e2e/controlplane.py; builds kube-apiserver, kubectl and etcd for the e2e tier.",
        "module injector.test/e2e-controlplane",
        "",
        go_line,
        *godebug,
        "",
        f"require k8s.io/kubernetes {kubernetes_version}",
        "",
        "replace (",
        *(f"\t{module} => {module} {staging}" for module in modules),
        ")",
        "",
    ]
    return "\n".join(lines)


_TOOLS_GO = """//go:build tools

// Package tools pins the programs we build so that `go mod tidy` resolves all of their dependencies.
package tools

import (
\t_ "k8s.io/kubernetes/cmd/kube-apiserver"
\t_ "k8s.io/kubernetes/cmd/kubectl"
)
"""

_ETCD_MAIN = """// Command etcd is the upstream etcd server entry point, built at the version k8s.io/kubernetes pins.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def _version_ldflags(kubernetes_version: str) -> str:
    """Stamp the release into the binaries; otherwise they report v0.0.0-master, which kubectl warns about."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", kubernetes_version)
    assert match
    build_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={kubernetes_version}",
            f"-X {pkg}.gitMajor={match.group(1)}",
            f"-X {pkg}.gitMinor={match.group(2)}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={build_date}",
        ]
    return " ".join(flags)


def build_binaries(go: str, kubernetes_version: str = KUBERNETES_VERSION, log: Log = stderr_log) -> Binaries:
    """Build the three binaries into the cache (unconditionally; callers normally want ensure_binaries)."""
    build_dir = _build_dir(kubernetes_version)
    src = build_dir / "src"
    bin_dir = build_dir / "bin"
    log_file = build_dir / "build.log"
    src.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    log_file.write_text(f"build of {kubernetes_version} started {time.ctime()}\n")
    env = go_env()
    started = time.monotonic()

    log(f"resolving k8s.io/kubernetes@{kubernetes_version} (log: {log_file})")
    download = subprocess.run(
        [go, "mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"],
        cwd=src, capture_output=True, text=True, check=True, env=env,
    )
    upstream_go_mod = Path(json.loads(download.stdout)["GoMod"]).read_text()

    (src / "tools.go").write_text(_TOOLS_GO)
    (src / "cmd" / "etcd").mkdir(parents=True, exist_ok=True)
    (src / "cmd" / "etcd" / "main.go").write_text(_ETCD_MAIN)

    log("go mod tidy, then go build kube-apiserver, kubectl, etcd (nice 10; several minutes on a cold Go cache)")
    build_go_module(
        go, src, render_go_mod(kubernetes_version, upstream_go_mod),
        ["-ldflags", _version_ldflags(kubernetes_version), "-o", str(bin_dir) + "/",
         "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kubectl", "./cmd/etcd"],
        log_file,
    )
    seconds = round(time.monotonic() - started, 1)
    etcd_version = subprocess.run(
        [go, "list", "-m", "-f", "{{.Version}}", "go.etcd.io/etcd/server/v3"],
        cwd=src, capture_output=True, text=True, env=env,
    ).stdout.strip()
    _stamp_path(kubernetes_version).write_text(
        json.dumps(
            {
                "recipe": BUILD_RECIPE,
                "kubernetes": kubernetes_version,
                "etcd": etcd_version,
                "go": subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=env).stdout.strip(),
                "build_seconds": seconds,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        )
        + "\n"
    )
    log(f"built kube-apiserver/kubectl {kubernetes_version} and etcd {etcd_version} in {seconds:.0f}s")
    return _binaries_for(kubernetes_version, seconds)


def build_once(name: str, cached: Callable[[], T | None], build: Callable[[str], T], go: str | None = None,
               min_go: tuple[int, int] = MIN_GO) -> T:
    """``cached()``, or ``build(go)`` under the file lock ``<cache>/<name>.lock``, with a toolchain >= ``min_go``.

    The lock serialises concurrent pytest sessions (several engineers share this machine), so the second one
    waits for the first build instead of starting its own, then finds its result.
    """
    found = cached()
    if found:
        return found
    go = go or find_go()
    if go is None:
        raise BuildError(f"no Go toolchain found (set $GO or put go on PATH) to build {name}")
    if go_version(go) < min_go:
        raise BuildError(f"Go >= {min_go[0]}.{min_go[1]} is needed to build {name}")
    lock_path = cache_root() / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            found = cached()  # somebody else may have finished while we waited
            return found or build(go)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_binaries(
    go: str | None = None, kubernetes_version: str = KUBERNETES_VERSION, log: Log = stderr_log
) -> Binaries:
    """Return cached binaries, building them first if needed (once across concurrent sessions)."""
    return build_once(f"kubernetes-{kubernetes_version}", lambda: cached_binaries(kubernetes_version),
                      lambda go: build_binaries(go, kubernetes_version, log), go)


# --------------------------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------------------------


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class PKI:
    """One CA that signs everything: the apiserver's serving cert, the admin client cert and webhook certs.

    A single CA keeps the tests simple: the same PEM is the kubeconfig's certificate-authority, the apiserver's
    --client-ca-file and the caBundle of test webhooks. EC P-256 keys because they are generated in microseconds.
    """

    directory: Path
    ca_key: ec.EllipticCurvePrivateKey = field(init=False)
    ca_cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "injector-e2e-ca")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file.write_bytes(self.ca_pem)

    @property
    def ca_pem(self) -> bytes:
        return _pem_cert(self.ca_cert)

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    def _issue(
        self, name: str, common_name: str, *, hosts: Sequence[str] = (), organizations: Sequence[str] = (),
        server: bool, client: bool,
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = datetime.datetime.now(datetime.timezone.utc)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
        )
        if hosts:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.ca_key, hashes.SHA256())
        cert_file, key_file = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert_file.write_bytes(_pem_cert(cert))
        key_file.write_bytes(_pem_key(key))
        key_file.chmod(0o600)
        return cert_file, key_file

    def issue_serving_cert(self, name: str, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> tuple[Path, Path]:
        """A TLS server cert (cert file, key file) trusted by the apiserver; for webhooks under test."""
        return self._issue(name, hosts[0] if hosts else name, hosts=hosts, server=True, client=False)

    def issue_client_cert(self, name: str, user: str, groups: Sequence[str] = ()) -> tuple[Path, Path]:
        """A client cert the apiserver maps to ``user`` in ``groups`` (O= fields), e.g. system:masters."""
        return self._issue(name, user, organizations=groups, server=False, client=True)

    def service_account_keys(self) -> tuple[Path, Path]:
        """(public key file, private key file) for --service-account-key-file / --service-account-signing-key-file."""
        key = ec.generate_private_key(ec.SECP256R1())
        pub_file, key_file = self.directory / "sa.pub", self.directory / "sa.key"
        pub_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        key_file.write_bytes(_pem_key(key))
        key_file.chmod(0o600)
        return pub_file, key_file


# --------------------------------------------------------------------------------------------------------------
# Running etcd + kube-apiserver
# --------------------------------------------------------------------------------------------------------------


class ControlPlaneError(RuntimeError):
    """etcd or kube-apiserver did not come up; the message carries the tail of the process log."""


def free_port() -> int:
    """A currently unused loopback port (there is a tiny race until the process binds it; start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """preexec hook: SIGTERM the child if pytest dies, so a killed session never leaks an apiserver."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


#: Admission plugins on top of the defaults. The defaults already contain MutatingAdmissionWebhook,
#: ValidatingAdmissionWebhook, ServiceAccount, NamespaceLifecycle, ...; listing the webhook plugins explicitly
#: documents what the tier depends on and fails loudly if a release ever drops them from the defaults.
ADMISSION_PLUGINS = ("NamespaceLifecycle", "ServiceAccount", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass
class ControlPlane:
    """etcd + kube-apiserver on loopback with a system:masters kubeconfig. Use as a context manager.

    There is no controller-manager, scheduler or kubelet: objects are stored and admitted (which is what an
    admission webhook needs) but nothing reconciles them. Consequently namespaces get no ``default``
    ServiceAccount automatically and the ServiceAccount admission plugin rejects pods until one exists; use
    ``tests/e2e/conftest.py``'s namespace helper, which creates it.
    """

    binaries: Binaries
    workdir: Path
    log: Log = stderr_log
    extra_apiserver_args: Sequence[str] = ()
    etcd_port: int = 0
    apiserver_port: int = 0
    pki: PKI = field(init=False)
    kubeconfig: Path = field(init=False)
    admin_cert: tuple[Path, Path] = field(init=False)
    startup_seconds: float = field(init=False, default=0.0)
    _procs: list[tuple[str, subprocess.Popen[bytes]]] = field(init=False, default_factory=list)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_pem(self) -> bytes:
        return self.pki.ca_pem

    # -- lifecycle --------------------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pki = PKI(self.workdir / "pki")
        self.admin_cert = self.pki.issue_client_cert("admin", "e2e-admin", groups=["system:masters"])
        try:
            for attempt in range(3):  # free_port() can race with other processes; retry on a bind failure
                try:
                    self._start_etcd()
                    self._start_apiserver()
                    break
                except ControlPlaneError:
                    self.stop()
                    if attempt == 2:
                        raise
                    self.log(f"control plane start attempt {attempt + 1} failed; retrying on new ports")
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = round(time.monotonic() - started, 2)
        self.log(f"control plane {self.binaries.kubernetes_version} up at {self.server} in {self.startup_seconds}s")

    def stop(self) -> None:
        """Stop apiserver before etcd (reverse start order) so the apiserver does not spin on a dead etcd."""
        while self._procs:
            name, proc = self._procs.pop()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)

    def _spawn(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log_file = self.workdir / f"{name}.log"
        with log_file.open("ab") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
                preexec_fn=_die_with_parent,
            )
        self._procs.append((name, proc))
        return proc, log_file

    def _wait(
        self, name: str, proc: subprocess.Popen[bytes], log_file: Path, probe: Callable[[], bool], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ControlPlaneError(f"{name} exited with {proc.returncode}:\n{_tail(log_file)}")
            if probe():
                return
            time.sleep(0.2)
        raise ControlPlaneError(f"{name} not ready after {timeout:.0f}s:\n{_tail(log_file)}")

    def _start_etcd(self) -> None:
        self.etcd_port = free_port()
        peer_port = free_port()
        data_dir = self.workdir / "etcd-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        client_url, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer_port}"
        proc, log_file = self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=e2e",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--log-level=warn",
                # Throwaway data: skipping fsync makes every write (and apiserver start-up) much faster.
                "--unsafe-no-fsync",
            ],
        )

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{client_url}/health", timeout=2) as resp:
                    return bool(json.loads(resp.read()).get("health") == "true")
            except (OSError, ValueError):
                return False

        self._wait("etcd", proc, log_file, healthy, timeout=30)

    def _start_apiserver(self) -> None:
        self.apiserver_port = free_port()
        serving_cert, serving_key = self.pki.issue_serving_cert(
            "apiserver", hosts=("127.0.0.1", "localhost", "10.96.0.1", "kubernetes.default.svc")
        )
        sa_pub, sa_key = self.pki.service_account_keys()
        args = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--tls-cert-file={serving_cert}",
            f"--tls-private-key-file={serving_key}",
            f"--client-ca-file={self.pki.ca_file}",
            # RBAC for real (the deploy/ test checks what the injector's ServiceAccount may do); the tests
            # themselves authenticate as system:masters, which RBAC always allows.
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
            "--allow-privileged=true",  # as on typical clusters; injected init containers may need it
            # Less start-up work and CPU on a shared 2-core machine; neither affects admission.
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            # The "kubernetes" Service endpoint would be 127.0.0.1, which Endpoints validation rejects (loopback);
            # nothing here needs it, so skip the reconciler instead of logging an error every few seconds.
            "--endpoint-reconciler-type=none",
            "--v=1",
            *self.extra_apiserver_args,
        ]
        proc, log_file = self._spawn("kube-apiserver", args)
        context = self.ssl_context()

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", timeout=5, context=context) as resp:
                    return resp.status == 200
            except (OSError, urllib.error.URLError):
                return False

        self._wait("kube-apiserver", proc, log_file, ready, timeout=120)

    # -- client side -------------------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the CA and presents the admin cert (for raw HTTP probes)."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        context.load_cert_chain(str(self.admin_cert[0]), str(self.admin_cert[1]))
        return context

    def _write_kubeconfig(self) -> None:
        import base64

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": self.server, "certificate-authority-data": b64(self.pki.ca_file)}}
            ],
            "users": [
                {
                    "name": "e2e-admin",
                    "user": {
                        "client-certificate-data": b64(self.admin_cert[0]),
                        "client-key-data": b64(self.admin_cert[1]),
                    },
                }
            ],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e-admin"}}],
            "current-context": "e2e",
        }
        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubeconfig.write_text(json.dumps(config, indent=2))  # JSON is valid YAML; no PyYAML needed here
        self.kubeconfig.chmod(0o600)

    def webhook_endpoint(self, name: str = "webhook") -> WebhookEndpoint:
        """A fresh loopback port plus a serving cert for 127.0.0.1/localhost signed by the apiserver-trusted CA."""
        cert_file, key_file = self.workdir / "pki" / f"{name}.crt", self.workdir / "pki" / f"{name}.key"
        if not cert_file.exists():
            cert_file, key_file = self.pki.issue_serving_cert(name)
        return WebhookEndpoint("127.0.0.1", free_port(), cert_file, key_file, self.ca_pem)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this control plane."""
        return subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, check=check,
        )


# --------------------------------------------------------------------------------------------------------------
# Webhooks under test
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where a webhook under test listens (127.0.0.1:<port>) and the TLS material the apiserver will trust.

    Point any TLS server at it: the test's own aiohttp app, or ``injector serve --port {port}
    --tls-cert-file {cert_file} --tls-key-file {key_file}``. The apiserver reaches it through a URL
    clientConfig with ``ca_pem`` as caBundle; a ``service`` clientConfig cannot work here because there is no
    kube-proxy or endpoints controller to route a ClusterIP to loopback.
    """

    host: str
    port: int
    cert_file: Path
    key_file: Path
    ca_pem: bytes

    def url(self, path: str = "/") -> str:
        return f"https://{self.host}:{self.port}{path if path.startswith('/') else '/' + path}"

    def client_config(self, path: str) -> dict[str, str]:
        """A webhook ``clientConfig`` (JSON form) calling ``path`` on this endpoint."""
        import base64

        return {"url": self.url(path), "caBundle": base64.b64encode(self.ca_pem).decode()}

    def server_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def mutating_webhook(
    name: str,
    client_config: dict[str, str],
    *,
    namespace_selector: dict | None = None,
    object_selector: dict | None = None,
    failure_policy: str = "Fail",
    timeout_seconds: int = 10,
) -> dict:
    """One webhook entry shaped like Istio's: CREATE pods v1, sideEffects None, admissionReviewVersions [v1].

    sideEffects None matters to tests: it lets dry-run pod creations reach the webhook, which is how the
    fixtures probe that a newly registered configuration is active without storing anything.
    """
    webhook: dict = {
        "name": name,
        "clientConfig": client_config,
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "failurePolicy": failure_policy,
        "sideEffects": "None",
        "reinvocationPolicy": "Never",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": timeout_seconds,
    }
    if namespace_selector is not None:
        webhook["namespaceSelector"] = namespace_selector
    if object_selector is not None:
        webhook["objectSelector"] = object_selector
    return webhook


def mutating_webhook_configuration(name: str, webhooks: Sequence[dict]) -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"injector-e2e": "true"}},
        "webhooks": list(webhooks),
    }


def redirect_webhooks(mwc: dict, endpoint: WebhookEndpoint, name_suffix: str = "-routing-e2e") -> dict:
    """A copy of a service-based configuration (e.g. rendered from deploy/) that calls ``endpoint`` instead.

    Only clientConfig and the name change, so the selectors and rules under test are exactly the rendered ones.
    Each URL is ``/hook/<webhook name><original service path>``: a call reveals which webhook matched and which
    revision path it targets. A webhook server that ignores the prefix can strip ``/hook/<name>`` itself.
    """
    mwc = json.loads(json.dumps(mwc))
    mwc["metadata"] = {"name": mwc["metadata"]["name"] + name_suffix, "labels": {"injector-e2e": "true"}}
    for webhook in mwc["webhooks"]:
        path = webhook["clientConfig"]["service"].get("path", "/")
        webhook["clientConfig"] = endpoint.client_config(f"/hook/{webhook['name']}{path}")
    return mwc


@contextlib.contextmanager
def running_control_plane(workdir: Path | None = None, log: Log = stderr_log) -> Iterator[ControlPlane]:
    """Build (if needed) and start a control plane in a temporary directory; tear everything down afterwards.

    Set INJECTOR_E2E_KEEP=1 to keep the directory (logs, kubeconfig, certs) for debugging.
    """
    binaries = ensure_binaries(log=log)
    owned = workdir is None
    directory = workdir or Path(tempfile.mkdtemp(prefix="injector-e2e-"))
    try:
        with ControlPlane(binaries, directory, log=log) as plane:
            yield plane
    finally:
        if owned and not os.environ.get("INJECTOR_E2E_KEEP"):
            shutil.rmtree(directory, ignore_errors=True)
        elif owned:
            log(f"kept {directory}")


def main(argv: Sequence[str] | None = None) -> int:
    """``build``: pre-build the binaries (CI warm-up). ``run``: start a control plane until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "run", "where"])
    args = parser.parse_args(argv)
    if args.action == "where":
        print(_build_dir(KUBERNETES_VERSION))
        return 0
    if args.action == "build":
        binaries = ensure_binaries()
        print(json.dumps({k: str(v) for k, v in binaries.__dict__.items()}, indent=2))
        return 0
    with running_control_plane() as plane:
        print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
