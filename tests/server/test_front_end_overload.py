"""The front end under overload, over a real TLS listener (``GuardedSite``, as ``injector serve`` sets up its
webhook port) with real workers:
- when a request's budget starts: a request sent on a connection opened for it counts from the connection's
  acceptance (its client has been waiting since it dialled), one sent later on a connection opened ahead counts
  from its own first byte;
- while the event loop runs behind and admissions are being shed, new connections are closed before their
  handshake, and requests on open connections are still answered; a loop behind while nothing is shed (hostile
  bodies, a stall) keeps accepting;
- while admissions are being shed, only a few handshakes run at once (4 here): a further new connection is closed
  before its handshake.

Renders are the fake job's, 0.8 s each; ``?timeout=2s`` leaves a budget of 1.5 s.
"""
from __future__ import annotations

import asyncio
import functools
import ssl
import time
from pathlib import Path
from typing import AsyncIterator

import orjson
import pytest
from aiohttp import web

from injector.app import SERVICES, ServerOptions, create_app, serve_inject_directly, stamp_arrivals
from injector.listeners import ConnectionLimits, GuardedSite
from injector.sources.files import ConfigFiles
from injector.tls import ReloadingTLS
from tests.server.conftest import FAKE_JOB, pod, review
from tests.server.fake_job import build_fake_config
from tests.server.revisions_support import eventually_async
from tests.server.test_connections import read_reply, request

RENDER = 0.8
WAIT = 1.0
"""How long each client waits: before its TLS handshake, or between the handshake and its request."""


@pytest.fixture
async def site(cert_dir: Path, tmp_path: Path) -> AsyncIterator[GuardedSite]:
    config = tmp_path / "slow"
    config.mkdir()
    (config / "values").write_text(f"sleepSeconds: {RENDER}\n")
    tls = ReloadingTLS(cert_dir / "tls.crt", cert_dir / "tls.key")
    options = ServerOptions(config_files=ConfigFiles.from_directory(config), workers=1, job=FAKE_JOB,
                            build=build_fake_config, tls=tls, drain_timeout=5.0)
    app = create_app(options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    guarded = GuardedSite(runner, "127.0.0.1", 0, limits=ConnectionLimits(max_connections=16, shedding_handshakes=4),
                          ssl_context=tls.context, shedding=functools.partial(app[SERVICES].pool.shedding, 30.0))
    stamp_arrivals(runner.server, guarded.arrival)
    serve_inject_directly(runner.server, app)
    await guarded.start()
    yield guarded
    await runner.cleanup()


async def _admit(site: GuardedSite, client_ssl: ssl.SSLContext, name: str, *, before_tls: float = 0.0,
                 before_request: float = 0.0, timeout: str = "2s") -> tuple[float, dict]:
    """Connect, wait ``before_tls``, handshake, wait ``before_request``, send; (seconds from connecting, reply)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    try:
        await asyncio.sleep(before_tls)
        await writer.start_tls(client_ssl, server_hostname="localhost")
        await asyncio.sleep(before_request)
        writer.write(request(f"/inject?timeout={timeout}", orjson.dumps(review(pod(name=name)))))
        status, body = await read_reply(reader)
        assert status == 200, body
        return time.monotonic() - started, orjson.loads(body)
    finally:
        writer.close()


async def test_a_request_on_a_connection_opened_for_it_counts_from_the_accept(site: GuardedSite,
                                                                              client_ssl: ssl.SSLContext) -> None:
    for index in range(2):  # the pool learns that a render takes 0.8 s
        _, reply = await _admit(site, client_ssl, f"warm-up-{index}")
        assert reply["response"]["allowed"] is True

    # Accepted, then 1 s until the handshake (a busy server's accept queue and handshakes look like this from the
    # client): 0.5 s of the budget is left when the request comes, less than one render. Refused at once.
    elapsed, reply = await _admit(site, client_ssl, "late-connection", before_tls=WAIT)
    message = (reply["response"].get("status") or {}).get("message", "")
    assert reply["response"]["allowed"] is False and "injector overloaded" in message, message
    assert elapsed < WAIT + RENDER, "refused when the request came, not after a render"

    # A connection opened ahead and used 1 s later: its request has its whole budget.
    elapsed, reply = await _admit(site, client_ssl, "opened-ahead", before_request=WAIT)
    assert reply["response"]["allowed"] is True and "patch" in reply["response"]
    assert elapsed >= WAIT + RENDER


async def _keep_the_loop_busy(seconds: float, every: float) -> None:
    """``seconds`` of blocking work every ``every`` seconds, until cancelled: an event loop that runs behind."""
    while True:
        time.sleep(seconds)
        await asyncio.sleep(every)


async def _on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, timeout: str) -> dict:
    """One admission on an open connection."""
    writer.write(request(f"/inject?timeout={timeout}", orjson.dumps(review(pod(name=name)))))
    status, body = await read_reply(reader)
    assert status == 200, body
    return orjson.loads(body)


async def test_new_connections_are_closed_while_the_loop_runs_behind_and_admissions_are_shed(
        site: GuardedSite, client_ssl: ssl.SSLContext) -> None:
    refused: list[str] = []
    site.refused_event = refused.append
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port, ssl=client_ssl,
                                                   server_hostname="localhost")
    blocker = asyncio.create_task(_keep_the_loop_busy(0.5, 0.02))
    try:
        await eventually_async(lambda: asyncio.sleep(0, site.lag is not None and site.lag.behind()))
        # Behind, but nothing shed: a new connection is served.
        _, reply = await _admit(site, client_ssl, "behind-nothing-shed", timeout="10s")
        assert reply["response"]["allowed"] is True and refused == []
        # ?timeout=500ms leaves no budget: refused, so admissions are being shed now.
        reply = await _on(reader, writer, "shed", "500ms")
        assert "injector overloaded" in reply["response"]["status"]["message"]
        started = time.monotonic()
        with pytest.raises((OSError, ssl.SSLError, asyncio.IncompleteReadError)):
            await _admit(site, client_ssl, "new-connection")
        assert time.monotonic() - started < 3.0, "closed at once, not after a handshake timeout"
        assert refused == ["overloaded"]
        reply = await _on(reader, writer, "open-connection", "10s")  # the open connection is still served
        assert reply["response"]["allowed"] is True
    finally:
        blocker.cancel()
        writer.close()
    await eventually_async(lambda: asyncio.sleep(0, site.lag is not None and not site.lag.behind()))
    _, reply = await _admit(site, client_ssl, "after-the-overload")
    assert reply["response"]["allowed"] is True


async def test_while_admissions_are_shed_only_a_few_handshakes_run_at_once(site: GuardedSite,
                                                                            client_ssl: ssl.SSLContext) -> None:
    refused: list[str] = []
    site.refused_event = refused.append
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port, ssl=client_ssl,
                                                   server_hostname="localhost")
    silent = []
    try:
        reply = await _on(reader, writer, "shed", "500ms")  # no budget: refused, so admissions are being shed
        assert "injector overloaded" in reply["response"]["status"]["message"]
        silent = [await asyncio.open_connection("127.0.0.1", site.port) for _ in range(4)]  # never say hello
        await eventually_async(lambda: asyncio.sleep(0, site.handshakes == 4))
        with pytest.raises((OSError, ssl.SSLError, asyncio.IncompleteReadError)):
            await _admit(site, client_ssl, "fifth-handshake")
        assert refused == ["overloaded"] and not site.lag.behind()
        reply = await _on(reader, writer, "open-connection", "10s")  # the open connection is still served
        assert reply["response"]["allowed"] is True
    finally:
        for _, silent_writer in silent:
            silent_writer.close()
        writer.close()
    await eventually_async(lambda: asyncio.sleep(0, site.handshakes == 0))
    _, reply = await _admit(site, client_ssl, "after-the-handshakes")  # still shedding, but no handshake waits
    assert reply["response"]["allowed"] is True
