"""The /inject endpoint over real TLS: versions, routes, revisions, and every error status (behaviour §1)."""
from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiohttp
import orjson
import pytest

from injector.app import install_snapshot
from injector.sources.files import ConfigFiles
from tests.server.conftest import MakeWebhook, Webhook, annotations_of, metric, patch_of, pod, review
from tests.server.fake_job import build_fake_config


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_injects_and_echoes_version_and_uid(make_webhook: MakeWebhook, version: str) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(pod(), version=version, uid="uid-123")
    assert list(reply) == ["kind", "apiVersion", "response"]
    assert reply["apiVersion"] == f"admission.k8s.io/{version}"
    assert reply["kind"] == "AdmissionReview"
    response = reply["response"]
    assert list(response) == ["uid", "allowed", "patch", "patchType"]
    assert response["uid"] == "uid-123" and response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    base64.b64decode(response["patch"], validate=True)
    assert annotations_of(reply)["test/rendered-by"] == "default/1/default"
    assert annotations_of(reply)["test/namespace"] == "test-ns"


async def test_reply_is_json(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    response = await webhook.post("/inject", orjson.dumps(review(pod())))
    assert response.status == 200
    assert response.content_type == "application/json"


async def test_request_namespace_fills_a_pod_without_one(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    obj = pod()
    del obj["metadata"]["namespace"]
    reply = await webhook.admit(obj, namespace="from-request")
    assert annotations_of(reply)["test/namespace"] == "from-request"


@pytest.mark.parametrize(("path", "env"), [
    ("/inject", {}),
    ("/inject/", {}),
    ("/inject/cluster/c1/net/n1", {"ISTIO_META_CLUSTER_ID": "c1", "ISTIO_META_NETWORK": "n1"}),
    ("/inject/cluster/c1/net/n1/", {"ISTIO_META_CLUSTER_ID": "c1", "ISTIO_META_NETWORK": "n1"}),
    ("/inject/net/n1/root/a--slash--b/odd", {"ISTIO_META_NETWORK": "n1", "ROOT": "a/b"}),
    ("/inject/:ENV:cluster=c2:ENV:url=http://x/y", {"ISTIO_META_CLUSTER_ID": "c2", "URL": "http://x/y"}),
])
async def test_path_pairs_become_proxy_env(make_webhook: MakeWebhook, path: str, env: dict[str, str]) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(pod(), path=path)
    assert orjson.loads(annotations_of(reply)["test/path-env"]) == env


async def test_istio_accepts_any_method(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    response = await webhook.session.put(webhook.url("/inject"), data=orjson.dumps(review(pod())),
                                         headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert orjson.loads(await response.read())["response"]["allowed"] is True


async def _add_revision(webhook: Webhook, revision: str) -> None:
    services = webhook.services
    snapshot = build_fake_config(None, None, None, revision=revision,
                                 generation=services.registry.next_generation())
    await install_snapshot(services, snapshot)


async def test_revision_routes_and_path_env_after_prefix(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    await _add_revision(webhook, "canary")
    reply = await webhook.admit(pod(), path="/rev/canary/inject")
    assert annotations_of(reply)["test/rendered-by"] == "canary/2/canary"
    reply = await webhook.admit(pod(), path="/rev/canary/inject/cluster/c1/net/n1")
    assert annotations_of(reply)["test/rendered-by"] == "canary/2/canary"
    assert orjson.loads(annotations_of(reply)["test/path-env"]) == {
        "ISTIO_META_CLUSTER_ID": "c1", "ISTIO_META_NETWORK": "n1"}  # no REV=canary


async def test_revision_tag_resolves_to_its_revision(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    await _add_revision(webhook, "canary")
    webhook.services.registry.set_tag("stable", "canary")
    reply = await webhook.admit(pod(), path="/rev/stable/inject")
    assert annotations_of(reply)["test/rendered-by"] == "canary/2/canary"


async def test_plain_inject_follows_the_pods_revision_label(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    await _add_revision(webhook, "canary")
    reply = await webhook.admit(pod(labels={"istio.io/rev": "canary"}))
    assert annotations_of(reply)["test/rendered-by"] == "canary/2/canary"
    reply = await webhook.admit(pod(labels={"istio.io/rev": "unknown"}))
    assert annotations_of(reply)["test/rendered-by"] == "default/1/default"


async def test_unknown_revision_is_an_admission_error(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(pod(name="web-1"), path="/rev/nope/inject", uid="u1")
    response = reply["response"]
    assert response["uid"] == "u1" and response["allowed"] is False
    assert "nope" in response["status"]["message"] and "test-ns/web-1" in response["status"]["message"]
    assert metric(await webhook.metrics(), 'sidecar_injection_failure_total{type="unknown_revision"}') == 1
    assert (await webhook.admit(pod()))["response"]["allowed"] is True  # still serving


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json; charset=utf-8"])
async def test_wrong_content_type_is_415(make_webhook: MakeWebhook, content_type: str | None) -> None:
    webhook = await make_webhook()
    response = await webhook.post("/inject", orjson.dumps(review(pod())), content_type=content_type)
    assert response.status == 415
    assert await response.text() == "invalid Content-Type, want `application/json`\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_empty_body_is_400_even_with_a_wrong_content_type(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    for content_type in ("application/json", "text/plain"):
        response = await webhook.post("/inject", b"", content_type=content_type)
        assert response.status == 400
        assert await response.text() == "no body found\n"


async def test_oversized_body_is_413(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook(max_body_bytes=4096)
    body = orjson.dumps(review(pod(annotations={"big": "x" * 5000})))
    response = await webhook.post("/inject", body)
    assert response.status == 413
    assert await response.text() == "Request entity too large: limit is 4096\n"


async def test_oversized_chunked_body_is_refused_before_it_is_read_whole(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook(max_body_bytes=4096)
    sent = 0

    async def endless():  # type: ignore[no-untyped-def]
        nonlocal sent
        while sent < 50 * 1024 * 1024:
            sent += 1024
            yield b"x" * 1024
            await asyncio.sleep(0)

    try:
        response = await webhook.session.post(webhook.url("/inject"), data=endless(),
                                              headers={"Content-Type": "application/json"})
        assert response.status == 413
    except aiohttp.ClientError:
        pass  # the server may close the connection while we are still sending: also a refusal
    assert sent < 50 * 1024 * 1024
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injection_failure_total{type="body_too_large"}') == 1


async def test_default_body_limit_is_istios(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    assert webhook.services.options.max_body_bytes == 6 * 1024 * 1024
    response = await webhook.post("/inject", b"x" * (6 * 1024 * 1024 + 1))
    assert response.status == 413


@pytest.mark.parametrize(("body", "needle"), [
    (b"{not json", "couldn't decode"),
    (b'{"apiVersion": "admission.k8s.io/v1"}', "Kind"),
    (b'{"apiVersion": "v1", "kind": "Pod"}', "unsupported type"),
    (b"[1, 2]", "couldn't decode"),
])
async def test_undecodable_review_is_200_denied_without_typemeta(make_webhook: MakeWebhook, body: bytes,
                                                                 needle: str) -> None:
    webhook = await make_webhook()
    response = await webhook.post("/inject", body)
    assert response.status == 200
    reply = orjson.loads(await response.read())
    assert list(reply) == ["response"]
    assert reply["response"]["uid"] == "" and reply["response"]["allowed"] is False
    assert needle in reply["response"]["status"]["message"]
    assert reply["response"]["status"]["metadata"] == {}
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injection_failure_total{type="decode"}') == 1
    assert metric(text, "sidecar_injection_success_total") == 1  # Istio counts any JSON reply as success


async def test_review_without_request_is_denied_not_a_crash(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    body = b'{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}'
    response = await webhook.post("/inject", body)
    reply = orjson.loads(await response.read())
    assert reply["apiVersion"] == "admission.k8s.io/v1beta1"
    assert reply["response"]["allowed"] is False


async def test_review_without_object_is_denied(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(None, uid="u2")
    assert reply["response"]["uid"] == "u2" and reply["response"]["allowed"] is False


@pytest.mark.parametrize(("kind", "operation"), [("Deployment", "CREATE"), ("Pod", "UPDATE"), ("Pod", "DELETE")])
async def test_non_pod_or_non_create_is_allowed_without_patch(make_webhook: MakeWebhook, kind: str,
                                                              operation: str) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(pod(), kind=kind, operation=operation, uid="u3")
    assert reply["response"] == {"uid": "u3", "allowed": True}


@pytest.mark.parametrize("obj", [
    pod(annotations={"sidecar.istio.io/inject": "false"}),
    pod(labels={"sidecar.istio.io/inject": "false"}),
    pod(hostNetwork=True),
    pod(namespace="kube-system"),
])
async def test_decision_skip_is_allowed_without_patch(make_webhook: MakeWebhook, obj: dict) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(obj, uid="u4")
    assert reply["response"] == {"uid": "u4", "allowed": True}
    assert metric(await webhook.metrics(), "sidecar_injection_skip_total") == 1


async def test_policy_disabled_skips_unless_the_pod_opts_in(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("policy: disabled\n")

    webhook = await make_webhook(config_files=ConfigFiles.from_directory(tmp_path))
    assert "patch" not in (await webhook.admit(pod()))["response"]
    assert "patch" in (await webhook.admit(pod(annotations={"sidecar.istio.io/inject": "true"})))["response"]


async def test_injection_error_names_the_pod_and_the_cause(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    obj = pod(annotations={"test/fail": "invalid value 'x' for annotation 'y'"})
    del obj["metadata"]["name"]
    obj["metadata"]["generateName"] = "web-7d9f-"
    reply = await webhook.admit(obj, uid="u5")
    response = reply["response"]
    assert response["allowed"] is False and response["uid"] == "u5"
    message = response["status"]["message"]
    assert "test-ns/web-7d9f-" in message and "invalid value 'x' for annotation 'y'" in message
    assert metric(await webhook.metrics(), 'sidecar_injection_failure_total{type="injection"}') == 1


async def test_internal_render_error_is_denied_and_counted(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(pod(annotations={"test/bug": "boom"}))
    assert reply["response"]["allowed"] is False
    assert "RuntimeError: boom" in reply["response"]["status"]["message"]
    assert metric(await webhook.metrics(), 'sidecar_injection_failure_total{type="internal"}') == 1
    assert (await webhook.admit(pod()))["response"]["allowed"] is True


async def test_concurrent_admissions_all_answered(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    replies = await asyncio.gather(*(webhook.admit(pod(name=f"p{i}"), uid=f"u{i}") for i in range(200)))
    assert [r["response"]["uid"] for r in replies] == [f"u{i}" for i in range(200)]
    assert all(patch_of(r) for r in replies)
    text = await webhook.metrics()
    assert metric(text, "sidecar_injection_requests_total") == 200
    assert metric(text, "sidecar_injection_success_total") == 200
    assert metric(text, "sidecar_injection_time_seconds_count") == 200


@pytest.mark.parametrize("obj,problem", [
    ([1], "not a JSON object"),
    ({"metadata": [1], "spec": {}}, "metadata must be an object"),
    ({"metadata": {"name": "p"}, "spec": [1]}, "spec must be an object"),
    ({"metadata": {"labels": {"app": 1}}, "spec": {}}, "metadata.labels['app'] must be a string"),
    ({"metadata": {"annotations": []}, "spec": {}}, "metadata.annotations must be a map of strings"),
    ({"metadata": {"name": 5}, "spec": {}}, "metadata.name must be a string"),
    ({"metadata": {}, "spec": {"hostNetwork": "yes"}}, "spec.hostNetwork must be a boolean"),
])
async def test_malformed_pod_is_denied_with_the_uid_not_a_crash(make_webhook: MakeWebhook, obj: object,
                                                                problem: str) -> None:
    webhook = await make_webhook()
    reply = await webhook.admit(obj, uid="bad-pod")  # type: ignore[arg-type]
    assert reply["response"]["uid"] == "bad-pod"
    assert reply["response"]["allowed"] is False
    assert problem in reply["response"]["status"]["message"]
    assert 'sidecar_injection_failure_total{type="bad_pod"} 1' in await webhook.metrics()



async def test_a_repeated_pod_is_answered_from_the_patch_cache_until_its_config_changes(
        make_webhook: MakeWebhook, tmp_path: Path) -> None:
    webhook = await make_webhook()
    marker = tmp_path / "rendered"
    replica = pod(annotations={"test/pid-file": str(marker)})
    first = await webhook.admit(replica, uid="a")
    assert marker.exists()
    marker.unlink()
    again = await webhook.admit(replica, uid="b")
    assert again["response"]["uid"] == "b" and again["response"]["patch"] == first["response"]["patch"]
    assert not marker.exists()  # no worker saw it
    await webhook.admit(replica, path="/inject/cluster/c1")  # other facts, other entry
    assert marker.exists()
    marker.unlink()
    await _add_revision(webhook, "default")  # a new generation of the same revision
    reply = await webhook.admit(replica)
    assert marker.exists()
    assert annotations_of(reply)["test/rendered-by"] == "default/2/default"
    assert all(key[0] == 2 for key in webhook.services.patches._entries)  # the old generation's entries are gone


async def test_failures_are_not_cached(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    failing = pod(annotations={"test/fail": "not today"})
    for _ in range(2):
        reply = await webhook.admit(failing)
        assert reply["response"]["allowed"] is False
    assert len(webhook.services.patches) == 0
