"""Deadlines from arrival, load shedding and fair sharing between revisions, over real TLS with real workers.

Rendering is the fake job (tests/server/fake_job.py): configs and annotations make renders take known times, and
``test/record`` makes every render write the pod's name to a file, so a test can prove what was never rendered.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

from injector.sources.files import ConfigFiles
from tests.server.conftest import MakeWebhook, Webhook, annotations_of, metric, pod
from tests.server.revisions_support import eventually_async, write_revision


def _message(reply: dict[str, Any]) -> str:
    return (reply["response"].get("status") or {}).get("message", "")


async def _timed_admit(webhook: Webhook, obj: dict[str, Any], path: str) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    reply = await webhook.admit(obj, path=path)
    return time.monotonic() - started, reply


async def _slow_config(tmp_path: Path, make_webhook: MakeWebhook, seconds: float, **options: Any) -> Webhook:
    directory = tmp_path / "slow-config"
    directory.mkdir()
    (directory / "values").write_text(f"sleepSeconds: {seconds}\n")
    return await make_webhook(config_files=ConfigFiles.from_directory(directory), **options)


async def test_requests_that_cannot_finish_in_time_are_refused_at_once(make_webhook: MakeWebhook,
                                                                       tmp_path: Path) -> None:
    webhook = await _slow_config(tmp_path, make_webhook, 0.4)  # 2 workers, 0.4 s per render
    for index in range(2):  # the pool learns the render time
        reply = await webhook.admit(pod(name=f"warm-up-{index}"), path="/inject?timeout=10s")
        assert reply["response"]["allowed"] is True
    # 20 at once with ?timeout=2s (1.5 s budget): about 2 workers x 3 renders fit; the rest cannot.
    results = await asyncio.gather(*(_timed_admit(webhook, pod(name=f"p{i}"), "/inject?timeout=2s")
                                     for i in range(20)))
    injected = [(elapsed, reply) for elapsed, reply in results if reply["response"]["allowed"]]
    refused = [(elapsed, reply) for elapsed, reply in results if not reply["response"]["allowed"]]
    assert all(elapsed < 2.0 for elapsed, _ in results), "every answer arrives before the apiserver gives up"
    assert 4 <= len(injected) <= 8
    assert all("injector overloaded: pod test-ns/p" in _message(reply) for _, reply in refused)
    assert not any("timed out" in _message(reply) for _, reply in refused)
    fast = [elapsed for elapsed, reply in refused if "exceeds its budget of 1.50s" in _message(reply)]
    assert len(fast) >= 10 and max(fast) < 1.0, "refused on arrival, not after waiting out the budget"
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_shed_total{reason="deadline",revision="default"}') == len(fast)
    assert metric(text, 'sidecar_injection_failure_total{type="overloaded"}') == len(refused)


async def test_jobs_whose_deadline_passes_in_the_queue_are_never_rendered(make_webhook: MakeWebhook,
                                                                         tmp_path: Path) -> None:
    webhook = await _slow_config(tmp_path, make_webhook, 1.0, workers=1)  # one worker, 1 s per render
    record = tmp_path / "rendered"
    await webhook.admit(pod(name="warm-up"), path="/inject?timeout=10s")  # learns ~1 s per render
    pool = webhook.services.pool

    def job(name: str, timeout: str, sleep: float = 0.0) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        annotations = {"test/record": str(record), "test/sleep": str(sleep)}
        return asyncio.ensure_future(_timed_admit(webhook, pod(name=name, annotations=annotations),
                                                  f"/inject?timeout={timeout}"))

    first = job("first", "10s", sleep=2.0)  # runs 3 s where 1 s is expected
    await eventually_async(lambda: asyncio.sleep(0, pool.busy == 1))
    # Admitted on the estimate (1 s wait + 1 s render fit 2.2 s), but its deadline passes while it waits.
    queued_out = job("queued-out", "2700ms")
    await eventually_async(lambda: asyncio.sleep(0, pool.queue_depth == 1))
    # Admitted too (2 s wait + 1 s render fit 3.5 s); when the worker frees at ~3 s, 0.5 s is left: not enough.
    dropped = job("dropped", "4s")
    await eventually_async(lambda: asyncio.sleep(0, pool.queue_depth == 2))
    last = job("last", "10s")
    (_, first_reply), (queued_elapsed, queued_reply), (dropped_elapsed, dropped_reply), (_, last_reply) = \
        await asyncio.gather(first, queued_out, dropped, last)
    assert first_reply["response"]["allowed"] and last_reply["response"]["allowed"]
    assert "timed out after 2.20s" in _message(queued_reply) and queued_elapsed < 2.7
    assert "its deadline passed while it waited for a render worker" in _message(dropped_reply)
    assert dropped_elapsed < 3.5, "dropped as soon as a worker was free, before its own deadline"
    assert record.read_text().split() == ["first", "last"]  # the other two never reached a worker
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_shed_total{reason="expired",revision="default"}') == 1


async def test_the_budget_counts_from_arrival_not_from_the_handler(make_webhook: MakeWebhook,
                                                                   tmp_path: Path) -> None:
    webhook = await _slow_config(tmp_path, make_webhook, 30, deadline_margin=0.3)
    assert webhook.server.runner is not None and webhook.server.runner.server is not None
    server = webhook.server.runner.server
    stamped = server.request_factory

    def busy_after_arrival(*args: Any) -> Any:
        request = stamped(*args)
        time.sleep(0.6)  # the event loop is busy between the request's arrival and its handler
        return request

    server.request_factory = busy_after_arrival  # taken by connections opened from now on
    started = time.monotonic()
    reply = await webhook.admit(pod(), path="/inject?timeout=2s")
    assert "timed out after 1.70s" in _message(reply)
    assert time.monotonic() - started < 2.0, "answered within the apiserver's 2 s, the busy loop included"


async def test_a_slow_revision_does_not_starve_another(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    root = tmp_path / "revisions"
    root.mkdir()
    write_revision(root, "slow", "policy: enabled\n", values="sleepSeconds: 3\n")
    write_revision(root, "fast", "policy: enabled\n")
    webhook = await make_webhook(config_dir=root)  # 2 workers
    stop = asyncio.Event()
    names = itertools.count()  # distinct pods: identical ones would be answered from the front end's patch cache

    async def flood() -> None:
        while not stop.is_set():
            await webhook.admit(pod(name=f"slow-{next(names)}"), path="/rev/slow/inject?timeout=30s")

    probes: list[tuple[float, float, dict[str, Any]]] = []
    flood_started = time.monotonic()
    flooders = [asyncio.ensure_future(flood()) for _ in range(8)]
    try:
        while time.monotonic() - flood_started < 10.0:
            elapsed, reply = await _timed_admit(webhook, pod(name=f"fast-{next(names)}"),
                                                "/rev/fast/inject?timeout=10s")
            probes.append((time.monotonic() - flood_started, elapsed, reply))
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*flooders)
    assert all(reply["response"]["allowed"] for _, _, reply in probes), "every probe of the fast revision served"
    assert all(annotations_of(reply)["test/rendered-by"].startswith("fast/") for _, _, reply in probes)
    # Before the pool knows the slow revision is slow, its first renders may hold both workers: one render (3 s)
    # is the most a probe waits. Once known, a worker stays free for the fast revision.
    assert max(elapsed for _, elapsed, _ in probes) < 4.0
    later = [elapsed for at, elapsed, _ in probes if at > 4.0]
    assert len(later) >= 10 and max(later) < 1.0
