"""Render workers run at a lower CPU priority than the event loop that admits and refuses requests."""
from __future__ import annotations

import os

from tests.server.conftest import MakeWebhook, pod
from workers.pool_worker import WORKER_NICENESS


async def test_workers_yield_the_cpu_to_the_event_loop(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    assert (await webhook.admit(pod()))["response"]["allowed"] is True
    pids = webhook.services.pool.pids
    assert len(pids) == 2
    loop_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(os.getpriority(os.PRIO_PROCESS, pid) == loop_niceness + WORKER_NICENESS for pid in pids)
