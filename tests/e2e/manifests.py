"""What the deploy/ tests (kustomize, Helm chart, monitoring) share: rendering with kustomize or Helm, picking
objects out of a rendering, applying them server-side, the injector's intended RBAC, Istio's routing table and a
recording webhook.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from kubernetes_asyncio import client

from controlplane import Binaries, ControlPlane

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

CONTROL_NAMESPACE = "istio-system"
SERVICE_ACCOUNT = f"system:serviceaccount:{CONTROL_NAMESPACE}:sidecar-injector"
SA_GROUPS = ["system:serviceaccounts", f"system:serviceaccounts:{CONTROL_NAMESPACE}", "system:authenticated"]
WEBHOOK_GROUP = "admissionregistration.k8s.io"


def render_kustomize(binaries: Binaries, directory: Path = DEPLOY) -> list[dict]:
    """``kubectl kustomize`` with the kubectl built beside the control plane (Debian's predates components)."""
    out = subprocess.run([str(binaries.kubectl), "kustomize", str(directory)], capture_output=True, text=True)
    assert out.returncode == 0, f"kubectl kustomize {directory} failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def objects(rendered: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered if o["kind"] == kind}


def only(rendered: list[dict], kind: str) -> dict:
    (obj,) = objects(rendered, kind).values()
    return obj


async def ensure_namespace(kube_api: Any, name: str = CONTROL_NAMESPACE) -> None:
    core = client.CoreV1Api(kube_api)
    try:
        await core.create_namespace({"metadata": {"name": name}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def kubectl_apply(control_plane: ControlPlane, docs: list[dict], *extra: str) -> str:
    result = control_plane.kubectl(
        "apply", "--server-side", "--field-manager=injector-e2e", "-f", "-", *extra,
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}), check=False,
    )
    assert result.returncode == 0, f"apiserver rejected the objects:\n{result.stderr}"
    return result.stdout


def install_crd(control_plane: ControlPlane, crd_file: Path) -> None:
    """Apply a CustomResourceDefinition and wait until the apiserver serves its kind."""
    crd = yaml.safe_load(crd_file.read_text())
    kubectl_apply(control_plane, [crd])
    done = control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                                 f"crd/{crd['metadata']['name']}", check=False)
    assert done.returncode == 0, done.stderr


def kubectl_delete(control_plane: ControlPlane, docs: list[dict]) -> None:
    result = control_plane.kubectl(
        "delete", "--ignore-not-found", "--wait=false", "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}), check=False,
    )
    assert result.returncode == 0, f"could not delete the objects:\n{result.stderr}"


def base_access_cases(patchable: list[str]) -> list[tuple[bool, dict[str, str]]]:
    """(allowed?, resourceAttributes) for the injector's ServiceAccount: what it reads, and that it may patch
    exactly the webhook configurations named in ``patchable`` (those whose caBundle it keeps)."""
    patch = {"verb": "patch", "group": WEBHOOK_GROUP, "resource": "mutatingwebhookconfigurations"}
    return [
        *[(True, {"verb": v, "resource": "configmaps", "namespace": CONTROL_NAMESPACE}) for v in ("get", "list", "watch")],
        *[(True, {"verb": v, "resource": r}) for r in ("namespaces", "nodes") for v in ("get", "list", "watch")],
        *[(True, {"verb": v, "group": WEBHOOK_GROUP, "resource": "mutatingwebhookconfigurations"})
          for v in ("get", "list", "watch")],
        *[(True, {**patch, "name": name}) for name in patchable],
        *[(False, {**patch, "verb": verb, "name": name}) for name in patchable for verb in ("update", "delete")],
        (True, {"verb": "create", "resource": "events", "namespace": CONTROL_NAMESPACE}),
        (False, {"verb": "create", "resource": "events", "namespace": "default"}),
        (False, {"verb": "list", "resource": "configmaps", "namespace": "default"}),
        (False, {"verb": "list", "resource": "configmaps"}),  # all namespaces
        (False, {"verb": "patch", "resource": "configmaps", "namespace": CONTROL_NAMESPACE}),
        (False, {"verb": "get", "resource": "secrets", "namespace": CONTROL_NAMESPACE}),
        (False, {"verb": "create", "resource": "pods", "namespace": CONTROL_NAMESPACE}),
        (False, {"verb": "list", "resource": "pods"}),  # only with the chart's staleAudit.enabled
        (False, {"verb": "patch", "resource": "namespaces", "name": "default"}),
        (False, {**patch, "name": "istio-sidecar-injector"}),
        (False, {**patch}),  # any name
        (False, {"verb": "create", "group": WEBHOOK_GROUP, "resource": "mutatingwebhookconfigurations"}),
        (False, {"verb": "list", "group": WEBHOOK_GROUP, "resource": "validatingwebhookconfigurations"}),
    ]


async def assert_access(kube_api: Any, cases: list[tuple[bool, dict[str, str]]]) -> None:
    """Ask the apiserver's RBAC authorizer about the injector's ServiceAccount, case by case."""
    authz = client.AuthorizationV1Api(kube_api)
    wrong = []
    for allowed, attributes in cases:
        review = await authz.create_subject_access_review(
            {"spec": {"user": SERVICE_ACCOUNT, "groups": SA_GROUPS, "resourceAttributes": attributes}}
        )
        if bool(review.status.allowed) != allowed:
            wrong.append((attributes, "allowed" if review.status.allowed else "denied", review.status.reason))
    assert not wrong, "RBAC differs from the intended least privilege:\n" + "\n".join(map(str, wrong))


INJECT = "sidecar.istio.io/inject"
REV = "istio.io/rev"
#: Revisions default and canary served. (namespace labels, pod labels) -> (webhook prefix, revision) the apiserver
#: must call, or None for no call.
ROUTING_CASES: list[tuple[dict[str, str], dict[str, str], tuple[str, str] | None]] = [
    ({"istio-injection": "enabled"}, {}, ("namespace.", "default")),
    ({"istio-injection": "enabled"}, {INJECT: "false"}, None),
    ({"istio-injection": "enabled"}, {REV: "canary"}, ("namespace.", "default")),
    ({"istio-injection": "enabled", REV: "canary"}, {}, ("namespace.", "default")),
    ({"istio-injection": "disabled"}, {}, None),
    ({"istio-injection": "disabled"}, {REV: "canary"}, None),
    ({REV: "canary"}, {}, ("rev.namespace.", "canary")),
    ({REV: "default"}, {}, ("rev.namespace.", "default")),
    ({REV: "canary"}, {REV: "default"}, ("rev.namespace.", "canary")),
    ({REV: "canary"}, {INJECT: "false"}, None),
    ({REV: "other"}, {}, None),  # a revision this deployment does not serve
    ({}, {REV: "canary"}, ("rev.object.", "canary")),
    ({}, {REV: "default"}, ("rev.object.", "default")),
    ({}, {REV: "canary", INJECT: "false"}, None),
    ({}, {INJECT: "true"}, ("object.", "default")),
    ({}, {INJECT: "true", REV: "canary"}, ("rev.object.", "canary")),
    ({}, {}, None),
]


def recording_webhook(calls: list[tuple[str, str]]) -> web.Application:
    """Allows everything unchanged; records (path, namespace) so the test sees which webhook the apiserver chose."""

    async def review(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append((request.path, body["request"]["namespace"]))
        return web.json_response(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": body["request"]["uid"], "allowed": True},
            }
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", review)
    return app


async def observe_routes(
    namespaces: list[str],
    pod_labels: list[dict[str, str]],
    calls: list[tuple[str, str]],
    make_pod: Callable[..., dict],
    wait_for_admission: Callable[..., Awaitable[dict]],
) -> list[list[str]]:
    """Dry-run one pod per namespace (with its labels) and return, per namespace, the sorted webhook paths the
    apiserver called for it (recorded by ``recording_webhook`` into ``calls``)."""
    observed = []
    for namespace, labels in zip(namespaces, pod_labels, strict=True):
        await wait_for_admission(namespace, make_pod(labels=labels), lambda _: True)
        observed.append(sorted(path for path, called in calls if called == namespace))
    return observed


CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm"
RELEASE = "sidecar-injector"
HELM_LABELS = ("app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version",
               "helm.sh/chart")


class Helm:
    """The built helm with its own config/cache/data directories (never the user's), optionally on a cluster."""

    def __init__(self, binary: Path, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary, self.home, self.kubeconfig = binary, home, kubeconfig
        self._values = 0

    def run(self, *args: str, values: dict | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **{f"HELM_{kind}_HOME": str(self.home / kind.lower())
                                for kind in ("CACHE", "CONFIG", "DATA")}}
        extra: list[str] = []
        if values is not None:
            self._values += 1
            path = self.home / f"values-{self._values}.json"  # JSON is YAML
            path.write_text(json.dumps(values))
            extra += ["-f", str(path)]
        if self.kubeconfig is not None:
            extra.append(f"--kubeconfig={self.kubeconfig}")
        return subprocess.run([str(self.binary), *args, *extra], capture_output=True, text=True, env=env)

    def template(self, values: dict) -> list[dict]:
        out = self.run("template", RELEASE, str(CHART), "--namespace", CONTROL_NAMESPACE, values=values)
        assert out.returncode == 0, out.stderr
        return [doc for doc in yaml.safe_load_all(out.stdout) if doc]

    def install(self, action: str, values: dict) -> None:
        """``install`` or ``upgrade`` the release into the control namespace; fails the test with Helm's error."""
        out = self.run(action, RELEASE, str(CHART), "--namespace", CONTROL_NAMESPACE, "--take-ownership",
                       values=values)
        assert out.returncode == 0, f"helm {action} failed:\n{out.stderr}"


def without_helm_labels(rendered: list[dict]) -> dict[tuple[str, str], dict]:
    result = {}
    for obj in rendered:
        obj = json.loads(json.dumps(obj))
        labels = obj["metadata"].get("labels", {})
        for key in HELM_LABELS:
            labels.pop(key, None)
        result[(obj["kind"], obj["metadata"]["name"])] = obj
    return result
