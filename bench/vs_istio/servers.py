"""Start the two webhooks side by side on one config: ``injector serve`` and Istio's own (``istio-webhook``).

Both read the same files ``config``, ``values`` and ``mesh`` from one directory, both serve the same ECDSA
certificate, both log one line per admission at their default level (to a file), and both run with
``ENABLE_NATIVE_SIDECARS=true`` (Istio's webhook here has no Kubernetes client to read node versions from, so
``auto`` would mean "off plus a warning per request"). ``cpus`` pins a server and everything it forks to that CPU
set (``sched_setaffinity`` is inherited); Go sizes ``GOMAXPROCS`` from it.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURE_FLAGS = {"ENABLE_NATIVE_SIDECARS": "true"}


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    url: str
    """The /inject URL, with the ``?timeout=`` kube-apiserver sends."""
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pin(cpus: set[int] | None):
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _wait_ready(server: Server, ready_url: str, context: ssl.SSLContext | None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}; see {server.log}")
        try:
            with urllib.request.urlopen(ready_url, context=context, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready within {timeout:g}s at {ready_url} ({last}); see {server.log}")


def start_ours(work: Path, config_dir: Path, tls_dir: Path, workers: int, cpus: set[int] | None) -> Server:
    facts = work / "cluster-facts.yaml"
    facts.write_text("feature_flags:\n" + "".join(f"  {k}: \"{v}\"\n" for k, v in FEATURE_FLAGS.items()))
    port, monitoring = free_port(), free_port()
    log = work / "injector.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "injector.cli", "serve", "--address", "127.0.0.1", "--port", str(port),
         "--monitoring-port", str(monitoring), "--tls-cert-file", str(tls_dir / "tls.crt"),
         "--tls-key-file", str(tls_dir / "tls.key"), "--config-dir", str(config_dir),
         "--cluster-facts", str(facts), "--workers", str(workers)],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, preexec_fn=_pin(cpus),
        env={**os.environ, **FEATURE_FLAGS})
    server = Server("injector", process, f"https://127.0.0.1:{port}/inject?timeout=10s", log)
    _wait_ready(server, f"http://127.0.0.1:{monitoring}/readyz", None)
    return server


def start_istio(binary: Path, work: Path, config_dir: Path, tls_dir: Path, cpus: set[int] | None) -> Server:
    port = free_port()
    log = work / "istio-webhook.log"
    process = subprocess.Popen(
        [str(binary), "-config-dir", str(config_dir), "-addr", f"127.0.0.1:{port}",
         "-tls-cert-file", str(tls_dir / "tls.crt"), "-tls-key-file", str(tls_dir / "tls.key")],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, preexec_fn=_pin(cpus), env={**os.environ, **FEATURE_FLAGS})
    server = Server("istio", process, f"https://127.0.0.1:{port}/inject?timeout=10s", log)
    _wait_ready(server, f"https://127.0.0.1:{port}/ready", ssl.create_default_context(cafile=str(tls_dir / "ca.crt")))
    return server


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def issue_certificate(out_dir: Path) -> Path:
    """A CA and a serving certificate for 127.0.0.1 with ``injector certs``."""
    subprocess.run([sys.executable, "-m", "injector.cli", "certs", "--dns-name", "127.0.0.1", "--out-dir",
                    str(out_dir)], cwd=ROOT, check=True, capture_output=True)
    return out_dir


def render_default_config(binary: Path, out_dir: Path) -> Path:
    """Istio's default chart ConfigMaps, rendered by the pinned module's own chart code."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(binary), "-render-default-config", str(out_dir)], check=True, capture_output=True)
    return out_dir
