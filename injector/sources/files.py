"""Injector config from local files: kube-inject style flags, or a directory laid out like the mounted ConfigMaps.

A mounted ConfigMap changes by an atomic symlink swap (``..data``), so a file's identity (inode, size, mtime,
followed through symlinks) is polled rather than relying on inotify, which misses swaps of the parent link.
Reading a few small files is cheap enough for the event loop; parsing and compiling is not, so the caller's
``build`` runs in a thread.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[int, int, int] | None, ...]
ConfigTexts = tuple[str | None, str | None, str | None]


def fingerprint(paths: Sequence[Path]) -> Fingerprint:
    """Identity of each file (None when absent); any change means "read again"."""
    result: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            result.append(None)
        else:
            result.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(result)


async def watch(paths: Sequence[Path], on_change: Callable[[], Awaitable[None]], *,
                interval: float = 1.0, debounce: float = 0.1) -> None:
    """Call ``on_change`` after the files change and then stay unchanged for ``debounce`` seconds.

    The debounce matters because writers (kubelet, cert-manager, editors) touch several files in a row.
    Runs until cancelled; an exception from ``on_change`` is logged, not fatal.
    """
    seen = fingerprint(paths)
    while True:
        await asyncio.sleep(interval)
        current = fingerprint(paths)
        if current == seen:
            continue
        while True:
            await asyncio.sleep(debounce)
            settled = fingerprint(paths)
            if settled == current:
                break
            current = settled
        seen = current
        try:
            await on_change()
        except Exception:  # noqa: BLE001 - a failed reload must not stop watching
            log.exception("reload after a change of %s failed", ", ".join(map(str, paths)))


@dataclass(frozen=True)
class ConfigFiles:
    """Where the three config texts live. ``required`` files must exist; others default when absent."""

    config: Path | None = None
    values: Path | None = None
    mesh: Path | None = None
    required: bool = True

    @classmethod
    def from_directory(cls, directory: Path) -> "ConfigFiles":
        """``config``, ``values`` and ``mesh`` keys as files; a missing key takes the embedded default."""
        return cls(directory / "config", directory / "values", directory / "mesh", required=False)

    def paths(self) -> list[Path]:
        return [p for p in (self.config, self.values, self.mesh) if p is not None]

    def read(self) -> ConfigTexts:
        """The texts; None for a file not given (or absent, when not required): the embedded default."""
        return self._read(self.config), self._read(self.values), self._read(self.mesh)

    def _read(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if self.required:
                raise
            return None


Build = Callable[..., Any]
"""``build_revision_config(config_text, values_text, mesh_text, *, revision, generation)``."""


class FileConfigSource:
    """Keeps one revision's snapshot in step with its files: build off the loop, then ``install``.

    ``install(snapshot)`` makes the snapshot serve (loads it into the render pool, swaps it into the registry);
    if building or installing fails, the error is reported through ``on_error`` and the old snapshot stays.
    """

    def __init__(self, files: ConfigFiles, *, revision: str, build: Build,
                 next_generation: Callable[[], int], install: Callable[[Any], Awaitable[None]],
                 on_error: Callable[[str, Exception], None]) -> None:
        self._files = files
        self._revision = revision
        self._build = build
        self._next_generation = next_generation
        self._install = install
        self._on_error = on_error

    async def load(self) -> Any:
        """Read, build and install once; raises on failure (at startup there is nothing old to keep)."""
        texts = self._files.read()
        snapshot = await asyncio.to_thread(self._build, *texts, revision=self._revision,
                                           generation=self._next_generation())
        await self._install(snapshot)
        return snapshot

    async def reload(self) -> None:
        try:
            snapshot = await self.load()
        except Exception as exc:  # noqa: BLE001 - any bad config must leave the last good one serving
            self._on_error(self._revision, exc)
        else:
            log.info("config for revision %s reloaded (generation %d)", self._revision, snapshot.generation)

    async def watch(self, interval: float = 1.0) -> None:
        await watch(self._files.paths(), self.reload, interval=interval)
