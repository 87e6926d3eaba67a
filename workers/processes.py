"""Stopping, reaping and watching child processes from the event loop without threads (render workers, config
sandboxes)."""
from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def kill(process: Any) -> None:
    """SIGKILL a child process (``workers.zygote.ZygoteChild``) that has not exited yet."""
    if process.pid is not None and process.exitcode is None:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def reap(process: Any, timeout: float = 5.0) -> None:
    """Wait for a process to exit (its sentinel becomes readable), killing it if it does not within ``timeout``."""
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(process.sentinel, lambda: exited.done() or exited.set_result(None))
    try:
        async with asyncio.timeout(timeout):
            await exited
    except TimeoutError:
        kill(process)
        await asyncio.sleep(0.05)
    finally:
        loop.remove_reader(process.sentinel)
    process.join(0)
