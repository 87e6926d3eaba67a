"""The render scheduler's policy with a hand-driven clock: order, fair shares, admission, standing queues."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from workers.pool_worker import REQUEST_ID_LIMIT, next_request_id
from workers.scheduler import DEFAULT_RENDER_SECONDS, Refusal, Scheduler, Settings, size_class


@dataclass(eq=False)
class Job:
    revision: str
    name: str = ""
    size_class: int = 0
    deadline: float | None = None


class Harness:
    """A scheduler plus the workers' side: which job runs where, what was dropped."""

    def __init__(self, workers: int, settings: Settings = Settings()) -> None:
        self.scheduler: Scheduler[Job] = Scheduler(workers, settings)
        self.now = 0.0
        self.running: list[Job] = []
        self.dropped: list[tuple[Job, Refusal]] = []

    def submit(self, revision: str, name: str = "", *, deadline: float | None = None,
               size: int = 0) -> Refusal | None:
        return self.scheduler.admit(Job(revision, name, size, deadline), self.now)

    def next(self) -> Job | None:
        job = self.scheduler.next(self.now, lambda job: True, lambda job, why: self.dropped.append((job, why)))
        if job is not None:
            self.running.append(job)
        return job

    def fill(self) -> list[Job]:
        """Start jobs until every worker is busy or nothing may start."""
        started = []
        while len(self.running) < self.scheduler.workers and (job := self.next()) is not None:
            started.append(job)
        return started

    def prefetch(self, held: list[Job]) -> list[Job]:
        """Jobs a busy worker holding ``held`` is sent, one call at a time as the pool does, until none fits."""
        sent = []
        while (job := self.scheduler.next(self.now, lambda job: True, lambda job, why: self.dropped.append((job, why)),
                                          held=held)) is not None:
            held.append(job)
            sent.append(job)
        return sent

    def finish(self, job: Job, after: float = 0.0) -> None:
        self.now += after
        self.running.remove(job)
        self.scheduler.finished(job, self.now)

    def learn(self, revision: str, seconds: float, times: int = 20, size: int = 0) -> None:
        for _ in range(times):
            self.scheduler.times.observe(revision, size, seconds)


def names(jobs: list[Job]) -> list[str]:
    return [job.name for job in jobs]


def test_one_revision_is_first_in_first_out() -> None:
    h = Harness(1)
    for name in "abc":
        assert h.submit("r", name) is None
    order = []
    while (job := h.next()) is not None:
        order.append(job)
        h.finish(job, 0.01)
    assert names(order) == ["a", "b", "c"]


def test_revisions_with_work_are_served_round_robin() -> None:
    h = Harness(1)
    for name in ("a1", "a2", "a3", "a4"):
        h.submit("a", name)
    h.submit("b", "b1")
    h.submit("b", "b2")
    h.submit("c", "c1")
    order = []
    while (job := h.next()) is not None:
        order.append(job)
        h.finish(job, 0.01)
    assert names(order) == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]


def test_a_revision_over_its_share_waits_while_another_has_work_queued() -> None:
    h = Harness(4)
    h.learn("flood", 0.01)
    h.learn("quiet", 0.01)
    for index in range(8):
        h.submit("flood", f"f{index}")
    assert names(h.fill()) == ["f0", "f1", "f2", "f3"]  # nobody else waits: every worker may take it
    h.submit("quiet", "q0")
    h.submit("quiet", "q1")
    h.submit("quiet", "q2")
    h.finish(h.running[0])
    h.finish(h.running[0])
    # flood holds 2 = ceil(4 / 2) workers; both freed workers go to quiet, which is under its share.
    assert names(h.fill()) == ["q0", "q1"]
    h.finish(h.running[0])  # flood's third job ends: flood is back under its share
    assert names(h.fill()) == ["f4"]
    h.finish(next(job for job in h.running if job.revision == "quiet"))
    assert names(h.fill()) == ["q2"]


def test_the_share_cap_gives_way_when_the_other_revision_cannot_use_the_worker() -> None:
    h = Harness(2)
    h.learn("a", 0.01)
    h.learn("b", 0.01)
    h.submit("a", "a0")
    h.submit("a", "a1")
    h.submit("b", "b0")
    blocked = {"b0"}  # e.g. no free worker holds b's generation yet
    picks = []
    for _ in range(2):
        job = h.scheduler.next(h.now, lambda job: job.name not in blocked, lambda job, why: None)
        picks.append(job.name if job else None)
    assert picks == ["a0", "a1"]  # work-conserving: a exceeds its share rather than leave a worker idle


def test_a_slow_revision_never_takes_the_last_worker_while_another_is_active() -> None:
    h = Harness(2, Settings(slow_render=0.5, active_window=5.0))
    h.learn("hostile", 3.0)
    h.learn("healthy", 0.01)
    h.submit("healthy", "h0")
    h.finish(h.next(), 0.01)  # healthy was active just now
    for index in range(5):
        h.submit("hostile", f"x{index}")
    assert names(h.fill()) == ["x0"]  # one worker stays free for healthy
    assert h.submit("healthy", "h1") is None
    assert names(h.fill()) == ["h1"]
    h.now += 10.0  # healthy quiet for longer than the window: hostile may use every worker again
    h.finish(h.running[1])
    assert names(h.fill()) == ["x1"]


def test_a_render_running_long_marks_its_revision_slow_before_it_ends() -> None:
    h = Harness(2, Settings(slow_render=0.5))
    h.learn("healthy", 0.01)
    h.learn("stuck", 0.01)  # fast so far
    h.submit("healthy", "h0")
    h.finish(h.next(), 0.01)
    h.submit("stuck", "s0")
    h.submit("stuck", "s1")
    assert names(h.fill()) == ["s0", "s1"]  # known fast: may use both workers
    h.finish(h.running[1], 0.01)
    h.submit("stuck", "s2")
    h.now += 1.0  # s0 has now run for a second
    assert h.next() is None  # s2 would take the last worker: held back for healthy


def test_a_revision_without_history_is_not_trusted_with_the_last_worker() -> None:
    h = Harness(2, Settings(slow_render=0.5))
    h.learn("healthy", 0.01)
    h.submit("healthy", "h0")
    h.finish(h.next(), 0.01)
    for index in range(3):
        h.submit("new", f"n{index}")
    assert names(h.fill()) == ["n0"]  # its first renders might be hostile ones
    h.finish(h.running[0], 0.02)  # proved fast
    assert names(h.fill()) == ["n1", "n2"]


def test_admission_refuses_what_cannot_finish_in_its_budget() -> None:
    h = Harness(2)
    h.learn("r", 0.1)
    for index in range(2):
        h.submit("r", f"run{index}", deadline=10.0)
    h.fill()
    # Both workers busy until ~0.1; each queued job adds 0.1 / 2 workers.
    for index in range(10):
        assert h.submit("r", f"q{index}", deadline=10.0) is None
    wait = h.scheduler.estimate_wait("r", h.now)
    assert wait == pytest.approx(0.1 + 10 * 0.1 / 2)
    refusal = h.submit("r", "late", deadline=h.now + wait + 0.05)
    assert refusal is not None and refusal.reason == "deadline"
    assert refusal.wait == pytest.approx(wait) and refusal.render == pytest.approx(0.1)
    assert h.submit("r", "fits", deadline=h.now + wait + 0.15) is None
    assert "late" not in names(list(h.scheduler.queued()))


def test_a_job_without_deadline_is_always_queued() -> None:
    h = Harness(1)
    h.learn("r", 5.0)
    for index in range(20):
        assert h.submit("r", str(index)) is None
    assert len(h.scheduler) == 20


def test_unknown_classes_borrow_the_revision_then_the_size_then_the_default() -> None:
    h = Harness(1)
    times = h.scheduler.times
    assert times.estimate("r", 3) == DEFAULT_RENDER_SECONDS
    times.observe("other", 3, 0.2)
    assert times.estimate("r", 3) == pytest.approx(0.2)  # same size, another revision
    times.observe("r", 1, 0.01)
    assert times.estimate("r", 3) == pytest.approx(0.01)  # the revision's own mean wins
    times.observe("r", 3, 0.03)
    assert times.estimate("r", 3) == pytest.approx(0.03)
    assert [size_class(n) for n in (100, 1000, 4000, 16000, 100_000)] == [0, 0, 1, 2, 4]


def test_a_queued_job_that_can_no_longer_finish_is_dropped_not_started() -> None:
    h = Harness(1)
    h.learn("r", 0.2)
    h.submit("r", "running")
    h.fill()
    assert h.submit("r", "tight", deadline=0.5) is None  # wait 0.2 + render 0.2 fits
    h.submit("r", "loose", deadline=5.0)
    h.finish(h.running[0], 0.4)  # the running render took twice its estimate
    job = h.next()
    assert job is not None and job.name == "loose"
    assert [(j.name, why.reason) for j, why in h.dropped] == [("tight", "expired")]


def test_a_standing_queue_switches_admission_to_the_short_target() -> None:
    settings = Settings(standing_target=0.25, standing_interval=1.0)
    h = Harness(1, settings)
    h.learn("r", 0.1)
    for index in range(12):  # a burst with a generous deadline: everything fits
        assert h.submit("r", f"b{index}", deadline=h.now + 30.0) is None
    served = 0
    while (job := h.next()) is not None:
        h.finish(job, 0.1)
        served += 1
        h.submit("r", f"more{served}", deadline=h.now + 30.0)  # arrivals keep pace with service: it stands
        if h.scheduler.overloaded("r"):
            break
    assert h.scheduler.overloaded("r")
    refusal = h.submit("r", "new", deadline=h.now + 30.0)
    assert refusal is not None and refusal.reason == "overloaded"  # fits its deadline, not the target
    while len(h.scheduler) > 1:  # the queue drains to under half the target: overload is over
        h.finish(h.next(), 0.1)
    h.finish(h.next(), 0.1)
    assert h.next() is None
    assert not h.scheduler.overloaded("r")
    assert h.submit("r", "after", deadline=h.now + 30.0) is None


def test_a_burst_is_absorbed_up_to_the_deadline_without_overload() -> None:
    h = Harness(2, Settings(standing_target=0.25, standing_interval=1.0))
    h.learn("r", 0.02)
    admitted = sum(h.submit("r", str(index), deadline=1.5) is None for index in range(500))
    # About (1.5 - 0.02) s x 2 workers / 0.02 s per render fit; the rest are refused at once.
    assert 140 <= admitted <= 150
    assert not h.scheduler.overloaded("r")


def test_requeued_jobs_go_first_and_removed_jobs_are_gone() -> None:
    h = Harness(1)
    h.submit("r", "a")
    h.submit("r", "b")
    first = h.next()
    h.running.remove(first)
    h.scheduler.finished(first, h.now)
    h.scheduler.requeue(first, h.now)
    b = next(job for job in h.scheduler.queued() if job.name == "b")
    assert h.scheduler.remove(b) and not h.scheduler.remove(b)
    assert names([h.next()]) == ["a"] and h.next() is None
    assert h.scheduler.depths() == {"r": 0}


def test_a_busy_worker_is_sent_fast_jobs_up_to_the_prefetch_room() -> None:
    h = Harness(1, Settings(prefetch_seconds=0.02))
    h.learn("r", 0.005)
    for index in range(10):
        h.submit("r", str(index))
    running = h.next()
    # 20 ms of room, 5 ms each: four jobs wait in the worker behind the running one, in queue order.
    assert names(h.prefetch([running])) == ["1", "2", "3", "4"]
    assert len(h.scheduler) == 5


def test_nothing_waits_behind_or_is_sent_ahead_for_a_revision_not_known_fast() -> None:
    h = Harness(1, Settings(prefetch_seconds=0.02, slow_render=0.5))
    h.learn("fast", 0.005)
    h.learn("slow", 2.0)
    h.submit("slow", "s1")
    h.submit("fast", "f1")
    h.submit("new", "n1")  # no render finished yet: not known fast
    slow = h.next()
    assert slow.name == "s1" and h.prefetch([slow]) == []  # nothing waits behind a slow render
    fast = h.next()
    assert names(h.prefetch([fast])) == []  # "new" is queued, but unproven work is never sent ahead
    assert [job.name for job in h.scheduler.queued()] == ["n1"]


def test_prefetch_keeps_each_revisions_share() -> None:
    h = Harness(2, Settings(prefetch_seconds=0.02))
    h.learn("flood", 0.005)
    h.learn("quiet", 0.005)
    for index in range(20):
        h.submit("flood", f"f{index}")
    first, second = h.next(), h.next()
    assert names(h.prefetch([first])) == ["f2", "f3", "f4", "f5"]  # alone: the whole room
    h.submit("quiet", "q0")
    h.submit("quiet", "q1")
    # The flood is over its share while "quiet" waits: the other worker is sent quiet's job, none of the flood's,
    # and then quiet holds its share (one of two workers) too: the rest waits for a worker to free.
    assert names(h.prefetch([second])) == ["q0"]
    assert [job.name for job in h.scheduler.queued()][:2] == ["f6", "f7"] and len(h.scheduler) == 15


def test_the_room_follows_the_event_loops_delay_in_reading_answers() -> None:
    h = Harness(1, Settings(prefetch_seconds=0.02, prefetch_limit=0.1))
    h.learn("r", 0.0045)
    for index in range(100):
        h.submit("r", str(index))
    running = h.next()
    held = [running]
    for _ in range(50):
        h.scheduler.answer_read(0.062)
    assert len(h.prefetch(held)) == 13  # about 62 ms of 4.5 ms renders
    for _ in range(50):
        h.scheduler.answer_read(5.0)
    assert len(h.prefetch(held)) == 22 - 13  # capped at 100 ms in all


def test_a_held_jobs_render_time_is_what_the_pool_measured_and_unstarted_jobs_count_none() -> None:
    h = Harness(1, Settings(prefetch_seconds=0.02))
    h.submit("r", "a")
    h.submit("r", "b")
    a = h.next()
    b = h.scheduler.next(h.now, lambda job: True, lambda job, why: None, held=[a])
    assert b is None  # no render of "r" finished yet: not known fast
    h.now = 1.0
    h.scheduler.finished(a, h.now, 0.004)  # sent 1 s ago, but the pool knows it started later
    assert h.scheduler.times.estimate("r", 0) == pytest.approx(0.004)
    b = h.next()
    h.scheduler.unstarted(b)
    h.scheduler.requeue(b, h.now)
    assert h.scheduler.times.estimate("r", 0) == pytest.approx(0.004)
    assert names([h.next()]) == ["b"]


def test_request_ids_wrap_within_32_bits_and_skip_zero() -> None:
    assert next_request_id(0) == 1 and next_request_id(41) == 42
    assert next_request_id(REQUEST_ID_LIMIT - 2) == REQUEST_ID_LIMIT - 1
    assert next_request_id(REQUEST_ID_LIMIT - 1) == 1


def test_a_job_must_be_answered_not_only_rendered_by_its_deadline() -> None:
    """The loop's delay in reading answers counts: a job that would render in time but be read late is refused on
    arrival, and a queued one that could no longer be read in time is dropped unrendered."""
    h = Harness(1)
    h.learn("r", 0.01)
    assert h.submit("r", "fits", deadline=0.05) is None
    assert h.next().name == "fits"
    for _ in range(50):
        h.scheduler.answer_read(0.08)
    refusal = h.submit("r", "read-late", deadline=0.05)
    assert refusal is not None and refusal.reason == "deadline"
    assert h.submit("r", "queued", deadline=0.2) is None  # 0.01 left of the running one + 0.01 + 0.08: fits
    h.now = 0.15
    h.finish(h.running[0])
    assert h.next() is None
    assert [(job.name, why.reason) for job, why in h.dropped] == [("queued", "expired")]


def test_overload_lasts_while_arrivals_are_refused_and_ends_when_they_fit_the_target() -> None:
    """One short wait (a job requeued after its worker died; estimates swing) does not end it, so the queue is not
    refilled to the deadline; arrivals that have fit the target for an interval do, though the queue never drained."""
    h = Harness(1, Settings(standing_target=0.25, standing_interval=0.25))
    h.learn("r", 0.01)
    for index in range(100):  # a second of work: it stands
        h.submit("r", f"b{index}", deadline=h.now + 30.0)
    while not h.scheduler.overloaded("r"):
        h.finish(h.next(), 0.01)
    died = h.next()  # its worker died: it goes back to the head of the queue and starts again at once
    h.running.remove(died)
    h.scheduler.unstarted(died)
    h.scheduler.requeue(died, h.now)
    assert h.next() is died
    assert h.scheduler.overloaded("r")
    assert h.submit("r", "refused", deadline=h.now + 30.0) is not None
    ended_with_queue = None
    for index in range(60):  # arrivals at the service rate: refused while the queue is long, then they fit
        h.finish(h.running[0], 0.01)
        h.next()
        h.submit("r", f"a{index}", deadline=h.now + 30.0)
        if not h.scheduler.overloaded("r"):
            ended_with_queue = len(h.scheduler)
            break
    assert ended_with_queue, "overload ended while jobs were still queued"
