"""Injector config from local files: kube-inject style flags, or a directory laid out like the mounted ConfigMaps.

A mounted ConfigMap changes by an atomic symlink swap (``..data``), so a file's identity (inode, size, mtime,
followed through symlinks) is polled rather than relying on inotify, which misses swaps of the parent link.
Reading a few small files is cheap enough for the event loop; parsing and compiling is not, so building goes
through :class:`injector.revision_loader.RevisionLoader`, which runs it in a thread.

``--config-dir`` holds either one revision (files ``config``, ``values``, ``mesh``) or one subdirectory per revision
with those files, so that several revisions can be served and swapped without a cluster.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Sequence, TypeVar

from injector.revision_loader import RevisionLoader, Texts
from workers.config.errors import ConfigError

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[int, int, int] | None, ...]
T = TypeVar("T")
F = TypeVar("F")


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


async def _next_change(scan: Callable[[], tuple[T, F]], seen: F, interval: float, debounce: float) -> tuple[T, F]:
    """Poll ``scan`` every ``interval`` until its fingerprint (the second item) differs from ``seen``, then until it
    stays unchanged for ``debounce``; returns that settled scan. The debounce matters because writers (kubelet,
    cert-manager, editors) touch several files in a row."""
    while True:
        await asyncio.sleep(interval)
        found, current = scan()
        if current != seen:
            break
    while True:
        await asyncio.sleep(debounce)
        found, settled = scan()
        if settled == current:
            return found, settled
        current = settled


async def watch(paths: Sequence[Path], on_change: Callable[[], Awaitable[None]], *,
                interval: float = 1.0, debounce: float = 0.1) -> None:
    """Call ``on_change`` after the files change and then stay unchanged for ``debounce`` seconds.

    Runs until cancelled; an exception from ``on_change`` is logged, not fatal.
    """
    seen = fingerprint(paths)
    while True:
        _, seen = await _next_change(lambda: (None, fingerprint(paths)), seen, interval, debounce)
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

    def any_present(self) -> bool:
        return any(path.exists() for path in self.paths())

    def directory_name(self) -> str:
        """Name of the directory holding the files (the revision, in a per-revision layout)."""
        return self.paths()[0].parent.name

    def describe(self) -> str:
        """The source shown in ``/debug/revisions`` and logs."""
        return "files " + (", ".join(map(str, self.paths())) or "(embedded default)")

    def read(self) -> Texts:
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


Layout = Callable[[], dict[str, ConfigFiles]]
"""Which revisions exist and where each one's files are; asked again on every poll."""


def revision_layout(directory: Path, default_revision: str) -> dict[str, ConfigFiles]:
    """``--config-dir``: the directory itself is one revision when it holds any of the three files (or nothing at
    all: embedded defaults); otherwise each subdirectory is a revision named after it.

    Names starting with a dot are skipped: a mounted ConfigMap keeps its payload in ``..data`` and timestamped
    ``..2024_...`` directories, which are not revisions.
    """
    single = ConfigFiles.from_directory(directory)
    if single.any_present():
        return {default_revision: single}
    try:
        subdirs = [ConfigFiles.from_directory(e) for e in sorted(directory.iterdir())
                   if e.is_dir() and not e.name.startswith(".")]
    except FileNotFoundError:
        return {}
    revisions = {files.directory_name(): files for files in subdirs if files.any_present()}
    return revisions or {default_revision: single}


class FileConfigSource:
    """Keeps the revisions of a file layout in step with the disk: new or changed files are applied through the
    loader, a revision whose directory disappears is removed."""

    def __init__(self, layout: Layout, loader: RevisionLoader) -> None:
        self._layout = layout
        self._loader = loader

    async def load(self) -> None:
        """Apply every revision once. Raises if any is rejected: at start-up there is nothing old to keep, and a
        local setup should fail loudly rather than serve a subset."""
        errors = await self._apply_all(self._layout())
        if errors:
            raise ConfigError("config", "; ".join(f"revision {rev}: {exc}" for rev, exc in sorted(errors.items())))

    async def _apply_all(self, layout: dict[str, ConfigFiles]) -> dict[str, Exception]:
        """Apply revisions concurrently (each builds in its own thread); returns the rejected ones."""
        revisions = sorted(layout)
        results = await asyncio.gather(*(self._apply(revision, layout[revision]) for revision in revisions))
        return {revision: exc for revision, exc in zip(revisions, results) if exc is not None}

    async def _apply(self, revision: str, files: ConfigFiles) -> Exception | None:
        try:
            texts = files.read()
        except OSError as exc:
            self._loader.reject(revision, exc)
            return exc
        return await self._loader.apply(revision, texts, source=files.describe())

    def _scan(self) -> tuple[dict[str, ConfigFiles], dict[str, Fingerprint]]:
        layout = self._layout()
        return layout, {revision: fingerprint(files.paths()) for revision, files in layout.items()}

    async def watch(self, interval: float = 1.0, debounce: float = 0.1) -> None:
        """Poll the layout and the files; apply what changed once it has stayed unchanged for ``debounce`` (writers
        touch several files in a row). Runs until cancelled."""
        seen = self._scan()[1]
        while True:
            layout, current = await _next_change(self._scan, seen, interval, debounce)
            previous, seen = seen, current
            for revision in sorted(set(previous) - set(current)):
                await self._loader.remove(revision)
            await self._apply_all({revision: layout[revision] for revision in current
                                   if previous.get(revision) != current[revision]})
