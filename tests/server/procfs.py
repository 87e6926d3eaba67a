"""What the kernel says about a process's memory, for tests that bound it."""
from __future__ import annotations

from pathlib import Path


def peak_resident_bytes(pid: int) -> int:
    """VmHWM: the most memory the process ever had resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")
