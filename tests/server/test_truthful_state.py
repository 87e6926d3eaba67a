"""A generation counts only when live workers loaded it: worker deaths during a load, /readyz, /debug/revisions.

The same rules hold for ``--config-dir`` and ``--kube`` revisions, because both go through the revision loader and
the pool; each attack is tried through both. Rendering and loading is the fake job: values ``dieOnLoad`` kill the
worker that compiles the config, ``loadSleepSeconds``/``loadPidFile`` make a compile slow and name its workers.
"""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from injector.cluster_facts import KubeClusterFacts
from injector.sources.kube_revisions import REJECTED_REASON, KubeSettings
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, eventually, fake_kube, kubeconfig  # noqa: F401
from tests.server.conftest import MakeWebhook, Webhook, annotations_of, metric, pod
from tests.server.revisions_support import eventually_async, write_revision

NS = "istio-system"


def write_fake_revision(root: Path, revision: str, values: str = "{}\n") -> None:
    write_revision(root, revision, "policy: enabled\n", values=values)


@pytest.fixture
async def config_dir(tmp_path: Path, make_webhook: MakeWebhook) -> tuple[Path, Webhook]:
    root = tmp_path / "revisions"
    root.mkdir()
    write_fake_revision(root, "blue")
    write_fake_revision(root, "green")
    webhook = await make_webhook(config_dir=root, watch_config=True, watch_interval=0.05)
    return root, webhook


async def rendered_by(webhook: Webhook, revision: str) -> str:
    reply = await webhook.admit(pod(), path=f"/rev/{revision}/inject?timeout=10s")
    assert reply["response"]["allowed"], reply
    return annotations_of(reply)["test/rendered-by"]


async def debug(webhook: Webhook) -> dict[str, Any]:
    return (await webhook.debug("/debug/revisions"))["revisions"]


async def readyz(webhook: Webhook) -> int:
    async with webhook.session.get(webhook.url("/readyz")) as response:
        return response.status


async def restarts(webhook: Webhook) -> float:
    return metric(await webhook.metrics(), "sidecar_injector_pool_worker_restarts_total")


async def assert_rejected_and_old_generation_serves(webhook: Webhook, revision: str, old: int,
                                                    reason: str) -> None:
    async def rejected() -> bool:
        return (await debug(webhook))[revision]["rejected"] is not None
    await eventually_async(rejected, timeout=30.0)
    state = (await debug(webhook))[revision]
    assert state["served"] and state["generation"] == old and state["pending"] is None
    assert state["rejected"]["generation"] > old and reason in state["rejected"]["reason"]
    assert state["last_change_at"] == state["rejected"]["at"]
    assert (await rendered_by(webhook, revision)).startswith(f"{revision}/{old}/")

    async def ready() -> bool:
        return await readyz(webhook) == 200
    await eventually_async(ready, timeout=30.0)  # the rejected change does not make the server unready
    settled = await restarts(webhook)
    assert settled <= 6, "the config killed a bounded number of workers, not a respawn loop"
    await asyncio.sleep(2.0)
    assert await restarts(webhook) == settled


async def test_a_change_that_kills_workers_while_loading_is_rejected(config_dir: tuple[Path, Webhook]) -> None:
    root, webhook = config_dir
    old = webhook.services.registry.get("green").generation
    write_fake_revision(root, "green", "dieOnLoad: true\n")
    await assert_rejected_and_old_generation_serves(webhook, "green", old, "render workers died")
    assert (await rendered_by(webhook, "blue")).startswith("blue/")
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_config_reload_failures_total{revision="green"}') == 1
    write_fake_revision(root, "green", "round: 2\n")  # a good change after the bad one serves normally

    async def new_generation() -> bool:
        return not (await rendered_by(webhook, "green")).startswith(f"green/{old}/")
    await eventually_async(new_generation, timeout=30.0)
    state = (await debug(webhook))["green"]
    assert state["rejected"] is None and state["generation"] > old


async def test_a_worker_dying_during_a_load_has_the_load_retried(config_dir: tuple[Path, Webhook],
                                                                 tmp_path: Path) -> None:
    root, webhook = config_dir
    old = webhook.services.registry.get("green").generation
    pids = tmp_path / "compiling"
    write_fake_revision(root, "green", f"loadSleepSeconds: 2\nloadPidFile: {pids}\n")
    await eventually_async(lambda: asyncio.sleep(0, pids.exists() and len(pids.read_text().split()) == 2))
    state = (await debug(webhook))["green"]
    assert state["pending"]["generation"] > old and state["generation"] == old  # loading, not served yet
    os.kill(int(pids.read_text().split()[0]), signal.SIGKILL)  # one worker dies mid-compile
    assert (await rendered_by(webhook, "green")).startswith(f"green/{old}/")  # the old one serves meanwhile

    async def swapped() -> bool:
        return (await debug(webhook))["green"]["generation"] != old
    await eventually_async(swapped, timeout=30.0)
    state = (await debug(webhook))["green"]
    assert state["pending"] is None and state["rejected"] is None
    assert len(pids.read_text().split()) == 3, "the replacement compiled the generation again"
    new = state["generation"]
    for _ in range(4):
        assert await rendered_by(webhook, "green") == f"green/{new}/green"
    assert await restarts(webhook) == 1 and await readyz(webhook) == 200


async def test_readyz_waits_for_a_replacement_to_load_the_served_generations(
        config_dir: tuple[Path, Webhook], tmp_path: Path) -> None:
    root, webhook = config_dir
    pids = tmp_path / "compiling"
    write_fake_revision(root, "green", f"loadSleepSeconds: 1.5\nloadPidFile: {pids}\n")
    await eventually_async(lambda: asyncio.sleep(0, pids.exists() and len(pids.read_text().split()) == 2))

    async def served() -> bool:
        return (await debug(webhook))["green"]["pending"] is None
    await eventually_async(served, timeout=30.0)
    assert await readyz(webhook) == 200
    pool = webhook.services.pool
    os.kill(int(pids.read_text().split()[0]), signal.SIGKILL)
    await eventually_async(lambda: asyncio.sleep(0, len(pids.read_text().split()) == 3))  # replacement compiling
    assert not pool.complete and pool.serves(webhook.services.registry.get("blue").generation)
    await eventually_async(lambda: asyncio.sleep(0, pool.complete), timeout=30.0)
    assert await readyz(webhook) == 200


async def test_a_configmap_update_that_kills_workers_is_rejected(fake_kube: FakeKube, kubeconfig: Path,  # noqa: F811
                                                               make_webhook: MakeWebhook) -> None:
    for revision in ("blue", "green"):
        fake_kube.create("configmaps", {"metadata": {"name": f"istio-sidecar-injector-{revision}"},
                                        "data": {"config": "policy: enabled\n", "values": "{}"}}, NS)
    facts = KubeClusterFacts.from_flags({})
    webhook = await make_webhook(kube=KubeSettings(str(kubeconfig), NS, facts.live, sync_timeout=10,
                                                   backoff=FAST_BACKOFF),
                                 facts_for=facts.facts_for, namespace_labels=facts.namespace_labels)
    await fake_kube.wait_for_watches("configmaps")
    old = webhook.services.registry.get("green").generation
    fake_kube.update("configmaps", {"metadata": {"name": "istio-sidecar-injector-green"},
                                    "data": {"config": "policy: enabled\n", "values": "dieOnLoad: true\n"}}, NS)
    await assert_rejected_and_old_generation_serves(webhook, "green", old, "render workers died")
    await eventually(lambda: bool(fake_kube.events))
    [event] = fake_kube.events
    assert event["reason"] == REJECTED_REASON and "render workers died" in event["message"]
    assert (await rendered_by(webhook, "blue")).startswith("blue/")
