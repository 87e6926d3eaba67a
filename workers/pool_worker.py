"""The render worker's main loop and the frame format both ends of the pool speak.

A worker is a plain synchronous process: it reads a frame, does one thing, writes one frame back. The parent may
send a few short jobs ahead of the one running (``workers.scheduler``, "prefetch"): they wait in the socket, in
order, so the worker starts the next job the moment it answered one, without waiting for a busy event loop to read
the answer and send more; it needs no queue and no threads. A job that can no longer start in time when the worker
reaches it (the parent sends its latest start) is answered ``EXPIRED``, unrendered. Frames are a fixed
header plus two byte strings (``meta`` and ``body``), so a pod travels as the raw JSON bytes the apiserver sent and
a patch comes back as the bytes that go into the AdmissionReview; only small things (facts, configs) are pickled.

Every job runs under ``workers.limits.RenderLimits``: a CPU budget (the job is stopped where it is and answered
with an error), an address-space limit (a huge allocation fails with MemoryError instead of growing the worker),
lowered during each job to what the worker maps plus the per-render allowance (so a memory-hungry render fails
after touching at most that much, in milliseconds), and a patch size limit. A worker whose resident memory stays high after a job (even once garbage is collected and freed
pages returned) says so, answers and exits, and the pool starts a fresh one.
"""
from __future__ import annotations

import gc
import importlib
import os
import pickle
import signal
import socket
import struct
import time
import traceback
from typing import Any, Callable, Protocol

from workers import gc_policy
from workers.budget import BudgetExceeded, cpu_budget
from workers.config.errors import ConfigError
from workers.errors import InjectionError
from workers.limits import (MIB, RenderLimits, limit_memory, map_large_allocations_apart, mapped_bytes,
                            memory_headroom, peak_resident_bytes, release_free_memory, resident_bytes)

HEADER = struct.Struct("!BBxxIQII")
"""kind, status, request id, generation, meta length, body length."""
CPU_TIME = struct.Struct("!d")
"""The worker's CPU seconds so far, sent with every answer: the parent's baseline for the next job's CPU use."""
RESULT_TIMES = struct.Struct("!dd")
"""A RESULT's ``meta``: ``CPU_TIME``, then the ``time.monotonic()`` of the answer (the parent's delay in reading it
is how much work a worker should hold)."""
JOB_START_BY = struct.Struct("!d")
"""Leads a job's ``meta``: the ``time.monotonic()`` by which it must start to finish in time (``inf``: none)."""
REQUEST_ID_LIMIT = 1 << 32
"""Request ids are 32-bit in the header: they wrap, which is safe because an id only has to tell the few jobs a
worker holds from a stale reply."""


def next_request_id(previous: int) -> int:
    """The id after ``previous``: 1, 2, ..., 2**32 - 1, then 1 again (0 is never a job's id)."""
    return previous % (REQUEST_ID_LIMIT - 1) + 1

# Frame kinds.
LOAD = 1
"""parent -> worker: compile the pickled config in ``body`` under ``generation``."""
LOADED = 2
"""worker -> parent: answer to LOAD; ``body`` is the error text when status is not OK; ``meta`` = ``CPU_TIME``."""
JOB = 3
"""parent -> worker: ``meta`` = ``JOB_START_BY`` + pickled RequestFacts, ``body`` = raw pod JSON."""
REVIEW_JOB = 7
"""parent -> worker: as JOB, but ``body`` is the whole AdmissionReview as received and the pod is its
``request.object`` (the front end read only the pod's metadata; the pod is decoded once, here)."""
RESULT = 4
"""worker -> parent: ``body`` = patch bytes (OK) or the error text; ``meta`` = ``RESULT_TIMES``."""
RETIRE = 5
"""parent -> worker: forget ``generation``."""
RETIRING = 6
"""worker -> parent, just before a RESULT: this worker exits after that answer (it grew too large to keep), so
send it nothing more (jobs already sent behind that one are never answered: the pool queues them again); the pool
starts a replacement when it is gone."""

# Result statuses.
OK = 0
USER_ERROR = 1
"""The pod or config is at fault (``workers.errors.InjectionError``): the message goes to the user as is."""
INTERNAL_ERROR = 2
"""A bug or an unexpected exception; the message carries the exception type."""
UNKNOWN_GENERATION = 3
EXPIRED = 4
"""The job's latest start had passed when the worker reached it: not rendered."""


class Job(Protocol):
    """What a job factory returns for one config generation (``workers.render.Injector`` in production)."""

    def inject_admission(self, pod_json: bytes, facts: Any) -> bytes: ...

    def inject_review(self, review_json: bytes, facts: Any) -> bytes: ...


def pack(kind: int, *, status: int = OK, request_id: int = 0, generation: int = 0,
         meta: bytes = b"", body: bytes = b"") -> bytes:
    """One frame as a single buffer, so it goes out in one send."""
    return HEADER.pack(kind, status, request_id, generation, len(meta), len(body)) + meta + body


def resolve(spec: str) -> Callable[..., Any]:
    """``"package.module:attribute"`` -> the attribute; lets tests plug in slow or crashing jobs."""
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"job spec {spec!r} must look like 'package.module:factory'")
    return getattr(importlib.import_module(module_name), attribute)


class _Reader:
    """Exact-length reads from a blocking socket; ``None`` at end of stream (the parent went away)."""

    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb", buffering=1 << 16)

    def frame(self) -> tuple[tuple[int, int, int, int, int, int], bytes, bytes] | None:
        raw = self._file.read(HEADER.size)
        if len(raw) < HEADER.size:
            return None
        header = HEADER.unpack(raw)
        meta = self._file.read(header[4]) if header[4] else b""
        body = self._file.read(header[5]) if header[5] else b""
        if len(meta) < header[4] or len(body) < header[5]:
            return None
        return header, meta, body


def _load(factory: Callable[[Any], Job], body: bytes) -> Job:
    job = factory(pickle.loads(body))
    gc.collect()
    gc.freeze()  # compiled templates live for the whole generation: keep them out of every later GC pass
    return job


def _run(job: Job, kind: int, body: bytes, meta: bytes, limits: RenderLimits) -> tuple[int, bytes]:
    """One job (JOB or REVIEW_JOB) under its limits -> (status, patch or error text)."""
    inject = job.inject_review if kind == REVIEW_JOB else job.inject_admission
    try:
        # The headroom outermost: the budget is disarmed before the limit is restored, so no tick can skip that.
        with memory_headroom(limits.render_memory_bytes), cpu_budget(limits.cpu_seconds):
            patch = inject(body, pickle.loads(memoryview(meta)[JOB_START_BY.size:]))
    except InjectionError as exc:
        return USER_ERROR, str(exc).encode()
    except BudgetExceeded:
        return USER_ERROR, (f"rendering used more than {limits.cpu_seconds:g}s of CPU, the render budget of this "
                            "injector; the injection template is too slow for this pod").encode()
    except MemoryError as exc:
        return USER_ERROR, (f"rendering ran out of memory ({_memory_bounds(limits)}): "
                            f"{exc or 'an allocation failed'}").encode()
    except Exception as exc:  # noqa: BLE001 - a render bug must become an answer, not a dead worker
        traceback.print_exc()
        return INTERNAL_ERROR, f"{type(exc).__name__}: {exc}".encode()
    if len(patch) > limits.max_patch_bytes:
        return USER_ERROR, (f"the JSON patch is {len(patch)} bytes, more than this injector's limit of "
                            f"{limits.max_patch_bytes}").encode()
    return OK, patch


LEFT_MAPPED_BYTES = 16 * MIB
"""A failed job that leaves the worker mapping more than this much more than before has its garbage freed at once:
its frames, and the big values they hold, sit in reference cycles until a collection, and the next render's
allowance (``memory_headroom``) counts from what the worker maps when it starts."""


def _memory_bounds(limits: RenderLimits) -> str:
    """The bounds a render that ran out of memory met, for its message."""
    bounds = []
    if limits.render_memory_bytes is not None:
        bounds.append(f"{limits.render_memory_bytes // MIB} MiB per render")
    if limits.memory_bytes is not None:
        bounds.append(f"{limits.memory_bytes // MIB} MiB per render worker")
    return ", ".join(bounds) or "the machine's memory"


def _cpu_time() -> bytes:
    return CPU_TIME.pack(time.process_time())


def job_meta(start_by: float, facts: Any) -> bytes:
    """A job's ``meta``: its latest start (monotonic seconds, ``math.inf`` for none) and its pickled facts."""
    return JOB_START_BY.pack(start_by) + pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)


def _answer_job(job: Job | None, kind: int, generation: int, meta: bytes, body: bytes,
                limits: RenderLimits) -> tuple[int, bytes]:
    """(status, patch or error text) of one job frame: unknown generation, expired, or rendered."""
    if job is None:
        return UNKNOWN_GENERATION, f"config generation {generation} is not loaded in this worker".encode()
    (start_by,) = JOB_START_BY.unpack_from(meta)
    if time.monotonic() > start_by:
        return EXPIRED, b"its deadline would pass before the render could finish"
    mapped = mapped_bytes()
    status, answer = _run(job, kind, body, meta, limits)
    if status != OK and mapped_bytes() - mapped > LEFT_MAPPED_BYTES:
        release_free_memory()
    return status, answer


def _healthy(limits: RenderLimits) -> bool:
    """Whether this worker is small enough to keep after a job. A render that failed half-way leaves garbage in
    reference cycles, and many small objects can leave the heap bloated: both are cleaned up before judging."""
    bound = limits.healthy_resident_bytes
    if bound is None or peak_resident_bytes() <= bound or resident_bytes() <= bound:
        return True
    release_free_memory()
    return resident_bytes() <= bound


def serve(sock: socket.socket, job_spec: str, limits: RenderLimits = RenderLimits()) -> None:
    """Answer frames until the parent closes the socket (or this worker grew too large to keep)."""
    factory = resolve(job_spec)
    jobs: dict[int, Job] = {}
    reader = _Reader(sock)
    while (frame := reader.frame()) is not None:
        (kind, _, request_id, generation, _, _), meta, body = frame
        if kind in (JOB, REVIEW_JOB):
            status, answer = _answer_job(jobs.get(generation), kind, generation, meta, body, limits)
            healthy = _healthy(limits)
            if not healthy:
                sock.sendall(pack(RETIRING))
            times = RESULT_TIMES.pack(time.process_time(), time.monotonic())
            sock.sendall(pack(RESULT, status=status, request_id=request_id, generation=generation,
                              meta=times, body=answer))
            if not healthy:
                return
        elif kind == LOAD:
            try:
                jobs[generation] = _load(factory, body)
                reply = pack(LOADED, generation=generation, meta=_cpu_time())
            except ConfigError as exc:  # a config fault (e.g. a template that does not compile): its own words
                reply = pack(LOADED, status=USER_ERROR, generation=generation, meta=_cpu_time(),
                             body=str(exc).encode())
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which rejects the generation
                reply = pack(LOADED, status=USER_ERROR, generation=generation, meta=_cpu_time(),
                             body=f"{type(exc).__name__}: {exc}".encode())
            sock.sendall(reply)
        elif kind == RETIRE:
            jobs.pop(generation, None)


WORKER_NICENESS = 15
"""Render workers yield the CPU to the event loop when both want it (CFS weight 36 against 1024). Under overload
the loop must keep reading, refusing and answering requests on time; workers that took every core would leave
requests unread in socket buffers until after their deadline (measured with bench/overload_bench.py: 2000-env pods
at 5x capacity, replies after the deadline 113-188 at equal priority, 0-2 at niceness 5; standard pods at 5x of
the capacity prefetch brought, 534-547/s, 1,341 at niceness 5 and 288 with this, the connection wait p99 6.7 s and
0.1 s). Raising niceness needs no privilege, and when the loop is idle the workers get the whole CPU as before."""


def main(sock: socket.socket, job_spec: str, limits: RenderLimits = RenderLimits()) -> None:
    """Process entry point. Ctrl-C reaches the whole process group; only the parent decides when workers stop."""
    os.nice(WORKER_NICENESS)
    gc_policy.apply()
    limit_memory(limits.memory_bytes)
    map_large_allocations_apart()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        serve(sock, job_spec, limits)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone; nothing left to answer
    finally:
        sock.close()
