"""``--config-dir`` with one subdirectory per revision, over real TLS with the real render pipeline.

Everything the Kubernetes source does to revisions (several at once, hot swap, rejection, removal) can be tried
here without a cluster; these tests hold the file source to the same behaviour.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from injector.app import ServerOptions
from tests.fakekube.fixtures import eventually
from tests.server.conftest import MakeWebhook, Webhook, metric, pod
from tests.server.revisions_support import (
    BROKEN_CONFIG,
    ISTIO_CONFIGS,
    eventually_async,
    injected,
    istio_texts,
    marked_config,
    write_revision,
)

REAL = {"job": ServerOptions.job, "build": ServerOptions.build}


async def serving(root: Path, make_webhook: MakeWebhook) -> Webhook:
    return await make_webhook(config_dir=root, watch_config=True, watch_interval=0.05, **REAL)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The config dir (beside, not above, the per-test TLS files)."""
    (tmp_path / "revisions").mkdir()
    return tmp_path / "revisions"


async def mark_of(webhook: Webhook, path: str, **pod_args) -> tuple[str | None, str | None]:
    result = injected(await webhook.admit(pod(**pod_args), path=path))
    return result.revision, result.mark


async def test_each_subdirectory_is_a_revision_with_its_own_templates(root: Path,
                                                                      make_webhook: MakeWebhook) -> None:
    write_revision(root, "blue", marked_config("blue-1"))
    write_revision(root, "green", marked_config("green-1"))
    webhook = await serving(root, make_webhook)
    assert await mark_of(webhook, "/rev/blue/inject") == ("blue", "blue-1")
    assert await mark_of(webhook, "/rev/green/inject/cluster/c1") == ("green", "green-1")
    assert await mark_of(webhook, "/inject", labels={"istio.io/rev": "green"}) == ("green", "green-1")
    assert webhook.services.registry.revisions() == ["blue", "green"]


async def test_a_changed_file_is_used_by_the_next_admission(root: Path, make_webhook: MakeWebhook) -> None:
    write_revision(root, "blue", marked_config("blue-1"))
    write_revision(root, "green", marked_config("green-1"))
    webhook = await serving(root, make_webhook)
    write_revision(root, "blue", marked_config("blue-2"))
    marks: list[str | None] = []

    async def swapped() -> bool:
        marks.append((await mark_of(webhook, "/rev/blue/inject"))[1])
        return marks[-1] == "blue-2"

    await eventually_async(swapped)
    assert set(marks) <= {"blue-1", "blue-2"}, "every admission during the swap rendered a whole snapshot"
    assert await mark_of(webhook, "/rev/green/inject") == ("green", "green-1")


async def test_a_bad_change_is_rejected_and_the_old_snapshot_keeps_serving(root: Path,
                                                                          make_webhook: MakeWebhook) -> None:
    write_revision(root, "blue", marked_config("blue-1"))
    webhook = await serving(root, make_webhook)
    generation = webhook.services.registry.get("blue").generation
    write_revision(root, "blue", BROKEN_CONFIG)
    await eventually(lambda: webhook.services.registry.status("blue").last_error is not None)
    assert await mark_of(webhook, "/rev/blue/inject") == ("blue", "blue-1")
    assert webhook.services.registry.get("blue").generation == generation
    assert metric(await webhook.metrics(), 'sidecar_injector_config_reload_failures_total{revision="blue"}') == 1
    debug = await webhook.debug()
    blue = debug["revisions"]["blue"]
    assert blue["served"] and blue["generation"] == generation and blue["templates"] == ["sidecar"]
    assert "templates.sidecar" in blue["last_error"] and blue["source"].startswith("files ")

    write_revision(root, "blue", marked_config("blue-3"))
    await eventually(lambda: webhook.services.registry.status("blue").last_error is None)
    assert await mark_of(webhook, "/rev/blue/inject") == ("blue", "blue-3")


async def test_revisions_come_and_go_with_their_directories(root: Path, make_webhook: MakeWebhook) -> None:
    write_revision(root, "blue", marked_config("blue-1"))
    (root / "..data").mkdir()  # kubelet's ConfigMap mount internals are not revisions
    webhook = await serving(root, make_webhook)
    assert webhook.services.registry.revisions() == ["blue"]
    write_revision(root, "canary", marked_config("canary-1"))
    await eventually(lambda: webhook.services.registry.get("canary") is not None)
    assert await mark_of(webhook, "/rev/canary/inject") == ("canary", "canary-1")
    (root / "canary" / "config").unlink()
    (root / "canary").rmdir()
    await eventually(lambda: webhook.services.registry.get("canary") is None)
    reply = injected(await webhook.admit(pod(), path="/rev/canary/inject"))
    assert not reply.allowed and "not served" in (reply.message or "")


async def test_a_bad_revision_at_start_up_fails_the_start(root: Path, make_webhook: MakeWebhook) -> None:
    write_revision(root, "blue", marked_config("blue-1"))
    write_revision(root, "green", BROKEN_CONFIG)
    with pytest.raises(Exception, match="revision green: templates.sidecar"):
        await serving(root, make_webhook)


async def test_istio_default_config_serves_beside_a_jinja_revision(root: Path,
                                                                   make_webhook: MakeWebhook) -> None:
    texts = istio_texts()
    if texts is None:
        pytest.skip(f"Istio's default configs are not in {ISTIO_CONFIGS}")
    config, values, mesh = texts
    write_revision(root, "1-29", config, values=values, mesh=mesh)
    write_revision(root, "canary", marked_config("canary-1"))
    webhook = await serving(root, make_webhook)
    istio = injected(await webhook.admit(pod(), path="/rev/1-29/inject"))
    assert istio.allowed and istio.revision == "1-29" and istio.mark is None
    assert await mark_of(webhook, "/rev/canary/inject") == ("canary", "canary-1")

