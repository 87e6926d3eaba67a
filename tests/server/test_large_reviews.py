"""Reviews too large for the patch cache are read only up to the pod's spec in the event loop (``lazy_review``):
injected, skipped and refused exactly as before, the pod decoded once, by the worker.

``admission.decode_review`` is replaced by a tripwire where a test proves the event loop never decoded the pod.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from injector import admission, app
from injector.sources.files import ConfigFiles
from tests.server.conftest import MakeWebhook, Webhook, annotations_of, metric, patch_of, pod, review

REAL = {"job": app.ServerOptions.job, "build": app.ServerOptions.build}


def large_pod(name: str = "bulky", *, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """An app container with 2000 env vars (~80 KB of JSON)."""
    env = [{"name": f"SETTING_{i:04d}", "value": f"value-{i}-abcdefghijklmnopqrstuvwx"} for i in range(2000)]
    return pod(name, annotations=annotations, containers=[{"name": "app", "image": "nginx", "env": env}], **spec)


@pytest.fixture
def no_full_decode(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Fails any full decode of a review; returns the bodies it was asked for."""
    asked: list[bytes] = []

    def tripwire(body: bytes) -> admission.AdmissionRequest:
        asked.append(body)
        raise AssertionError("the event loop decoded a large review in full")

    monkeypatch.setattr(admission, "decode_review", tripwire)
    return asked


async def _post(webhook: Webhook, body: bytes, path: str = "/inject") -> dict[str, Any]:
    assert len(body) >= webhook.services.patches.max_entry_bytes, "large enough not to be decoded in full"
    response = await webhook.post(path, body)
    assert response.status == 200, await response.text()
    return orjson.loads(await response.read())


async def test_a_large_pod_is_injected_from_the_review_bytes(make_webhook: MakeWebhook,
                                                              no_full_decode: list[bytes]) -> None:
    webhook = await make_webhook()
    body = orjson.dumps(review(large_pod(annotations={"test/patch-padding": "2"}), uid="big-1"))
    reply = await _post(webhook, body, "/inject/cluster/east/net/n1")
    assert reply["response"]["uid"] == "big-1" and reply["response"]["allowed"] is True
    added = annotations_of(reply)
    assert added["test/padding"] == "xx", "the worker read the pod's own annotations from the review"
    assert added["test/rendered-by"].startswith("default/") and added["test/namespace"] == "test-ns"
    assert orjson.loads(added["test/path-env"]) == {"ISTIO_META_CLUSTER_ID": "east", "ISTIO_META_NETWORK": "n1"}
    assert not no_full_decode


async def test_a_large_pod_opting_out_is_skipped_without_a_render(make_webhook: MakeWebhook, tmp_path: Path,
                                                                 no_full_decode: list[bytes]) -> None:
    webhook = await make_webhook()
    record = tmp_path / "rendered"
    opted_out = large_pod(annotations={"sidecar.istio.io/inject": "false", "test/record": str(record)})
    reply = await _post(webhook, orjson.dumps(review(opted_out, uid="out-1")))
    assert reply["response"] == {"uid": "out-1", "allowed": True}
    assert not record.exists() and not no_full_decode


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_a_large_review_that_cannot_make_its_deadline_is_refused_before_any_decode(
        make_webhook: MakeWebhook, tmp_path: Path, no_full_decode: list[bytes], version: str) -> None:
    config = tmp_path / "slow"
    config.mkdir()
    (config / "values").write_text("sleepSeconds: 0.4\n")
    webhook = await make_webhook(config_files=ConfigFiles.from_directory(config))
    await _post(webhook, orjson.dumps(review(large_pod("warm-up"))))  # the pool learns ~0.4 s per render
    record = tmp_path / "rendered"
    late = large_pod("late", annotations={"test/record": str(record)})
    # ?timeout=0.6s leaves 0.1 s after the deadline margin: less than one render.
    reply = await _post(webhook, orjson.dumps(review(late, uid="late-uid", version=version)), "/inject?timeout=0.6s")
    assert reply["apiVersion"] == f"admission.k8s.io/{version}" and reply["kind"] == "AdmissionReview"
    response = reply["response"]
    assert response["uid"] == "late-uid" and response["allowed"] is False and "patch" not in response
    assert response["status"]["message"].startswith("injector overloaded: pod test-ns/late was not injected")
    assert not record.exists(), "never rendered"
    assert not no_full_decode
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_shed_total{reason="deadline",revision="default"}') == 1


async def test_a_large_host_network_pod_is_decoded_in_full_and_skipped(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    reply = await _post(webhook, orjson.dumps(review(large_pod(hostNetwork=True), uid="host-1")))
    assert reply["response"] == {"uid": "host-1", "allowed": True}


async def test_the_real_pipeline_gives_the_same_patch_with_and_without_the_full_decode(
        make_webhook: MakeWebhook, monkeypatch: pytest.MonkeyPatch) -> None:
    webhook = await make_webhook(**REAL)
    body = orjson.dumps(review(large_pod(labels={"app": "bulky"}), uid="same"))
    lazy = await _post(webhook, body)
    monkeypatch.setattr(app, "read_lazily", lambda body: None)
    full = await _post(webhook, body)
    assert lazy["response"]["allowed"] is True and patch_of(lazy) == patch_of(full)
    assert any(op["path"].startswith("/spec/containers") for op in patch_of(lazy))
