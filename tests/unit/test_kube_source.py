"""KubeSource and KubeFacts against the fake apiserver over real HTTP: revisions, namespaces, nodes, tags, Events."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
from kubernetes_asyncio import client as k8s

from injector.sources.kube import KubeSource, SourceInfo, load_client, revision_of_configmap, select_configmaps
from injector.sources.kube_facts import KubeFacts
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, api_client, eventually, fake_kube, kubeconfig  # noqa: F401

NS = "istio-system"


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def injector_cm(name: str, config: str, values: str = "{}", labels: dict[str, str] | None = None) -> dict:
    return configmap(name, {"config": config, "values": values}, labels)


class Revisions:
    """Records the KubeSource callbacks in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def changed(self, revision: str, config: str | None, values: str | None, mesh: str | None,
                      info: SourceInfo) -> None:
        self.calls.append(("changed", revision, config, values, mesh, info))

    async def deleted(self, revision: str) -> None:
        self.calls.append(("deleted", revision))

    def texts(self) -> list[tuple]:
        """Calls without the SourceInfo, for compact assertions."""
        return [c[:5] for c in self.calls]


@pytest.fixture
async def make_source(api_client: k8s.ApiClient) -> AsyncIterator[Callable[..., KubeSource]]:  # noqa: F811
    sources: list[KubeSource] = []

    def make(revisions: Revisions, **options) -> KubeSource:
        options.setdefault("backoff", FAST_BACKOFF)
        source = KubeSource(api_client, on_revision_changed=revisions.changed,
                            on_revision_deleted=revisions.deleted, control_namespace=NS, **options)
        sources.append(source)
        source.start()
        return source

    yield make
    for source in sources:
        await source.stop()


# ------------------------------------------------------------------------------------------- ConfigMap -> revision


@pytest.mark.parametrize(("name", "data", "labels", "expected"), [
    ("istio-sidecar-injector", {"config": ""}, {}, ("default", "injector-config")),
    ("istio-sidecar-injector-canary", {}, {}, ("canary", "injector-config")),
    ("istio-sidecar-injector-canary", {}, {"istio.io/rev": "1-24"}, ("1-24", "injector-config")),
    ("istio-sidecar-injector", {}, {"istio.io/rev": "default"}, ("default", "injector-config")),
    ("istio-sidecar-injector", {}, {"istio.io/rev": ""}, ("default", "injector-config")),
    ("istio", {"mesh": ""}, {}, ("default", "mesh")),
    ("istio-canary", {"mesh": ""}, {}, ("canary", "mesh")),
    ("istio-canary", {"mesh": ""}, {"istio.io/rev": "blue"}, ("blue", "mesh")),
    ("istio-ca-root-cert", {"root-cert.pem": ""}, {}, None),
    ("istio-leader", {}, {}, None),
    ("istiod", {"mesh": ""}, {}, None),
    ("kube-root-ca.crt", {}, {}, None),
])
def test_revision_of_configmap(name: str, data: dict, labels: dict, expected: tuple | None) -> None:
    assert revision_of_configmap(configmap(name, data, labels)) == expected


def test_the_canonically_named_configmap_wins_a_revision() -> None:
    chosen = select_configmaps([
        injector_cm("istio-sidecar-injector-zzz", "z", labels={"istio.io/rev": "canary"}),
        injector_cm("istio-sidecar-injector-canary", "c"),
        injector_cm("istio-sidecar-injector-aaa", "a", labels={"istio.io/rev": "canary"}),
        injector_cm("istio-sidecar-injector-bbb", "b", labels={"istio.io/rev": "other"}),
        injector_cm("istio-sidecar-injector-ccc", "c", labels={"istio.io/rev": "other"}),
    ])
    assert chosen[("canary", "injector-config")]["metadata"]["name"] == "istio-sidecar-injector-canary"
    assert chosen[("other", "injector-config")]["metadata"]["name"] == "istio-sidecar-injector-bbb"


# ------------------------------------------------------------------------------------------- revisions end to end


async def test_two_revisions_give_one_callback_each(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector", "cfg-default", '{"a":1}'), NS)
    fake_kube.create("configmaps", configmap("istio", {"mesh": "mesh-default"}), NS)
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector-canary", "cfg-canary"), NS)
    fake_kube.create("configmaps", configmap("istio-canary", {"mesh": "mesh-canary"}), NS)
    fake_kube.create("configmaps", configmap("istio-ca-root-cert", {"root-cert.pem": "x"}), NS)
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector-elsewhere", "no"), "other-namespace")
    revisions = Revisions()
    source = make_source(revisions)
    await source.wait_synced(5)
    assert revisions.texts() == [
        ("changed", "canary", "cfg-canary", "{}", "mesh-canary"),
        ("changed", "default", "cfg-default", '{"a":1}', "mesh-default"),
    ]
    info = revisions.calls[1][5]
    assert info == SourceInfo(NS, "istio-sidecar-injector", fake_kube.get("configmaps", "istio-sidecar-injector", NS)
                              ["metadata"]["resourceVersion"], "istio",
                              fake_kube.get("configmaps", "istio", NS)["metadata"]["resourceVersion"])
    assert source.revisions() == {"default", "canary"}


async def test_changes_propagate_and_no_op_edits_are_silent(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector", "v1"), NS)
    revisions = Revisions()
    source = make_source(revisions)
    await source.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")

    fake_kube.create("configmaps", configmap("istio", {"mesh": "m1"}), NS)  # mesh arrives later
    fake_kube.update("configmaps", injector_cm("istio-sidecar-injector", "v2"), NS)
    annotated = injector_cm("istio-sidecar-injector", "v2")
    annotated["metadata"]["annotations"] = {"touched": "yes"}
    fake_kube.update("configmaps", annotated, NS)  # same texts: no rebuild
    fake_kube.delete("configmaps", "istio", NS)  # mesh gone: defaults again
    fake_kube.create("configmaps", configmap("istio-leader", {}), NS)  # unrelated
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector-sentinel", "s"), NS)
    await eventually(lambda: len(revisions.calls) == 5)  # everything before the sentinel has been handled
    assert revisions.texts()[:4] == [
        ("changed", "default", "v1", "{}", None),
        ("changed", "default", "v1", "{}", "m1"),
        ("changed", "default", "v2", "{}", "m1"),
        ("changed", "default", "v2", "{}", None),
    ]


async def test_missing_keys_are_reported_as_none(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", configmap("istio-sidecar-injector-broken", {"values": "{}"}), NS)
    revisions = Revisions()
    await make_source(revisions).wait_synced(5)
    assert revisions.texts() == [("changed", "broken", None, "{}", None)]


async def test_deleting_the_injector_configmap_deletes_the_revision(fake_kube: FakeKube,
                                                                   make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector", "d"), NS)
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector-canary", "c"), NS)
    fake_kube.create("configmaps", configmap("istio-canary", {"mesh": "m"}), NS)
    revisions = Revisions()
    source = make_source(revisions)
    await source.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.delete("configmaps", "istio-sidecar-injector-canary", NS)
    await eventually(lambda: len(revisions.calls) == 3)
    assert revisions.calls[2] == ("deleted", "canary")
    assert source.revisions() == {"default"}


async def test_deletion_during_an_expired_disconnect_is_still_reported(fake_kube: FakeKube,
                                                                      make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector", "d"), NS)
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector-old", "o"), NS)
    revisions = Revisions()
    source = make_source(revisions)
    await source.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.cut_watches()
    fake_kube.delete("configmaps", "istio-sidecar-injector-old", NS)
    fake_kube.update("configmaps", injector_cm("istio-sidecar-injector", "d2"), NS)
    fake_kube.compact()
    await eventually(lambda: len(revisions.calls) == 4)
    assert revisions.texts()[2:] == [("changed", "default", "d2", "{}", None), ("deleted", "old")]
    assert len(fake_kube.list_requests("configmaps")) == 2


async def test_configmaps_written_through_the_api_are_seen(fake_kube: FakeKube, api_client: k8s.ApiClient,
                                                          make_source) -> None:  # noqa: F811
    revisions = Revisions()
    source = make_source(revisions)
    await source.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_config_map(NS, injector_cm("istio-sidecar-injector-api", "c1"))
    current = await core.read_namespaced_config_map("istio-sidecar-injector-api", NS)
    current.data["config"] = "c2"
    await core.replace_namespaced_config_map("istio-sidecar-injector-api", NS, current)
    await core.delete_namespaced_config_map("istio-sidecar-injector-api", NS)
    await eventually(lambda: len(revisions.calls) == 3)
    assert revisions.texts() == [("changed", "api", "c1", "{}", None), ("changed", "api", "c2", "{}", None),
                                 ("deleted", "api")]


async def test_sync_barrier_covers_every_informer_and_first_callback(fake_kube: FakeKube,
                                                                    make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector", "d"), NS)
    revisions = Revisions()
    gate = asyncio.Event()
    original = revisions.changed

    async def slow_changed(*args) -> None:
        await gate.wait()
        await original(*args)

    revisions.changed = slow_changed  # type: ignore[method-assign]
    source = make_source(revisions)
    with pytest.raises(TimeoutError):
        await source.wait_synced(0.3)
    assert not source.synced
    gate.set()
    await source.wait_synced(5)
    assert source.synced and len(revisions.calls) == 1


# ------------------------------------------------------------------------------------------- facts


async def test_namespace_labels_follow_the_cluster(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    fake_kube.create("namespaces", {"metadata": {"name": "apps", "labels": {"istio.io/rev": "canary"},
                                                 "annotations": {"openshift.io/sa.scc.uid-range": "1000/10"}}})
    source = make_source(Revisions())
    await source.wait_synced(5)
    facts = source.facts
    assert facts.namespace_labels("apps") == {"istio.io/rev": "canary", "kubernetes.io/metadata.name": "apps"}
    assert facts.namespace_annotations("apps") == {"openshift.io/sa.scc.uid-range": "1000/10"}
    assert facts.namespace_labels("missing") is None

    await fake_kube.wait_for_watches("namespaces")
    fake_kube.update("namespaces", {"metadata": {"name": "apps", "labels": {"istio-injection": "enabled"}}})
    await eventually(lambda: "istio-injection" in (facts.namespace_labels("apps") or {}))
    assert facts.namespace_labels("apps") == {"istio-injection": "enabled", "kubernetes.io/metadata.name": "apps"}
    fake_kube.delete("namespaces", "apps")
    await eventually(lambda: facts.namespace_labels("apps") is None)


async def test_revision_tags_map_to_revisions(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    def mwc(name: str, labels: dict[str, str]) -> dict:
        return {"metadata": {"name": name, "labels": labels}, "webhooks": []}

    fake_kube.create("mutatingwebhookconfigurations",
                     mwc("istio-revision-tag-prod", {"istio.io/tag": "prod", "istio.io/rev": "1-24"}))
    fake_kube.create("mutatingwebhookconfigurations", mwc("istio-sidecar-injector", {"istio.io/rev": "default"}))
    source = make_source(Revisions())
    await source.wait_synced(5)
    facts = source.facts
    assert facts.tag_to_revision() == {"prod": "1-24"}
    assert fake_kube.list_requests("mutatingwebhookconfigurations")[0].query["labelSelector"] == "istio.io/tag"

    await fake_kube.wait_for_watches("mutatingwebhookconfigurations")
    fake_kube.create("mutatingwebhookconfigurations",
                     mwc("istio-revision-tag-default", {"istio.io/tag": "default", "istio.io/rev": "1-24"}))
    fake_kube.update("mutatingwebhookconfigurations",
                     mwc("istio-revision-tag-prod", {"istio.io/tag": "prod", "istio.io/rev": "1-25"}))
    await eventually(lambda: facts.tag_to_revision() == {"prod": "1-25", "default": "1-24"})
    fake_kube.update("mutatingwebhookconfigurations",  # no longer a tag: leaves the selector, arrives as DELETED
                     mwc("istio-revision-tag-prod", {"istio.io/rev": "1-25"}))
    await eventually(lambda: facts.tag_to_revision() == {"default": "1-24"})
    fake_kube.delete("mutatingwebhookconfigurations", "istio-revision-tag-default")
    await eventually(lambda: facts.tag_to_revision() == {})


def node(name: str, version: str) -> dict:
    return {"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": version},
                                                    "images": [{"names": ["big"], "sizeBytes": 1}]}}


async def test_native_sidecars_auto_follows_node_versions(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    source = make_source(Revisions())
    await source.wait_synced(5)
    facts = source.facts
    assert facts.native_sidecars_auto(None)  # zero nodes: on

    await fake_kube.wait_for_watches("nodes")
    fake_kube.create("nodes", node("new", "v1.33.2"))
    fake_kube.create("nodes", node("old", "v1.32.9-eks-1234"))
    await eventually(lambda: len(facts.node_versions()) == 2)
    assert facts.node_versions() == {"new": "v1.33.2", "old": "v1.32.9-eks-1234"}
    assert not facts.native_sidecars_auto(None)  # unscheduled: every node must pass
    assert not facts.native_sidecars_auto("unknown-node")
    assert facts.native_sidecars_auto("new")  # a known node decides alone
    assert not facts.native_sidecars_auto("old")

    fake_kube.update("nodes", node("old", "v1.34.0"))
    await eventually(lambda: facts.native_sidecars_auto(None))
    fake_kube.create("nodes", node("weird", "not-a-version"))
    await eventually(lambda: not facts.native_sidecars_auto(None))
    fake_kube.delete("nodes", "weird")
    await eventually(lambda: facts.native_sidecars_auto(None))


async def test_without_a_node_informer_native_sidecars_are_off(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    fake_kube.create("nodes", node("new", "v1.33.2"))
    source = make_source(Revisions(), watch_nodes=False)
    await source.wait_synced(5)
    assert not source.facts.native_sidecars_auto("new")
    assert fake_kube.list_requests("nodes") == []


@pytest.mark.parametrize(("version", "passes"), [
    ("v1.33.5-eks-113cf36", True), ("v1.34.1+k3s1", True), ("1.33", True), ("v1.32.9", False), ("v1", False),
    ("garbage", False), ("", False),
])
async def test_one_node_decides_the_cluster_rule(version: str, passes: bool) -> None:
    facts = KubeFacts()
    await facts.on_node("ADDED", node("a", "v1.33.0"))
    await facts.on_node("ADDED", node("b", version))
    assert facts.native_sidecars_auto("a")
    assert facts.native_sidecars_auto("b") == passes
    assert facts.native_sidecars_auto(None) == passes
    await facts.on_node("MODIFIED", node("b", "v1.33.0"))
    assert facts.native_sidecars_auto(None)
    await facts.on_node("MODIFIED", node("b", version))
    await facts.on_node("DELETED", node("b", version))
    assert facts.native_sidecars_auto(None)


# ------------------------------------------------------------------------------------------- events and clients


async def test_post_configmap_event(fake_kube: FakeKube, make_source) -> None:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("istio-sidecar-injector", "{{ broken"), NS)
    source = make_source(Revisions())
    await source.wait_synced(5)
    assert await source.post_configmap_event("istio-sidecar-injector", reason="InvalidConfig",
                                             message="template parse error")
    [event] = fake_kube.events
    cm = fake_kube.get("configmaps", "istio-sidecar-injector", NS)
    assert event["metadata"]["namespace"] == NS
    assert event["involvedObject"] == {"kind": "ConfigMap", "apiVersion": "v1", "namespace": NS,
                                       "name": "istio-sidecar-injector", "uid": cm["metadata"]["uid"],
                                       "resourceVersion": cm["metadata"]["resourceVersion"]}
    assert (event["reason"], event["message"], event["type"]) == ("InvalidConfig", "template parse error", "Warning")
    assert event["source"] == {"component": "sidecar-injector"}


async def test_post_event_failure_is_reported_not_raised(tmp_path: Path) -> None:
    dead = FakeKube()
    await dead.start()
    config = dead.write_kubeconfig(tmp_path / "kubeconfig")
    await dead.close()  # nothing listens any more
    api = await load_client(str(config))
    try:
        source = KubeSource(api, on_revision_changed=Revisions().changed, on_revision_deleted=Revisions().deleted)
        assert not await source.post_configmap_event("istio-sidecar-injector", reason="X", message="y")
    finally:
        await api.close()
