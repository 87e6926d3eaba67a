"""``injector diff`` and ``injector audit`` against a real kube-apiserver, with pods injected by a real server.

The module runs one ``injector serve --kube`` (revisions ``default`` and ``canary``, deploy/'s webhooks, pod
informer on) and builds workloads the way controllers would: there is no controller-manager here, so each
Deployment gets a ReplicaSet and pods with the ownerReferences and ``pod-template-hash`` label the controllers set.
Pods are created for real, so they are injected by the webhook and defaulted by the apiserver exactly as in a
cluster. Scenarios that change a revision's config use a revision of their own, so they never disturb the others.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlplane import ControlPlane, free_port, mutating_webhook, mutating_webhook_configuration
from injector_server import (
    OWNER_LABEL,
    REPO,
    RevisionTexts,
    RunningInjector,
    apply,
    istio_default_texts,
    kubectl_json,
    revision_configmaps,
    running_kube_injector,
    wait_for,
)

pytestmark = pytest.mark.e2e

CANARY_TAG = "canary-e2e"


@dataclass(frozen=True)
class CanaryCluster:
    """The module's server and what the scenarios need to talk to it and to the cluster."""

    plane: ControlPlane
    injector: RunningInjector
    monitoring_port: int

    @property
    def control_namespace(self) -> str:
        return self.injector.control_namespace

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``injector <args>`` against this cluster and control namespace."""
        return subprocess.run([sys.executable, "-m", "injector.cli", *args, f"--kubeconfig={self.plane.kubeconfig}",
                               "-i", self.control_namespace], input=stdin, capture_output=True, text=True,
                              cwd=REPO, timeout=180)

    def audit(self, *namespaces: str) -> tuple[int, dict[str, Any]]:
        result = self.cli("audit", "-o", "json", *(arg for ns in namespaces for arg in ("-n", ns)))
        assert result.returncode in (0, 1), result.stderr
        return result.returncode, json.loads(result.stdout)

    def debug_stale(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitoring_port}/debug/stale", timeout=60) as reply:
            return json.loads(reply.read())

    def namespace(self, labels: dict[str, str] | None = None) -> str:
        """A namespace the module's webhooks may select, with the ServiceAccount pods need."""
        name = f"canary-{uuid.uuid4().hex[:8]}"
        apply(self.plane, {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": {OWNER_LABEL: self.injector.owner, **(labels or {})}}},
              {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}})
        return name

    def add_revision(self, revision: str, texts: RevisionTexts) -> dict[str, str]:
        """A revision of its own plus a webhook calling it for namespaces with the returned label."""
        apply(self.plane, *revision_configmaps(self.control_namespace, revision, texts))
        label = {"injector-e2e/revision": f"{revision}-{self.injector.owner}"}
        webhook = mutating_webhook(f"{revision}.sidecar-injector.istio.io",
                                   self.injector.client_config(f"/rev/{revision}/inject"),
                                   namespace_selector={"matchLabels": label})
        apply(self.plane, {**mutating_webhook_configuration(f"{revision}-{self.injector.owner}", [webhook]),
                           "metadata": {"name": f"{revision}-{self.injector.owner}",
                                        "labels": {OWNER_LABEL: self.injector.owner}}})
        return label

    def remove_revision_config(self, revision: str) -> None:
        for cm in revision_configmaps(self.control_namespace, revision, self.injector.default_texts):
            self.plane.kubectl("delete", "configmap", "-n", self.control_namespace, cm["metadata"]["name"],
                               "--ignore-not-found")

    def wait_until_injects(self, namespace: str, predicate: Any, what: str) -> None:
        """Dry-run pods until the apiserver's answer satisfies ``predicate`` (webhooks and configs load async)."""
        probe = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": namespace},
                            "spec": {"containers": [{"name": "app", "image": "busybox"}]}})

        def ready() -> bool:
            result = self.plane.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=probe,
                                        check=False)
            return result.returncode == 0 and predicate(json.loads(result.stdout))

        wait_for(ready, what, timeout=30, log=self.injector.process.log_tail)


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryCluster]:
    texts = istio_default_texts()
    port = free_port()
    with running_kube_injector(control_plane, tmp_path_factory.mktemp("canary-certs"),
                               {"default": texts, "canary": texts.with_values(revision="canary", tag=CANARY_TAG)},
                               ["--watch-pods", f"--monitoring-port={port}"]) as running:
        yield CanaryCluster(control_plane, running, port)


# ---------------------------------------------------------------------------------------------- workloads


def _app_container(name: str) -> dict[str, Any]:
    """An app with a named port and an HTTP readiness probe, so the probe rewrite is part of every injection."""
    return {"name": name, "image": f"registry.example/{name}:1.0",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}}


def _template(app: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app, **(labels or {})}}, "spec": {"containers": [_app_container(app)]}}


def deploy(plane: ControlPlane, namespace: str, name: str, replicas: int,
           pod_labels: dict[str, str] | None = None) -> list[str]:
    """A Deployment, its ReplicaSet and ``replicas`` pods, linked as the controllers link them; pod names."""
    template = _template(name, pod_labels)
    deployment = kubectl_json(plane, "create", "-f", "-", input=json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}}))
    pod_hash = uuid.uuid4().hex[:10]
    rs_template = {**template, "metadata": {"labels": {**template["metadata"]["labels"], "pod-template-hash": pod_hash}}}
    replica_set = kubectl_json(plane, "create", "-f", "-", input=json.dumps({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-{pod_hash}", "namespace": namespace,
                     "labels": rs_template["metadata"]["labels"],
                     "ownerReferences": [_owner(deployment)]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name, "pod-template-hash": pod_hash}},
                 "template": rs_template}}))
    return [scale_up(plane, replica_set) for _ in range(replicas)]


def scale_up(plane: ControlPlane, replica_set: dict[str, Any]) -> str:
    """One more pod of this ReplicaSet, as its controller would create it; returns its name."""
    template = replica_set["spec"]["template"]
    pod = kubectl_json(plane, "create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": f"{replica_set['metadata']['name']}-",
                     "namespace": replica_set["metadata"]["namespace"], "labels": template["metadata"]["labels"],
                     "ownerReferences": [_owner(replica_set)]},
        "spec": template["spec"]}))
    return pod["metadata"]["name"]


def bare_pod(plane: ControlPlane, namespace: str, name: str) -> str:
    kubectl_json(plane, "create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [_app_container(name)]}}))
    return name


def replica_set_of(plane: ControlPlane, namespace: str, deployment: str) -> dict[str, Any]:
    listing = kubectl_json(plane, "get", "replicasets", "-n", namespace)
    return next(rs for rs in listing["items"] if rs["metadata"]["ownerReferences"][0]["name"] == deployment)


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _proxy_image(pod: dict[str, Any]) -> str:
    containers = (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]
    return next(c["image"] for c in containers if c["name"] == "istio-proxy")


def _findings(report: dict[str, Any], namespaces: set[str]) -> dict[tuple[str, str], list[tuple[str, list[str]]]]:
    """``(kind, name)`` -> ``[(status, pods)]`` for the workloads of these namespaces."""
    return {(w["kind"], w["name"]): [(f["status"], f["pods"]) for f in w["findings"]]
            for w in report["workloads"] if w["namespace"] in namespaces}


def _workload(report: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    return next(w for w in report["workloads"] if w["namespace"] == namespace and w["name"] == name)


# ---------------------------------------------------------------------------------------------- diff


def test_diff_live_workloads_default_to_canary(cluster: CanaryCluster) -> None:
    namespace = cluster.namespace({"istio.io/rev": "default"})
    deploy(cluster.plane, namespace, "cart", 1)
    deploy(cluster.plane, namespace, "batch", 1, {"sidecar.istio.io/inject": "false"})
    default_tag = json.loads(cluster.injector.default_texts.values)["global"]["tag"]

    result = cluster.cli("diff", "--from", "default", "--to", "canary", "-n", namespace, "-o", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    by_name = {w["name"]: w for w in report["workloads"]}
    assert set(by_name) == {"cart", "batch"}  # Deployments only: their ReplicaSets and pods are theirs
    assert by_name["batch"]["changed"] is False and by_name["batch"]["injected"] == {"from": False, "to": False}
    cart = by_name["cart"]
    assert cart["injected"] == {"from": True, "to": True} and cart["error"] is None
    changes = {(c["aspect"], c["subject"]): (c["before"], c["after"]) for c in cart["changes"]}
    assert changes[("image", "istio-proxy image")][0].endswith(f":{default_tag}")
    assert changes[("image", "istio-proxy image")][1].endswith(f":{CANARY_TAG}")
    assert changes[("annotations", "annotation istio.io/rev")] == ("default", "canary")
    assert {aspect for aspect, _ in changes} <= {"image", "env", "annotations"}, changes
    assert f"-    image: " in cart["diff"] and f":{CANARY_TAG}\n" in cart["diff"]

    text = cluster.cli("diff", "--from", "default", "--to", "canary", "-n", namespace)
    assert text.returncode == 1
    assert f"=== {namespace}/Deployment/cart: " in text.stdout and f"=== {namespace}/Deployment/batch: no change" \
        in text.stdout
    assert f"+++ {namespace}/Deployment/cart (canary)" in text.stdout
    assert "1 of 2 workload(s) change from default to canary." in text.stdout


def test_diff_candidate_config_manifests_and_exit_codes(cluster: CanaryCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace({"istio.io/rev": "default"})
    deploy(cluster.plane, namespace, "shop", 1)
    unchanged, candidate = tmp_path / "unchanged", tmp_path / "candidate"
    unchanged.mkdir()
    candidate.mkdir()
    (unchanged / "values").write_text(cluster.injector.default_texts.values)
    values = json.loads(cluster.injector.default_texts.values)
    values["global"]["proxy"]["resources"] = {"requests": {"cpu": "250m", "memory": "128Mi"},
                                              "limits": {"cpu": "1500m", "memory": "1Gi"}}
    (candidate / "values").write_text(json.dumps(values))

    same = cluster.cli("diff", "--from", "default", "--to-config", str(unchanged), "-n", namespace)
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"{namespace}/Deployment/shop: no change" in same.stdout

    changed = cluster.cli("diff", "--from", "default", "--to-config", str(candidate), "-n", namespace, "-o", "json")
    assert changed.returncode == 1, changed.stderr
    shop = json.loads(changed.stdout)["workloads"][0]
    assert sorted((c["subject"], c["before"], c["after"]) for c in shop["changes"]) == [
        ("istio-init resources limits.cpu", "2", "1500m"), ("istio-init resources requests.cpu", "100m", "250m"),
        ("istio-proxy resources limits.cpu", "2", "1500m"), ("istio-proxy resources requests.cpu", "100m", "250m")]
    assert "-        cpu: 100m\n+        cpu: 250m\n" in shop["diff"]

    manifest = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "from-file"},
                           "spec": {"selector": {"matchLabels": {"app": "f"}}, "template": _template("f")}})
    from_file = cluster.cli("diff", "-f", "-", "--from", "default", "--to", "canary", stdin=manifest)
    assert from_file.returncode == 1 and "=== default/Deployment/from-file: " in from_file.stdout

    missing = cluster.cli("diff", "--from", "default", "--to", "nosuch", "-n", namespace)
    assert missing.returncode == 2
    assert f"configmap {cluster.control_namespace}/istio-sidecar-injector-nosuch" in missing.stderr
    assert cluster.cli("diff", "--from", "default", "-n", namespace).returncode == 2  # nothing to compare


# ---------------------------------------------------------------------------------------------- audit


def _server_agrees(cluster: CanaryCluster, namespaces: set[str], expected: dict) -> None:
    """``/debug/stale`` reports the same findings once its pod informer has seen every pod."""
    seen: list[Any] = []

    def same() -> bool:
        seen[:] = [_findings(cluster.debug_stale(), namespaces)]
        return seen[0] == expected

    wait_for(same, "/debug/stale to report the CLI's findings", timeout=30,
             log=lambda: f"last: {seen}\n{cluster.injector.process.log_tail()}")


def test_audit_finds_exactly_the_stale_pods(cluster: CanaryCluster) -> None:
    """Pods created before a ConfigMap change are stale, the one created after it is not; nothing is stale before
    the change, which proves the comparison sees through everything the apiserver adds to a stored pod."""
    revision = f"audit-{uuid.uuid4().hex[:6]}"
    texts = cluster.injector.default_texts.with_values(revision=revision, tag="before-e2e")
    namespace = cluster.namespace(cluster.add_revision(revision, texts))
    try:
        cluster.wait_until_injects(namespace, lambda pod: _proxy_image(pod).endswith(":before-e2e"),
                                   f"revision {revision} to inject")
        cart = deploy(cluster.plane, namespace, "cart", 2)
        web = deploy(cluster.plane, namespace, "web", 1)
        lone = bare_pod(cluster.plane, namespace, "lone")

        code, report = cluster.audit(namespace)
        assert (code, _findings(report, {namespace})) == (0, {}), json.dumps(report, indent=1)[:6000]
        assert report["counts"]["injected"] == report["counts"]["current"] == 4
        _server_agrees(cluster, {namespace}, {})

        apply(cluster.plane, *revision_configmaps(cluster.control_namespace, revision,
                                                  texts.with_values(tag="after-e2e")))
        cluster.wait_until_injects(namespace, lambda pod: _proxy_image(pod).endswith(":after-e2e"),
                                   "the changed ConfigMap to serve")
        newer = scale_up(cluster.plane, replica_set_of(cluster.plane, namespace, "web"))

        code, report = cluster.audit(namespace)
        expected = {("Deployment", "cart"): [("stale", sorted(cart))], ("Deployment", "web"): [("stale", web)],
                    ("Pod", "lone"): [("stale", [lone])]}
        assert code == 1 and _findings(report, {namespace}) == expected, report
        assert report["counts"]["stale"] == 4 and report["counts"]["current"] == 1  # the pod created after
        assert newer not in json.dumps(report)
        cart_report = _workload(report, namespace, "cart")
        assert cart_report["command"] == f"kubectl rollout restart deployment/cart -n {namespace}"
        changes = {c["subject"]: (c["before"], c["after"]) for c in cart_report["findings"][0]["changes"]}
        assert changes["istio-proxy image"][0].endswith(":before-e2e")
        assert changes["istio-proxy image"][1].endswith(":after-e2e")
        assert {c["aspect"] for c in cart_report["findings"][0]["changes"]} == {"image"}, changes
        assert _workload(report, namespace, "lone")["command"] == f"kubectl delete pod -n {namespace} lone"

        text = cluster.cli("audit", "-n", namespace)
        assert text.returncode == 1
        assert f"{namespace}/Deployment/cart\n  stale (revision {revision}): 2 pod(s): " in text.stdout
        assert f"  fix: kubectl rollout restart deployment/cart -n {namespace}\n" in text.stdout
        _server_agrees(cluster, {namespace}, expected)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{cluster.monitoring_port}/metrics", timeout=10).read()
        assert f'sidecar_injector_stale_pods{{revision="{revision}",status="stale"}} 4.0\n'.encode() in metrics
    finally:
        cluster.remove_revision_config(revision)


def test_audit_relabel_unserved_revision_and_missing_sidecar(cluster: CanaryCluster) -> None:
    """A namespace moved to canary, a revision whose ConfigMaps are gone, a namespace labelled after its pods
    were created: each pod is reported for its own reason, with the command that fixes it."""
    moved = cluster.namespace({"istio.io/rev": "default"})
    moved_pods = deploy(cluster.plane, moved, "api", 2)
    plain = cluster.namespace()
    plain_pods = deploy(cluster.plane, plain, "legacy", 1)
    gone = f"gone-{uuid.uuid4().hex[:6]}"
    gone_namespace = cluster.namespace(cluster.add_revision(
        gone, cluster.injector.default_texts.with_values(revision=gone)))
    cluster.wait_until_injects(gone_namespace, lambda pod: "istio-proxy" in json.dumps(pod["spec"]),
                               f"revision {gone} to inject")
    gone_pods = deploy(cluster.plane, gone_namespace, "old", 1)
    namespaces = {moved, plain, gone_namespace}
    code, report = cluster.audit(*namespaces)
    assert (code, _findings(report, namespaces)) == (0, {}), report

    cluster.plane.kubectl("label", "namespace", moved, "istio.io/rev=canary", "--overwrite")
    cluster.plane.kubectl("label", "namespace", plain, "istio.io/rev=default")
    cluster.remove_revision_config(gone)

    code, report = cluster.audit(*namespaces)
    expected = {("Deployment", "api"): [("revision-changed", sorted(moved_pods))],
                ("Deployment", "legacy"): [("not-injected", plain_pods)],
                ("Deployment", "old"): [("revision-not-served", gone_pods)]}
    assert code == 1 and _findings(report, namespaces) == expected, report
    api = _workload(report, moved, "api")
    assert api["findings"][0]["revision"] == "default"
    assert "now select revision canary" in api["findings"][0]["reason"]
    assert api["command"] == f"kubectl rollout restart deployment/api -n {moved}"
    assert _workload(report, plain, "legacy")["findings"][0]["revision"] == "default"
    assert f"injected by revision {gone}, which is not served" in \
        _workload(report, gone_namespace, "old")["findings"][0]["reason"]
    _server_agrees(cluster, namespaces, expected)
