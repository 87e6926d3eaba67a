"""Workload derivation, proxy images, native-sidecar detection, cluster facts, manifest splitting, validation."""
from __future__ import annotations

import pytest

from injector.cluster_facts import cluster_facts_from_mapping, openshift_ids
from injector.manifests import ManifestError, split_documents
from workers.errors import InjectionError
from workers.images import proxy_image, proxy_init_image
from workers.native import native_sidecars_enabled
from workers.selection import select_templates
from workers.validate import validate_annotations
from workers.workload import workload_of_pod


def _pod(generate: str = "", owner: dict | None = None, labels: dict | None = None) -> dict:
    meta: dict = {"name": "p", "namespace": "ns", "labels": labels or {}}
    if generate:
        meta["generateName"] = generate
    if owner:
        meta["ownerReferences"] = [{**owner, "controller": True}]
    return {"metadata": meta}


@pytest.mark.parametrize("owner,labels,want", [
    ({"kind": "ReplicaSet", "name": "web-abc", "apiVersion": "apps/v1"}, {"pod-template-hash": "abc"},
     ("web", "Deployment", "apps/v1")),
    ({"kind": "ReplicaSet", "name": "web-abc", "apiVersion": "apps/v1"}, {"rollouts-pod-template-hash": "abc"},
     ("web", "Rollout", "v1alpha1")),
    ({"kind": "ReplicationController", "name": "rc-1", "apiVersion": "v1"}, {"deploymentconfig": "dc"},
     ("dc", "DeploymentConfig", "v1")),
    ({"kind": "Job", "name": "nightly-28391234", "apiVersion": "batch/v1"}, {}, ("nightly", "CronJob", "batch/v1")),
    ({"kind": "Job", "name": "once", "apiVersion": "batch/v1"}, {}, ("once", "Job", "batch/v1")),
])
def test_workload_from_owner(owner: dict, labels: dict, want: tuple) -> None:
    meta = workload_of_pod(_pod("x-", owner, labels))
    assert (meta.name, meta.kind, meta.api_version) == want


def test_workload_without_generate_name_is_the_pod() -> None:
    meta = workload_of_pod(_pod("", {"kind": "ReplicaSet", "name": "web-abc", "apiVersion": "apps/v1"}))
    assert (meta.name, meta.kind, meta.api_version, meta.namespace) == ("p", "Pod", "v1", "ns")


VALUES = {"global": {"hub": "reg.io/istio", "tag": 1.2, "variant": "", "proxy": {"image": "proxyv2"},
                     "proxy_init": {"image": "proxyv2"}}}


def test_proxy_image_tag_printed_like_go_float() -> None:
    assert proxy_image(VALUES, {}, {}) == "reg.io/istio/proxyv2:1.2"


def test_proxy_image_type_precedence() -> None:
    values = {"global": {**VALUES["global"], "tag": "1.28.0-distroless", "variant": "debug"}}
    assert proxy_image(values, {}, {}) == "reg.io/istio/proxyv2:1.28.0-debug"
    assert proxy_image(values, {"image": {"imageType": "default"}}, {}) == "reg.io/istio/proxyv2:1.28.0"
    assert proxy_image(values, {}, {"sidecar.istio.io/proxyImageType": "distroless"}) == \
        "reg.io/istio/proxyv2:1.28.0-distroless"
    assert proxy_init_image(values, {}) == "reg.io/istio/proxyv2:1.28.0-debug"


@pytest.mark.parametrize("mode,node,nodes,want", [
    ("true", None, None, True),
    ("false", None, {"a": "v1.34.0"}, False),
    ("auto", None, None, False),
    ("auto", None, {}, True),
    ("auto", None, {"a": "v1.33.0", "b": "v1.34.1"}, True),
    ("auto", None, {"a": "v1.33.0", "b": "v1.28.0"}, False),
    ("auto", "b", {"a": "v1.33.0", "b": "v1.28.0"}, False),
    ("auto", "a", {"a": "v1.33.0", "b": "v1.28.0"}, True),
    ("auto", None, {"a": "garbage"}, False),
])
def test_native_sidecars(mode: str, node: str | None, nodes: dict | None, want: bool) -> None:
    assert native_sidecars_enabled(mode, node, nodes) is want


def test_openshift_ids() -> None:
    assert openshift_ids({"openshift.io/sa.scc.uid-range": "1000620000/10000"}) == (1000629999, 1000629999)
    assert openshift_ids({"openshift.io/sa.scc.uid-range": "1000-2000",
                          "openshift.io/sa.scc.supplemental-groups": "5/10,100/5"}) == (2000, 14)


def test_cluster_facts_file_flags_beat_environment() -> None:
    facts = cluster_facts_from_mapping({"feature_flags": {"PLATFORM": "openshift"}},
                                       environ={"PLATFORM": "", "COMPLIANCE_POLICY": "fips-140-3"})
    assert facts.flag("PLATFORM") == "openshift"
    assert facts.flag("COMPLIANCE_POLICY") == "fips-140-3"
    assert facts.flag("ENABLE_NATIVE_SIDECARS") == "auto"


def test_split_documents_keeps_text_and_skips_empty() -> None:
    docs = list(split_documents("---\na: 1\n--- # comment\n---\nb: 2\n"))
    assert [(d.index, d.text) for d in docs] == [(1, "a: 1\n"), (2, "b: 2\n")]


def test_split_documents_rejects_bad_separator() -> None:
    with pytest.raises(ManifestError, match="separator"):
        list(split_documents("a: 1\n--- b\n"))


def test_select_templates_aliases_and_unknown() -> None:
    assert select_templates({"inject.istio.io/templates": "sidecar, both"}, ("sidecar",),
                            {"both": ("a", "b")}, {"sidecar", "a", "b"}) == ["sidecar", "a", "b"]
    with pytest.raises(InjectionError, match='requested template "nope" not found; have a, sidecar'):
        select_templates({"inject.istio.io/templates": "nope"}, ("sidecar",), {}, {"sidecar", "a"})


def test_validate_annotations_collects_every_error() -> None:
    with pytest.raises(InjectionError) as info:
        validate_annotations({"traffic.sidecar.istio.io/includeInboundPorts": "bad",
                              "traffic.sidecar.istio.io/excludeOutboundIPRanges": "*",
                              "sidecar.istio.io/proxyCPU": "100m"})
    message = str(info.value)
    assert message.startswith("2 errors occurred:\n\t* ")
    assert "excludeIPRanges invalid" in message and "includeInboundPorts invalid" in message


@pytest.mark.parametrize("key,value", [
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8,192.168.0.0/16"),
    ("traffic.sidecar.istio.io/excludeInboundPorts", ""),
    ("sidecar.istio.io/interceptionMode", "TPROXY"),
    ("prometheus.istio.io/merge-metrics", "F"),
    ("sidecar.istio.io/proxyMemory", "1Gi"),
])
def test_validate_annotations_accepts_valid(key: str, value: str) -> None:
    validate_annotations({key: value})
