"""``/debug/stale`` on the monitoring port: the server audits its pod cache (``--watch-pods``) on request.

Pods are admitted by the server itself and stored in the fake apiserver with their patch applied, then a ConfigMap
change makes the older one stale. (The real apiserver's additions to stored pods are covered by the e2e tier.)
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import jsonpatch
import orjson
import pytest
from aiohttp.test_utils import TestServer

from injector.app import ServerOptions, create_monitoring_app
from injector.audit import AuditInputs
from injector.cluster_facts import ClusterFacts, KubeClusterFacts
from injector.sources.kube_pods import PodCache
from injector.sources.kube_revisions import KubeSettings
from injector.stale import StaleAuditor, StaleSettings
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, fake_kube, kubeconfig  # noqa: F401
from tests.server.conftest import MakeWebhook, Webhook, metric, pod, review
from tests.server.revisions_support import eventually_async, injected, marked_config

NS = "istio-system"
REAL = {"job": ServerOptions.job, "build": ServerOptions.build}


async def _get(base: str, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        return response.status, await response.json()


@contextlib.asynccontextmanager
async def _monitoring(webhook: Webhook) -> AsyncIterator[str]:
    server = TestServer(create_monitoring_app(webhook.app), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_off_without_watch_pods_and_never_on_the_tls_port(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    async with _monitoring(webhook) as base:
        status, body = await _get(base, "/debug/stale")
        assert status == 404 and "--watch-pods" in body["error"]
    async with webhook.session.get(webhook.url("/debug/stale")) as response:
        assert response.status == 404


@pytest.fixture
async def stale_webhook(fake_kube: FakeKube, kubeconfig: Path,  # noqa: F811
                        make_webhook: MakeWebhook) -> tuple[Webhook, StaleSettings]:
    fake_kube.create("configmaps", {"metadata": {"name": "istio-sidecar-injector"},
                                    "data": {"config": marked_config("v1"), "values": "{}"}}, NS)
    fake_kube.create("namespaces", {"metadata": {"name": "apps", "labels": {"istio-injection": "enabled"}}})
    facts = KubeClusterFacts.from_flags({})
    pods = PodCache()
    stale = StaleSettings(pods, facts, min_interval=0)
    settings = KubeSettings(str(kubeconfig), NS, facts.live, sync_timeout=10, backoff=FAST_BACKOFF, pods=pods)
    webhook = await make_webhook(kube=settings, facts_for=facts.facts_for, namespace_labels=facts.namespace_labels,
                                 stale=stale, **REAL)
    return webhook, stale


async def _store_admitted(fake_kube: FakeKube, webhook: Webhook, name: str) -> dict[str, Any]:  # noqa: F811
    """A pod of ReplicaSet web-abc, admitted by the server and stored with its patch applied."""
    obj = pod(name, namespace="apps")
    obj["metadata"].update({"generateName": "web-abc-", "labels": {"app": "web", "pod-template-hash": "abc"},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                                 "uid": "u-1", "controller": True}]})
    reply = await webhook.post("/inject", orjson.dumps(review(obj)))
    response = orjson.loads(await reply.read())["response"]
    stored = jsonpatch.apply_patch(obj, orjson.loads(base64.b64decode(response["patch"])))
    return fake_kube.create("pods", stored, "apps")


async def test_reports_stale_and_missing_sidecars_and_sets_the_gauge(
        fake_kube: FakeKube, stale_webhook: tuple[Webhook, StaleSettings]) -> None:  # noqa: F811
    webhook, settings = stale_webhook
    await _store_admitted(fake_kube, webhook, "web-abc-1")
    fake_kube.update("configmaps", {"metadata": {"name": "istio-sidecar-injector"},
                                    "data": {"config": marked_config("v2"), "values": "{}"}}, NS)

    async def serves_v2() -> bool:
        return injected(await webhook.admit(pod(namespace="apps"))).mark == "v2"

    await eventually_async(serves_v2)
    await _store_admitted(fake_kube, webhook, "web-abc-2")
    fake_kube.create("pods", pod("legacy", namespace="apps"), "apps")
    async with _monitoring(webhook) as base:
        async def all_cached() -> bool:
            status, body = await _get(base, "/debug/stale")
            return status == 200 and body["pods_cached"] == 3

        await eventually_async(all_cached)
        status, report = await _get(base, "/debug/stale")
        assert status == 200
        assert report["counts"] | {"pods": 3, "injected": 2, "current": 1, "stale": 1, "not-injected": 1} \
            == report["counts"]
        workloads = {(w["kind"], w["name"]): w for w in report["workloads"]}
        assert sorted(workloads) == [("Deployment", "web"), ("Pod", "legacy")]
        [finding] = workloads[("Deployment", "web")]["findings"]
        assert (finding["status"], finding["pods"]) == ("stale", ["web-abc-1"])
        assert [c["text"] for c in finding["changes"]] == ["istio-proxy env MARK: v1 -> v2"]
        assert workloads[("Deployment", "web")]["command"] == "kubectl rollout restart deployment/web -n apps"
        assert workloads[("Pod", "legacy")]["findings"][0]["status"] == "not-injected"
        async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as response:
            text = await response.text()
        assert metric(text, 'sidecar_injector_stale_pods{revision="default",status="stale"}') == 1
        assert metric(text, 'sidecar_injector_stale_pods{revision="default",status="not-injected"}') == 1


async def test_concurrent_requests_share_one_audit_and_recent_results_are_reused() -> None:
    facts = KubeClusterFacts.from_flags({})
    inputs = AuditInputs({}, ClusterFacts())
    auditor = StaleAuditor(StaleSettings(PodCache(), facts, min_interval=60))
    fresh = StaleAuditor(StaleSettings(PodCache(), facts, min_interval=0))
    try:
        first, second = await asyncio.gather(auditor.report(inputs), auditor.report(inputs))
        assert first is second and first["counts"]["pods"] == 0
        assert await auditor.report(inputs) is first  # younger than min_interval
        one = await fresh.report(inputs)
        assert await fresh.report(inputs) is not one
    finally:
        auditor.close()
        fresh.close()
