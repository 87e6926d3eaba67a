"""The render pool on its own: generation hand-over, rejection, big payloads, shutdown."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import AsyncIterator

import orjson
import pytest

from tests.server.conftest import FAKE_JOB
from tests.server.fake_job import build_fake_config
from tests.server.revisions_support import eventually_async
from workers.facts import RequestFacts
from workers.pool import GenerationRejected, JobFailed, Overloaded, PoolClosed, WorkerPool
from workers.pool_worker import REQUEST_ID_LIMIT
from workers.scheduler import Settings

FACTS = RequestFacts(namespace="ns")


def _pod(name: str = "p", **annotations: str) -> bytes:
    return orjson.dumps({"metadata": {"name": name, "annotations": annotations}})


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    """One worker holding generation 1, whose revision is known to be fast (a few quick renders), so the busy
    worker is sent its jobs ahead; with a second of room, so the tests' few jobs are all sent ahead however slowly
    a busy machine ran those first renders."""
    pool = WorkerPool(1, job=FAKE_JOB, scheduling=Settings(prefetch_seconds=1.0, prefetch_limit=1.0))
    await pool.start()
    try:
        await pool.load(build_fake_config(None, None, None, generation=1), 1)
        for _ in range(3):
            await pool.submit(1, _pod(), FACTS)
        yield pool
    finally:
        await pool.close()


async def test_a_generation_no_worker_can_load_is_rejected_and_the_old_one_serves() -> None:
    pool = WorkerPool(2, job=FAKE_JOB)
    await pool.start()
    try:
        await pool.load(build_fake_config(None, None, None, generation=1), 1)
        with pytest.raises(GenerationRejected, match="does not compile"):
            await pool.load(build_fake_config(None, "failLoad: true", None, generation=2), 2)
        with pytest.raises(JobFailed, match="generation 2 is not loaded"):
            await pool.submit(2, _pod(), FACTS)
        assert b"default/1/" in await pool.submit(1, _pod(), FACTS)
        assert pool.complete
    finally:
        await pool.close()


async def test_jobs_queued_for_a_retired_generation_still_run() -> None:
    pool = WorkerPool(1, job=FAKE_JOB)
    await pool.start()
    try:
        await pool.load(build_fake_config(None, None, None, generation=1), 1)
        running = asyncio.ensure_future(pool.submit(1, _pod(**{"test/sleep": "1"}), FACTS))
        queued = asyncio.ensure_future(pool.submit(1, _pod(), FACTS))
        await eventually_async(lambda: asyncio.sleep(0, pool.busy == 1))
        assert pool.queue_depth == 1 and pool.busy == 1
        await pool.load(build_fake_config(None, None, None, generation=2), 2)
        pool.retire(1)
        assert b"default/1/" in await running
        assert b"default/1/" in await queued
        assert b"default/2/" in await pool.submit(2, _pod(), FACTS)
    finally:
        await pool.close()


async def test_large_pods_and_patches_cross_the_pipe_intact() -> None:
    pool = WorkerPool(2, job=FAKE_JOB)
    await pool.start()
    try:
        await pool.load(build_fake_config(None, None, None, generation=1), 1)
        big = "x" * (4 * 1024 * 1024)
        results = await asyncio.gather(*(pool.submit(1, _pod(**{"big": big}), FACTS) for _ in range(4)))
        assert all(orjson.loads(r)[0]["value"] == "default/1/default" for r in results)
    finally:
        await pool.close()


async def test_a_job_can_carry_the_whole_review_and_the_worker_takes_its_object() -> None:
    pool = WorkerPool(1, job=FAKE_JOB)
    await pool.start()
    try:
        await pool.load(build_fake_config(None, None, None, generation=1), 1)
        pod = _pod(**{"big": "x" * 200_000, "test/patch-padding": "3"})  # the pod's annotation shapes the patch
        review = orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                               "request": {"uid": "u", "object": orjson.loads(pod)}})
        patch = orjson.loads(await pool.submit(1, review, FACTS, in_review=True))
        assert patch[0]["value"] == "xxx" and patch[1]["value"] == "default/1/default"
        assert await pool.submit(1, review, FACTS, in_review=True) == await pool.submit(1, pod, FACTS)
    finally:
        await pool.close()


async def test_close_finishes_running_jobs_then_refuses_new_ones() -> None:
    pool = WorkerPool(1, job=FAKE_JOB)
    await pool.start()
    await pool.load(build_fake_config(None, None, None, generation=1), 1)
    running = asyncio.ensure_future(pool.submit(1, _pod(**{"test/sleep": "0.3"}), FACTS))
    await eventually_async(lambda: asyncio.sleep(0, pool.busy == 1))
    await pool.close()
    assert b"default/1/" in await running
    with pytest.raises(PoolClosed):
        await pool.submit(1, _pod(), FACTS)


async def test_job_ids_wrap_at_32_bits_without_failing_a_job() -> None:
    pool = WorkerPool(2, job=FAKE_JOB, first_request_id=REQUEST_ID_LIMIT - 3)
    await pool.start()
    try:
        await pool.load(build_fake_config(None, None, None, generation=1), 1)
        for _ in range(3):  # ids 2**32-3 .. 2**32-1, one at a time
            assert b"default/1/" in await pool.submit(1, _pod(), FACTS)
        results = await asyncio.gather(*(pool.submit(1, _pod(), FACTS) for _ in range(6)))  # 1 .. 6, wrapped
        assert all(b"default/1/" in result for result in results)
    finally:
        await pool.close()


async def test_jobs_held_behind_a_killed_job_go_back_to_the_queue_and_run_once(pool: WorkerPool,
                                                                              tmp_path: Path) -> None:
    pid_file, record = tmp_path / "pid", tmp_path / "rendered"
    running = asyncio.ensure_future(pool.submit(1, _pod("a", **{"test/pid-file": str(pid_file),
                                                                "test/sleep": "0.4"}), FACTS))
    held = [asyncio.ensure_future(pool.submit(1, _pod(name, **{"test/record": str(record)}), FACTS))
            for name in ("b", "c")]
    await eventually_async(lambda: asyncio.sleep(0, pid_file.exists()))
    assert pool.queue_depth == 0 and pool.busy == 1, "b and c wait in the worker's socket, not in the queue"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert b"default/1/" in await running  # its one retry, on the replacement
    for job in held:
        assert b"default/1/" in await job
    assert record.read_text().split() == ["b", "c"], "each held job rendered once, in order"


async def test_a_held_job_that_cannot_start_in_time_is_answered_unrendered(pool: WorkerPool,
                                                                          tmp_path: Path) -> None:
    record = tmp_path / "rendered"
    running = asyncio.ensure_future(pool.submit(1, _pod("a", **{"test/sleep": "0.5"}), FACTS))
    await eventually_async(lambda: asyncio.sleep(0, pool.busy == 1))
    deadline = asyncio.get_running_loop().time() + 0.25
    late = asyncio.ensure_future(pool.submit(1, _pod("b", **{"test/record": str(record)}), FACTS,
                                             deadline=deadline))
    await asyncio.sleep(0)
    assert pool.queue_depth == 0, "sent ahead: it looked like it would start in time"
    assert b"default/1/" in await running
    with pytest.raises(Overloaded) as refused:
        await late
    assert refused.value.reason == "expired"
    assert not record.exists(), "never rendered"
    assert b"default/1/" in await pool.submit(1, _pod(), FACTS)


async def test_answers_read_together_share_the_time_the_worker_had(pool: WorkerPool) -> None:
    """A busy event loop reads a worker's held answers in one go: they split the time since the first could
    start. Counting each from the previous read would give the first all of it and the rest none, and the moving
    average, ending on those zeros, would promise admission a multiple of the real throughput."""
    jobs = [asyncio.ensure_future(pool.submit(1, _pod(name, **{"test/sleep": "0.01"}), FACTS)) for name in "abcde"]
    await asyncio.sleep(0)
    assert pool.queue_depth == 0 and pool.busy == 1, "one running, four held in the worker's socket"
    time.sleep(0.5)  # the loop is busy elsewhere while the worker answers all five
    await asyncio.gather(*jobs)
    with pytest.raises(Overloaded) as refused:  # a hopeless deadline: refused with the render estimate
        await pool.submit(1, _pod(), FACTS, deadline=asyncio.get_running_loop().time())
    # Five reads of about 0.1 s move the average from a few ms to about 0.07 s; one of 0.5 s then four of none
    # would leave it near 0.04 s.
    assert 0.055 < refused.value.render < 0.5
