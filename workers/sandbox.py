"""Vetting a new config generation in a disposable, bounded process before any render worker loads it.

Why: compiling a template runs the template author's code in a way (Jinja folds constant expressions while
compiling, ``{{ 7 ** 100000000 % 2 }}``) and rendering it does so fully. Done in the render workers, a hostile
config made every worker spin or balloon while loading, the pool replaced them, the replacements loaded the same
config, and every revision lost its workers for as long as the config stayed. Here the generation is compiled and
trial-rendered once, in a child forked for this one config, under an address-space limit, a CPU-time limit and a
wall-clock deadline; an overrun or a failure rejects the generation with a reason and nothing else is touched.

The job factory decides what vetting means: ``factory.prepare(config, render_seconds) -> config``
(``workers.render.Injector.prepare`` compiles, trial-renders every template and returns the snapshot carrying its
compiled code, so the render workers load it in milliseconds). A factory without ``prepare`` has nothing to vet.
"""
from __future__ import annotations

import asyncio
import math
import multiprocessing
import pickle
import resource
import signal
import socket
import struct
from typing import Any, Iterable, Protocol, runtime_checkable

from workers.config.errors import ConfigError
from workers.limits import MIB, CompileLimits, limit_memory
from workers.pool_worker import resolve
from workers.processes import kill, reap

_LENGTH = struct.Struct("!Q")
_OK = b"0"
_REJECTED = b"1"


class ConfigRejected(Exception):
    """The generation failed vetting; the message says why in the operator's terms."""


class _OutOfCpu(BaseException):
    """SIGXCPU: the sandbox's whole CPU allowance is spent (not the budget of one trial render)."""


@runtime_checkable
class ReusesCode(Protocol):
    """A config that can take the compiled code of an equal template set instead of being compiled again."""

    def reusing_code_of(self, other: object) -> Any: ...


class ConfigSandbox:
    """Runs ``prepare`` for one config at a time per call, each in a fresh child of ``start_method``."""

    def __init__(self, job: str, *, start_method: str = "forkserver", limits: CompileLimits = CompileLimits()) -> None:
        self._job_spec = job
        self._context = multiprocessing.get_context(start_method)
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
        process = self._context.Process(target=_main, args=(child_end, self._job_spec, self._limits),
                                        name="injector-config-sandbox", daemon=True)
        process.start()
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
        if reply[:1] == _OK:
            return pickle.loads(reply[1:])
        if reply[:1] == _REJECTED:
            raise ConfigRejected(reply[1:].decode(errors="replace"))
        raise ConfigRejected(self._describe_death(process.exitcode))

    async def _exchange(self, sock: socket.socket, payload: bytes) -> bytes:
        """Send the config, read the answer until the child closes its end (or exceeds the size bound)."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, _LENGTH.pack(len(payload)) + payload)
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


def _main(sock: socket.socket, job_spec: str, limits: CompileLimits) -> None:
    """Child: bound this process, vet the config it is sent, answer ``_OK + pickled config`` or ``_REJECTED +
    reason``. SIGXCPU at the soft CPU limit stops Python code cleanly; the hard limit one second later (SIGKILL)
    stops a C call that never returns to Python."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cpu_seconds = max(1, math.ceil(limits.cpu_seconds))

    def out_of_cpu(signum: int, frame: object) -> None:
        raise _OutOfCpu()

    signal.signal(signal.SIGXCPU, out_of_cpu)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    limit_memory(limits.memory_bytes)
    with sock:
        sock.sendall(_vet(_receive(sock), job_spec, limits))


def _receive(sock: socket.socket) -> bytes:
    with sock.makefile("rb") as stream:
        (size,) = _LENGTH.unpack(stream.read(_LENGTH.size))
        return stream.read(size)


def _vet(payload: bytes, job_spec: str, limits: CompileLimits) -> bytes:
    try:
        config = pickle.loads(payload)
        factory = resolve(job_spec)
        prepare = getattr(factory, "prepare", None)
        if prepare is not None:
            config = prepare(config, limits.trial_render_seconds)
        return _OK + pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
    except _OutOfCpu:
        reason = (f"compiling and trial-rendering the templates used more than {limits.cpu_seconds:g}s of CPU "
                  "(the compile budget)")
    except MemoryError:
        bound = f"{limits.memory_bytes // MIB} MiB" if limits.memory_bytes else "the machine's memory"
        reason = f"compiling and trial-rendering the templates ran out of memory ({bound})"
    except ConfigError as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever a config makes the compiler raise rejects that config
        reason = f"{type(exc).__name__}: {exc}"
    return _REJECTED + reason.encode()
