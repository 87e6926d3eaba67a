"""Revision isolation: a hostile revision config never hurts another revision, over real TLS with the real render
pipeline in real worker processes.

``blue`` is the healthy revision and is probed without pause while ``red`` (Jinja2 templates) and ``amber`` (Go
templates) are attacked the ways someone who can edit one revision's config can: templates that are expensive to
compile, renders that loop for hours, renders that build gigabyte strings, a render stuck in one long C call.
Every blue probe must be answered with blue's patch (none timed out), the attack must be rejected or fail fast with
a message that says why, and the workers must stay within their memory bound.
"""
from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import aiohttp
import orjson
import pytest

from injector.app import ServerOptions
from injector.cluster_facts import KubeClusterFacts
from injector.sources.kube_revisions import REJECTED_REASON, KubeSettings
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, eventually, fake_kube, kubeconfig  # noqa: F401
from tests.server.conftest import MakeWebhook, Webhook, annotations_of, metric, pod, review
from tests.server.hostile_configs import GO_ATTACKS, JINJA_ATTACKS, attack_config, hostile_changes
from tests.server.procfs import peak_resident_bytes
from tests.server.revisions_support import eventually_async, injected, write_revision
from tests.server.serve_process import free_port, start_serve, wait_ready
from workers.limits import MIB, CompileLimits, RenderLimits

REAL = {"job": ServerOptions.job, "build": ServerOptions.build}
PROBE_TIMEOUT = "?timeout=10s"
"""The apiserver's default webhook timeout: a probe slower than this would be answered "timed out"."""
ATTACK_TIMEOUT = "?timeout=30s"
"""The longest a webhook configuration allows: attackers wait as long as they can."""
MarkOf = Callable[[dict], "str | None"]
BUDGET = 0.3
"""CPU seconds per render in most tests here: small, because this machine may give a worker a sixth of a core."""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "revisions"
    root.mkdir()
    write_revision(root, "blue", attack_config("blue-1"))
    write_revision(root, "red", attack_config("red-1", JINJA_ATTACKS))
    write_revision(root, "amber", attack_config("amber-1", GO_ATTACKS, language="go"))
    return root


async def serving(root: Path, make_webhook: MakeWebhook, **options) -> Webhook:
    return await make_webhook(config_dir=root, watch_config=True, watch_interval=0.05, **REAL, **options)


@dataclass(frozen=True)
class Answer:
    latency: float
    allowed: bool
    mark: str | None
    message: str | None


def real_mark(reply: dict) -> str | None:
    """The MARK of the real pipeline's patch (``config`` above)."""
    return injected(reply).mark


def fake_mark(reply: dict) -> str | None:
    """The revision the fake job says rendered the patch."""
    if not reply["response"]["allowed"]:
        return None
    return annotations_of(reply)["test/rendered-by"].split("/")[0]


async def admit(webhook: Webhook, revision: str, timeout: str = PROBE_TIMEOUT, mark_of: MarkOf = real_mark,
                **pod_args) -> Answer:
    started = time.monotonic()
    reply = await webhook.admit(pod(**pod_args), path=f"/rev/{revision}/inject{timeout}")
    response = reply["response"]
    return Answer(time.monotonic() - started, response["allowed"], mark_of(reply),
                  (response.get("status") or {}).get("message"))


class BlueProbe:
    """Admissions to blue, one after another, until stopped: what a healthy revision's users see meanwhile."""

    def __init__(self, webhook: Webhook, expected: str = "blue-1", mark_of: MarkOf = real_mark) -> None:
        self._webhook = webhook
        self._expected = expected
        self._mark_of = mark_of
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> list[Answer]:
        answers: list[Answer] = []
        while not self._stop.is_set():  # a new pod each time: the same bytes would be answered from the patch cache
            answers.append(await admit(self._webhook, "blue", mark_of=self._mark_of, name=f"probe-{len(answers)}"))
        return answers

    async def stop(self) -> list[Answer]:
        self._stop.set()
        answers = await self._task
        assert answers, "no probe of the healthy revision completed"
        failed = [a for a in answers if not (a.allowed and a.mark == self._expected)]
        assert not failed, f"{len(failed)} of {len(answers)} probes of blue failed, e.g. {failed[:2]}"
        return answers


async def attack(webhook: Webhook, revision: str, annotations: dict[str, str], *, attackers: int = 2,
                 rounds: int = 1, mark_of: MarkOf = real_mark) -> list[Answer]:
    """``attackers`` concurrent clients, each sending ``rounds`` attack admissions one after another."""
    async def attacker() -> list[Answer]:
        return [await admit(webhook, revision, ATTACK_TIMEOUT, mark_of, annotations=annotations)
                for _ in range(rounds)]

    return [answer for answers in await asyncio.gather(*(attacker() for _ in range(attackers)))
            for answer in answers]


async def ready(webhook: Webhook) -> bool:
    async with webhook.session.get(webhook.url("/readyz")) as response:
        return response.status == 200


# ------------------------------------------------------------------------------------------------ bounded render

RENDER_ATTACKS = [
    ("red", "loops", f"used more than {BUDGET:g}s of CPU, the render budget"),
    ("amber", "range", f"used more than {BUDGET:g}s of CPU, the render budget"),
    ("red", "memory", "'~' would build a string of 33554432 characters"),
    ("amber", "printf", "printf would build a string of 33554432 characters"),
    ("red", "bignum", f"used more than {BUDGET:g}s of CPU, the render budget"),
    ("red", "repeat", "'*' would build a string of 1200000000 characters"),
    ("red", "padding", "ran out of memory (128 MiB per render, 256 MiB per render worker)"),
    ("red", "hoard", "ran out of memory (128 MiB per render, 256 MiB per render worker)"),
]
MEMORY_ATTACKS = ("memory", "printf", "repeat", "padding", "hoard")
PEAK_PER_WORKER = 256 * MIB
"""What a worker with serve's default bounds may have resident at most after every memory attack: the ~100 MiB it
maps before a render plus the 128 MiB one render may add. Before the per-operation size bounds and the per-render
allowance a doubling attack took ~460 MiB (nearly the worker's whole 512 MiB limit) and half a second each."""


async def test_slow_and_memory_hungry_renders_fail_fast_and_the_other_revision_keeps_answering(
        root: Path, make_webhook: MakeWebhook) -> None:
    limits = RenderLimits(cpu_seconds=BUDGET, memory_bytes=256 * MIB)
    webhook = await serving(root, make_webhook, render_limits=limits)
    assert (await admit(webhook, "red")).mark == "red-1" and (await admit(webhook, "amber")).mark == "amber-1"
    workers = sorted(webhook.services.pool.pids)
    probe = BlueProbe(webhook)
    for revision, kind, message in RENDER_ATTACKS:
        for answer in await attack(webhook, revision, {"attack": kind}, rounds=2):  # the message says what stopped it
            assert not answer.allowed and message in (answer.message or ""), (kind, answer)
    for answer in await attack(webhook, "amber", {"attack": "width"}):  # Go's fmt refuses the width, as in istiod
        assert answer.allowed and answer.mark == "amber-1", answer
    await probe.stop()

    assert sorted(webhook.services.pool.pids) == workers, "no worker was replaced"
    assert metric(await webhook.metrics(), "sidecar_injector_pool_worker_restarts_total") == 0
    for pid in workers:
        assert peak_resident_bytes(pid) < 256 * MIB, f"worker {pid} grew past its bound"
    assert await ready(webhook)
    debug = (await webhook.debug())["revisions"]
    assert all(debug[r]["served"] and debug[r]["last_error"] is None for r in ("blue", "red", "amber"))
    assert (await admit(webhook, "red")).mark == "red-1", "the attacked revision still serves other pods"


async def test_memory_hungry_renders_fail_before_their_worker_grows_under_the_default_limits(
        root: Path, make_webhook: MakeWebhook) -> None:
    """With serve's default bounds (512 MiB workers, 128 MiB per render), as in production: each memory attack is
    refused by a size bound or the per-render allowance, so no worker comes near its limit (before, a doubling
    attack filled ~460 MiB, and a 300 MB ``center`` left a worker too large to keep), none is replaced, and blue
    keeps answering meanwhile."""
    webhook = await serving(root, make_webhook, render_limits=RenderLimits())
    workers = sorted(webhook.services.pool.pids)
    probe = BlueProbe(webhook)
    for kind in MEMORY_ATTACKS:
        revision = "amber" if kind == "printf" else "red"
        for answer in await attack(webhook, revision, {"attack": kind}, rounds=3):
            assert not answer.allowed and answer.latency < 10.0, (kind, answer)
    answers = await probe.stop()
    assert max(a.latency for a in answers) < 10.0, "no probe waited anywhere near its deadline"
    assert sorted(webhook.services.pool.pids) == workers, "no worker was replaced"
    for pid in workers:
        assert peak_resident_bytes(pid) < PEAK_PER_WORKER, f"worker {pid} grew past {PEAK_PER_WORKER // MIB} MiB"


async def test_a_render_stuck_in_one_c_call_is_cut_off_and_its_worker_replaced(
        tmp_path: Path, make_webhook: MakeWebhook) -> None:
    """The fake job, because no template construct left is one long C call (``**`` is refused, long division and
    regular expressions check for signals, and between two multiplications the budget is checked): it spins in
    ``sum(range(...))``, which never returns to Python, as such a call would."""
    root = tmp_path / "fake-revisions"
    root.mkdir()
    for revision in ("blue", "red"):
        write_revision(root, revision, "policy: enabled\n")
    webhook = await make_webhook(config_dir=root, render_limits=RenderLimits())  # serve's defaults: 1s, then 1s
    workers = set(webhook.services.pool.pids)
    probe = BlueProbe(webhook, expected="blue", mark_of=fake_mark)
    answers = await attack(webhook, "red", {"test/spin-in-c": "1e12"}, mark_of=fake_mark)
    for answer in answers:
        assert not answer.allowed and "did not stop after 2s of CPU" in (answer.message or ""), answer
        assert "render worker was replaced" in (answer.message or "")
    await eventually_async(lambda: ready(webhook), timeout=30)
    await probe.stop()
    assert not workers & set(webhook.services.pool.pids), "both stuck workers were replaced"
    assert metric(await webhook.metrics(), "sidecar_injector_pool_worker_restarts_total") == 2


# ------------------------------------------------------------------------------------------------ bounded compile

HOSTILE_REASONS = {
    "folded power": "7 ** 100000000 is too large",
    "folded repetition": "'*' would build a string of 100000000 characters",
    "nested loops of 10^10": f"used more than {BUDGET:g}s of CPU, the render budget",
    "Go range over 10^9": f"used more than {BUDGET:g}s of CPU, the render budget",
    "gigabyte string": "'~' would build a string of 33554432 characters",
    "bignum squaring": f"used more than {BUDGET:g}s of CPU, the render budget",
}


async def test_hostile_config_changes_are_rejected_and_the_last_good_generation_keeps_serving(
        root: Path, make_webhook: MakeWebhook) -> None:
    limits = CompileLimits(cpu_seconds=2.0, memory_bytes=200 * MIB, wall_seconds=120.0, trial_render_seconds=BUDGET)
    webhook = await serving(root, make_webhook, compile_limits=limits)
    registry = webhook.services.registry
    generation = registry.get("red").generation
    workers = sorted(webhook.services.pool.pids)
    probe = BlueProbe(webhook)
    for count, (name, text) in enumerate(hostile_changes("red-2"), start=1):
        reason = HOSTILE_REASONS[name]
        before = registry.status("red").error_at
        write_revision(root, "red", text)
        await eventually(lambda: registry.status("red").error_at != before, timeout=60)
        assert reason in registry.status("red").last_error, (name, registry.status("red").last_error)
        assert (await admit(webhook, "red")).mark == "red-1", f"{name}: the last good generation serves"
        red = (await webhook.debug())["revisions"]["red"]
        assert red["served"] and red["generation"] == generation and red["pending"] is None, (name, red)
        assert reason in red["rejected"]["reason"], (name, red)
        failures = metric(await webhook.metrics(), 'sidecar_injector_config_reload_failures_total{revision="red"}')
        assert failures == count, name
        assert await ready(webhook), f"{name}: a rejected change leaves the injector ready"
    await probe.stop()
    assert sorted(webhook.services.pool.pids) == workers, "no worker ever loaded a hostile config"
    assert metric(await webhook.metrics(), "sidecar_injector_pool_worker_restarts_total") == 0
    bound = RenderLimits().memory_bytes
    assert bound is not None
    for pid in workers:
        assert peak_resident_bytes(pid) < bound, f"worker {pid} grew past its bound"

    write_revision(root, "red", attack_config("red-3"))
    await eventually(lambda: registry.status("red").last_error is None, timeout=60)
    assert (await admit(webhook, "red")).mark == "red-3"


async def test_a_hostile_configmap_update_is_rejected_with_a_warning_event(
        fake_kube: FakeKube, kubeconfig: Path, make_webhook: MakeWebhook) -> None:  # noqa: F811
    def injector_cm(revision: str, text: str) -> dict:
        return {"metadata": {"name": f"istio-sidecar-injector-{revision}"}, "data": {"config": text, "values": "{}"}}

    fake_kube.create("configmaps", injector_cm("blue", attack_config("blue-1")), "istio-system")
    fake_kube.create("configmaps", injector_cm("red", attack_config("red-1")), "istio-system")
    facts = KubeClusterFacts.from_flags({})
    settings = KubeSettings(str(kubeconfig), "istio-system", facts.live, sync_timeout=10, backoff=FAST_BACKOFF)
    webhook = await make_webhook(kube=settings, facts_for=facts.facts_for, namespace_labels=facts.namespace_labels,
                                 compile_limits=CompileLimits(trial_render_seconds=BUDGET), **REAL)
    await fake_kube.wait_for_watches("configmaps")
    probe = BlueProbe(webhook)
    fake_kube.update("configmaps", injector_cm("red", dict(hostile_changes("red-2"))["nested loops of 10^10"]),
                     "istio-system")
    await eventually(lambda: bool(fake_kube.events), timeout=60)
    [event] = fake_kube.events
    assert event["reason"] == REJECTED_REASON and event["type"] == "Warning"
    assert event["involvedObject"]["name"] == "istio-sidecar-injector-red"
    assert f"used more than {BUDGET:g}s of CPU, the render budget" in event["message"]
    assert (await admit(webhook, "red")).mark == "red-1"
    await probe.stop()
    assert metric(await webhook.metrics(), 'sidecar_injector_config_reload_failures_total{revision="red"}') == 1


# ------------------------------------------------------------------------------------------------ the command's flags

async def test_serve_flags_set_the_render_and_memory_bounds(root: Path, cert_dir: Path,
                                                            client_ssl: ssl.SSLContext) -> None:
    port, monitoring = free_port(), free_port()
    process = await start_serve(
        port, "--tls-cert-file", str(cert_dir / "tls.crt"), "--tls-key-file", str(cert_dir / "tls.key"),
        "--config-dir", str(root), "--workers", "1", "--monitoring-port", str(monitoring),
        "--render-budget", "0.3", "--render-kill-grace", "20", "--worker-memory-limit", "200", "--render-memory", "64",
        "--compile-budget", "5",
        stderr=asyncio.subprocess.DEVNULL)
    try:
        await wait_ready(f"http://127.0.0.1:{monitoring}/readyz", process)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as session:
            async def message(kind: str) -> str:
                body = orjson.dumps(review(pod(annotations={"attack": kind})))
                async with session.post(f"https://127.0.0.1:{port}/rev/red/inject{ATTACK_TIMEOUT}", data=body,
                                        headers={"Content-Type": "application/json"}) as response:
                    return (await response.json())["response"]["status"]["message"]

            assert "used more than 0.3s of CPU, the render budget" in await message("loops")
            assert "ran out of memory (64 MiB per render, 200 MiB per render worker)" in await message("padding")
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
