"""The server's opt-in pod cache (``serve --kube --watch-pods``), read by ``/debug/stale``.

Pods are the largest and most numerous objects a cluster has, so the informer's transform keeps each one as a
single compact JSON blob of what the audit reads, never as a tree of Python objects: for an injected pod its
labels, annotations, owner and spec; for any other pod only what decides whether it should be injected (labels,
the ``sidecar.istio.io/inject`` annotation, host networking). Managed fields and status (but the phase) are
dropped. The blobs go to the audit process as they are; the server never decodes them again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from workers.strip import STATUS_ANNOTATION

if TYPE_CHECKING:
    from injector.sources.informer import JSON, Informer

INJECT_KEY = "sidecar.istio.io/inject"
_KEPT_METADATA = ("name", "namespace", "generateName", "labels", "deletionTimestamp")


def trim_pod(obj: JSON) -> JSON:
    """Informer transform: ``{"metadata": {name, namespace, resourceVersion}, "pod": <compact JSON bytes>}``."""
    meta = obj["metadata"]
    annotations = meta.get("annotations") or {}
    injected = STATUS_ANNOTATION in annotations
    kept: dict[str, Any] = {key: meta[key] for key in _KEPT_METADATA if meta.get(key)}
    kept["ownerReferences"] = [ref for ref in meta.get("ownerReferences") or () if ref.get("controller")]
    spec = obj.get("spec") or {}
    if injected:
        kept["annotations"] = annotations
        body = {"metadata": kept, "spec": spec}
    else:
        kept["annotations"] = {INJECT_KEY: annotations[INJECT_KEY]} if INJECT_KEY in annotations else {}
        body = {"metadata": kept, "spec": {"hostNetwork": True} if spec.get("hostNetwork") else {}}
    body["status"] = {"phase": (obj.get("status") or {}).get("phase", "")}
    return {"metadata": {"name": meta["name"], "namespace": meta.get("namespace", ""),
                         "resourceVersion": meta.get("resourceVersion")},
            # orjson's bytes keep the spare capacity of its growing buffer (~2x); an exact copy halves the cache.
            "pod": bytes(memoryview(orjson.dumps(body)))}


class PodCache:
    """The pods of the cluster as trimmed blobs, backed by the informer that :class:`KubeSource` runs for it."""

    def __init__(self) -> None:
        self._informer: Informer | None = None

    def attach(self, informer: Informer) -> None:
        """Called by the source that owns the informer (created with :func:`trim_pod` as its transform)."""
        self._informer = informer

    @property
    def synced(self) -> bool:
        """True once the informer has listed every pod once."""
        return self._informer is not None and self._informer.synced

    def blobs(self) -> list[bytes]:
        """Every cached pod as JSON bytes (a list of references: cheap in the event loop)."""
        if self._informer is None:
            return []
        return [obj["pod"] for obj in self._informer.cache.values()]
