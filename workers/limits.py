"""The bounds every process that runs templates lives under, and the few system calls that enforce them.

One revision's config is a shared risk in a process that serves every revision: a template can fold a huge
constant while compiling, loop for hours or build a gigabyte string while rendering. So both kinds of process that
run templates are bounded: the disposable config sandbox (``workers.sandbox``, compile + trial render) and the
long-lived render workers (``workers.pool_worker``, one admission at a time). The numbers come from the
``injector serve`` flags; they live here so the flags, the pool, the worker and the sandbox agree on them.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

MIB = 1 << 20


@dataclass(frozen=True)
class RenderLimits:
    """Bounds of one admission in a render worker."""

    cpu_seconds: float = 1.0
    """CPU time one render may use before it is stopped (``--render-budget``); a 1.5 MiB pod takes ~0.15 s."""
    kill_grace: float = 1.0
    """CPU time past ``cpu_seconds`` after which the parent kills a worker that did not stop by itself (a single
    long C call never reaches a point where it could be interrupted). CPU, read from /proc, so a worker that is
    merely slowed by a busy machine is never killed for it."""
    memory_bytes: int | None = 512 * MIB
    """Address-space limit of each render worker (``--worker-memory-limit``): a too large allocation fails with
    MemoryError instead of growing the worker. None: unbounded."""
    max_patch_bytes: int = 6 * MIB
    """Largest JSON Patch a render may return (``--max-patch-bytes``)."""
    render_memory_bytes: int | None = 128 * MIB
    """Address space one render may add to its worker (``--render-memory``), within ``memory_bytes``: a render
    that builds something larger fails at once, having touched at most this much, instead of growing the worker to
    its limit page by page while the other revisions wait (a 2.8 MiB pod, twice what etcd stores, needs ~40 MiB).
    None: only ``memory_bytes`` bounds it."""

    @property
    def kill_after(self) -> float:
        """CPU seconds of one job after which the parent replaces the worker still busy with it."""
        return self.cpu_seconds + self.kill_grace

    @property
    def healthy_resident_bytes(self) -> int | None:
        """A worker whose resident memory stays above this after a job is replaced (fragmentation, leaks)."""
        return None if self.memory_bytes is None else self.memory_bytes // 2


@dataclass(frozen=True)
class CompileLimits:
    """Bounds of vetting one config generation in the disposable sandbox."""

    cpu_seconds: float = 10.0
    """CPU time for compiling every template and trial-rendering each (``--compile-budget``); Istio's chart
    needs about 1 s."""
    memory_bytes: int | None = 512 * MIB
    """Address-space limit of the sandbox process (the same flag as the render workers')."""
    max_code_bytes: int = 32 * MIB
    """Largest compiled result the sandbox may hand back (folded constants live in it; Istio's chart is ~0.6 MiB)."""
    wall_seconds: float = 30.0
    """The sandbox is killed after this long whatever it does (the CPU limit does not count waiting)."""
    trial_render_seconds: float = RenderLimits.cpu_seconds
    """CPU budget of each trial render: the render budget of a real admission."""
    trial_render_memory_bytes: int | None = RenderLimits.render_memory_bytes
    """Address space each trial render may add: the per-render allowance of a real admission."""


SERVER_RESERVE = 192 * MIB
"""What the server process itself (event loop, informers, caches) keeps of a container's memory limit."""
MIN_WORKER_MEMORY = 192 * MIB
"""Below this a worker holding Istio's chart cannot render large pods; never go lower by default."""
CGROUP_MEMORY_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
"""cgroup v2, then v1."""


def container_memory_limit(files: Sequence[str] = CGROUP_MEMORY_FILES) -> int | None:
    """The memory limit of this process's cgroup (a container's ``resources.limits.memory``); None if unlimited."""
    for name in files:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        return int(text) if text.isdigit() and int(text) < 1 << 60 else None  # "max", or v1's huge "unlimited"
    return None


def worker_memory_for(workers: int, container_limit: int | None) -> int:
    """The default memory limit of each render worker: ``RenderLimits.memory_bytes``, or less so that every worker
    and the config sandbox (``workers + 1`` processes at that limit) plus the server fit in the container's memory
    limit, so no render can get the whole container killed; never below ``MIN_WORKER_MEMORY``."""
    default = RenderLimits.memory_bytes
    assert default is not None
    if container_limit is None:
        return default
    share = (container_limit - SERVER_RESERVE) // (workers + 1) // MIB * MIB
    return max(MIN_WORKER_MEMORY, min(default, share))


def limit_memory(limit_bytes: int | None) -> None:
    """Bound this process's address space; allocations beyond it raise MemoryError."""
    if limit_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


@contextlib.contextmanager
def memory_headroom(extra_bytes: int | None) -> Iterator[None]:
    """Within the block this process may map at most ``extra_bytes`` more than it has mapped now (never more than
    its own limit): a lowered soft ``RLIMIT_AS``, restored afterwards. Two system calls and a read of /proc."""
    if extra_bytes is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    bound = mapped_bytes() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        bound = min(bound, hard)
    resource.setrlimit(resource.RLIMIT_AS, (bound, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


_M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (malloc.h)."""
LARGE_ALLOCATION = 1 * MIB


def map_large_allocations_apart() -> None:
    """Have glibc serve every allocation of ``LARGE_ALLOCATION`` or more with its own mapping, returned to the
    system when freed. By default glibc raises that threshold each time such a block is freed (up to 32 MiB), so
    after one memory-hungry render the next one's big strings come from the heap and stay mapped when freed: the
    worker's address space would ratchet up by a render's allowance (``memory_headroom``) job after job. A fixed
    threshold keeps the heap where the worker's own data needs it."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION)


def mapped_bytes() -> int:
    """Address space this process has mapped now (what ``RLIMIT_AS`` bounds; one read of /proc)."""
    return _statm_bytes(0)


def peak_resident_bytes() -> int:
    """The most this process ever had resident (one system call: the cheap first look after every job)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def resident_bytes() -> int:
    """Current resident set size of this process (one read of /proc)."""
    return _statm_bytes(1)


def _statm_bytes(field: int) -> int:
    """One field of /proc/self/statm (counted in pages), in bytes."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[field]) * os.sysconf("SC_PAGE_SIZE")


def release_free_memory() -> None:
    """Collect cyclic garbage (a failed render's traceback keeps its frames, and their big strings, alive until
    then) and hand free heap pages back to the system where the C library can (glibc's ``malloc_trim``)."""
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
