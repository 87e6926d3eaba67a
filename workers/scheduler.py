"""Which queued render job runs next, and whether a new one can still finish before its deadline.

The pool (``workers.pool``) owns processes and sockets; this module owns the policy, with the clock passed in, so
the policy is deterministic and testable without processes. The rules (also in docs/DESIGN.md, "Scheduling"):

- **Fair sharing.** One FIFO queue per revision. A free worker serves the revisions in round-robin order. While
  another revision has work queued, a revision already running its share of the workers (workers divided by the
  revisions with work, rounded up) waits its turn; when nobody else waits it may use every worker. So a revision
  flooding the pool delays another revision's request by at most one render.
- **Slow guard.** A revision not known to be fast (no render finished yet, recent mean above ``slow_render``, or one
  running now for longer) never takes the last worker not already busy with such work while another revision was
  active within ``active_window``: a hostile template cannot make the other revisions wait even one of its
  renders, not even its first ones.
- **Admission.** A job is refused at once when its estimated wait plus its own estimated render time does not fit
  its remaining budget. The wait is estimated from the work queued ahead of it (its revision's queue, served at its
  share of the workers) and the time until a worker frees; render times are moving averages per revision and pod
  size class.
- **Standing queues (CoDel-style).** A queue is good when it absorbs a burst and bad when it stands: when every job
  a revision dispatched for ``standing_interval`` waited longer than ``standing_target``, the revision is overloaded
  and admits only what starts within ``standing_target``, until its arrivals have fit that for ``standing_interval``
  or its queue drained. Under sustained overload the requests admitted are answered quickly, the rest are refused
  at once (not after waiting out their deadline), and the queue left when the load stops drains within
  ``standing_target``. (One short wait is no sign the overload ended: estimates swing, and leaving on one let the
  queue refill to the deadline, to be dropped unrendered, every few seconds.)
- **Dispatch.** A queued job that can no longer finish by its deadline is dropped, never rendered.
- **Prefetch.** A worker busy with work of known-fast revisions may be sent more known-fast jobs while what it holds
  but has not started is estimated within its room, in the capped pass only (revisions keep their shares). It
  starts the next job as soon as it answers one instead of idling until the event loop, busy with requests, reads
  the answer and sends more. The room is how long the loop recently took to read an answer (moving average), at
  least ``prefetch_seconds`` and at most ``prefetch_limit``: enough work to last until the loop comes back. Another
  revision's job may thus wait one render plus at most the room of fast renders (about what a late loop delays it
  anyway); a revision not known to be fast never waits behind, nor has work put behind it. The render times the
  pool reports (``finished``) run from when the worker could start a job as the loop sees it, and answers read
  together share that time, so waiting behind others does not inflate them, while a loop too busy to keep the
  workers supplied does: admission counts the throughput the loop allows.
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Generic, Iterator, Protocol, Sequence, TypeVar

DEFAULT_RENDER_SECONDS = 0.05
"""Assumed render time of a class never seen before (the embedded templates take a few milliseconds)."""
EWMA_WEIGHT = 0.2
"""Weight of the newest observation in the moving averages: about the last ten renders count."""


class Schedulable(Protocol):
    """What the scheduler reads of a job (the pool's job record)."""

    revision: str
    size_class: int
    deadline: float | None
    """Loop time by which the result must be back; None: no deadline."""


J = TypeVar("J", bound=Schedulable)


@dataclass(frozen=True)
class Settings:
    standing_target: float = 0.25
    standing_interval: float = 0.25
    slow_render: float = 0.5
    active_window: float = 5.0
    prefetch_seconds: float = 0.02
    """Estimated render time a busy worker may hold beyond its running job (0: one job per worker) ..."""
    prefetch_limit: float = 0.1
    """... or more while the event loop is slower than that to read answers, up to this."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a job cannot be admitted or run: ``reason`` is a metric label, ``wait`` the estimated queueing time."""

    reason: str
    """``deadline`` (cannot finish in its budget) | ``overloaded`` (standing queue) | ``expired`` (at dispatch)."""
    wait: float
    render: float


def size_class(size: int) -> int:
    """Pod sizes in steps of four: up to 1 KiB, 4 KiB, 16 KiB, 64 KiB, ... (render cost grows with the pod)."""
    return max(0, (size.bit_length() - 9) // 2)


class RenderTimes:
    """Moving averages of render time per (revision, size class), with fallbacks."""

    def __init__(self) -> None:
        self._by_class: dict[tuple[str, int], float] = {}
        self._by_revision: dict[str, float] = {}
        self._by_size: dict[int, float] = {}

    def observe(self, revision: str, size: int, seconds: float) -> None:
        for table, key in ((self._by_class, (revision, size)), (self._by_revision, revision),
                           (self._by_size, size)):
            old = table.get(key)  # type: ignore[call-overload]
            table[key] = seconds if old is None else old + EWMA_WEIGHT * (seconds - old)  # type: ignore[index]

    def estimate(self, revision: str, size: int) -> float:
        value = self._by_class.get((revision, size))
        if value is None:
            value = self._by_revision.get(revision, self._by_size.get(size, DEFAULT_RENDER_SECONDS))
        return value

    def revision_mean(self, revision: str) -> float | None:
        """None until a render of ``revision`` finished."""
        return self._by_revision.get(revision)

    def forget(self, revision: str) -> None:
        self._by_revision.pop(revision, None)
        for key in [key for key in self._by_class if key[0] == revision]:
            del self._by_class[key]


@dataclass
class _Standing:
    """CoDel's state for one revision's queue."""

    above_since: float | None = None
    overloaded: bool = False
    last_refused: float = -math.inf
    """When an arrival was last refused for not starting within the target (or the state began)."""

    def dispatched(self, waited: float, now: float, settings: Settings) -> None:
        if self.overloaded:
            return
        if waited <= settings.standing_target:
            self.above_since = None
        elif self.above_since is None:
            self.above_since = now
        elif now - self.above_since >= settings.standing_interval:
            self.overloaded, self.last_refused = True, now

    def refuses(self, wait: float, now: float, settings: Settings) -> bool:
        """Whether an arrival estimated to wait ``wait`` is refused; the state ends once arrivals have fit the target
        for an interval (the load fell to what the workers serve), as it does when the queue drains."""
        if not self.overloaded:
            return False
        if wait > settings.standing_target:
            self.last_refused = now
            return True
        if now - self.last_refused >= settings.standing_interval:
            self.overloaded, self.above_since = False, None
        return False

    def drained(self) -> None:
        self.overloaded, self.above_since = False, None


@dataclass(eq=False)
class _Entry(Generic[J]):
    job: J
    enqueued: float
    render: float
    """Estimated render time when queued."""


@dataclass(eq=False)
class _Running(Generic[J]):
    job: J
    started: float
    render: float


@dataclass
class _Revision(Generic[J]):
    queue: collections.deque[_Entry[J]] = field(default_factory=collections.deque)
    queued_render: float = 0.0
    """Sum of the queued entries' estimated render times."""
    running: int = 0
    last_seen: float = -math.inf
    standing: _Standing = field(default_factory=_Standing)


class Scheduler(Generic[J]):
    """Queues, admission and dispatch order for ``workers`` render processes. Not thread-safe; one event loop."""

    def __init__(self, workers: int, settings: Settings = Settings()) -> None:
        self.workers = workers
        self.settings = settings
        self.times = RenderTimes()
        self._revisions: dict[str, _Revision[J]] = {}
        """Round-robin order: the revision served last moves to the end."""
        self._running: dict[int, _Running[J]] = {}
        self._answer_delay = 0.0
        """Moving average of how long an answer waited for the event loop to read it."""

    # ----------------------------------------------------------------- state

    def __len__(self) -> int:
        return sum(len(state.queue) for state in self._revisions.values())

    def depths(self) -> dict[str, int]:
        """Queued jobs per revision (every revision seen, zeros included, so a gauge drops to 0)."""
        return {revision: len(state.queue) for revision, state in self._revisions.items()}

    def queued(self) -> Iterator[J]:
        for state in self._revisions.values():
            for entry in state.queue:
                yield entry.job

    def running(self) -> Iterator[J]:
        for running in self._running.values():
            yield running.job

    def overloaded(self, revision: str) -> bool:
        state = self._revisions.get(revision)
        return state is not None and state.standing.overloaded

    # ----------------------------------------------------------------- admission

    def admit(self, job: J, now: float) -> Refusal | None:
        """Queue ``job``, or say why it cannot finish in time (then it is not queued)."""
        state = self._state(job.revision)
        state.last_seen = now
        render = self.times.estimate(job.revision, job.size_class)
        if job.deadline is not None:
            wait = self.estimate_wait(job.revision, now)
            if state.standing.refuses(wait, now, self.settings):
                return Refusal("overloaded", wait, render)
            if now + wait + render + self._answer_delay > job.deadline:
                return Refusal("deadline", wait, render)
        self._enqueue(state, _Entry(job, now, render))
        return None

    def requeue(self, job: J, now: float) -> None:
        """Put a job back at the head of its queue (its worker died; it gets another try first)."""
        state = self._state(job.revision)
        entry = _Entry(job, now, self.times.estimate(job.revision, job.size_class))
        state.queue.appendleft(entry)
        state.queued_render += entry.render

    def remove(self, job: J) -> bool:
        """Take a queued job out (its caller gave up); False when it is not queued."""
        state = self._revisions.get(job.revision)
        if state is None:
            return False
        for entry in state.queue:
            if entry.job is job:
                state.queue.remove(entry)
                state.queued_render -= entry.render
                return True
        return False

    def time_to_answer(self, job: J) -> float:
        """Estimated seconds from a job's start until the event loop has read its answer: its render plus how late
        the loop recently read answers (a job must be answered, not just rendered, by its deadline)."""
        return self.times.estimate(job.revision, job.size_class) + self._answer_delay

    def estimate_wait(self, revision: str, now: float) -> float:
        """Seconds until a job of ``revision`` queued now would start."""
        state = self._revisions.get(revision)
        queued = state.queued_render if state is not None else 0.0
        waiting = {r for r, s in self._revisions.items() if s.queue} | {revision}
        share = self.workers / len(waiting)
        if self.workers > 1 and not self._known_fast(revision, now) and self._others_active(revision, now):
            share = min(share, self.workers - 1.0)
        return self._first_free(revision, now) + max(queued, 0.0) / max(share, 1.0)  # no float drift below 0

    def _first_free(self, revision: str, now: float) -> float:
        """Time until a worker this revision may use is free: 0 if one is idle, else the soonest expected end
        among running renders (a render past its estimate is assumed to end soon, by its share of the mean)."""
        if len(self._running) < self.workers and self._may_take(revision, now):
            return 0.0
        # Running jobs are kept in dispatch order, so the first ``workers`` are the ones the workers run (a job held
        # behind another was sent later); admission asks this for every request, prefetch holds many more.
        ends = [max(r.render - (now - r.started), 0.0) for r in islice(self._running.values(), self.workers)]
        return min(ends, default=0.0)

    # ----------------------------------------------------------------- dispatch

    def next(self, now: float, runnable: Callable[[J], bool],
             drop: Callable[[J, Refusal], None], held: Sequence[J] = ()) -> J | None:
        """The job a free worker should run now, or None. Jobs that cannot finish by their deadline are
        dropped on the way (``drop`` answers them); ``runnable(job)`` says whether the worker (some free worker)
        can take it (holds its config generation). ``held``: the jobs the worker holds, oldest (running) first;
        a job for it would wait behind them (see "Prefetch")."""
        ahead = self._prefetch_room(held, now) if held else math.inf
        if ahead <= 0:
            return None
        for capped in ((True,) if held else (True, False)):
            for revision in list(self._revisions):
                state = self._revisions[revision]
                if not state.queue or not self._may_take(revision, now, capped=capped):
                    continue
                if held and not self._known_fast(revision, now):
                    continue
                entry = self._take(state, now, runnable, drop, ahead)
                if entry is None:
                    continue
                self._revisions[revision] = self._revisions.pop(revision)  # served: to the end of the round
                state.standing.dispatched(now - entry.enqueued, now, self.settings)
                state.running += 1
                self._running[id(entry.job)] = _Running(entry.job, now, entry.render)
                return entry.job
        for state in self._revisions.values():
            if not state.queue:
                state.standing.drained()
        return None

    def answer_read(self, delay: float) -> None:
        """A worker's answer was read ``delay`` seconds after it was sent."""
        self._answer_delay += EWMA_WEIGHT * (delay - self._answer_delay)

    def _prefetch_room(self, held: Sequence[J], now: float) -> float:
        """Estimated render time a busy worker may still take on (0 when its work is not all known fast)."""
        settings = self.settings
        if not settings.prefetch_seconds or not all(self._known_fast(r, now) for r in {job.revision for job in held}):
            return 0.0
        room = min(max(settings.prefetch_seconds, self._answer_delay), settings.prefetch_limit)
        return room - sum(self._running[id(job)].render for job in islice(held, 1, None))

    def _take(self, state: _Revision[J], now: float, runnable: Callable[[J], bool],
              drop: Callable[[J, Refusal], None], max_render: float = math.inf) -> _Entry[J] | None:
        """The first runnable entry of a revision's queue, dropping hopeless ones met on the way; None if that entry
        is estimated longer than ``max_render`` (it keeps its place)."""
        for entry in list(state.queue):
            job = entry.job
            render = self.times.estimate(job.revision, job.size_class)
            if job.deadline is not None and now + render + self._answer_delay > job.deadline:
                state.queue.remove(entry)
                state.queued_render -= entry.render
                drop(job, Refusal("expired", now - entry.enqueued, render))
                continue
            if runnable(job):
                if render > max_render:
                    return None
                state.queue.remove(entry)
                state.queued_render -= entry.render
                return entry
        return None

    def finished(self, job: J, now: float, seconds: float | None = None) -> None:
        """A running job ended (result, failure or its worker died): its time feeds the averages, ``seconds`` when
        the pool knows better (a held job), else the time since dispatch."""
        running = self._ended(job)
        if running is not None:
            self.times.observe(job.revision, job.size_class, now - running.started if seconds is None else seconds)

    def unstarted(self, job: J) -> None:
        """A job sent to a worker that will never run it (the worker died or retires first) ended, its time not
        counted."""
        self._ended(job)

    def _ended(self, job: J) -> _Running[J] | None:
        running = self._running.pop(id(job), None)
        state = self._revisions.get(job.revision)
        if running is not None and state is not None:
            state.running -= 1
        return running

    def forget(self, revision: str) -> None:
        """A revision is gone: drop its averages and its (empty) queue record."""
        state = self._revisions.get(revision)
        if state is not None and not state.queue and not state.running:
            del self._revisions[revision]
        self.times.forget(revision)

    # ----------------------------------------------------------------- policy helpers

    def _may_take(self, revision: str, now: float, *, capped: bool = True) -> bool:
        state = self._revisions.get(revision)
        running = state.running if state is not None else 0
        if capped:
            waiting = [r for r, s in self._revisions.items() if s.queue and r != revision]
            if waiting and running >= math.ceil(self.workers / (len(waiting) + 1)):
                return False
        if self.workers > 1 and not self._known_fast(revision, now) and self._others_active(revision, now):
            busy_unproven = sum(1 for r in self._running.values() if not self._known_fast(r.job.revision, now))
            if busy_unproven + 1 >= self.workers:
                return False
        return True

    def _known_fast(self, revision: str, now: float) -> bool:
        limit = self.settings.slow_render
        mean = self.times.revision_mean(revision)
        if mean is None or mean > limit:
            return False
        oldest = next((r for r in self._running.values() if r.job.revision == revision), None)  # dispatch order
        return oldest is None or now - oldest.started <= limit

    def _others_active(self, revision: str, now: float) -> bool:
        window = self.settings.active_window
        return any(r != revision and (s.queue or s.running or now - s.last_seen < window)
                   for r, s in self._revisions.items())

    def _state(self, revision: str) -> _Revision[J]:
        state = self._revisions.get(revision)
        if state is None:
            state = self._revisions[revision] = _Revision()
        return state

    def _enqueue(self, state: _Revision[J], entry: _Entry[J]) -> None:
        state.queue.append(entry)
        state.queued_render += entry.render
