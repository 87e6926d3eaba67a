"""CPU time and memory of a whole process tree, read from /proc (Linux only).

A server is its process and every descendant (our front end, the zygote and the render workers; Istio's one
process). CPU is ``utime + stime`` of each, plus ``cutime + cstime`` so a child that exited and was reaped meanwhile
still counts. Memory is RSS and PSS from ``smaps_rollup``: PSS splits pages shared between processes (forked
workers share much of their parent's heap), so the sum of PSS is the tree's real footprint.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    name: str
    rss_kb: int
    pss_kb: int


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def parent_map() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    parents = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    return parents


def tree(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_map().items():
        children.setdefault(parent, []).append(pid)
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def cpu_seconds(root: int) -> float:
    """CPU seconds the tree has used so far (user + system, reaped children included)."""
    ticks = 0
    for pid in tree(root):
        fields = _stat_fields(pid)
        if fields is not None:  # utime, stime, cutime, cstime are fields 14-17 of stat, 12-15 after the name
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def _rollup(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def _name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def memory(root: int) -> list[ProcessMemory]:
    """RSS and PSS of every process of the tree, root first."""
    out = []
    for pid in tree(root):
        rollup = _rollup(pid)
        out.append(ProcessMemory(pid, _name(pid), rollup.get("Rss", 0), rollup.get("Pss", 0)))
    return out
