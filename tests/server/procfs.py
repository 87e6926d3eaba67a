"""What the kernel says about processes and their memory, for tests and benchmarks that bound it."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def peak_resident_bytes(pid: int) -> int:
    """VmHWM: the most memory the process ever had resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (a server's zygote, its render workers, a config sandbox)."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[parent].append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children[pending.pop()]:
            found.append(child)
            pending.append(child)
    return found


def largest_peak_resident_bytes(pids: list[int]) -> int:
    """The largest VmHWM among ``pids`` that still exist."""
    peaks = []
    for pid in pids:
        try:
            peaks.append(peak_resident_bytes(pid))
        except (OSError, AssertionError):
            continue
    return max(peaks, default=0)
