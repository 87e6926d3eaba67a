"""Thousands of malformed requests against ``injector serve``: no ERROR line and no traceback (those are for our
own bugs), client errors as rate-limited single warning lines, and no raw control character in either format."""
from __future__ import annotations

import asyncio
import gzip
import re
import ssl
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.server.conftest import pod, review
from tests.server.serve_process import Serve, running_serve

HOSTILE_NAME = "evil\x00name\x1b[31m\n2026-01-01T00:00:00.000Z error forged: line"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


async def _post_many(serve: Serve, client_ssl: ssl.SSLContext) -> int:
    """Malformed reviews, pods and bodies over keep-alive connections; returns the number sent."""
    bad_pod = pod(name=HOSTILE_NAME)
    bad_pod["spec"]["containers"][0]["image"] = True
    bodies = [
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {', {}),
        (orjson.dumps(review(bad_pod)), {}),
        (orjson.dumps({"kind": HOSTILE_NAME}), {}),
        (orjson.dumps(review(pod())), {"Content-Encoding": "gzip"}),
        (gzip.compress(b"\x00" * 10_000_000), {"Content-Encoding": "gzip"}),
        (b"{}", {"Content-Type": "text/plain"}),
        (b"", {}),
    ]
    paths = ["/inject", "/inject/%00%1b[2J", "/rev/%0aforged/inject", "/inject?timeout=%00"]
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl, limit=20)) as session:
        async def one(index: int) -> None:
            body, headers = bodies[index % len(bodies)]
            async with session.post(serve.url(paths[index % len(paths)]), data=body,
                                    headers={"Content-Type": "application/json", **headers}) as response:
                await response.read()
                assert response.status < 500

        for start in range(0, 2100, 100):
            await asyncio.gather(*(one(i) for i in range(start, start + 100)))
            sent += 100
    return sent


async def _raw_garbage(serve: Serve, client_ssl: ssl.SSLContext) -> int:
    """Connections speaking broken HTTP over TLS, or not TLS at all; returns how many."""
    payloads = [b"GARBAGE\r\n\r\n", b"POST /inject HTTP/1.1\r\nHost: x\r\nBad\x00Header: 1\r\n\r\n",
                b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"POST /inject HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                b"POST /inject HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]

    async def one(index: int) -> None:
        tls = index % 3 != 0
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", serve.port, **({"ssl": client_ssl, "server_hostname": "localhost"} if tls else {}))
            writer.write(payloads[index % len(payloads)] if tls else b"GET / HTTP/1.1\r\n\x16\x03\x01garbage\r\n\r\n")
            async with asyncio.timeout(10):
                await reader.read()
            writer.close()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass

    for start in range(0, 600, 50):
        await asyncio.gather(*(one(i) for i in range(start, start + 50)))
    return 600


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_malformed_requests_log_no_errors_and_no_raw_control_characters(
        cert_dir: Path, client_ssl: ssl.SSLContext, tmp_path: Path, log_format: str) -> None:
    async with running_serve(cert_dir, tmp_path / "serve.log", "--log-format", log_format,
                             "--header-timeout", "2") as serve:
        sent = await _post_many(serve, client_ssl) + await _raw_garbage(serve, client_ssl)
        async with aiohttp.ClientSession() as session:  # the server still answers
            async with session.get(serve.monitoring_url("/readyz")) as response:
                assert response.status == 200
    lines = serve.log_lines()
    assert sent >= 2700
    assert not [line for line in lines if "Traceback" in line]
    assert not [line for line in lines if RAW_CONTROL.search(line)]
    if log_format == "json":
        records = [orjson.loads(line) for line in lines]  # every line is one whole record
        levels = [record["level"] for record in records]
        text = "\n".join(str(record) for record in records)
    else:
        assert all(re.match(r"\d{4}-\d\d-\d\dT", line) for line in lines)  # nothing forged a record
        levels = [line.split()[1] for line in lines]
        text = "\n".join(lines)
    assert "error" not in levels and "critical" not in levels
    assert levels.count("warning") < sent / 5  # rate-limited, not one line per bad request
    assert "suppressed" in text
    assert "evil" in text and "forged" in text  # the hostile name was logged, escaped
