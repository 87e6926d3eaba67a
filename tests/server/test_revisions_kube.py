"""``serve --kube`` end to end: the fake kube-apiserver (real HTTP list/watch) feeding the real TLS webhook.

Revisions come from ConfigMaps, routing from the informer's namespace labels and revision-tag webhooks, and every
change is observed the way a user would: through the next admission's patch.
"""
from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import orjson
import pytest

from injector.app import ServerOptions
from injector.cluster_facts import KubeClusterFacts
from injector.sources.kube_revisions import REJECTED_REASON, KubeSettings
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, eventually, fake_kube, kubeconfig  # noqa: F401
from tests.server.conftest import MakeWebhook, Webhook, metric, pod, review
from tests.server.revisions_support import (
    BROKEN_CONFIG,
    ISTIO_CONFIGS,
    eventually_async,
    injected,
    istio_texts,
    marked_config,
)
from tests.server.serve_process import free_port, start_serve, wait_ready

NS = "istio-system"
REAL = {"job": ServerOptions.job, "build": ServerOptions.build}


def injector_cm(revision: str, config: str, values: str = "{}") -> dict:
    name = "istio-sidecar-injector" + ("" if revision == "default" else f"-{revision}")
    return {"metadata": {"name": name}, "data": {"config": config, "values": values}}


def namespace(name: str, labels: dict[str, str]) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


async def kube_webhook(make_webhook: MakeWebhook, kubeconfig: Path, **flags: str) -> Webhook:  # noqa: F811
    facts = KubeClusterFacts.from_flags(flags)
    settings = KubeSettings(str(kubeconfig), NS, facts.live, sync_timeout=10, backoff=FAST_BACKOFF)
    return await make_webhook(kube=settings, facts_for=facts.facts_for, namespace_labels=facts.namespace_labels,
                              **REAL)


async def served(webhook: Webhook, path: str = "/inject", **pod_args) -> tuple[str | None, str | None]:
    result = injected(await webhook.admit(pod(**pod_args), path=path))
    return result.revision, result.mark


async def until_served(webhook: Webhook, expected: tuple[str, str], path: str = "/inject", **pod_args) -> None:
    async def check() -> bool:
        return await served(webhook, path, **pod_args) == expected

    await eventually_async(check)


@pytest.fixture
async def two_revisions(fake_kube: FakeKube, kubeconfig: Path, make_webhook: MakeWebhook) -> Webhook:  # noqa: F811
    fake_kube.create("configmaps", injector_cm("blue", marked_config("blue-1")), NS)
    fake_kube.create("configmaps", injector_cm("green", marked_config("green-1")), NS)
    fake_kube.create("namespaces", namespace("apps", {"istio.io/rev": "blue"}))
    webhook = await kube_webhook(make_webhook, kubeconfig)
    await fake_kube.wait_for_watches("configmaps")
    await fake_kube.wait_for_watches("namespaces")
    return webhook


async def test_two_revisions_are_served_at_once(two_revisions: Webhook) -> None:
    webhook = two_revisions
    assert await served(webhook, "/rev/blue/inject") == ("blue", "blue-1")
    assert await served(webhook, "/rev/green/inject") == ("green", "green-1")
    assert await served(webhook, namespace="apps") == ("blue", "blue-1")
    debug = await webhook.debug()
    assert sorted(debug["revisions"]) == ["blue", "green"]
    assert debug["revisions"]["green"]["source"].startswith("configmap istio-system/istio-sidecar-injector-green@")


async def test_a_configmap_update_is_used_by_the_next_admission(fake_kube: FakeKube,  # noqa: F811
                                                                two_revisions: Webhook) -> None:
    fake_kube.update("configmaps", injector_cm("blue", marked_config("blue-2")), NS)
    await until_served(two_revisions, ("blue", "blue-2"), "/rev/blue/inject")
    assert await served(two_revisions, "/rev/green/inject") == ("green", "green-1")


async def test_a_bad_update_is_rejected_with_an_event_and_the_old_snapshot_serves(
        fake_kube: FakeKube, two_revisions: Webhook) -> None:  # noqa: F811
    webhook = two_revisions
    fake_kube.update("configmaps", injector_cm("blue", BROKEN_CONFIG), NS)
    await eventually(lambda: bool(fake_kube.events))
    [event] = fake_kube.events
    assert event["reason"] == REJECTED_REASON and event["type"] == "Warning"
    assert event["involvedObject"]["name"] == "istio-sidecar-injector-blue"
    assert "templates.sidecar" in event["message"]
    assert await served(webhook, "/rev/blue/inject") == ("blue", "blue-1")
    assert metric(await webhook.metrics(), 'sidecar_injector_config_reload_failures_total{revision="blue"}') == 1
    assert "templates.sidecar" in webhook.services.registry.status("blue").last_error


async def test_a_configmap_missing_a_key_is_rejected(fake_kube: FakeKube, two_revisions: Webhook) -> None:  # noqa: F811
    fake_kube.create("configmaps", {"metadata": {"name": "istio-sidecar-injector-red"},
                                    "data": {"config": marked_config("red-1")}}, NS)
    await eventually(lambda: bool(fake_kube.events))
    assert "missing key 'values'" in fake_kube.events[0]["message"]
    assert two_revisions.services.registry.get("red") is None
    reply = injected(await two_revisions.admit(pod(), path="/rev/red/inject"))
    assert not reply.allowed


async def test_changes_during_a_cut_and_expired_watch_are_not_missed(fake_kube: FakeKube,  # noqa: F811
                                                                    two_revisions: Webhook) -> None:
    fake_kube.cut_watches()
    fake_kube.update("configmaps", injector_cm("blue", marked_config("blue-2")), NS)
    fake_kube.delete("configmaps", "istio-sidecar-injector-green", NS)
    fake_kube.update("namespaces", namespace("apps", {"istio.io/rev": "canary"}))
    fake_kube.create("configmaps", injector_cm("canary", marked_config("canary-1")), NS)
    fake_kube.compact()  # resuming from the old resourceVersion now gets 410 Gone: a re-list must cover it
    await until_served(two_revisions, ("blue", "blue-2"), "/rev/blue/inject")
    await eventually(lambda: two_revisions.services.registry.revisions() == ["blue", "canary"])
    assert await served(two_revisions, namespace="apps") == ("canary", "canary-1")


async def test_a_bookmark_keeps_the_watch_current(fake_kube: FakeKube, two_revisions: Webhook) -> None:  # noqa: F811
    fake_kube.create("configmaps", {"metadata": {"name": "unrelated"}, "data": {}}, NS)
    fake_kube.send_bookmarks()
    fake_kube.cut_watches()
    fake_kube.update("configmaps", injector_cm("green", marked_config("green-2")), NS)
    await until_served(two_revisions, ("green", "green-2"), "/rev/green/inject")


async def test_relabelling_a_namespace_moves_its_pods_to_another_revision(fake_kube: FakeKube,  # noqa: F811
                                                                         two_revisions: Webhook) -> None:
    assert await served(two_revisions, namespace="apps", labels={"istio.io/rev": "green"}) == ("blue", "blue-1")
    fake_kube.update("namespaces", namespace("apps", {"istio.io/rev": "green"}))
    await until_served(two_revisions, ("green", "green-1"), namespace="apps")
    fake_kube.update("namespaces", namespace("apps", {}))  # no namespace label: the pod's own label decides
    await until_served(two_revisions, ("blue", "blue-1"), namespace="apps", labels={"istio.io/rev": "blue"})


async def test_revision_tags_route_to_their_revision(fake_kube: FakeKube, two_revisions: Webhook) -> None:  # noqa: F811
    fake_kube.create("mutatingwebhookconfigurations", {"metadata": {
        "name": "istio-revision-tag-prod-stable",
        "labels": {"istio.io/tag": "prod-stable", "istio.io/rev": "green"}}})
    await until_served(two_revisions, ("green", "green-1"), "/rev/prod-stable/inject")
    fake_kube.update("namespaces", namespace("apps", {"istio.io/rev": "prod-stable"}))
    await until_served(two_revisions, ("green", "green-1"), namespace="apps")
    assert (await two_revisions.debug())["tags"] == {"prod-stable": {"revision": "green", "served": True}}


async def test_a_deleted_configmap_removes_its_revision(fake_kube: FakeKube, two_revisions: Webhook) -> None:  # noqa: F811
    fake_kube.delete("configmaps", "istio-sidecar-injector-green", NS)
    await eventually(lambda: two_revisions.services.registry.get("green") is None)
    assert not injected(await two_revisions.admit(pod(), path="/rev/green/inject")).allowed
    assert await served(two_revisions, "/rev/blue/inject") == ("blue", "blue-1")


async def test_istio_configmaps_serve_the_default_revision(fake_kube: FakeKube, kubeconfig: Path,  # noqa: F811
                                                          make_webhook: MakeWebhook) -> None:
    texts = istio_texts()
    if texts is None:
        pytest.skip(f"Istio's default configs are not in {ISTIO_CONFIGS}")
    config, values, mesh = texts
    fake_kube.create("configmaps", injector_cm("default", config, values), NS)
    fake_kube.create("configmaps", {"metadata": {"name": "istio"}, "data": {"mesh": mesh}}, NS)
    fake_kube.create("configmaps", injector_cm("canary", marked_config("canary-1")), NS)
    fake_kube.create("namespaces", namespace("apps", {"istio-injection": "enabled"}))
    webhook = await kube_webhook(make_webhook, kubeconfig, ENABLE_NATIVE_SIDECARS="false")
    result = injected(await webhook.admit(pod(namespace="apps")))
    assert result.allowed and result.revision == "default" and result.mark is None
    assert await served(webhook, namespace="other", labels={"istio.io/rev": "canary"}) == ("canary", "canary-1")
    source = webhook.services.registry.status("default").source
    assert "istio-sidecar-injector@" in source and "configmap istio-system/istio@" in source


async def test_openshift_ids_come_from_the_namespace_annotations() -> None:
    facts = KubeClusterFacts.from_flags({"PLATFORM": "openshift", "ENABLE_NATIVE_SIDECARS": "false"})
    await facts.live.on_namespace("ADDED", {"metadata": {"name": "apps", "annotations": {
        "openshift.io/sa.scc.uid-range": "1000620000/10000"}}})
    request = facts.facts_for(pod(namespace="apps"), "apps", "default", {})
    assert (request.proxy_uid, request.proxy_gid) == (1000629999, 1000629999)
    assert not facts.live.nodes_watched and not request.native_sidecars


async def test_serve_command_with_kube_flags(fake_kube: FakeKube, kubeconfig: Path, cert_dir: Path,  # noqa: F811
                                            client_ssl: ssl.SSLContext) -> None:
    fake_kube.create("configmaps", injector_cm("blue", marked_config("blue-1")), "mesh-control")
    fake_kube.create("namespaces", namespace("apps", {"istio.io/rev": "blue"}))
    port = free_port()
    process = await start_serve(
        port, "--tls-cert-file", str(cert_dir / "tls.crt"), "--tls-key-file", str(cert_dir / "tls.key"),
        "--kube", "--kubeconfig", str(kubeconfig), "--control-namespace", "mesh-control", "--workers", "1",
        "--log-format", "json", stderr=asyncio.subprocess.PIPE)
    try:
        await wait_ready(f"https://localhost:{port}/readyz", process, ssl_context=client_ssl)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as session:
            async with session.post(f"https://localhost:{port}/inject",
                                    data=orjson.dumps(review(pod(namespace="apps"), namespace="apps")),
                                    headers={"Content-Type": "application/json"}) as response:
                reply = await response.json()
        assert (injected(reply).revision, injected(reply).mark) == ("blue", "blue-1")
    finally:
        process.terminate()
        _, stderr = await process.communicate()
    assert b'"revision": "blue"' in stderr or b'"revision":"blue"' in stderr


def test_serve_flag_combinations_are_checked(tmp_path: Path) -> None:
    from injector.cli import main

    base = ["serve", "--tls-cert-file", "x", "--tls-key-file", "y"]
    for extra in (["--kube", "--config-dir", str(tmp_path)], ["--kubeconfig", "k"]):
        with pytest.raises(SystemExit):
            main([*base, *extra])



def _run_cli(*argv: str) -> tuple[int, str, str]:
    """One CLI command in this thread with captured output (it runs its own event loop)."""
    import contextlib
    import io

    from injector.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


async def test_kube_inject_and_check_read_the_revisions_configmaps(fake_kube: FakeKube, kubeconfig: Path,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    fake_kube.create("configmaps", injector_cm("blue", marked_config("blue-1")), "mesh-control")
    fake_kube.create("configmaps", {"metadata": {"name": "istio-blue"}, "data": {"mesh": "{}"}}, "mesh-control")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: apps\n"
                        "spec:\n  containers:\n  - name: web\n    image: nginx\n")
    cluster = ("--kubeconfig", str(kubeconfig), "-i", "mesh-control", "--revision", "blue")
    code, out, err = await asyncio.to_thread(_run_cli, "kube-inject", "-f", str(manifest), *cluster)
    assert code == 0, err
    assert "value: blue-1" in out and "image: proxy:blue" in out

    override = tmp_path / "config"
    override.write_text(marked_config("from-file"))
    code, out, err = await asyncio.to_thread(_run_cli, "kube-inject", "-f", str(manifest), *cluster,
                                             "--injectConfigFile", str(override))
    assert code == 0 and "value: from-file" in out, err

    code, out, err = await asyncio.to_thread(_run_cli, "check", "-f", str(manifest), "-n", "apps",
                                             "--namespace-labels", "istio.io/rev=blue", *cluster)
    assert code == 0 and out.startswith("inject"), (out, err)

    code, out, err = await asyncio.to_thread(_run_cli, "kube-inject", "-f", str(manifest), "--kubeconfig",
                                             str(kubeconfig), "-i", "mesh-control", "--revision", "red")
    assert code == 1 and "configmap mesh-control/istio-sidecar-injector-red" in err
