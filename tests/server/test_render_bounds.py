"""Render bounds in real worker processes: CPU budget, stuck workers, memory limit, heap bloat, patch size.

The fake job misbehaves on request (``tests.server.fake_job``), the way a hostile template would make a render
misbehave; the limits are the ones ``injector serve`` passes to its pool, only smaller so the tests are quick.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator

import orjson
import pytest

from tests.server.conftest import FAKE_JOB
from tests.server.fake_job import build_fake_config
from tests.server.procfs import peak_resident_bytes
from tests.server.revisions_support import eventually_async
from workers.facts import RequestFacts
from workers.limits import MIB, RenderLimits
from workers.pool import JobFailed, WorkerPool

FACTS = RequestFacts(namespace="ns")


class Restarts:
    count = 0

    def __call__(self) -> None:
        self.count += 1


async def started_pool(limits: RenderLimits, restarts: Restarts) -> WorkerPool:
    pool = WorkerPool(1, job=FAKE_JOB, limits=limits, hang_grace=60.0, on_restart=restarts)
    await pool.start()
    await pool.load(build_fake_config(None, None, None, generation=1), 1)
    return pool


@pytest.fixture
def restarts() -> Restarts:
    return Restarts()


@pytest.fixture
def pid_file(tmp_path: Path) -> Path:
    return tmp_path / "worker.pid"


async def render(pool: WorkerPool, pid_file: Path, **annotations: str) -> tuple[bytes, int]:
    """Submit one job; returns its patch and the pid of the worker that ran it."""
    pod = orjson.dumps({"metadata": {"name": "p", "annotations": {"test/pid-file": str(pid_file), **annotations}}})
    patch = await pool.submit(1, pod, FACTS)
    return patch, int(pid_file.read_text())


async def failing(pool: WorkerPool, pid_file: Path, **annotations: str) -> tuple[JobFailed, float, int]:
    """Submit a job that must fail; returns the failure, how long it took and the pid that took it."""
    started = time.monotonic()
    with pytest.raises(JobFailed) as failure:
        await render(pool, pid_file, **annotations)
    return failure.value, time.monotonic() - started, int(pid_file.read_text())


@pytest.fixture
async def closing() -> AsyncIterator[list[WorkerPool]]:
    pools: list[WorkerPool] = []
    yield pools
    for pool in pools:
        await pool.close()


async def test_a_render_spinning_in_python_stops_at_its_cpu_budget_and_keeps_its_worker(
        closing: list[WorkerPool], restarts: Restarts, pid_file: Path) -> None:
    pool = await started_pool(RenderLimits(cpu_seconds=0.3, kill_grace=30.0), restarts)
    closing.append(pool)
    failure, elapsed, pid = await failing(pool, pid_file, **{"test/spin": "60"})
    assert failure.user_error and "used more than 0.3s of CPU, the render budget" in str(failure)
    assert elapsed < 10.0, "stopped by its own budget, long before the parent's 30s kill"
    _, next_pid = await render(pool, pid_file)
    assert next_pid == pid and restarts.count == 0


async def test_a_render_stuck_in_one_c_call_has_its_worker_replaced_at_once(
        closing: list[WorkerPool], restarts: Restarts, pid_file: Path) -> None:
    pool = await started_pool(RenderLimits(cpu_seconds=0.3, kill_grace=0.5), restarts)
    closing.append(pool)
    failure, elapsed, pid = await failing(pool, pid_file, **{"test/spin-in-c": "1e12"})
    assert failure.user_error and "did not stop after 0.8s of CPU" in str(failure) and "was replaced" in str(failure)
    assert 0.8 <= elapsed < 30.0, "killed once it used its budget + grace, not after the 60s hang grace"
    assert restarts.count == 1
    patch, next_pid = await render(pool, pid_file)
    assert next_pid != pid and b"default/1/" in patch


async def test_a_huge_allocation_fails_the_render_and_the_worker_stays_small(
        closing: list[WorkerPool], restarts: Restarts, pid_file: Path) -> None:
    pool = await started_pool(RenderLimits(memory_bytes=256 * MIB), restarts)
    closing.append(pool)
    failure, _, pid = await failing(pool, pid_file, **{"test/allocate": "2e9"})
    assert failure.user_error and "ran out of memory (128 MiB per render, 256 MiB per render worker)" in str(failure)
    assert peak_resident_bytes(pid) < 256 * MIB
    _, next_pid = await render(pool, pid_file)
    assert next_pid == pid and restarts.count == 0


@pytest.mark.parametrize("held", [False, True], ids=["queued", "held-by-the-worker"])
async def test_a_worker_left_bloated_by_a_render_answers_and_is_replaced(
        closing: list[WorkerPool], restarts: Restarts, pid_file: Path, tmp_path: Path, held: bool) -> None:
    # Keeps ~250 MiB; building 4e6 strings takes about a second of CPU on a busy machine, which is not what this
    # test is about: a generous render budget.
    pool = await started_pool(RenderLimits(memory_bytes=400 * MIB, render_memory_bytes=None, cpu_seconds=30.0),
                              restarts)
    closing.append(pool)
    if held:  # renders known to be fast: the next job is sent to the busy worker ahead (prefetch)
        for _ in range(3):
            await render(pool, pid_file)
    bloating = asyncio.ensure_future(render(pool, pid_file, **{"test/hoard": "4e6"}))  # ~250 MiB kept for good
    await eventually_async(lambda: asyncio.sleep(0, pool.busy == 1))
    queued = asyncio.ensure_future(render(pool, tmp_path / "next.pid"))
    await asyncio.sleep(0)
    assert pool.queue_depth == (0 if held else 1)
    patch, pid = await bloating
    assert b"default/1/" in patch, "the job itself succeeded"
    next_patch, next_pid = await queued
    assert b"default/1/" in next_patch and next_pid != pid, "the queued job went to the replacement, not lost"
    assert restarts.count == 1


async def test_a_patch_over_the_size_limit_fails_the_admission(
        closing: list[WorkerPool], restarts: Restarts, pid_file: Path) -> None:
    pool = await started_pool(RenderLimits(max_patch_bytes=4000), restarts)
    closing.append(pool)
    failure, _, _ = await failing(pool, pid_file, **{"test/patch-padding": "5000"})
    assert failure.user_error and "more than this injector's limit of 4000" in str(failure)
    patch, _ = await render(pool, pid_file, **{"test/patch-padding": "1000"})
    assert len(patch) < 4000
