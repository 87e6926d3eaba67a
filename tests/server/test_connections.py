"""Connection limits of ``injector serve`` over real TLS: slow and idle clients are cut off on time, and at the
connection cap and the file-descriptor limit the probes and metrics keep answering.

Bounds are generous (timers are never early, but a loaded machine makes them late); each test polls for the
connection to close rather than sleeping a fixed time.
"""
from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import orjson

from tests.server.conftest import metric, pod, review
from tests.server.serve_process import Serve, running_serve

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 5.0
SLACK = 4.0
"""How late a timer may fire on a busy CI machine before the test calls it broken."""
EARLY = 0.1
"""How early a close may look from the client: the event loop's cached clock lags a little behind."""
REVIEW = orjson.dumps(review(pod()))


def request(path: str = "/inject", body: bytes = REVIEW) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def connect(serve: Serve, client_ssl: ssl.SSLContext | None
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if client_ssl is None:  # plain TCP to the TLS port: a client that never sends its ClientHello
        return await asyncio.open_connection("127.0.0.1", serve.port)
    return await asyncio.open_connection("127.0.0.1", serve.port, ssl=client_ssl, server_hostname="localhost")


async def closed_after(reader: asyncio.StreamReader, started: float, limit: float = 180.0) -> float:
    """Seconds from ``started`` until the server closed the connection (reading and dropping what it sends)."""
    async with asyncio.timeout(limit):
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, ssl.SSLError):
            pass
    return time.monotonic() - started


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return status, await reader.readexactly(length)


async def slowloris(serve: Serve, client_ssl: ssl.SSLContext) -> float:
    """Headers one byte every 0.2s: cut off after the header timeout, however steadily bytes arrive."""
    reader, writer = await connect(serve, client_ssl)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in request():
            writer.write(bytes([byte]))
            await asyncio.sleep(0.2)

    sender = asyncio.create_task(trickle())
    try:
        return await closed_after(reader, started)
    finally:
        sender.cancel()


async def silent(serve: Serve, client_ssl: ssl.SSLContext | None) -> float:
    reader, _ = await connect(serve, client_ssl)
    return await closed_after(reader, time.monotonic())


async def opened_ahead(serve: Serve, client_ssl: ssl.SSLContext) -> int:
    """A connection opened before its request is needed (a client's warm pool, Go's spare dial) and used after
    the header timeout: it is idle, not slow, so its request is answered."""
    reader, writer = await connect(serve, client_ssl)
    await asyncio.sleep((HEADER_TIMEOUT + IDLE_TIMEOUT) / 2)
    writer.write(request())
    status, _ = await read_reply(reader)
    writer.close()
    return status


async def idle_keep_alive(serve: Serve, client_ssl: ssl.SSLContext) -> float:
    reader, writer = await connect(serve, client_ssl)
    writer.write(request())
    status, _ = await read_reply(reader)
    assert status == 200
    return await closed_after(reader, time.monotonic())


async def slow_body(serve: Serve, client_ssl: ssl.SSLContext) -> tuple[float, int, float]:
    """Headers at once, then the body a byte every 0.2s: 408 at the request's own deadline, then closed."""
    reader, writer = await connect(serve, client_ssl)
    head, body = request("/inject?timeout=2s").split(b"\r\n\r\n", 1)
    writer.write(head + b"\r\n\r\n")
    started = time.monotonic()

    async def trickle() -> None:
        for byte in body:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.2)

    sender = asyncio.create_task(trickle())
    try:
        status, _ = await read_reply(reader)
        replied = time.monotonic() - started
        return replied, status, await closed_after(reader, started)
    finally:
        sender.cancel()


async def unread_replies(serve: Serve, client_ssl: ssl.SSLContext) -> float:
    """Pipelines requests for /metrics and never reads: once the server's send buffer is full, the write timeout
    closes the connection."""
    reader, writer = await connect(serve, client_ssl)
    writer.transport.pause_reading()
    started = time.monotonic()
    for _ in range(5000):
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
    async with asyncio.timeout(60):
        while not writer.transport.is_closing():
            try:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                await asyncio.wait_for(writer.drain(), 0.2)
            except TimeoutError:
                continue
            except (ConnectionError, ssl.SSLError):
                break
    return time.monotonic() - started


async def test_slow_silent_and_idle_connections_are_closed_on_time(cert_dir: Path, client_ssl: ssl.SSLContext,
                                                                   tmp_path: Path) -> None:
    async with running_serve(cert_dir, tmp_path / "serve.log", "--header-timeout", str(HEADER_TIMEOUT),
                             "--idle-timeout", str(IDLE_TIMEOUT)) as serve:
        (loris, handshaken, no_hello, idle, ahead, (replied, status, body_closed), unread) = await asyncio.gather(
            slowloris(serve, client_ssl), silent(serve, client_ssl), silent(serve, None),
            idle_keep_alive(serve, client_ssl), opened_ahead(serve, client_ssl), slow_body(serve, client_ssl),
            unread_replies(serve, client_ssl))
        metrics = await _metrics(serve)
    for closed in (loris, no_hello):
        assert HEADER_TIMEOUT - EARLY <= closed < HEADER_TIMEOUT + SLACK
    for closed in (idle, handshaken):  # the idle timeout, not the shorter header timeout: nothing was sent yet
        assert IDLE_TIMEOUT - EARLY <= closed < IDLE_TIMEOUT + SLACK
    assert ahead == 200
    assert status == 408 and 2.0 - EARLY <= replied < 2.0 + SLACK and body_closed < replied + SLACK
    assert unread < 2 * SLACK
    assert metric(metrics, 'sidecar_injector_connections_closed_total{listener="webhook",reason="header_timeout"}') >= 1
    assert metric(metrics, 'sidecar_injector_connections_closed_total{listener="webhook",reason="write_timeout"}') == 1
    assert metric(metrics, 'sidecar_injector_connections_refused_total{listener="webhook",reason="tls"}') == 1
    _assert_clean_log(serve)


async def test_probes_answer_at_the_connection_cap_and_the_fd_limit(cert_dir: Path, client_ssl: ssl.SSLContext,
                                                                    tmp_path: Path) -> None:
    """256 descriptors leave room for 60 webhook connections (the rest is the reserve); 150 idle and slow
    clients hold the port, yet both ports answer probes, since a new connection evicts the one idle longest."""
    async with running_serve(cert_dir, tmp_path / "serve.log", "--header-timeout", "30", "--idle-timeout", "60",
                             nofile=256) as serve:
        held: list[asyncio.StreamWriter] = []
        fds = [serve.open_fds()]
        for batch in range(15):
            results = await asyncio.gather(*(_hold(serve, client_ssl, idle=batch % 2 == 0) for _ in range(10)),
                                           return_exceptions=True)
            held += [writer for writer in results if isinstance(writer, asyncio.StreamWriter)]
            fds.append(serve.open_fds())
        for _ in range(3):
            assert await _probe(serve, client_ssl, tls=False) == 200
            assert await _probe(serve, client_ssl, tls=True) == 200
            fds.append(serve.open_fds())
        metrics = await _metrics(serve)
        for writer in held:
            writer.close()
    assert max(fds) < 256
    assert metric(metrics, 'sidecar_injector_connections_open{listener="webhook"}') <= 60
    assert metric(metrics, 'sidecar_injector_connections_closed_total{listener="webhook",reason="evicted"}') >= 90
    _assert_clean_log(serve)


async def _hold(serve: Serve, client_ssl: ssl.SSLContext, *, idle: bool) -> asyncio.StreamWriter:
    """A connection that did one request and idles, or that sends a partial request and stalls."""
    reader, writer = await connect(serve, client_ssl)
    if idle:
        writer.write(request())
        await read_reply(reader)
    else:
        writer.write(request()[:20])
    return writer


async def _probe(serve: Serve, client_ssl: ssl.SSLContext, *, tls: bool) -> int:
    if tls:
        reader, writer = await connect(serve, client_ssl)
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", serve.monitoring)
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    async with asyncio.timeout(10):
        status, body = await read_reply(reader)
    writer.close()
    assert body == b"ready\n"
    return status


async def _metrics(serve: Serve) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", serve.monitoring)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n\r\n", 1)[1].decode()


def _assert_clean_log(serve: Serve) -> None:
    lines = serve.log_lines()
    assert not [line for line in lines if " error " in line or "Traceback" in line], lines
    assert all(line[:4].isdigit() for line in lines), lines  # one record per line, no continuation lines
