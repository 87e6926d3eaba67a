"""The child half of the config sandbox (``workers.sandbox``): bound this process, vet one config, answer.

Kept apart from the parent half so that the zygote every render worker is forked from preloads it without the
parent half's asyncio (~3 MB in every process that holds it).
"""
from __future__ import annotations

import math
import pickle
import resource
import signal
import socket
import struct

from workers.config.errors import ConfigError
from workers.limits import MIB, CompileLimits, limit_memory
from workers.pool_worker import resolve

LENGTH = struct.Struct("!Q")
"""Prefix of the pickled config the parent sends."""
OK = b"0"
"""First byte of an answer carrying the pickled prepared config."""
REJECTED = b"1"
"""First byte of an answer carrying the reason for rejecting it."""


class _OutOfCpu(BaseException):
    """SIGXCPU: the sandbox's whole CPU allowance is spent (not the budget of one trial render)."""


def main(sock: socket.socket, job_spec: str, limits: CompileLimits) -> None:
    """Child: bound this process, vet the config it is sent, answer ``OK + pickled config`` or ``REJECTED +
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
        (size,) = LENGTH.unpack(stream.read(LENGTH.size))
        return stream.read(size)


def _vet(payload: bytes, job_spec: str, limits: CompileLimits) -> bytes:
    try:
        config = pickle.loads(payload)
        factory = resolve(job_spec)
        prepare = getattr(factory, "prepare", None)
        if prepare is not None:
            config = prepare(config, limits.trial_render_seconds, render_memory_bytes=limits.trial_render_memory_bytes)
        return OK + pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
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
    return REJECTED + reason.encode()
