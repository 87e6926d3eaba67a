"""Running ``injector serve`` as a subprocess against the e2e control plane, and the configs it is fed.

Kept apart from the tests so that the scenarios read as scenarios: this module knows how to write Istio's
``istio-sidecar-injector[-<rev>]`` / ``istio[-<rev>]`` ConfigMaps, start and stop the server, and turn the webhook
configurations of ``deploy/`` into URL-based ones owned by one test module.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controlplane import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[2]
ISTIO_DEFAULT_CONFIG = REPO.parent / "shared" / "conformance" / "istio" / "configs" / "default"
OWNER_LABEL = "injector-e2e/owner"


@dataclass(frozen=True)
class RevisionTexts:
    """The three texts of one revision, as the ConfigMap keys ``config``, ``values`` and ``mesh`` hold them."""

    config: str
    values: str
    mesh: str

    def with_values(self, **changes: Any) -> RevisionTexts:
        """A copy whose values JSON has ``revision`` and/or ``global.<key>`` replaced (``tag``, ``hub``...)."""
        values = json.loads(self.values)
        if "revision" in changes:
            values["revision"] = changes.pop("revision")
        values["global"].update(changes)
        return RevisionTexts(self.config, json.dumps(values), self.mesh)


def istio_default_texts() -> RevisionTexts:
    """Istio's own default-install ConfigMap texts (Go templates) when the shared corpus is beside the repository;
    otherwise our embedded default (Jinja2 templates inlined into the config), so a bare checkout still runs."""
    if (ISTIO_DEFAULT_CONFIG / "config.yaml").is_file():
        return RevisionTexts(*((ISTIO_DEFAULT_CONFIG / f).read_text()
                               for f in ("config.yaml", "values.json", "mesh.yaml")))
    from workers.defaults import default_config_text, default_mesh_text, default_values_text, load_default_sources

    config = yaml.safe_load(default_config_text())
    config["templates"] = load_default_sources()
    return RevisionTexts(yaml.safe_dump(config), default_values_text(), default_mesh_text())


def revision_configmaps(namespace: str, revision: str, texts: RevisionTexts) -> list[dict]:
    """``istio-sidecar-injector[-<rev>]`` and ``istio[-<rev>]`` as an Istio install lays them out (§9)."""
    suffix = "" if revision == "default" else f"-{revision}"
    labels = {"istio.io/rev": revision}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"istio-sidecar-injector{suffix}", "namespace": namespace, "labels": labels},
         "data": {"config": texts.config, "values": texts.values}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"istio{suffix}", "namespace": namespace, "labels": labels},
         "data": {"mesh": texts.mesh}},
    ]


def apply(plane: ControlPlane, *objects: dict) -> None:
    plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def owned_webhook_configurations(plane: ControlPlane, port: int, owner: str) -> list[dict]:
    """deploy/'s MutatingWebhookConfigurations, calling 127.0.0.1:<port> at the same paths, owned by ``owner``.

    Kept from deploy/: every selector and rule. Changed: the name (suffix), a URL instead of the Service, no
    caBundle (the server under test must fill it in: --webhook-config-selector), and one more namespace
    requirement, ``injector-e2e/owner In [owner]``, so that only this module's namespaces are affected while it
    runs, whatever other tests in the session do.
    """
    rendered = yaml.safe_load_all(plane.kubectl("kustomize", str(REPO / "deploy")).stdout)
    configurations = [d for d in rendered if d and d["kind"] == "MutatingWebhookConfiguration"]
    assert configurations, "deploy/ rendered no MutatingWebhookConfiguration"
    for mwc in configurations:
        mwc["metadata"] = {"name": f"{mwc['metadata']['name']}-{owner}", "labels": {OWNER_LABEL: owner}}
        for webhook in mwc["webhooks"]:
            path = webhook["clientConfig"]["service"]["path"]
            webhook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}"}
            webhook["timeoutSeconds"] = 10
            selector = webhook.setdefault("namespaceSelector", {})
            selector.setdefault("matchExpressions", []).append(
                {"key": OWNER_LABEL, "operator": "In", "values": [owner]})
    return configurations


def ca_bundle_b64(pem: bytes) -> str:
    return base64.b64encode(pem).decode()


@dataclass
class InjectorProcess:
    """One ``injector serve`` subprocess; output goes to ``log_file`` (shown in failures)."""

    args: list[str]
    port: int
    ca_file: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> InjectorProcess:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "injector.cli", "serve", f"--port={self.port}", "--address=127.0.0.1",
                 *self.args],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, cwd=REPO)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200 over TLS (verified against the CA the webhook configurations carry)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"injector serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/readyz", context=context,
                                            timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"injector serve not ready within {timeout}s ({last}):\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (graceful drain), then SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def issue_certificates(out_dir: Path) -> Path:
    """``injector certs --dns-name 127.0.0.1``: ca.crt, tls.crt, tls.key in ``out_dir`` (returned)."""
    subprocess.run([sys.executable, "-m", "injector.cli", "certs", "--dns-name", "127.0.0.1",
                    "--out-dir", str(out_dir)], check=True, capture_output=True, cwd=REPO)
    return out_dir


def kubectl_json(plane: ControlPlane, *args: str, input: str | None = None) -> dict:
    return json.loads(plane.kubectl(*args, "-o", "json", input=input).stdout)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0, log: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log()}")


def owned_bundles(plane: ControlPlane, owner: str) -> dict[str, list[str | None]]:
    listing = kubectl_json(plane, "get", "mutatingwebhookconfigurations", "-l", f"{OWNER_LABEL}={owner}")
    return {m["metadata"]["name"]: [w["clientConfig"].get("caBundle") for w in m["webhooks"]]
            for m in listing["items"]}


def wait_until_apiserver_injects(plane: ControlPlane, owner: str, process: InjectorProcess) -> None:
    """The apiserver reads webhook configurations through an informer: dry-run a pod until it gets injected,
    so the first test does not race the patched caBundle."""
    namespace = f"e2e-probe-{owner}"
    apply(plane, {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": namespace, "labels": {OWNER_LABEL: owner, "istio-injection": "enabled"}}},
          {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}})
    probe = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": namespace},
                        "spec": {"containers": [{"name": "app", "image": "busybox"}]}})

    def injected() -> bool:
        result = plane.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=probe, check=False)
        return result.returncode == 0 and '"istio-proxy"' in result.stdout

    wait_for(injected, "the apiserver to call the injector", log=process.log_tail)


@dataclass(frozen=True)
class RunningInjector:
    """A running ``injector serve --kube`` behind deploy/'s webhooks, and what tests need to aim at it."""

    process: InjectorProcess
    owner: str
    control_namespace: str
    ca_pem: bytes
    default_texts: RevisionTexts

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.process.port}{path}"

    def client_config(self, path: str) -> dict[str, str]:
        return {"url": self.url(path), "caBundle": ca_bundle_b64(self.ca_pem)}


@contextmanager
def running_kube_injector(plane: ControlPlane, workdir: Path, revisions: Mapping[str, RevisionTexts],
                          extra_args: Sequence[str] = ()) -> Iterator[RunningInjector]:
    """``injector serve --kube`` over a fresh control namespace holding ``revisions`` (which must include
    ``default``), with deploy/'s webhook configurations owned by a fresh owner id; all removed afterwards. Returns
    once the apiserver injects through it (the server patched the caBundle itself)."""
    owner = uuid.uuid4().hex[:8]
    control_namespace = f"istio-e2e-{owner}"
    certs = issue_certificates(workdir)
    plane.kubectl("create", "namespace", control_namespace)
    apply(plane, *(cm for revision, texts in revisions.items()
                   for cm in revision_configmaps(control_namespace, revision, texts)))
    process = InjectorProcess(
        ["--tls-cert-file", str(certs / "tls.crt"), "--tls-key-file", str(certs / "tls.key"),
         "--kube", f"--kubeconfig={plane.kubeconfig}", f"--control-namespace={control_namespace}",
         f"--webhook-config-selector={OWNER_LABEL}={owner}", "--workers=1", "--watch-interval=0.2",
         "--drain-timeout=2", *extra_args],
        port=free_port(), ca_file=certs / "ca.crt", log_file=certs / "injector.log")
    process.start()
    try:
        process.wait_ready()
        configurations = owned_webhook_configurations(plane, process.port, owner)
        apply(plane, *configurations)
        expected = ca_bundle_b64((certs / "ca.crt").read_bytes())
        wait_for(lambda: all(b == expected for bundles in owned_bundles(plane, owner).values() for b in bundles)
                 and len(owned_bundles(plane, owner)) == len(configurations),
                 "the server to patch the caBundle of its webhook configurations", log=process.log_tail)
        wait_until_apiserver_injects(plane, owner, process)
        yield RunningInjector(process, owner, control_namespace, (certs / "ca.crt").read_bytes(),
                              revisions["default"])
    finally:
        plane.kubectl("delete", "mutatingwebhookconfigurations", "-l", f"{OWNER_LABEL}={owner}",
                      "--ignore-not-found", check=False)
        process.stop()
