"""Splitting and classifying a multi-document YAML stream the way istioctl reads it.

Documents are split like the Kubernetes YAMLReader (a separator is a line starting with ``---`` followed only by
spaces or a comment). Kinds are looked up by ``kind`` alone, whatever the apiVersion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

POD_TEMPLATE_KINDS = frozenset({
    "Pod", "ReplicationController", "Deployment", "DaemonSet", "ReplicaSet", "Job", "CronJob", "StatefulSet",
    "DeploymentConfig",
})
REGISTERED_KINDS = POD_TEMPLATE_KINDS | {"List"}


class ManifestError(ValueError):
    """A document that cannot be processed; names the document (1-based index) and its kind."""

    def __init__(self, index: int, kind: str, problem: str) -> None:
        where = f"document {index}" + (f" ({kind})" if kind else "")
        super().__init__(f"{where}: {problem}")
        self.index = index
        self.kind = kind


@dataclass(frozen=True, slots=True)
class RawDocument:
    index: int
    text: str


def split_documents(text: str) -> Iterator[RawDocument]:
    """Yield non-empty documents with their exact text (lines keep their newlines)."""
    buffer: list[str] = []
    index = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("---"):
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                raise ManifestError(index + 1, "", f"invalid YAML document separator: {rest}")
            if buffer:
                index += 1
                yield RawDocument(index, "".join(buffer))
                buffer = []
            continue
        buffer.append(line)
    if buffer:
        yield RawDocument(index + 1, "".join(buffer))


def pod_template_location(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(path to the pod-template metadata, path to the pod spec) inside an object of this kind.

    CronJob's metadata comes from ``spec.jobTemplate.metadata``, an istioctl quirk kept for compatibility.
    """
    if kind == "Pod":
        return ("metadata",), ("spec",)
    if kind == "CronJob":
        return ("spec", "jobTemplate", "metadata"), ("spec", "jobTemplate", "spec", "template", "spec")
    if kind in POD_TEMPLATE_KINDS:
        return ("spec", "template", "metadata"), ("spec", "template", "spec")
    return None


def get_path(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def with_path(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``obj`` with ``value`` at ``path``: new maps along the path, everything else shared (typed values are
    never changed in place)."""
    inner = obj.get(path[0]) if len(path) > 1 else None
    rest = with_path(inner if isinstance(inner, dict) else {}, path[1:], value) if len(path) > 1 else value
    return {**obj, path[0]: rest}
