"""Which connection the cap evicts, and when a request arrived, on ``GuardedSite``'s own bookkeeping (the race the
eviction order guards against, a request that arrived in the same loop iteration as a new connection at the cap,
is too narrow to hit over a socket)."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
from aiohttp import web

from injector.listeners import ConnectionLimits, GuardedSite, LoopLag, _Connection


class _Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


@pytest.fixture
async def site() -> AsyncIterator[GuardedSite]:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    yield GuardedSite(runner, "127.0.0.1", 0, limits=ConnectionLimits(max_connections=2))
    await runner.cleanup()


def _open(site: GuardedSite) -> tuple[_Connection, _Transport]:
    connection, transport = _Connection(site, asyncio.Protocol()), _Transport()
    site.connections.add(connection)
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


async def test_a_connection_whose_request_is_arriving_is_evicted_after_an_idle_one(site: GuardedSite) -> None:
    """A keep-alive connection idle for a minute starts a request; at the cap the connection that has sent nothing
    since it opened a moment ago goes, not the one with a request under way."""
    closed: list[str] = []
    site.closed_event = closed.append
    requesting, requesting_transport = _open(site)
    requesting.waiting_since -= 60.0
    idle, idle_transport = _open(site)
    await asyncio.sleep(0.01)
    requesting.data_received(b"POST /inject HTTP/1.1\r\nHost: localhost\r\n\r\n")
    try:
        assert site._evict()
        assert idle_transport.aborted and not requesting_transport.aborted
        assert site.connections == {requesting} and closed == ["evicted"]
    finally:
        requesting.connection_lost(None)


async def test_a_late_loop_moves_a_requests_arrival_back_by_its_lateness(site: GuardedSite) -> None:
    """Bytes wait in the kernel about as long as the loop runs late before it reads them: the arrival it reports
    is the first byte's time less that lateness (nothing subtracted where no lateness is kept)."""
    connection, _ = _open(site)
    connection.fresh = False  # not the first request: its arrival is its first byte
    connection.data_received(b"POST /inject HTTP/1.1\r\n")
    began = connection.request_began
    assert began is not None and site.lag is None and connection.arrival() == began
    site.lag = LoopLag(site.loop)
    try:
        site.lag.average = 0.3
        assert connection.arrival() == began - 0.3
    finally:
        site.lag.stop()
        connection.connection_lost(None)
