"""A pool of long-lived render processes driven from the event loop without helper threads.

Why not ``ProcessPoolExecutor``: it pickles every call and runs a management thread; here a request is the raw
pod bytes plus a small pickled facts object, sent over a socketpair whose readability the loop watches
(``add_reader``). Each worker runs one job at a time, so the parent holds the only queue: a job abandoned at its
deadline is simply dropped from it, queue depth is exact, and a dead worker's one in-flight job can be retried.

Config generations are broadcast once and acknowledged before any job uses them; a replacement worker is sent
every live generation before it takes jobs. This module is the parent half; ``pool_worker`` is the child half.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
from dataclasses import dataclass, field
from typing import Any, Callable

from workers import pool_worker as proto

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 18
_CRASH_LOOP_SECONDS = 1.0
"""A worker dying sooner than this after its start is replaced only after this delay."""


class PoolError(Exception):
    """Base class: the pool could not produce a result."""


class JobFailed(PoolError):
    """The job ran and raised. ``user_error`` says whether the request (not our code) is at fault."""

    def __init__(self, message: str, *, user_error: bool) -> None:
        super().__init__(message)
        self.user_error = user_error


class WorkerCrashed(PoolError):
    """Workers died twice while holding this job; it is not tried a third time (it may be what kills them)."""


class PoolClosed(PoolError):
    """The pool is shutting down and takes no new work."""


class GenerationRejected(PoolError):
    """A worker could not load a config generation; the message is the worker's error."""


@dataclass(eq=False)
class _Job:
    request_id: int
    generation: int
    frame: bytes
    future: asyncio.Future[bytes]
    attempts: int = 0


@dataclass(eq=False)
class _Worker:
    process: Any
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    loaded: set[int] = field(default_factory=set)
    loading: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    job: _Job | None = None
    dead: bool = False
    started: float = 0.0


class WorkerPool:
    """N worker processes rendering jobs for acknowledged config generations.

    ``job`` is a ``"module:factory"`` path resolved in the worker: ``factory(config)`` returns an object with
    ``inject_admission(pod_json, facts) -> bytes``. ``hang_grace`` is how long a worker may keep running a job
    whose caller gave up before it is killed and replaced (a template stuck in a loop must not hold a worker).
    """

    def __init__(self, size: int, *, job: str = "workers.render:Injector", start_method: str = "forkserver",
                 hang_grace: float = 5.0, on_restart: Callable[[], None] | None = None) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self._size = size
        self._job_spec = job
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload([proto.__name__, job.partition(":")[0]])
        self._hang_grace = hang_grace
        self._on_restart = on_restart
        self._workers: list[_Worker] = []
        self._queue: collections.deque[_Job] = collections.deque()
        self._configs: dict[int, bytes] = {}
        self._retiring: set[int] = set()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._idle_event: asyncio.Event | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Spawn the workers. They take jobs once they hold the generations loaded with ``load``."""
        self._loop = asyncio.get_running_loop()
        self._idle_event = asyncio.Event()
        for _ in range(self._size):
            self._spawn()

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new work, let queued and running jobs finish (up to ``timeout``), then stop the workers."""
        self._closing = True
        assert self._idle_event is not None
        if self._queue or any(w.job for w in self._workers):
            self._idle_event.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._idle_event.wait()
            except TimeoutError:
                log.warning("pool closing with %d queued jobs after %.1fs", len(self._queue), timeout)
        workers, self._workers = self._workers, []
        for job in [*self._queue, *(w.job for w in workers if w.job is not None)]:
            if not job.future.done():
                job.future.set_exception(PoolClosed("the injector is shutting down"))
        self._queue.clear()
        for worker in workers:
            self._detach(worker)
        await asyncio.gather(*(self._reap(worker.process) for worker in workers))

    # ----------------------------------------------------------------- config generations

    async def load(self, config: Any, generation: int) -> None:
        """Compile ``config`` in every worker; returns once all live workers acknowledged it.

        Raises GenerationRejected (and forgets the generation) if any worker fails to load it. A worker that dies
        meanwhile does not fail the load: its replacement loads every live generation before taking jobs.
        """
        assert self._loop is not None
        payload = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
        self._configs[generation] = payload
        waits = [self._send_load(worker, generation, payload) for worker in self._workers if not worker.dead]
        results = await asyncio.gather(*waits, return_exceptions=True)
        errors = [r for r in results if isinstance(r, GenerationRejected)]
        if errors:
            self.retire(generation)
            raise errors[0]

    def retire(self, generation: int) -> None:
        """Forget a generation no new request will use; workers drop it once its queued jobs have run."""
        if self._configs.pop(generation, None) is not None:
            self._retiring.add(generation)
            self._drop_retired()

    def _drop_retired(self) -> None:
        in_use = {job.generation for job in self._queue}
        in_use.update(w.job.generation for w in self._workers if w.job is not None)
        for generation in self._retiring - in_use:
            self._retiring.discard(generation)
            frame = proto.pack(proto.RETIRE, generation=generation)
            for worker in self._workers:
                if generation in worker.loaded:
                    worker.loaded.discard(generation)
                    self._write(worker, frame)

    @property
    def ready(self) -> bool:
        """All workers are up and hold every live generation (and there is at least one)."""
        live = set(self._configs)
        return bool(live) and len(self._workers) == self._size and all(
            not w.dead and live <= w.loaded for w in self._workers)

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for an idle worker (running jobs not included)."""
        return len(self._queue)

    @property
    def busy(self) -> int:
        return sum(1 for w in self._workers if w.job is not None)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for per-process figures such as memory)."""
        return [w.process.pid for w in self._workers if not w.dead and w.process.pid is not None]

    # ----------------------------------------------------------------- jobs

    async def submit(self, generation: int, pod_json: bytes, facts: Any) -> bytes:
        """Render one pod; returns the patch bytes. Cancel (e.g. a deadline) to abandon the job."""
        if self._closing:
            raise PoolClosed("the injector is shutting down")
        assert self._loop is not None
        if generation not in self._configs:
            raise JobFailed(f"config generation {generation} is not loaded", user_error=False)
        request_id = next(self._ids)
        meta = pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
        frame = proto.pack(proto.JOB, request_id=request_id, generation=generation, meta=meta, body=pod_json)
        job = _Job(request_id, generation, frame, self._loop.create_future())
        self._queue.append(job)
        self._dispatch()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._abandon(job)
            raise

    def _abandon(self, job: _Job) -> None:
        """A queued job leaves the queue; a running one has its result dropped and its worker watched."""
        try:
            self._queue.remove(job)
            self._notify_idle()
            return
        except ValueError:
            pass
        for worker in self._workers:
            if worker.job is job:
                assert self._loop is not None
                self._loop.call_later(self._hang_grace, self._kill_if_stuck, worker, job)

    def _kill_if_stuck(self, worker: _Worker, job: _Job) -> None:
        if worker.job is job and not worker.dead:
            log.warning("worker pid %s still busy %.1fs after its job was abandoned: killing it",
                        worker.process.pid, self._hang_grace)
            _kill(worker.process)

    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers that hold the job's generation, oldest job first."""
        idle = [w for w in self._workers if w.job is None and not w.dead]
        for job in list(self._queue) if idle else ():
            if not idle:
                break
            if job.future.done():
                self._queue.remove(job)
                continue
            worker = next((w for w in idle if job.generation in w.loaded), None)
            if worker is None:
                continue
            self._queue.remove(job)
            idle.remove(worker)
            job.attempts += 1
            worker.job = job
            self._write(worker, job.frame)
        if self._retiring:
            self._drop_retired()
        self._notify_idle()

    def _notify_idle(self) -> None:
        if self._idle_event is not None and not self._queue and not any(w.job for w in self._workers):
            self._idle_event.set()

    # ----------------------------------------------------------------- processes and sockets

    def _spawn(self) -> _Worker:
        assert self._loop is not None
        parent_end, child_end = socket.socketpair()
        process = self._context.Process(target=proto.main, args=(child_end, self._job_spec),
                                        name="injector-render", daemon=True)
        process.start()
        child_end.close()
        parent_end.setblocking(False)
        worker = _Worker(process, parent_end, started=self._loop.time())
        self._workers.append(worker)
        self._loop.add_reader(parent_end.fileno(), self._on_readable, worker)
        for generation, payload in self._configs.items():
            waiter = self._send_load(worker, generation, payload)
            waiter.add_done_callback(_consume_exception)
        return worker

    def _send_load(self, worker: _Worker, generation: int, payload: bytes) -> asyncio.Future[None]:
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        worker.loading[generation] = waiter
        self._write(worker, proto.pack(proto.LOAD, generation=generation, body=payload))
        return waiter

    def _write(self, worker: _Worker, frame: bytes) -> None:
        """Send now what the socket takes; the rest goes out when it is writable again."""
        if worker.dead:
            return
        if worker.outbuf:
            worker.outbuf += frame
            return
        try:
            sent = worker.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._on_death(worker)
            return
        if sent < len(frame):
            worker.outbuf += memoryview(frame)[sent:]
            assert self._loop is not None
            self._loop.add_writer(worker.sock.fileno(), self._on_writable, worker)

    def _on_writable(self, worker: _Worker) -> None:
        try:
            sent = worker.sock.send(worker.outbuf)
        except BlockingIOError:
            return
        except OSError:
            self._on_death(worker)
            return
        del worker.outbuf[:sent]
        if not worker.outbuf:
            assert self._loop is not None
            self._loop.remove_writer(worker.sock.fileno())

    def _on_readable(self, worker: _Worker) -> None:
        try:
            data = worker.sock.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_death(worker)
            return
        buf = worker.inbuf
        buf += data
        size = proto.HEADER.size
        while len(buf) >= size:
            kind, status, request_id, generation, meta_len, body_len = proto.HEADER.unpack_from(buf)
            end = size + meta_len + body_len
            if len(buf) < end:
                break
            body = bytes(buf[size + meta_len:end])
            del buf[:end]
            if kind == proto.RESULT:
                self._on_result(worker, request_id, status, body)
            elif kind == proto.LOADED:
                self._on_loaded(worker, generation, status, body)

    def _on_result(self, worker: _Worker, request_id: int, status: int, body: bytes) -> None:
        job, worker.job = worker.job, None
        if job is not None and job.request_id == request_id and not job.future.done():
            if status == proto.OK:
                job.future.set_result(body)
            else:
                job.future.set_exception(JobFailed(body.decode(errors="replace"),
                                                   user_error=status == proto.USER_ERROR))
        self._dispatch()

    def _on_loaded(self, worker: _Worker, generation: int, status: int, body: bytes) -> None:
        waiter = worker.loading.pop(generation, None)
        if status == proto.OK:
            if generation in self._configs:
                worker.loaded.add(generation)
            else:  # retired while this worker was compiling it
                self._write(worker, proto.pack(proto.RETIRE, generation=generation))
        if waiter is not None and not waiter.done():
            if status == proto.OK:
                waiter.set_result(None)
            else:
                waiter.set_exception(GenerationRejected(body.decode(errors="replace")))
        self._dispatch()

    def _detach(self, worker: _Worker) -> None:
        """Stop watching a worker's socket and close it; the worker sees end of stream and exits."""
        if worker.dead:
            return
        worker.dead = True
        assert self._loop is not None
        self._loop.remove_reader(worker.sock.fileno())
        if worker.outbuf:
            self._loop.remove_writer(worker.sock.fileno())
        worker.sock.close()
        for waiter in worker.loading.values():
            if not waiter.done():
                waiter.set_result(None)  # the replacement loads it; see load()

    def _on_death(self, worker: _Worker) -> None:
        """Replace the worker and give its in-flight job one more try elsewhere."""
        if worker.dead:
            return
        self._detach(worker)
        if worker in self._workers:
            self._workers.remove(worker)
        _kill(worker.process)
        assert self._loop is not None
        self._loop.create_task(self._reap(worker.process))
        job, worker.job = worker.job, None
        if job is not None and not job.future.done():
            if job.attempts >= 2:
                job.future.set_exception(WorkerCrashed(
                    "the render worker died twice while injecting this pod"))
            else:
                self._queue.appendleft(job)
        if self._closing:
            self._notify_idle()
            return
        log.warning("render worker pid %s exited (code %s); starting a replacement",
                    worker.process.pid, worker.process.exitcode)
        if self._on_restart is not None:
            self._on_restart()
        if self._loop.time() - worker.started < _CRASH_LOOP_SECONDS:
            self._loop.call_later(_CRASH_LOOP_SECONDS, self._respawn)  # do not spin on a worker that cannot start
        else:
            self._respawn()
        self._dispatch()

    def _respawn(self) -> None:
        if not self._closing and len(self._workers) < self._size:
            self._spawn()

    async def _reap(self, process: Any, timeout: float = 5.0) -> None:
        """Wait for a worker to exit (it does on end of stream), killing it if it does not."""
        assert self._loop is not None
        exited = self._loop.create_future()
        self._loop.add_reader(process.sentinel, lambda: exited.done() or exited.set_result(None))
        try:
            async with asyncio.timeout(timeout):
                await exited
        except TimeoutError:
            _kill(process)
            await asyncio.sleep(0.05)
        finally:
            self._loop.remove_reader(process.sentinel)
        process.join(0)


def _kill(process: Any) -> None:
    if process.pid is not None and process.exitcode is None:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _consume_exception(future: asyncio.Future[None]) -> None:
    """A replacement's failed load is logged here; nobody awaits it."""
    if not future.cancelled() and future.exception() is not None:
        log.error("replacement worker failed to load a config generation: %s", future.exception())
