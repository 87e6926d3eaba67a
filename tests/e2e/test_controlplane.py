"""Smoke tests of the e2e plumbing: the control plane stores objects and really calls mutating webhooks.

These prove the path the injector's e2e tests depend on: apiserver -> TLS (caBundle from our CA) -> a webhook
on loopback -> JSONPatch applied to the stored pod. If these fail, injector e2e failures mean nothing.
"""
from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from controlplane import KUBERNETES_VERSION, ControlPlane, WebhookEndpoint, mutating_webhook, mutating_webhook_configuration

pytestmark = pytest.mark.e2e


def labelling_webhook(seen: list[dict], label: tuple[str, str] = ("e2e.injector/mutated", "yes")) -> web.Application:
    """A minimal AdmissionReview v1 server that adds one label and records every request it answers."""

    async def mutate(request: web.Request) -> web.Response:
        review = await request.json()
        seen.append({"path": request.path, "request": review["request"]})
        key = label[0].replace("~", "~0").replace("/", "~1")  # RFC 6901 escaping
        patch = [{"op": "add", "path": f"/metadata/labels/{key}", "value": label[1]}]
        if not review["request"]["object"]["metadata"].get("labels"):
            patch.insert(0, {"op": "add", "path": "/metadata/labels", "value": {}})
        return web.json_response(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": review["request"]["uid"],
                    "allowed": True,
                    "patchType": "JSONPatch",
                    "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
                },
            }
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", mutate)
    return app


async def test_apiserver_is_the_pinned_release(kube_api: Any, control_plane: ControlPlane) -> None:
    version = await client.VersionApi(kube_api).get_code()
    assert version.git_version == KUBERNETES_VERSION
    assert control_plane.startup_seconds > 0


async def test_objects_are_stored(
    kube_api: Any, make_namespace: Callable[..., Awaitable[str]], make_pod: Callable[..., dict]
) -> None:
    core = client.CoreV1Api(kube_api)
    ns = await make_namespace(labels={"istio-injection": "enabled"})
    await core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"mesh": "{}"}})
    await core.create_namespaced_pod(ns, make_pod("stored"))

    assert (await core.read_namespace(ns)).metadata.labels["istio-injection"] == "enabled"
    assert (await core.read_namespaced_config_map("cm", ns)).data == {"mesh": "{}"}
    pod = await core.read_namespaced_pod("stored", ns)
    assert pod.spec.containers[0].image == "busybox"
    # The ServiceAccount admission plugin ran: a webhook sees pods as a real cluster would hand them over.
    assert pod.spec.service_account_name == "default"
    assert any(v.name.startswith("kube-api-access-") for v in pod.spec.volumes)


async def test_mutating_webhook_patches_created_pods(
    kube_api: Any,
    make_namespace: Callable[..., Awaitable[str]],
    make_pod: Callable[..., dict],
    serve_webhook: Callable[[web.Application], Awaitable[WebhookEndpoint]],
    register_webhooks: Callable[[dict], Awaitable[dict]],
    wait_for_admission: Callable[..., Awaitable[dict]],
) -> None:
    seen: list[dict] = []
    endpoint = await serve_webhook(labelling_webhook(seen))
    ns = await make_namespace(labels={"e2e-smoke": "on"})
    await register_webhooks(
        mutating_webhook_configuration(
            f"smoke-{ns}",
            [
                mutating_webhook(
                    "smoke.injector.e2e.io",
                    endpoint.client_config("/rev/smoke/inject"),
                    namespace_selector={"matchLabels": {"e2e-smoke": "on"}},
                )
            ],
        )
    )
    await wait_for_admission(ns, make_pod("probe"), lambda pod: "e2e.injector/mutated" in pod["metadata"]["labels"])
    seen.clear()

    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod(ns, make_pod("real", labels={"app": "x"}))
    stored = await core.read_namespaced_pod("real", ns)
    assert stored.metadata.labels == {"app": "x", "e2e.injector/mutated": "yes"}

    (call,) = seen
    assert call["path"] == "/rev/smoke/inject"
    assert call["request"]["operation"] == "CREATE"
    assert call["request"]["namespace"] == ns
    assert call["request"]["dryRun"] is False
    assert call["request"]["kind"] == {"group": "", "version": "v1", "kind": "Pod"}


async def test_unreachable_fail_closed_webhook_rejects_pods(
    kube_api: Any,
    make_namespace: Callable[..., Awaitable[str]],
    make_pod: Callable[..., dict],
    webhook_endpoint: WebhookEndpoint,
    register_webhooks: Callable[[dict], Awaitable[dict]],
) -> None:
    """failurePolicy: Fail is what the deploy/ manifests use; nothing listens on webhook_endpoint here."""
    ns = await make_namespace(labels={"e2e-down": "on"})
    await register_webhooks(
        mutating_webhook_configuration(
            f"down-{ns}",
            [
                mutating_webhook(
                    "down.injector.e2e.io",
                    webhook_endpoint.client_config("/inject"),
                    namespace_selector={"matchLabels": {"e2e-down": "on"}},
                    timeout_seconds=2,
                )
            ],
        )
    )
    core = client.CoreV1Api(kube_api)
    deadline = time.monotonic() + 15
    while True:  # until the informer has picked the configuration up, creations still succeed
        try:
            await core.create_namespaced_pod(ns, make_pod(), dry_run="All")
        except client.ApiException as exc:
            rejection = exc
            break
        assert time.monotonic() < deadline, "the fail-closed webhook never took effect"
        await asyncio.sleep(0.2)
    assert rejection.status == 500
    assert "failed calling webhook" in rejection.body and "down.injector.e2e.io" in rejection.body
    with pytest.raises(client.ApiException):
        await core.create_namespaced_pod(ns, make_pod("not-dry-run"))


def test_build_module_repoints_every_staging_module() -> None:
    """The build recipe itself (no binaries needed): replaces come from the release's go.mod, pinned to v0.X.Y."""
    from controlplane import render_go_mod

    upstream = "\n".join(
        [
            "module k8s.io/kubernetes",
            "go 1.24.0",
            "godebug default=go1.24",
            "replace (",
            "\tk8s.io/api => ./staging/src/k8s.io/api",
            "\tk8s.io/client-go => ./staging/src/k8s.io/client-go",
            "\tgithub.com/x/y => github.com/x/y v1.0.0",
            ")",
        ]
    )
    go_mod = render_go_mod("v1.34.4", upstream)
    assert "require k8s.io/kubernetes v1.34.4" in go_mod
    assert "\tk8s.io/api => k8s.io/api v0.34.4" in go_mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.4" in go_mod
    assert "github.com/x/y" not in go_mod
    assert "go 1.24.0\ngodebug default=go1.24" in go_mod
