"""Which config serves which revision: a registry of immutable snapshots, swapped whole.

Sources (config files today, Kubernetes informers later) build a snapshot, make sure the render pool holds it,
then ``set`` it here; request handlers only ``get``. Swapping a reference is atomic in the event loop, so a request
sees either the old snapshot or the new one, never a mix. Generation numbers are unique across revisions because
render workers key compiled templates by generation alone.
"""
from __future__ import annotations

import itertools
import logging
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

DEFAULT_REVISION = "default"


class Snapshot(Protocol):
    """What the registry needs of a config snapshot (``workers.config.snapshot.RevisionConfig``)."""

    @property
    def revision(self) -> str: ...

    @property
    def generation(self) -> int: ...


Listener = Callable[[str, Any, Any], None]
"""``listener(revision, old_snapshot_or_None, new_snapshot_or_None)``, called after each change."""


class RevisionRegistry:
    """revision -> snapshot, plus tags (aliases such as ``prod-stable`` -> ``1-22``)."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Any] = {}
        self._tags: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._generations = itertools.count(1)

    def next_generation(self) -> int:
        """A fresh generation number for a snapshot about to be built."""
        return next(self._generations)

    def get(self, revision: str) -> Any | None:
        """The snapshot serving ``revision`` (a revision name, not a tag), or None."""
        return self._snapshots.get(revision)

    def set(self, revision: str, snapshot: Snapshot) -> Any | None:
        """Make ``snapshot`` serve ``revision``; returns the snapshot it replaced."""
        if snapshot.revision != revision:
            raise ValueError(f"snapshot is for revision {snapshot.revision!r}, not {revision!r}")
        old = self._snapshots.get(revision)
        self._snapshots[revision] = snapshot
        self._notify(revision, old, snapshot)
        return old

    def remove(self, revision: str) -> Any | None:
        """Stop serving ``revision``; returns the removed snapshot. Tags pointing at it stay (and resolve to None)."""
        old = self._snapshots.pop(revision, None)
        if old is not None:
            self._notify(revision, old, None)
        return old

    def set_tag(self, tag: str, revision: str) -> None:
        self._tags[tag] = revision

    def remove_tag(self, tag: str) -> None:
        self._tags.pop(tag, None)

    def resolve_tag(self, name: str) -> str:
        """A tag's revision, or ``name`` itself when it is not a tag (revision names win over tags)."""
        if name in self._snapshots:
            return name
        return self._tags.get(name, name)

    def lookup(self, name: str) -> Any | None:
        """The snapshot for a revision name or tag."""
        return self._snapshots.get(self.resolve_tag(name))

    def revisions(self) -> list[str]:
        return sorted(self._snapshots)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, revision: str, old: Any | None, new: Any | None) -> None:
        for listener in self._listeners:
            try:
                listener(revision, old, new)
            except Exception:  # noqa: BLE001 - one broken listener must not stop a config swap
                log.exception("revision listener failed for %s", revision)
