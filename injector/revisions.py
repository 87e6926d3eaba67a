"""Which config serves which revision: a registry of immutable snapshots, swapped whole.

Sources (config files, Kubernetes informers) build a snapshot, make sure the render pool holds it, then ``set`` it
here; request handlers only ``get``. Swapping a reference is atomic in the event loop, so a request sees either the
old snapshot or the new one, never a mix. Generation numbers are unique across revisions because render workers key
compiled templates by generation alone.

Beside the snapshots the registry keeps, per revision, where its config came from, when it was loaded and the last
rejection, because "why is my change not live" is the first question an operator asks (``/debug/revisions``).
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Protocol

log = logging.getLogger(__name__)

DEFAULT_REVISION = "default"


class Snapshot(Protocol):
    """What the registry needs of a config snapshot (``workers.config.snapshot.RevisionConfig``)."""

    @property
    def revision(self) -> str: ...

    @property
    def generation(self) -> int: ...


@dataclass(frozen=True, slots=True)
class RevisionStatus:
    """What ``/debug/revisions`` shows of one revision besides its snapshot."""

    source: str = ""
    """Where the serving snapshot came from (ConfigMap names and resourceVersions, or a directory)."""
    loaded_at: float | None = None
    """Wall-clock time the serving snapshot was swapped in."""
    pending_generation: int | None = None
    """A change being built and loaded into the render workers (not serving yet)."""
    pending_since: float | None = None
    rejected_generation: int | None = None
    """The generation of the most recent rejected change (None when it was refused before it got one)."""
    last_error: str | None = None
    """Why the most recent change was rejected; cleared by the next successful load."""
    error_at: float | None = None
    changed_at: float | None = None
    """Wall-clock time of the last change of state: a change started, swapped in, or rejected."""


Listener = Callable[[str, Any, Any], None]
"""``listener(revision, old_snapshot_or_None, new_snapshot_or_None)``, called after each change."""


class RevisionRegistry:
    """revision -> snapshot, plus tags (aliases such as ``prod-stable`` -> ``1-22``)."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Any] = {}
        self._tags: dict[str, str] = {}
        self._tag_source: Callable[[], Mapping[str, str]] | None = None
        self._status: dict[str, RevisionStatus] = {}
        self._listeners: list[Listener] = []
        self._generations = itertools.count(1)

    def next_generation(self) -> int:
        """A fresh generation number for a snapshot about to be built."""
        return next(self._generations)

    def get(self, revision: str) -> Any | None:
        """The snapshot serving ``revision`` (a revision name, not a tag), or None."""
        return self._snapshots.get(revision)

    def set(self, revision: str, snapshot: Snapshot, *, source: str = "") -> Any | None:
        """Make ``snapshot`` serve ``revision``; returns the snapshot it replaced."""
        if snapshot.revision != revision:
            raise ValueError(f"snapshot is for revision {snapshot.revision!r}, not {revision!r}")
        old = self._snapshots.get(revision)
        self._snapshots[revision] = snapshot
        now = time.time()
        self._status[revision] = RevisionStatus(source=source, loaded_at=now, changed_at=now)
        self._notify(revision, old, snapshot)
        return old

    def remove(self, revision: str) -> Any | None:
        """Stop serving ``revision``; returns the removed snapshot. Tags pointing at it stay (and resolve to None)."""
        old = self._snapshots.pop(revision, None)
        self._status.pop(revision, None)
        if old is not None:
            self._notify(revision, old, None)
        return old

    def record_pending(self, revision: str, generation: int) -> None:
        """A change got ``generation`` and is being built and loaded; the serving snapshot stays until it is."""
        now = time.time()
        current = self._status.get(revision, RevisionStatus())
        self._status[revision] = replace(current, pending_generation=generation, pending_since=now, changed_at=now)

    def record_error(self, revision: str, message: str, generation: int | None = None) -> None:
        """Remember a rejected change; the serving snapshot (if any) and its status stay."""
        now = time.time()
        current = self._status.get(revision, RevisionStatus())
        self._status[revision] = replace(current, pending_generation=None, pending_since=None,
                                         rejected_generation=generation, last_error=message, error_at=now,
                                         changed_at=now)

    def status(self, revision: str) -> RevisionStatus | None:
        return self._status.get(revision)

    def set_tag(self, tag: str, revision: str) -> None:
        self._tags[tag] = revision

    def use_tag_source(self, tags: Callable[[], Mapping[str, str]]) -> None:
        """Read tags live from ``tags()`` (revision-tag webhooks seen by an informer); ``set_tag`` entries win."""
        self._tag_source = tags

    def tags(self) -> dict[str, str]:
        """Every tag -> revision currently known."""
        live = dict(self._tag_source()) if self._tag_source is not None else {}
        return {**live, **self._tags}

    def resolve_tag(self, name: str) -> str:
        """A tag's revision, or ``name`` itself when it is not a tag (revision names win over tags)."""
        if name in self._snapshots:
            return name
        if name in self._tags:
            return self._tags[name]
        if self._tag_source is not None:
            return self._tag_source().get(name, name)
        return name

    def lookup(self, name: str) -> Any | None:
        """The snapshot for a revision name or tag."""
        return self._snapshots.get(self.resolve_tag(name))

    def revisions(self) -> list[str]:
        return sorted(self._snapshots)

    def describe(self) -> dict[str, Any]:
        """JSON-ready state of every revision (served or only rejected so far) and every tag."""
        revisions: dict[str, Any] = {}
        for revision in sorted(set(self._snapshots) | set(self._status)):
            snapshot = self._snapshots.get(revision)
            status = self._status.get(revision, RevisionStatus())
            config = getattr(snapshot, "config", None)
            pending = rejected = None
            if status.pending_generation is not None:
                pending = {"generation": status.pending_generation, "since": _timestamp(status.pending_since)}
            if status.last_error is not None:
                rejected = {"generation": status.rejected_generation, "reason": status.last_error,
                            "at": _timestamp(status.error_at)}
            revisions[revision] = {
                "served": snapshot is not None,
                "generation": snapshot.generation if snapshot is not None else None,
                "source": status.source,
                "loaded_at": _timestamp(status.loaded_at),
                "templates": sorted(getattr(config, "templates", None) or ()),
                "pending": pending,
                "rejected": rejected,
                "last_error": status.last_error,
                "last_error_at": _timestamp(status.error_at),
                "last_change_at": _timestamp(status.changed_at),
            }
        tags = {tag: {"revision": revision, "served": revision in self._snapshots}
                for tag, revision in sorted(self.tags().items())}
        return {"revisions": revisions, "tags": tags}

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, revision: str, old: Any | None, new: Any | None) -> None:
        for listener in self._listeners:
            try:
                listener(revision, old, new)
            except Exception:  # noqa: BLE001 - one broken listener must not stop a config swap
                log.exception("revision listener failed for %s", revision)


def _timestamp(epoch: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, as Kubernetes prints times (plus the sub-second part a swap needs)."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
