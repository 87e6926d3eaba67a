"""A CPU-time budget for one call, enforced from inside the process that runs it.

``signal.setitimer(ITIMER_PROF)`` counts this process's CPU time; when the budget is spent the handler raises
``BudgetExceeded`` at the next bytecode boundary, so a template stuck in a Python-level loop (nested ``for`` over
huge ranges, Go ``range 1000000000``) stops where it is and the worker answers with an error instead of spinning.
A single long C call (a huge bignum power) cannot be interrupted this way; the pool's parent kills such a worker.

``BudgetExceeded`` derives from BaseException so that the many ``except Exception`` of template helpers and
Jinja cannot swallow it; the timer also keeps firing every ``_REPEAT`` seconds until the budget is disarmed, in
case something catches it anyway. The handler stays installed for good and raises only while a budget is armed:
a tick that is already pending when the block ends is then harmless, whereas restoring the default action of
SIGPROF (terminate) could kill the process.
"""
from __future__ import annotations

import contextlib
import signal
from typing import Iterator

_REPEAT = 0.05
_armed: float | None = None
"""The budget of the block running now, if any."""


class BudgetExceeded(BaseException):
    """The call used more CPU than its budget allowed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"used more than {seconds:g}s of CPU")
        self.seconds = seconds


def _expire(signum: int, frame: object) -> None:
    if _armed is not None:
        raise BudgetExceeded(_armed)


@contextlib.contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Raise BudgetExceeded inside the block once it has used ``seconds`` of CPU. Main thread only, not nested."""
    global _armed
    if signal.getsignal(signal.SIGPROF) is not _expire:
        signal.signal(signal.SIGPROF, _expire)
    _armed = seconds
    signal.setitimer(signal.ITIMER_PROF, seconds, _REPEAT)
    try:
        yield
    finally:
        _armed = None  # first: from here on a pending tick does nothing
        signal.setitimer(signal.ITIMER_PROF, 0)
