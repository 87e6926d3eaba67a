"""Vetting a new config generation in a disposable, bounded process before any render worker loads it.

Why: compiling a template runs the template author's code in a way (Jinja folds constant expressions while
compiling, ``{{ 7 ** 100000000 % 2 }}``) and rendering it does so fully. Done in the render workers, a hostile
config made every worker spin or balloon while loading, the pool replaced them, the replacements loaded the same
config, and every revision lost its workers for as long as the config stayed. Here the generation is compiled and
trial-rendered once, in a child forked for this one config, under an address-space limit, a CPU-time limit and a
wall-clock deadline; an overrun or a failure rejects the generation with a reason and nothing else is touched.

The job factory decides what vetting means: ``factory.prepare(config, render_seconds, *, render_memory_bytes)
-> config``
(``workers.render.Injector.prepare`` compiles, trial-renders every template and returns the snapshot carrying its
compiled code, so the render workers load it in milliseconds). A factory without ``prepare`` has nothing to vet.
"""
from __future__ import annotations

import asyncio
import pickle
import signal
import socket
from typing import Any, Iterable, Protocol, runtime_checkable

from workers.limits import MIB, CompileLimits
from workers.pool import zygote_for
from workers.processes import kill, reap
from workers.sandbox_child import LENGTH, OK, REJECTED, main


class ConfigRejected(Exception):
    """The generation failed vetting; the message says why in the operator's terms."""


@runtime_checkable
class ReusesCode(Protocol):
    """A config that can take the compiled code of an equal template set instead of being compiled again."""

    def reusing_code_of(self, other: object) -> Any: ...


class ConfigSandbox:
    """Runs ``prepare`` for one config at a time per call, each in a fresh child of the zygote the render workers
    fork from (``workers.pool.zygote_for``)."""

    def __init__(self, job: str, *, limits: CompileLimits = CompileLimits()) -> None:
        self._job_spec = job
        self._zygote = zygote_for(job)
        self._limits = limits

    async def prepare(self, config: Any, donors: Iterable[Any] = ()) -> Any:
        """The vetted (and, for real configs, compiled) config. Raises ConfigRejected.

        ``donors`` are configs already serving: one with the very same templates lends its compiled code, so a
        change of values or mesh is trial-rendered without compiling the chart again."""
        if isinstance(config, ReusesCode):
            for donor in donors:
                config = config.reusing_code_of(donor)
        payload = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
        parent_end, child_end = socket.socketpair()
        try:
            process = self._zygote.spawn(main, child_end, (self._job_spec, self._limits))
        finally:
            child_end.close()
        parent_end.setblocking(False)
        try:
            async with asyncio.timeout(self._limits.wall_seconds):
                reply = await self._exchange(parent_end, payload)
        except TimeoutError:
            raise ConfigRejected(f"compiling and trial-rendering the templates did not finish within "
                                 f"{self._limits.wall_seconds:g}s") from None
        finally:
            parent_end.close()
            kill(process)
            await reap(process)
        if reply[:1] == OK:
            return pickle.loads(reply[1:])
        if reply[:1] == REJECTED:
            raise ConfigRejected(reply[1:].decode(errors="replace"))
        raise ConfigRejected(self._describe_death(process.exitcode))

    async def _exchange(self, sock: socket.socket, payload: bytes) -> bytes:
        """Send the config, read the answer until the child closes its end (or exceeds the size bound)."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, LENGTH.pack(len(payload)) + payload)
        bound = len(payload) + self._limits.max_code_bytes
        reply = bytearray()
        while chunk := await loop.sock_recv(sock, 1 << 18):
            reply += chunk
            if len(reply) > bound:
                raise ConfigRejected(f"the compiled templates are larger than {self._limits.max_code_bytes // MIB} "
                                     "MiB (constants folded while compiling count)")
        return bytes(reply)

    def _describe_death(self, exitcode: int | None) -> str:
        if exitcode == -signal.SIGXCPU or exitcode == -signal.SIGKILL:
            return (f"compiling and trial-rendering the templates used more than {self._limits.cpu_seconds:g}s "
                    "of CPU (the compile budget) or ran out of memory, and was stopped")
        return f"the config sandbox exited with code {exitcode} before answering"
