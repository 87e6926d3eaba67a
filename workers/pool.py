"""A pool of long-lived render processes driven from the event loop without helper threads.

Why not ``ProcessPoolExecutor``: it pickles every call and runs a management thread; here a request is the raw
pod bytes plus a small pickled facts object, sent over a socketpair whose readability the loop watches
(``add_reader``). Workers are forked from the pre-imported zygote (``workers.zygote``), so they share its pages.
The parent holds the queue: a job abandoned at its deadline is simply dropped from it and queue depth is exact. A
worker runs one job at a time; while it is busy with fast work it may be sent a few more milliseconds of fast jobs
(``workers.scheduler``, "Prefetch"), which it answers in order, so it never idles until a busy event loop gets to
its answer. A dead worker's running job can be retried and the jobs it held behind it go back to the queue.

Config generations are broadcast once and acknowledged before any job uses them; a replacement worker is sent
every live generation before it takes jobs. A load counts only when live workers acknowledged it: a worker that dies
while compiling has the load retried on its replacement, and a generation that kills a retry too is rejected.
Which queued job runs next, and which are refused because they cannot finish in time, is ``workers.scheduler``'s
policy. This module is the parent half; ``pool_worker`` is the child half.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import math
import pickle
import socket
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable

from workers import pool_worker as proto
from workers import zygote
from workers.limits import RenderLimits
from workers.processes import cpu_seconds, kill, reap
from workers.scheduler import Refusal, Scheduler, Settings, size_class

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 18
_CRASH_LOOP_SECONDS = 1.0
"""A worker dying before it finished loading, or sooner than this after its start, is replaced after a delay that
starts here and doubles with each such death in a row (up to ``_MAX_RESPAWN_DELAY``)."""
_MAX_RESPAWN_DELAY = 30.0


DEFAULT_JOB = "workers.render:Injector"


PRELOAD = (proto.__name__, "workers.sandbox_child", "workers.templates.jinja", "workers.templates.gotemplate")
"""What the zygote imports besides the job's module: the worker loop, the config sandbox's child half, the
template runtime and the translator (config sandboxes compile), so no child imports them again."""


def zygote_for(job: str = DEFAULT_JOB) -> zygote.Zygote:
    """The zygote render workers and config sandboxes fork from, preloading their modules (the first call's
    ``job`` decides what it preloads)."""
    return zygote.shared((*PRELOAD, job.partition(":")[0]))


def start_zygote(job: str = DEFAULT_JOB) -> None:
    """Start the zygote now. It returns at once and the zygote imports in its own process, so when
    ``injector serve`` calls this first thing, those imports overlap the server's own instead of following
    them. Does nothing once it runs."""
    zygote_for(job).ensure_running()


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
    """A worker could not load a config generation (the message is the worker's error), or loading it killed
    workers."""


class Overloaded(PoolError):
    """The job was refused, not run: it could not finish before its deadline (see ``workers.scheduler``)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__()  # the text is made only if asked for: under overload most refusals never print it
        self.reason = refusal.reason
        self.wait = refusal.wait
        self.render = refusal.render

    def __str__(self) -> str:
        return f"{self.reason}: estimated wait {self.wait:.2f}s + render {self.render:.2f}s"


@dataclass(eq=False)
class _Job:
    request_id: int
    generation: int
    revision: str
    size_class: int
    deadline: float | None
    frame: bytearray
    """The job frame; its latest start (``proto.JOB_START_BY``, leading the meta) is written in when it is sent."""
    future: asyncio.Future[bytes]
    attempts: int = 0
    watchdog: asyncio.TimerHandle | None = None
    sent: float = 0.0
    """Loop time it was last sent to a worker."""


@dataclass(eq=False)
class _Load:
    """A generation being loaded: done once every live worker acknowledged it."""

    generation: int
    done: asyncio.Future[None]
    deaths: int = 0
    retry_workers: set[int] = field(default_factory=set)
    """``id()`` of workers given this load as a retry after a death; one of them dying too rejects it."""


@dataclass(eq=False)
class _Worker:
    process: Any
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    loaded: set[int] = field(default_factory=set)
    loading: list[int] = field(default_factory=list)
    """Generations sent and not yet acknowledged, in the order the worker loads them."""
    starting: set[int] = field(default_factory=set)
    """The generations it was started with and has not answered yet; it serves no readiness until they are."""
    jobs: collections.deque[_Job] = field(default_factory=collections.deque)
    """Jobs sent and not yet answered, in order: the first is running, the others wait in the socket."""
    dead: bool = False
    retiring: bool = False
    """The worker said it exits after its current job (it grew too large): it takes no new one."""
    cpu_when_idle: float = 0.0
    """Its CPU seconds as of its last answer: what the job it runs now has used is measured from here."""
    started: float = 0.0
    answered: float = 0.0
    """Loop time its last answer was read."""

    @property
    def accepting(self) -> bool:
        """Can be sent a job (a job sent while it compiles would wait behind the compile, unseen)."""
        return not self.dead and not self.loading and not self.retiring


class WorkerPool:
    """N worker processes rendering jobs for acknowledged config generations.

    ``job`` is a ``"module:factory"`` path resolved in the worker: ``factory(config)`` returns an object with
    ``inject_admission(pod_json, facts) -> bytes``. ``hang_grace`` is how long a worker may keep running a job
    whose caller gave up before it is killed and replaced (a template stuck in a loop must not hold a worker).
    ``limits`` bound every job (see ``pool_worker``); a job that has used ``limits.kill_after`` seconds of CPU
    without being answered fails and its worker is replaced at once: it is stuck where its own budget cannot stop
    it. CPU, not wall-clock time, so that a worker slowed by a busy machine is never taken for a stuck one.
    ``first_request_id`` lets tests start the 32-bit job ids next to their wrap.
    """

    def __init__(self, size: int, *, job: str = DEFAULT_JOB,
                 hang_grace: float = 5.0, on_restart: Callable[[], None] | None = None,
                 scheduling: Settings = Settings(), first_request_id: int = 1,
                 limits: RenderLimits = RenderLimits()) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self._size = size
        self._job_spec = job
        self._zygote = zygote_for(job)
        self._hang_grace = hang_grace
        self._limits = limits
        self._on_restart = on_restart
        self._workers: list[_Worker] = []
        self._scheduler: Scheduler[_Job] = Scheduler(size, scheduling)
        self._configs: dict[int, bytes] = {}
        self._loads: dict[int, _Load] = {}
        self._retiring: set[int] = set()
        self._last_id = first_request_id - 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._idle_event: asyncio.Event | None = None
        self._crashes_in_a_row = 0
        self._last_shed = -math.inf

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
        if len(self._scheduler) or any(w.jobs for w in self._workers):
            self._idle_event.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._idle_event.wait()
            except TimeoutError:
                log.warning("pool closing with %d queued jobs after %.1fs", len(self._scheduler), timeout)
        workers, self._workers = self._workers, []
        for job in [*self._scheduler.queued(), *(job for w in workers for job in w.jobs)]:
            self._scheduler.remove(job)
            if not job.future.done():
                job.future.set_exception(PoolClosed("the injector is shutting down"))
        for load in self._loads.values():
            if not load.done.done():
                load.done.set_exception(PoolClosed("the injector is shutting down"))
        for worker in workers:
            self._detach(worker)
        await asyncio.gather(*(reap(worker.process) for worker in workers))

    # ----------------------------------------------------------------- config generations

    async def load(self, config: Any, generation: int) -> None:
        """Compile ``config`` in every worker; returns once every worker the pool should have acknowledged it.

        Raises GenerationRejected (and forgets the generation) if a worker refuses it, or if a worker dies
        compiling it and the replacement that retries the load dies too: a config must not hold the pool in a
        respawn loop. A worker that dies once meanwhile (for whatever reason) does not fail the load: its
        replacement loads it, and the load waits for that outcome.
        """
        assert self._loop is not None
        if self._closing:
            raise PoolClosed("the injector is shutting down")
        payload = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
        self._configs[generation] = payload
        load = self._loads[generation] = _Load(generation, self._loop.create_future())
        try:
            for worker in self._workers:
                if not worker.dead:
                    self._send_load(worker, generation, payload)
            self._check_load(generation)
            await load.done
        except BaseException:
            self.retire(generation)
            raise
        finally:
            self._loads.pop(generation, None)
            self._dispatch()

    def _check_load(self, generation: int) -> None:
        """Settle a pending load once the full complement of workers holds it."""
        load = self._loads.get(generation)
        if load is None or load.done.done():
            return
        live = [w for w in self._workers if not w.dead]
        if len(live) == self._size and all(generation in w.loaded for w in live):
            load.done.set_result(None)

    def _reject_load(self, load: _Load, message: str) -> None:
        if not load.done.done():
            self.retire(load.generation)  # before any replacement is started, so none compiles it again
            load.done.set_exception(GenerationRejected(message))

    def retire(self, generation: int) -> None:
        """Forget a generation no new request will use; workers drop it once its queued jobs have run."""
        if self._configs.pop(generation, None) is not None:
            self._retiring.add(generation)
            self._drop_retired()

    def _drop_retired(self) -> None:
        in_use = {job.generation for job in self._scheduler.queued()}
        in_use.update(job.generation for w in self._workers for job in w.jobs)
        for generation in self._retiring - in_use:
            self._retiring.discard(generation)
            frame = proto.pack(proto.RETIRE, generation=generation)
            for worker in self._workers:
                if generation in worker.loaded:
                    worker.loaded.discard(generation)
                    self._write(worker, frame)

    def serves(self, generation: int) -> bool:
        """``generation`` is loaded on every live worker that finished starting (a replacement counts once it has
        compiled what it was started with), and there is at least one such worker."""
        settled = [w for w in self._workers if not w.dead and not w.starting]
        return bool(settled) and all(generation in w.loaded for w in settled)

    @property
    def complete(self) -> bool:
        """All workers are up, started, and hold every generation whose load finished."""
        committed = set(self._configs) - set(self._loads)
        return bool(committed) and len(self._workers) == self._size and all(
            not w.dead and not w.starting and committed <= w.loaded for w in self._workers)

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for an idle worker (running jobs not included)."""
        return len(self._scheduler)

    def queue_depths(self) -> dict[str, int]:
        """Waiting jobs per revision."""
        return self._scheduler.depths()

    def forget_revision(self, revision: str) -> None:
        """A revision stopped being served: drop its render-time history."""
        self._scheduler.forget(revision)

    @property
    def busy(self) -> int:
        return sum(1 for w in self._workers if w.jobs)

    def shedding(self, within: float) -> bool:
        """Whether a job was refused or dropped for lack of time in the last ``within`` seconds."""
        return self._loop is not None and self._loop.time() - self._last_shed <= within

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for per-process figures such as memory)."""
        return [w.process.pid for w in self._workers if not w.dead and w.process.pid is not None]

    # ----------------------------------------------------------------- jobs

    async def submit(self, generation: int, pod_json: bytes, facts: Any, *, revision: str = "",
                     deadline: float | None = None, in_review: bool = False) -> bytes:
        """Render one pod; returns the patch bytes. Cancel to abandon the job. ``enqueue`` then ``result``."""
        return await self.result(self.enqueue(generation, pod_json, facts, revision=revision, deadline=deadline,
                                              in_review=in_review))

    def enqueue(self, generation: int, pod_json: bytes, facts: Any, *, revision: str = "",
                deadline: float | None = None, in_review: bool = False) -> _Job:
        """Queue one pod's render; ``result(job)`` awaits its patch. Synchronous, so that a refusal (under overload,
        most admissions) costs the event loop no coroutine and no timer.

        ``deadline`` (loop time) is when the answer is no longer useful: a job that cannot finish by then is
        refused at once with Overloaded, or dropped unrendered if it becomes hopeless while queued. ``revision``
        is the queue the job waits in (revisions share the workers fairly). ``in_review``: ``pod_json`` is the
        whole AdmissionReview and the pod its ``request.object`` (the worker decodes it from there).
        """
        if self._closing:
            raise PoolClosed("the injector is shutting down")
        assert self._loop is not None
        if generation not in self._configs:
            raise JobFailed(f"config generation {generation} is not loaded", user_error=False)
        job = _Job(0, generation, revision, size_class(len(pod_json)), deadline, bytearray(),
                   self._loop.create_future())
        refusal = self._scheduler.admit(job, self._loop.time())
        if refusal is not None:  # before any encoding: under overload most jobs end here, and cheaply
            self._last_shed = self._loop.time()
            raise Overloaded(refusal)
        self._last_id = job.request_id = proto.next_request_id(self._last_id)
        job.frame = bytearray(proto.pack(proto.REVIEW_JOB if in_review else proto.JOB, request_id=job.request_id,
                                         generation=generation, meta=proto.job_meta(math.inf, facts), body=pod_json))
        self._dispatch()
        return job

    async def result(self, job: _Job) -> bytes:
        """The patch of a queued job (``enqueue``). Cancel to abandon the job."""
        try:
            return await job.future
        except asyncio.CancelledError:
            self._abandon(job)
            raise

    def _abandon(self, job: _Job) -> None:
        """A queued job leaves the queue; a sent one has its result dropped and its worker watched."""
        if self._scheduler.remove(job):
            self._notify_idle()
            return
        for worker in self._workers:
            if job in worker.jobs:
                assert self._loop is not None
                self._loop.call_later(self._hang_grace, self._kill_if_stuck, worker, job)

    def _kill_if_stuck(self, worker: _Worker, job: _Job) -> None:
        if worker.jobs and worker.jobs[0] is job and not worker.dead:
            log.warning("worker pid %s still busy %.1fs after its job was abandoned: killing it",
                        worker.process.pid, self._hang_grace)
            kill(worker.process)

    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers, in the scheduler's order, each to a worker holding its generation; then
        top up busy workers round by round as far as the scheduler's prefetch allows."""
        assert self._loop is not None
        idle = [w for w in self._workers if w.accepting and not w.jobs]
        now = self._loop.time()
        while idle:
            job = self._scheduler.next(now, lambda j: any(j.generation in w.loaded for w in idle), self._drop)
            if job is None:
                break
            worker = next(w for w in idle if job.generation in w.loaded)
            idle.remove(worker)
            self._send_job(worker, job, now)
        busy = [w for w in self._workers if w.accepting and w.jobs] if len(self._scheduler) else []
        while busy:
            for worker in list(busy):
                job = self._scheduler.next(now, lambda j: j.generation in worker.loaded, self._drop,  # noqa: B023
                                           held=worker.jobs)
                if job is None:
                    busy.remove(worker)
                else:
                    self._send_job(worker, job, now)
        if self._retiring:
            self._drop_retired()
        self._notify_idle()

    def _send_job(self, worker: _Worker, job: _Job, now: float) -> None:
        """Send with its latest start (the worker drops it unrendered once that has passed); the first job a worker
        holds is running, so its watchdog starts."""
        job.attempts += 1
        job.sent = now
        worker.jobs.append(job)
        if job.deadline is not None:  # in the worker's clock: loop time lags behind a busy loop
            latest = job.deadline - self._scheduler.time_to_answer(job)
            proto.JOB_START_BY.pack_into(job.frame, proto.HEADER.size, time.monotonic() + latest - now)
        self._write(worker, job.frame)
        if len(worker.jobs) == 1:
            self._start_watch(worker, job)

    def _start_watch(self, worker: _Worker, job: _Job) -> None:
        assert self._loop is not None
        job.watchdog = self._loop.call_later(self._limits.kill_after, self._watch, worker, job)

    def _watch(self, worker: _Worker, job: _Job) -> None:
        """Still running: kill the worker once the job has used its budget plus grace in CPU (it cannot have before
        as much wall-clock time passed, so this first looks then), else look again when it could have."""
        if not worker.jobs or worker.jobs[0] is not job or worker.dead:
            return
        now = cpu_seconds(worker.process.pid)
        used = 0.0 if now is None else now - worker.cpu_when_idle  # None: it just died, its death is on the way
        left = self._limits.kill_after - used
        assert self._loop is not None
        if left > 0:
            job.watchdog = self._loop.call_later(max(left, 0.05), self._watch, worker, job)
            return
        log.warning("render worker pid %s used %.1fs of CPU on one job without stopping: killing it",
                    worker.process.pid, used)
        if not job.future.done():  # never retried: it would stall the next worker too
            job.future.set_exception(JobFailed(
                f"rendering did not stop after {self._limits.kill_after:g}s of CPU (the render budget of "
                f"{self._limits.cpu_seconds:g}s plus {self._limits.kill_grace:g}s); its render worker was replaced",
                user_error=True))
        self._on_death(worker)

    def _drop(self, job: _Job, refusal: Refusal) -> None:
        """A queued job that can no longer finish in time: answered now, never rendered."""
        assert self._loop is not None
        self._last_shed = self._loop.time()
        if not job.future.done():
            job.future.set_exception(Overloaded(refusal))

    def _notify_idle(self) -> None:
        if self._idle_event is not None and not len(self._scheduler) and not any(w.jobs for w in self._workers):
            self._idle_event.set()

    # ----------------------------------------------------------------- processes and sockets

    def _spawn(self) -> _Worker:
        assert self._loop is not None
        parent_end, child_end = socket.socketpair()
        try:
            process = self._zygote.spawn(proto.main, child_end, (self._job_spec, self._limits))
        finally:
            child_end.close()
        parent_end.setblocking(False)
        worker = _Worker(process, parent_end, started=self._loop.time(), starting=set(self._configs))
        self._workers.append(worker)
        self._loop.add_reader(parent_end.fileno(), self._on_readable, worker)
        for generation, payload in self._configs.items():
            load = self._loads.get(generation)
            if load is not None and load.deaths:
                load.retry_workers.add(id(worker))
            self._send_load(worker, generation, payload)
        return worker

    def _send_load(self, worker: _Worker, generation: int, payload: bytes) -> None:
        worker.loading.append(generation)
        self._write(worker, proto.pack(proto.LOAD, generation=generation, body=payload))

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
        frames = []
        while len(buf) >= size:
            kind, status, request_id, generation, meta_len, body_len = proto.HEADER.unpack_from(buf)
            end = size + meta_len + body_len
            if len(buf) < end:
                break
            if meta_len >= proto.CPU_TIME.size:
                (worker.cpu_when_idle,) = proto.CPU_TIME.unpack_from(buf, size)
            if meta_len == proto.RESULT_TIMES.size:
                self._scheduler.answer_read(time.monotonic() - proto.RESULT_TIMES.unpack_from(buf, size)[1])
            frames.append((kind, status, request_id, generation, bytes(buf[size + meta_len:end])))
            del buf[:end]
        times = iter(self._render_times(worker, [status for kind, status, *_ in frames if kind == proto.RESULT]))
        for kind, status, request_id, generation, body in frames:
            if kind == proto.RESULT:
                self._on_result(worker, request_id, status, body, next(times))
            elif kind == proto.LOADED:
                self._on_loaded(worker, generation, status, body)
            elif kind == proto.RETIRING:
                self._on_retiring(worker)

    def _render_times(self, worker: _Worker, statuses: list[int]) -> list[float]:
        """The time each answer of one read counts for admission: the worker's answers read together share the
        time since it could start the first (sent, or its previous answer read), in proportion to their estimates.
        Counting each from the previous answer's read would give the first all of it and the others nothing, and a
        moving average that ends every read on zeros would promise several times the real throughput."""
        assert self._loop is not None
        jobs = list(islice(worker.jobs, len(statuses)))
        rendered = [job for job, status in zip(jobs, statuses) if status != proto.EXPIRED]
        if not rendered:
            return [0.0] * len(statuses)
        span = self._loop.time() - max(worker.answered, jobs[0].sent)
        estimates = {id(job): self._scheduler.times.estimate(job.revision, job.size_class) for job in rendered}
        total = sum(estimates.values())
        return [span * estimates.get(id(job), 0.0) / total for job in jobs] + [0.0] * (len(statuses) - len(jobs))

    def _on_retiring(self, worker: _Worker) -> None:
        """It exits after its running job: the jobs it holds behind that one go back to the queue, first."""
        worker.retiring = True
        assert self._loop is not None
        self._requeue_held(worker, self._loop.time())
        self._dispatch()

    def _requeue_held(self, worker: _Worker, now: float) -> None:
        """The jobs a worker holds behind its running one, which it will never start: queued again at the head, in
        their order, their try not counted."""
        while len(worker.jobs) > 1:
            job = worker.jobs.pop()
            job.attempts -= 1
            self._scheduler.unstarted(job)
            if not job.future.done():
                self._scheduler.requeue(job, now)

    def _on_result(self, worker: _Worker, request_id: int, status: int, body: bytes, seconds: float) -> None:
        """``seconds``: the job's time as admission must count it (``_render_times``), from when the worker could
        start it as the loop sees it to this answer read: a loop too busy to keep the worker supplied makes it
        longer, as it makes throughput lower."""
        assert self._loop is not None
        now = self._loop.time()
        job = worker.jobs.popleft() if worker.jobs else None
        if job is not None:
            if job.watchdog is not None:
                job.watchdog.cancel()
            if status == proto.EXPIRED:
                self._scheduler.unstarted(job)
            else:
                self._scheduler.finished(job, now, seconds)
            if worker.jobs:
                self._start_watch(worker, worker.jobs[0])
        if job is not None and job.request_id == request_id and not job.future.done():
            if status == proto.OK:
                job.future.set_result(body)
            elif status == proto.EXPIRED:
                self._last_shed = now
                render = self._scheduler.times.estimate(job.revision, job.size_class)
                job.future.set_exception(Overloaded(Refusal("expired", now - job.sent, render)))
            else:
                job.future.set_exception(JobFailed(body.decode(errors="replace"),
                                                   user_error=status == proto.USER_ERROR))
        worker.answered = now
        self._dispatch()

    def _on_loaded(self, worker: _Worker, generation: int, status: int, body: bytes) -> None:
        if generation in worker.loading:
            worker.loading.remove(generation)
        worker.starting.discard(generation)
        if status == proto.OK:
            if generation in self._configs:
                worker.loaded.add(generation)
            else:  # retired while this worker was compiling it
                self._write(worker, proto.pack(proto.RETIRE, generation=generation))
        load = self._loads.get(generation)
        if status != proto.OK:
            message = body.decode(errors="replace")
            if load is not None:
                self._reject_load(load, message)
            elif generation in self._configs:  # a serving generation a replacement could not compile
                log.error("render worker pid %s failed to load config generation %d: %s",
                          worker.process.pid, generation, message)
        elif not worker.starting:
            self._crashes_in_a_row = 0  # a worker started fine: the next death starts a new count
        self._check_load(generation)
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

    def _on_death(self, worker: _Worker) -> None:
        """Replace the worker; give its running job one more try elsewhere and queue the jobs it held behind that
        one again, or count the death against the generation it was compiling."""
        if worker.dead:
            return
        self._detach(worker)
        if worker in self._workers:
            self._workers.remove(worker)
        kill(worker.process)
        assert self._loop is not None
        now = self._loop.time()
        self._loop.create_task(reap(worker.process))
        self._requeue_held(worker, now)
        job = worker.jobs.pop() if worker.jobs else None
        if job is not None:
            self._scheduler.finished(job, now)
            if not job.future.done():
                if job.attempts >= 2:
                    job.future.set_exception(WorkerCrashed(
                        "the render worker died twice while injecting this pod"))
                else:
                    self._scheduler.requeue(job, now)
        if worker.loading and job is None:  # jobs go only to workers not loading: a running job came first
            self._count_load_death(worker, worker.loading[0])
        if self._closing:
            self._notify_idle()
            return
        log.warning("render worker pid %s exited (code %s); starting a replacement",
                    worker.process.pid, worker.process.exitcode)
        if self._on_restart is not None:
            self._on_restart()
        if worker.starting or worker.loading or now - worker.started < _CRASH_LOOP_SECONDS:
            self._crashes_in_a_row += 1  # do not spin on a worker that cannot start
            delay = min(_MAX_RESPAWN_DELAY, _CRASH_LOOP_SECONDS * 2 ** (self._crashes_in_a_row - 1))
            self._loop.call_later(delay, self._respawn)
        else:
            self._respawn()
        for generation in list(self._loads):
            self._check_load(generation)
        self._dispatch()

    def _count_load_death(self, worker: _Worker, generation: int) -> None:
        """The worker died compiling ``generation``: retry on a replacement, unless this was the retry."""
        load = self._loads.get(generation)
        if load is None:
            return
        load.deaths += 1
        if id(worker) in load.retry_workers:
            self._reject_load(load, f"render workers died {load.deaths} times while compiling this config, "
                                    "the last one retrying it; it is not tried again")

    def _respawn(self) -> None:
        if not self._closing and len(self._workers) < self._size:
            self._spawn()
            for generation in list(self._loads):
                self._check_load(generation)

