"""The single path from a revision's config texts to a serving snapshot, shared by every config source.

Files and ConfigMaps differ in how they notice a change, not in what a change means: build the snapshot in a
thread (parsing is CPU work the event loop must not do), install it (``app.install_snapshot``: compiled and
trial-rendered in the bounded config sandbox, so a hostile or broken template refuses the generation there, then
loaded by every render worker), and only then swap it into the registry. A failure
anywhere leaves the last good snapshot serving and is recorded for ``/debug/revisions``; the caller decides what
else to say about it (a Kubernetes Event, a failed start-up).

Changes to one revision are applied one at a time, so a slow build can never overwrite a newer one that finished
first; different revisions build concurrently.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Awaitable, Callable

from injector.revisions import RevisionRegistry

log = logging.getLogger(__name__)

Texts = tuple[str | None, str | None, str | None]
"""``(config, values, mesh)``; None takes the embedded default of that part."""
Build = Callable[..., Any]
"""``build_revision_config(config_text, values_text, mesh_text, *, revision, generation)``."""
Install = Callable[[Any, str], Awaitable[None]]
"""``install(snapshot, source)``: load into the render pool, then swap into the registry."""


class RevisionLoader:
    """Applies, rejects and removes revision configs; never raises for a bad config, it reports it."""

    def __init__(self, registry: RevisionRegistry, *, build: Build, install: Install,
                 on_error: Callable[[str, Exception], None]) -> None:
        """``on_error(revision, exc)`` logs and counts a rejection (the registry records it too)."""
        self._registry = registry
        self._build = build
        self._install = install
        self._on_error = on_error
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)

    async def apply(self, revision: str, texts: Texts, *, source: str) -> Exception | None:
        """Build and install; returns the error that rejected the change, or None once it serves."""
        async with self._locks[revision]:
            generation = self._registry.next_generation()
            self._registry.record_pending(revision, generation)
            try:
                snapshot = await asyncio.to_thread(self._build, *texts, revision=revision, generation=generation)
                await self._install(snapshot, source)
            except Exception as exc:  # noqa: BLE001 - any bad config must leave the last good one serving
                self.reject(revision, exc, generation)
                return exc
        log.info("revision %s now serves generation %d from %s", revision, snapshot.generation, source)
        return None

    def reject(self, revision: str, exc: Exception, generation: int | None = None) -> None:
        """Record a change that cannot serve (also for faults found before building, such as missing keys)."""
        self._registry.record_error(revision, str(exc), generation)
        self._on_error(revision, exc)

    async def remove(self, revision: str) -> None:
        """Stop serving a revision whose config is gone; requests routed to it are then denied."""
        async with self._locks[revision]:
            if self._registry.remove(revision) is not None:
                log.info("revision %s removed: its config is gone", revision)
