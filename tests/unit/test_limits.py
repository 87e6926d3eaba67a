"""The default memory bound of render workers follows the container's memory limit."""
from pathlib import Path

import pytest

from workers.limits import MIB, MIN_WORKER_MEMORY, container_memory_limit, worker_memory_for


@pytest.mark.parametrize("v2, v1, expected", [
    ("max\n", None, None),  # cgroup v2 without a limit
    ("1073741824\n", None, 1 << 30),  # resources.limits.memory: 1Gi
    (None, "536870912\n", 512 * MIB),  # cgroup v1
    (None, "9223372036854771712\n", None),  # v1's "unlimited"
    (None, None, None),  # no cgroup files at all
])
def test_container_memory_limit_reads_cgroup_v2_then_v1(tmp_path: Path, v2: str | None, v1: str | None,
                                                        expected: int | None) -> None:
    files = []
    for name, text in (("memory.max", v2), ("memory.limit_in_bytes", v1)):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        files.append(str(path))
    assert container_memory_limit(files) == expected


@pytest.mark.parametrize("workers, container, expected", [
    (2, None, 512 * MIB),  # no container limit: the fixed default
    (2, 4 << 30, 512 * MIB),  # room enough
    (2, 1 << 30, 277 * MIB),  # deploy/'s 1Gi: (1024 - 192) / 3 workers-and-sandbox
    (8, 1 << 30, MIN_WORKER_MEMORY),  # too small for 8 workers: the floor
])
def test_worker_memory_fits_workers_and_sandbox_in_the_container(workers: int, container: int | None,
                                                                 expected: int) -> None:
    memory = worker_memory_for(workers, container)
    assert memory == expected
    if container is not None and memory > MIN_WORKER_MEMORY:
        assert (workers + 1) * memory + 192 * MIB <= container
