"""``fd_budget``: the soft fd limit is raised to the hard one, and the webhook connection cap leaves a reserve."""
from __future__ import annotations

import resource
import subprocess
import sys

from injector.listeners import FD_RESERVE, FDS_PER_WORKER, MAX_DEFAULT_CONNECTIONS, MONITORING_MAX_CONNECTIONS

PROBE = """
import resource, sys
from injector.listeners import fd_budget
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
budget = fd_budget(int(sys.argv[3]))
print(budget, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def _budget(soft: int, hard: int, workers: int) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(soft), str(hard), str(workers)], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def test_soft_limit_is_raised_to_the_hard_limit_and_the_reserve_kept() -> None:
    reserve = FD_RESERVE + 2 * FDS_PER_WORKER + MONITORING_MAX_CONNECTIONS
    assert _budget(256, 1024, 2) == (1024 - reserve, 1024)
    assert _budget(300, 300, 2) == (300 - reserve, 300)


def test_the_default_cap_is_bounded_for_memory() -> None:
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20)  # a process cannot raise its hard limit
    reserve = FD_RESERVE + 2 * FDS_PER_WORKER + MONITORING_MAX_CONNECTIONS
    assert _budget(200, hard, 2) == (min(MAX_DEFAULT_CONNECTIONS, hard - reserve), hard)
