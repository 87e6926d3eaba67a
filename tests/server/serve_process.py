"""``injector serve`` as a subprocess, for the tests and the benchmark that need the real command: its flag
parsing, its start-up, its signal handling, its own event loop (a load generator must not share it).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp


class ServeNotReady(RuntimeError):
    """The subprocess exited during start-up, or did not answer 200 before the deadline."""


def free_port() -> int:
    """A currently unused loopback port (the process binds it a moment later; nothing else here races for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_serve(port: int, *flags: str, tree: Path | None = None,
                      **streams: Any) -> asyncio.subprocess.Process:
    """``python -m injector.cli serve`` on 127.0.0.1:``port``; ``streams`` go to ``create_subprocess_exec``
    (``stdout=``, ``stderr=``). ``tree``: run the server from that source tree (e.g. an older commit exported with
    ``git archive``) instead of the installed one, for benchmarks that compare the two."""
    if tree is not None:
        streams = {**streams, "cwd": str(tree), "env": {**os.environ, "PYTHONPATH": str(tree)}}
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


@dataclass
class Serve:
    """A running ``injector serve`` with its ports, its log file and its process id."""

    process: asyncio.subprocess.Process
    port: int
    monitoring: int
    log: Path
    monitoring_host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def monitoring_url(self, path: str) -> str:
        return f"http://{self.monitoring_host}:{self.monitoring}{path}"

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@contextlib.asynccontextmanager
async def running_serve(cert_dir: Path, log: Path, *flags: str, nofile: int | None = None,
                        monitoring_host: str = "127.0.0.1") -> AsyncIterator[Serve]:
    """``injector serve`` with the embedded config, one worker and a monitoring port (on ``monitoring_host``),
    logging to ``log`` (a file: a pipe nobody reads would block the server); ``nofile`` sets its RLIMIT_NOFILE
    (soft and hard)."""
    port, monitoring = free_port(), free_port()

    def limit_fds() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with log.open("wb") as stderr:
        process = await start_serve(
            port, "--tls-cert-file", str(cert_dir / "tls.crt"), "--tls-key-file", str(cert_dir / "tls.key"),
            "--workers", "1", "--monitoring-port", str(monitoring), "--monitoring-address", monitoring_host, *flags,
            stderr=stderr, preexec_fn=limit_fds)
    try:
        await wait_ready(f"http://{monitoring_host}:{monitoring}/readyz", process)
        yield Serve(process, port, monitoring, log, monitoring_host)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
