"""``injector serve --kube`` behind a real kube-apiserver: what the apiserver stores is what Istio would store.

One injector process serves the module (revisions ``default`` and ``canary`` from ConfigMaps in Istio's own format),
behind deploy/'s webhook configurations turned into URL ones. The server itself keeps their caBundle in sync
(``--webhook-config-selector``), so every injection below also proves part of that. Scenarios needing their own
revision add its ConfigMaps and webhook configuration and remove them afterwards; the failurePolicy scenario runs a
second, file-configured server that it stops.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane import (
    ControlPlane,
    WebhookEndpoint,
    mutating_webhook,
    mutating_webhook_configuration,
)
from injector_server import (
    OWNER_LABEL,
    InjectorProcess,
    RevisionTexts,
    RunningInjector,
    apply,
    ca_bundle_b64,
    istio_default_texts,
    kubectl_json,
    owned_bundles,
    revision_configmaps,
    running_kube_injector,
    wait_for,
)

pytestmark = pytest.mark.e2e

CANARY_TAG = "canary-e2e"
BROKEN_CONFIG = """\
templateLanguage: jinja2
policy: enabled
defaultTemplates: [bad-name]
templates:
  bad-name: |
    spec:
      containers:
      - name: Not_A_DNS_Label
        image: registry.example/never-pulled:1
"""


@pytest.fixture(scope="module")
def injector(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningInjector]:
    texts = istio_default_texts()
    with running_kube_injector(control_plane, tmp_path_factory.mktemp("injector-certs"),
                               {"default": texts, "canary": texts.with_values(revision="canary", tag=CANARY_TAG)}
                               ) as running:
        yield running


# ---------------------------------------------------------------------------------------------- helpers


def _containers(pod: dict, key: str = "containers") -> list[str]:
    return [c["name"] for c in pod["spec"].get(key) or []]


def _all_containers(pod: dict) -> list[str]:
    return _containers(pod, "initContainers") + _containers(pod)


def _is_injected(pod: dict) -> bool:
    """istio-proxy is a regular container, or a native sidecar (an init container that keeps running): which one
    depends on ENABLE_NATIVE_SIDECARS and the nodes; both count as injected."""
    return "istio-proxy" in _all_containers(pod)


def _revision(pod: dict) -> str | None:
    """The revision that injected the pod: Istio's template records it in the istio.io/rev annotation."""
    return (pod["metadata"].get("annotations") or {}).get("istio.io/rev")


def _proxy_image(pod: dict) -> str:
    containers = (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]
    return next(c["image"] for c in containers if c["name"] == "istio-proxy")


@pytest.fixture
def core(kube_api: Any) -> Any:
    from kubernetes_asyncio import client

    return client.CoreV1Api(kube_api)


@pytest.fixture
def stored_pod(kube_api: Any, core: Any) -> Callable[..., Any]:
    """Create a pod for real and return it as the apiserver stored it (read back)."""

    async def create(namespace: str, pod: dict) -> dict:
        await core.create_namespaced_pod(namespace, pod)
        return kube_api.sanitize_for_serialization(await core.read_namespaced_pod(pod["metadata"]["name"], namespace))

    return create


@pytest.fixture
def owned_namespace(injector: RunningInjector, make_namespace: Callable[..., Any]) -> Callable[..., Any]:
    """A namespace the module's webhook configurations may select (carries the owner label)."""

    async def make(labels: dict[str, str] | None = None) -> str:
        return await make_namespace(labels={OWNER_LABEL: injector.owner, **(labels or {})})

    return make


def _pod(make_pod: Callable[..., dict], labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None, **spec: Any) -> dict:
    pod = make_pod(name=f"app-{uuid.uuid4().hex[:6]}", labels=labels)
    if annotations:
        pod["metadata"]["annotations"] = annotations
    pod["spec"].update(spec)
    return pod


# ---------------------------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize(("namespace_labels", "pod_labels", "revision"), [
    ({"istio-injection": "enabled"}, {}, "default"),
    ({"istio.io/rev": "default"}, {}, "default"),
    ({"istio.io/rev": "canary"}, {}, "canary"),
    ({}, {"istio.io/rev": "canary"}, "canary"),
    ({}, {"sidecar.istio.io/inject": "true"}, "default"),
    # istio-injection=enabled outranks a revision label (the namespace. webhook ignores istio.io/rev).
    ({"istio-injection": "enabled", "istio.io/rev": "canary"}, {}, "default"),
], ids=["ns-istio-injection", "ns-rev-default", "ns-rev-canary", "pod-rev-canary", "pod-inject-true",
        "ns-both-labels"])
async def test_injects_where_istio_would(injector: RunningInjector, owned_namespace, stored_pod, make_pod,
                                         namespace_labels: dict, pod_labels: dict, revision: str) -> None:
    namespace = await owned_namespace(namespace_labels)
    pod = await stored_pod(namespace, _pod(make_pod, pod_labels))
    assert _is_injected(pod), injector.process.log_tail()
    assert _containers(pod)[0] == "app" and "istio-init" in _containers(pod, "initContainers")
    # The status annotation lists exactly the containers that the stored pod gained.
    status = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    assert sorted((status["containers"] or []) + status["initContainers"]) == sorted(
        c for c in _all_containers(pod) if c != "app")
    assert status["revision"] == revision
    assert _revision(pod) == revision
    assert pod["metadata"]["labels"]["security.istio.io/tlsMode"] == "istio"


@pytest.mark.parametrize(("namespace_labels", "pod_labels", "annotations", "spec"), [
    ({}, {}, {}, {}),
    ({"istio-injection": "disabled"}, {}, {}, {}),
    ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, {}, {}),
    # These two reach the webhook (the selectors match) and the injector itself must decline.
    ({"istio-injection": "enabled"}, {}, {"sidecar.istio.io/inject": "false"}, {}),
    ({"istio.io/rev": "default"}, {}, {}, {"hostNetwork": True}),
], ids=["ns-unlabelled", "ns-disabled", "pod-label-false", "pod-annotation-false",
        "host-network"])
async def test_skips_where_istio_would(injector: RunningInjector, owned_namespace, stored_pod, make_pod,
                                       namespace_labels: dict, pod_labels: dict, annotations: dict,
                                       spec: dict) -> None:
    namespace = await owned_namespace(namespace_labels)
    pod = await stored_pod(namespace, _pod(make_pod, pod_labels, annotations, **spec))
    assert _all_containers(pod) == ["app"]
    assert "sidecar.istio.io/status" not in (pod["metadata"].get("annotations") or {})


@pytest.mark.parametrize("review_version", ["v1", "v1beta1"])
async def test_both_admission_review_versions(injector: RunningInjector, make_namespace, register_webhooks,
                                              wait_for_admission, stored_pod, make_pod, review_version: str) -> None:
    """The apiserver sends the first version the configuration lists and rejects an answer in another version,
    so an injected pod proves the whole exchange happened in ``review_version``."""
    label = {"injector-e2e/review": f"{injector.owner}-{review_version}"}
    namespace = await make_namespace(labels=label)
    webhook = mutating_webhook("review.sidecar-injector.istio.io", injector.client_config("/inject"),
                               namespace_selector={"matchLabels": label})
    webhook["admissionReviewVersions"] = [review_version]
    await register_webhooks(mutating_webhook_configuration(f"review-{review_version}-{injector.owner}", [webhook]))
    await wait_for_admission(namespace, _pod(make_pod), _is_injected)
    pod = await stored_pod(namespace, _pod(make_pod))
    assert _is_injected(pod) and _revision(pod) == "default"


async def test_two_revisions_at_once(injector: RunningInjector, owned_namespace, stored_pod, make_pod) -> None:
    default_ns = await owned_namespace({"istio.io/rev": "default"})
    canary_ns = await owned_namespace({"istio.io/rev": "canary"})
    default_pod = await stored_pod(default_ns, _pod(make_pod))
    canary_pod = await stored_pod(canary_ns, _pod(make_pod))
    assert (_revision(default_pod), _revision(canary_pod)) == ("default", "canary")
    default_tag = json.loads(injector.default_texts.values)["global"]["tag"]
    assert _proxy_image(default_pod).endswith(f":{default_tag}")
    assert _proxy_image(canary_pod).endswith(f":{CANARY_TAG}")


async def test_canary_move_by_relabelling_the_namespace(injector: RunningInjector, owned_namespace, core, stored_pod,
                                                        wait_for_admission, make_pod) -> None:
    namespace = await owned_namespace({"istio.io/rev": "default"})
    before = await stored_pod(namespace, _pod(make_pod))
    assert _revision(before) == "default"
    await core.patch_namespace(namespace, {"metadata": {"labels": {"istio.io/rev": "canary"}}})
    # The apiserver matches namespace selectors through its own informer: probe until it saw the new label.
    await wait_for_admission(namespace, _pod(make_pod), lambda p: _revision(p) == "canary")
    after = await stored_pod(namespace, _pod(make_pod))
    assert _revision(after) == "canary" and _proxy_image(after).endswith(f":{CANARY_TAG}")
    stored_before = await core.read_namespaced_pod(before["metadata"]["name"], namespace)
    assert stored_before.metadata.annotations["istio.io/rev"] == "default"  # existing pods are left alone


@pytest.fixture
def extra_revision(control_plane: ControlPlane, injector: RunningInjector, register_webhooks,
                   make_namespace) -> Iterator[Callable[..., Any]]:
    """Add a revision (its ConfigMaps, and a webhook for a fresh namespace); removed after the test."""
    added: list[str] = []

    async def add(revision: str, texts: RevisionTexts) -> str:
        apply(control_plane, *revision_configmaps(injector.control_namespace, revision, texts))
        added.append(revision)
        label = {"injector-e2e/revision": f"{revision}-{injector.owner}"}
        namespace = await make_namespace(labels=label)
        webhook = mutating_webhook(f"{revision}.sidecar-injector.istio.io",
                                   injector.client_config(f"/rev/{revision}/inject"),
                                   namespace_selector={"matchLabels": label})
        await register_webhooks(mutating_webhook_configuration(f"{revision}-{injector.owner}", [webhook]))
        return namespace

    yield add
    for revision in added:
        for cm in revision_configmaps(injector.control_namespace, revision, injector.default_texts):
            control_plane.kubectl("delete", "configmap", "-n", injector.control_namespace, cm["metadata"]["name"],
                                  "--ignore-not-found", check=False)


async def test_configmap_update_takes_effect(control_plane: ControlPlane, injector: RunningInjector, extra_revision,
                                             wait_for_admission, stored_pod, make_pod) -> None:
    texts = injector.default_texts.with_values(revision="update", tag="before-e2e")
    namespace = await extra_revision("update", texts)
    first = await wait_for_admission(namespace, _pod(make_pod), _is_injected)
    assert _proxy_image(first).endswith(":before-e2e")
    apply(control_plane, *revision_configmaps(injector.control_namespace, "update",
                                              texts.with_values(tag="after-e2e")))
    await wait_for_admission(namespace, _pod(make_pod), lambda p: _proxy_image(p).endswith(":after-e2e"))
    pod = await stored_pod(namespace, _pod(make_pod))
    assert _proxy_image(pod).endswith(":after-e2e") and _revision(pod) == "update"


async def test_a_patch_the_apiserver_rejects_is_a_clear_error(injector: RunningInjector, extra_revision, core,
                                                              make_pod) -> None:
    """The template renders a container name the Pod validation refuses: the client sees which field and value,
    and nothing is stored."""
    from kubernetes_asyncio.client import ApiException

    namespace = await extra_revision("broken", RevisionTexts(BROKEN_CONFIG, injector.default_texts.values,
                                                             injector.default_texts.mesh))
    # Until the injector has loaded the new revision, its answers differ: probe (dry-run) until validation speaks.
    deadline = time.monotonic() + 20
    while True:
        try:
            await core.create_namespaced_pod(namespace, _pod(make_pod), dry_run="All")
            last: object = "admitted"
        except ApiException as exc:
            last = exc.body
            if exc.status == 422:
                break
        assert time.monotonic() < deadline, f"no validation error within 20s; last answer: {last}"
        await asyncio.sleep(0.2)
    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod(namespace, _pod(make_pod))
    body = json.loads(refused.value.body)
    assert refused.value.status == 422, body
    assert body["reason"] == "Invalid"
    fields = [cause["field"] for cause in body["details"]["causes"]]
    assert any(f.startswith("spec.containers[") and f.endswith("].name") for f in fields), body
    assert 'Invalid value: "Not_A_DNS_Label"' in body["message"]
    assert not (await core.list_namespaced_pod(namespace)).items


@pytest.fixture
def standalone_injector(control_plane: ControlPlane, webhook_endpoint: WebhookEndpoint,
                        tmp_path: Path) -> Iterator[InjectorProcess]:
    """A second, file-configured server (the default revision of Istio's config) that a test may stop."""
    texts = istio_default_texts()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for name in ("config", "values", "mesh"):
        (config_dir / name).write_text(getattr(texts, name))
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(webhook_endpoint.ca_pem)
    process = InjectorProcess(
        ["--tls-cert-file", str(webhook_endpoint.cert_file), "--tls-key-file", str(webhook_endpoint.key_file),
         f"--config-dir={config_dir}", "--workers=1", "--drain-timeout=1"],
        port=webhook_endpoint.port, ca_file=ca_file, log_file=tmp_path / "injector.log").start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def test_failure_policy_when_the_injector_is_stopped(standalone_injector: InjectorProcess,
                                                           webhook_endpoint: WebhookEndpoint, make_namespace,
                                                           register_webhooks, wait_for_admission, stored_pod, core,
                                                           make_pod) -> None:
    """One webhook per policy on the same server: while it runs both inject; once it is gone, Fail refuses the pod
    naming the webhook and the cause, Ignore lets it through without a sidecar."""
    from kubernetes_asyncio.client import ApiException

    namespaces: dict[str, str] = {}
    webhooks = []
    for policy in ("Fail", "Ignore"):
        label = {"injector-e2e/failure-policy": f"{policy.lower()}-{uuid.uuid4().hex[:6]}"}
        namespaces[policy] = await make_namespace(labels=label)
        webhooks.append(mutating_webhook(f"{policy.lower()}.sidecar-injector.istio.io",
                                         webhook_endpoint.client_config("/inject"),
                                         namespace_selector={"matchLabels": label}, failure_policy=policy,
                                         timeout_seconds=5))
    await register_webhooks(mutating_webhook_configuration(f"failure-policy-{uuid.uuid4().hex[:6]}", webhooks))
    for namespace in namespaces.values():
        await wait_for_admission(namespace, _pod(make_pod), _is_injected)  # live while it runs

    standalone_injector.stop()
    with pytest.raises(ApiException) as refused:
        await core.create_namespaced_pod(namespaces["Fail"], _pod(make_pod))
    assert refused.value.status == 500
    message = json.loads(refused.value.body)["message"]
    assert 'failed calling webhook "fail.sidecar-injector.istio.io"' in message
    assert "connection refused" in message
    assert not (await core.list_namespaced_pod(namespaces["Fail"])).items
    pod = await stored_pod(namespaces["Ignore"], _pod(make_pod))
    assert _all_containers(pod) == ["app"]


async def test_ca_bundle_follows_edits_and_the_ca_file(control_plane: ControlPlane, injector: RunningInjector,
                                                       register_webhooks) -> None:
    """Part of ``--webhook-config-selector``: an edit that resets a bundle is repaired, a new CA file is rolled
    out to every owned configuration, and a configuration without the label is never touched."""
    ca_file = injector.process.ca_file
    original = ca_file.read_bytes()
    current = ca_bundle_b64(original)
    decoy = mutating_webhook_configuration(f"decoy-{injector.owner}", [mutating_webhook(
        "decoy.sidecar-injector.istio.io", {"url": "https://127.0.0.1:1/never"},
        namespace_selector={"matchLabels": {"injector-e2e/never": "matches"}}, failure_policy="Ignore")])
    await register_webhooks(decoy)
    names = sorted(owned_bundles(control_plane, injector.owner))
    target = names[0]

    control_plane.kubectl("patch", "mutatingwebhookconfiguration", target, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/webhooks/0/clientConfig/caBundle", "value": ca_bundle_b64(b"stale")}]))
    wait_for(lambda: owned_bundles(control_plane, injector.owner)[target][0] == current,
          "the reset caBundle to be repaired", log=injector.process.log_tail)

    from injector.certs import create_ca

    rotated = original + create_ca("e2e second CA").certificate_pem()  # still trusts the serving cert
    try:
        ca_file.write_bytes(rotated)
        wait_for(lambda: all(b == ca_bundle_b64(rotated) for bundles in owned_bundles(
            control_plane, injector.owner).values() for b in bundles),
            "the new CA file to reach every owned webhook", log=injector.process.log_tail)
    finally:
        ca_file.write_bytes(original)
    wait_for(lambda: all(b == current for bundles in owned_bundles(control_plane, injector.owner).values()
                      for b in bundles), "the original CA to be restored", log=injector.process.log_tail)
    stored_decoy = kubectl_json(control_plane, "get", "mutatingwebhookconfiguration", decoy["metadata"]["name"])
    assert "caBundle" not in stored_decoy["webhooks"][0]["clientConfig"]
    assert sorted(owned_bundles(control_plane, injector.owner)) == names
