"""``injector serve`` as a subprocess, for the tests and the benchmark that need the real command: its flag
parsing, its start-up, its signal handling, its own event loop (a load generator must not share it).
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from typing import Any

import aiohttp


class ServeNotReady(RuntimeError):
    """The subprocess exited during start-up, or did not answer 200 before the deadline."""


def free_port() -> int:
    """A currently unused loopback port (the process binds it a moment later; nothing else here races for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_serve(port: int, *flags: str, **streams: Any) -> asyncio.subprocess.Process:
    """``python -m injector.cli serve`` on 127.0.0.1:``port``; ``streams`` go to ``create_subprocess_exec``
    (``stdout=``, ``stderr=``)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "injector.cli", "serve", "--port", str(port), "--address", "127.0.0.1", *flags,
        **streams)


async def wait_ready(url: str, process: asyncio.subprocess.Process, *, ssl_context: ssl.SSLContext | None = None,
                     timeout: float = 120.0) -> None:
    """Poll ``url`` (a ``/readyz``) until it answers 200. The deadline is generous because start-up compiles the
    templates in every worker and CI machines are busy; an exited process fails at once instead."""
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context or True)) as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ServeNotReady(f"injector serve exited with {process.returncode} during start-up")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except aiohttp.ClientError as exc:
                last = exc
            await asyncio.sleep(0.1)
    raise ServeNotReady(f"injector serve not ready within {timeout:g}s at {url} ({last})")
