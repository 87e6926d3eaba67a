"""caBundle sync against the fake apiserver: patches exactly the owned configurations, follows edits and the CA file."""
from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
from kubernetes_asyncio import client as k8s

from injector.certs import create_ca
from injector.webhook_ca import CABundleError, CABundleSync, WebhookSelection, ca_bundle_patch, read_ca_bundle
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, api_client, eventually, fake_kube, kubeconfig  # noqa: F401
from tests.fakekube.server import ApiError, apply_json_patch

MWC = "mutatingwebhookconfigurations"


def mwc(name: str, *webhooks: str, bundle: bytes | None = None, labels: dict[str, str] | None = None) -> dict:
    client_config: dict = {"url": "https://127.0.0.1:9443/inject"}
    if bundle is not None:
        client_config["caBundle"] = base64.b64encode(bundle).decode()
    return {"metadata": {"name": name, "labels": labels or {}},
            "webhooks": [{"name": w, "clientConfig": dict(client_config)} for w in webhooks]}


def bundles(fake: FakeKube, name: str) -> list[bytes | None]:
    """The decoded caBundle of every webhook of a stored configuration."""
    stored = fake.get(MWC, name)
    assert stored is not None
    return [base64.b64decode(w["clientConfig"]["caBundle"]) if "caBundle" in w["clientConfig"] else None
            for w in stored["webhooks"]]


def patches(fake: FakeKube, name: str | None = None) -> list[str]:
    return [r.path for r in fake.request_log if r.method == "PATCH" and (name is None or r.path.endswith("/" + name))]


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    path.write_bytes(create_ca("first").certificate_pem())
    return path


def replace_file(path: Path, data: bytes) -> None:
    """Write atomically and make sure the polling watcher sees a new identity even within one mtime tick."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@pytest.fixture
async def start_sync(api_client: k8s.ApiClient, ca_file: Path) -> AsyncIterator[Callable[..., CABundleSync]]:  # noqa: F811
    tasks: list[asyncio.Task[None]] = []

    def start(selection: WebhookSelection) -> CABundleSync:
        sync = CABundleSync(api_client, ca_file, selection, watch_interval=0.02, backoff=FAST_BACKOFF)
        tasks.append(asyncio.create_task(sync.run()))
        return sync

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ----------------------------------------------------------------------------------------------- pure parts


def test_patch_sets_every_stale_bundle_guarded_by_the_webhook_name() -> None:
    new = b"new-ca"
    configuration = mwc("x", "a", "b", "c")
    configuration["webhooks"][1]["clientConfig"]["caBundle"] = base64.b64encode(new).decode()
    configuration["webhooks"][2]["clientConfig"]["caBundle"] = "b2xk"
    encoded = base64.b64encode(new).decode()
    assert ca_bundle_patch(configuration, new) == [
        {"op": "test", "path": "/webhooks/0/name", "value": "a"},
        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": encoded},
        {"op": "test", "path": "/webhooks/2/name", "value": "c"},
        {"op": "replace", "path": "/webhooks/2/clientConfig/caBundle", "value": encoded},
    ]
    assert ca_bundle_patch(apply_json_patch(configuration, ca_bundle_patch(configuration, new)), new) == []


def test_patch_computed_before_a_reorder_is_refused_rather_than_misapplied() -> None:
    before = mwc("x", "a", "b", bundle=b"old")
    reordered = mwc("x", "b", "a", bundle=b"old")
    with pytest.raises(ApiError) as refused:
        apply_json_patch(reordered, ca_bundle_patch(before, b"new")[:2])
    assert refused.value.code == 422


def test_ca_file_must_hold_a_pem_certificate(tmp_path: Path) -> None:
    good = tmp_path / "good.crt"
    good.write_bytes(create_ca().certificate_pem())
    assert read_ca_bundle(good) == good.read_bytes()
    bad = tmp_path / "bad.crt"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\ntruncated")
    with pytest.raises(CABundleError, match="no valid PEM certificate"):
        read_ca_bundle(bad)
    with pytest.raises(CABundleError, match="cannot read"):
        read_ca_bundle(tmp_path / "missing.crt")


def test_selection_must_name_something(api_client: k8s.ApiClient, ca_file: Path) -> None:  # noqa: F811
    with pytest.raises(ValueError):
        CABundleSync(api_client, ca_file, WebhookSelection())


# ----------------------------------------------------------------------------------------------- against the fake


async def test_patches_only_the_named_configurations(fake_kube: FakeKube, start_sync, ca_file: Path) -> None:  # noqa: F811
    fake_kube.create(MWC, mwc("ours", "a", "b"))
    fake_kube.create(MWC, mwc("ours-too", "c", bundle=b"stale"))
    fake_kube.create(MWC, mwc("theirs", "d", bundle=b"theirs"))
    sync = start_sync(WebhookSelection(names=("ours", "ours-too")))
    await sync.wait_synced(5)
    ca = ca_file.read_bytes()
    await eventually(lambda: bundles(fake_kube, "ours") == [ca, ca] and bundles(fake_kube, "ours-too") == [ca])
    assert bundles(fake_kube, "theirs") == [b"theirs"]
    assert patches(fake_kube, "theirs") == []
    # Least privilege also for reads: each named informer asked the server for exactly its object.
    field_selectors = {r.query.get("fieldSelector") for r in fake_kube.list_requests(MWC)}
    assert field_selectors == {"metadata.name=ours", "metadata.name=ours-too"}


async def test_patches_the_configurations_a_label_selector_picks(fake_kube: FakeKube, start_sync,  # noqa: F811
                                                                 ca_file: Path) -> None:
    fake_kube.create(MWC, mwc("labelled", "a", labels={"owner": "injector"}))
    fake_kube.create(MWC, mwc("unlabelled", "b"))
    start_sync(WebhookSelection(label_selector="owner=injector"))
    await eventually(lambda: bundles(fake_kube, "labelled") == [ca_file.read_bytes()])
    fake_kube.create(MWC, mwc("labelled-later", "c", labels={"owner": "injector"}))
    await eventually(lambda: bundles(fake_kube, "labelled-later") == [ca_file.read_bytes()])
    assert bundles(fake_kube, "unlabelled") == [None]
    assert patches(fake_kube, "unlabelled") == []


async def test_a_configuration_already_in_sync_is_not_patched(fake_kube: FakeKube, start_sync,  # noqa: F811
                                                              ca_file: Path) -> None:
    fake_kube.create(MWC, mwc("ours", "a", "b", bundle=ca_file.read_bytes()))
    sync = start_sync(WebhookSelection(names=("ours",)))
    await sync.wait_synced(5)
    await asyncio.sleep(0.1)
    assert patches(fake_kube) == []


async def test_an_edit_that_resets_the_bundle_is_repaired(fake_kube: FakeKube, start_sync, ca_file: Path) -> None:  # noqa: F811
    fake_kube.create(MWC, mwc("ours", "a"))
    start_sync(WebhookSelection(names=("ours",)))
    ca = ca_file.read_bytes()
    await eventually(lambda: bundles(fake_kube, "ours") == [ca])
    # `kubectl apply` of the shipped manifest: no bundle, and a webhook added.
    fake_kube.update(MWC, mwc("ours", "a", "b"))
    await eventually(lambda: bundles(fake_kube, "ours") == [ca, ca])
    assert len(patches(fake_kube, "ours")) == 2


async def test_a_new_ca_file_is_rolled_out_and_a_broken_one_ignored(fake_kube: FakeKube, start_sync,  # noqa: F811
                                                                     ca_file: Path) -> None:
    fake_kube.create(MWC, mwc("ours", "a", "b"))
    sync = start_sync(WebhookSelection(names=("ours",)))
    first = ca_file.read_bytes()
    await eventually(lambda: bundles(fake_kube, "ours") == [first, first])
    second = create_ca("second").certificate_pem()
    replace_file(ca_file, second)
    await eventually(lambda: bundles(fake_kube, "ours") == [second, second])
    replace_file(ca_file, b"not a certificate")
    await asyncio.sleep(0.3)  # several polls of the file
    assert sync.ca_bundle == second
    assert bundles(fake_kube, "ours") == [second, second]
    assert len(patches(fake_kube)) == 2


async def test_a_configuration_created_after_start_is_picked_up(fake_kube: FakeKube, start_sync,  # noqa: F811
                                                                ca_file: Path) -> None:
    sync = start_sync(WebhookSelection(names=("ours",)))
    await sync.wait_synced(5)
    fake_kube.create(MWC, mwc("ours", "a"))
    await eventually(lambda: bundles(fake_kube, "ours") == [ca_file.read_bytes()])


async def test_a_failed_patch_is_retried_with_backoff(fake_kube: FakeKube, start_sync, ca_file: Path) -> None:  # noqa: F811
    fake_kube.fail_next_patches(2)
    fake_kube.create(MWC, mwc("ours", "a"))
    start_sync(WebhookSelection(names=("ours",)))
    await eventually(lambda: bundles(fake_kube, "ours") == [ca_file.read_bytes()])
    assert len(patches(fake_kube, "ours")) == 3  # two refused, then the one that landed


def test_serve_defaults_to_the_ca_beside_the_serving_certificate(tmp_path: Path) -> None:
    import argparse

    from injector.webhook_ca import cleanup_context

    args = argparse.Namespace(ca_cert_file=None, tls_cert_file=tmp_path / "tls.crt", webhook_config_names=["x"],
                              webhook_config_selector=None, kubeconfig=None, watch_interval=1.0)
    with pytest.raises(SystemExit, match="no ca.crt beside --tls-cert-file"):
        cleanup_context(args)
    (tmp_path / "ca.crt").write_bytes(create_ca().certificate_pem())
    assert callable(cleanup_context(args))
