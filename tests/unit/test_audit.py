"""The audit's verdicts and grouping on pods stored as the apiserver stores them (embedded default templates)."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import orjson
import pytest

from injector.audit import AuditInputs, Owner, audit, audit_serialized, owner_of
from injector.cluster_facts import ClusterFacts
from injector.sources.kube_pods import trim_pod
from workers import defaults
from workers.config.snapshot import RevisionConfig, build_revision_config
from workers.k8s.defaults import TOKEN_MOUNT_PATH, with_api_defaults
from workers.render import Injector

CLUSTER = ClusterFacts(namespaces={
    "shop": {"labels": {"istio.io/rev": "default"}, "annotations": {}},
    "moved": {"labels": {"istio.io/rev": "canary"}, "annotations": {}},
    "tagged": {"labels": {"istio.io/rev": "prod"}, "annotations": {}},
    "plain": {"labels": {}, "annotations": {}},
})


@lru_cache(maxsize=None)
def revision(name: str, tag: str = "1.28.0", config: str | None = None) -> RevisionConfig:
    values = json.loads(defaults.default_values_text())
    values["global"]["tag"] = tag
    return build_revision_config(config, json.dumps(values), None, revision=name)


def user_pod(name: str, namespace: str = "shop", owner: tuple[str, str] | None = ("ReplicaSet", "cart-7f9c"),
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A pod as a controller creates it, with the token volume the ServiceAccount plugin adds."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace,
                            "labels": {"app": "cart", "pod-template-hash": "7f9c", **(labels or {})}}
    if owner is not None:
        meta["generateName"] = f"{owner[1]}-"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": "u",
                                    "controller": True}]
    return {"metadata": meta, "spec": {
        "containers": [{"name": "app", "image": "cart:1", "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                        "volumeMounts": [{"name": "kube-api-access-a", "mountPath": TOKEN_MOUNT_PATH,
                                          "readOnly": True}]}],
        "volumes": [{"name": "kube-api-access-a", "projected": {"sources": [{"serviceAccountToken": {
            "path": "token"}}]}}]}}


def stored(pod: dict[str, Any], snapshot: RevisionConfig) -> dict[str, Any]:
    """Defaulted, injected by ``snapshot``'s webhook, defaulted again (token mounts included): what a GET returns."""
    namespace = pod["metadata"]["namespace"]
    facts = CLUSTER.facts_for({"spec": {}}, namespace, snapshot.revision, webhook=True)
    return with_api_defaults(Injector(snapshot).inject_pod(with_api_defaults(pod), facts).pod)


def inputs(**revisions: RevisionConfig) -> AuditInputs:
    return AuditInputs(revisions or {"default": revision("default"), "canary": revision("canary", "1.29.0")},
                       CLUSTER, tags={"prod": "default"})


def findings(report: Any) -> dict[tuple[str, str, str], list[tuple[str, str, list[str]]]]:
    return {(w.owner.namespace, w.owner.kind, w.owner.name): [(f.verdict.status, f.verdict.revision, f.pods)
                                                              for f in w.findings] for w in report.workloads}


def test_pods_injected_by_the_current_config_are_current() -> None:
    pods = [stored(user_pod(f"cart-7f9c-{i}"), revision("default")) for i in range(2)]
    pods.append(stored(user_pod("api-1", "moved", owner=None), revision("canary", "1.29.0")))
    report = audit(pods, inputs())
    assert findings(report) == {} and not report.found
    assert report.counts["pods"] == report.counts["injected"] == report.counts["current"] == 3


def test_a_values_change_makes_pods_stale_grouped_by_deployment() -> None:
    pods = [stored(user_pod(f"cart-7f9c-{i}"), revision("default")) for i in range(2)]
    report = audit(pods, inputs(default=revision("default", "1.28.1")))
    assert findings(report) == {("shop", "Deployment", "cart"): [("stale", "default",
                                                                   ["cart-7f9c-0", "cart-7f9c-1"])]}
    workload = report.workloads[0].as_json()
    assert workload["command"] == "kubectl rollout restart deployment/cart -n shop" and workload["note"] == ""
    texts = [c["text"] for c in workload["findings"][0]["changes"]]
    assert "istio-proxy image: docker.io/istio/proxyv2:1.28.0 -> docker.io/istio/proxyv2:1.28.1" in texts
    assert report.found and report.counts["stale"] == 2
    assert report.as_json()["by_status"] == [{"status": "stale", "revision": "default", "pods": 2}]


def test_labels_selecting_another_revision_and_tags() -> None:
    moved = stored(user_pod("api-1", "moved", owner=None), revision("default"))
    tagged = stored(user_pod("web-1", "tagged", owner=None), revision("default"))
    report = audit([moved, tagged], inputs())
    assert findings(report) == {("moved", "Pod", "api-1"): [("revision-changed", "default", ["api-1"])]}
    reason = report.workloads[0].findings[0].verdict.reason
    assert reason == "injected by revision default; its labels now select revision canary"
    assert report.workloads[0].as_json()["command"] == "kubectl delete pod -n moved api-1"
    assert "bare pod" in report.workloads[0].as_json()["note"]


def test_revision_not_served_names_the_rejection_and_where_a_restart_goes() -> None:
    pod = stored(user_pod("cart-7f9c-1"), revision("old", "1.27.0"))
    report = audit([pod], inputs())
    assert findings(report) == {("shop", "Deployment", "cart"): [("revision-not-served", "old", ["cart-7f9c-1"])]}
    assert report.workloads[0].findings[0].verdict.reason == \
        "injected by revision old, which is not served; a restart moves it to revision default"
    rejected = AuditInputs({"default": revision("default")}, CLUSTER, rejected={"old": "templates.sidecar: bad"})
    assert "which is rejected: templates.sidecar: bad" in audit([pod], rejected).workloads[0].findings[0].verdict.reason


def test_a_selected_pod_without_sidecar_is_reported() -> None:
    missing = user_pod("cart-7f9c-1")
    opted_out = user_pod("cart-7f9c-2", labels={"sidecar.istio.io/inject": "false"})
    unselected = user_pod("other-1", "plain", owner=None)
    report = audit([missing, opted_out, unselected], inputs())
    assert findings(report) == {("shop", "Deployment", "cart"): [("not-injected", "default", ["cart-7f9c-1"])]}
    assert report.counts["not-selected"] == 2


def test_a_revision_that_would_not_inject_any_more_or_fails_to() -> None:
    pod = stored(user_pod("cart-7f9c-1"), revision("default"))
    never = revision("default", config="policy: disabled\n" + _templates_only())
    report = audit([pod], inputs(default=never))
    [[(status, _, _)]] = findings(report).values()
    assert status == "stale"
    assert "would not inject it now: policy is disabled" in report.workloads[0].findings[0].verdict.reason
    broken = stored(user_pod("cart-7f9c-2"), revision("default"))
    broken["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] = "lots"
    [[(status, _, pods)]] = findings(audit([broken], inputs())).values()
    assert (status, pods) == ("injection-error", ["cart-7f9c-2"])


def _templates_only() -> str:
    """The embedded default config with its templates inlined (a config text that builds on its own)."""
    import yaml

    config = yaml.safe_load(defaults.default_config_text())
    config["templates"] = defaults.load_default_sources()
    config.pop("policy", None)
    return yaml.safe_dump(config)


def test_pods_on_their_way_out_are_not_audited() -> None:
    deleting = stored(user_pod("cart-7f9c-1"), revision("old"))
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    finished = stored(user_pod("cart-7f9c-2"), revision("old"))
    finished["status"] = {"phase": "Succeeded"}
    report = audit([deleting, finished], inputs())
    assert findings(report) == {} and report.counts["pods"] == 0


@pytest.mark.parametrize(("owner", "labels", "controllers", "expected"), [
    (None, {}, {}, Owner("ns", "Pod", "p")),
    (("ReplicaSet", "cart-7f9c"), {"pod-template-hash": "7f9c"}, {}, Owner("ns", "Deployment", "cart")),
    (("ReplicaSet", "cart-7f9c"), {}, {}, Owner("ns", "ReplicaSet", "cart-7f9c")),
    (("ReplicaSet", "cart-x"), {}, {("ns", "ReplicaSet", "cart-x"): ("Deployment", "shop-cart")},
     Owner("ns", "Deployment", "shop-cart")),
    (("ReplicaSet", "cart-7f9c"), {"pod-template-hash": "7f9c"}, {("ns", "ReplicaSet", "cart-7f9c"): None},
     Owner("ns", "ReplicaSet", "cart-7f9c")),
    (("Job", "backup-28999020"), {}, {}, Owner("ns", "CronJob", "backup")),
    (("StatefulSet", "db"), {}, {}, Owner("ns", "StatefulSet", "db")),
])
def test_owner_follows_controllers_then_naming_rules(owner: Any, labels: dict, controllers: dict,
                                                     expected: Owner) -> None:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": False},
                                   {"kind": owner[0], "name": owner[1], "controller": True}]
    assert owner_of({"metadata": meta}, controllers) == expected


def test_remedies_per_kind() -> None:
    assert Owner("ns", "DaemonSet", "agent").remedy(["a"]) == ("kubectl rollout restart daemonset/agent -n ns", "")
    command, note = Owner("ns", "Job", "backup").remedy(["b-2", "b-1"])
    assert command == "kubectl delete pod -n ns b-1 b-2" and note == "its Job backup re-creates the pods"


def test_the_servers_trimmed_pods_give_the_same_report() -> None:
    """``/debug/stale`` audits trimmed blobs from its informer: the report must equal the CLI's on full pods."""
    pods = [stored(user_pod("cart-7f9c-1"), revision("default")), user_pod("cart-7f9c-2"),
            stored(user_pod("api-1", "moved", owner=None), revision("default"))]
    for pod in pods:
        pod["metadata"].update({"resourceVersion": "7", "uid": "x", "managedFields": [{"manager": "kubectl"}]})
        pod["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled"}]}
    changed = inputs(default=revision("default", "1.28.1"))
    blobs = [trim_pod(pod)["pod"] for pod in pods]
    assert audit_serialized(blobs, changed) == audit(pods, changed).as_json()
    plain = orjson.loads(trim_pod(user_pod("x"))["pod"])
    assert plain["spec"] == {} and set(plain["metadata"]) == {"name", "namespace", "generateName", "labels",
                                                              "ownerReferences", "annotations"}
