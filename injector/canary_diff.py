"""What a revision change does to each workload (``injector diff``): inject its pod template with revision A and
with revision B, exactly as the webhook would, and compare the two injected pods.

Webhook semantics, not kube-inject's: each revision's own policy and selectors decide whether it injects at all,
and its ``injectedAnnotations`` apply, because the question is what the pods will look like once the webhook of
revision B creates them. A workload one side injects and the other does not shows the whole sidecar as the change.
A template that is injected already (a running bare pod, a kube-injected manifest) is un-injected first.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from injector.cluster_facts import ClusterFacts
from injector.decision import Decision, should_inject
from injector.kubeinject import WorkloadPod, workload_pod
from workers.config.errors import ConfigError
from workers.errors import InjectionError
from workers.injection_diff import Change, summarize, unified_diff
from workers.k8s.types import SchemaError, normalize_pod
from workers.render import Injector
from workers.templates.errors import TemplateError
from workers.uninject import un_inject


@dataclass(frozen=True)
class DiffSide:
    """One end of the comparison: a label for people, the revision name templates see, its injector."""

    label: str
    revision: str
    injector: Injector


@dataclass
class WorkloadDiff:
    namespace: str
    kind: str
    name: str
    injected: tuple[bool, bool] = (False, False)
    decisions: tuple[str, str] = ("", "")
    changes: list[Change] = field(default_factory=list)
    diff: str = ""
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def title(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "kind": self.kind, "name": self.name, "changed": self.changed,
                "injected": {"from": self.injected[0], "to": self.injected[1]},
                "decisions": {"from": self.decisions[0], "to": self.decisions[1]},
                "changes": [change.as_json() for change in self.changes], "diff": self.diff, "error": self.error}


def _injected(side: DiffSide, template: WorkloadPod, namespace: str,
              cluster: ClusterFacts) -> tuple[dict[str, Any], Decision]:
    """The pod as ``side``'s webhook would store it (the template itself, typed, when it would skip it)."""
    decision = should_inject(template.pod, side.injector.config.config, namespace)
    if not decision.inject:
        return normalize_pod(template.pod), decision
    facts = cluster.facts_for(template.pod, namespace, side.revision, webhook=True)
    return side.injector.inject_pod(template.pod, facts, workload=template.workload).pod, decision


def _as_written(template: WorkloadPod, side: DiffSide) -> WorkloadPod:
    """A template that carries an injection already (a running bare pod, a kube-injected manifest) is compared
    from what its user wrote, so that both sides inject afresh."""
    status_port = side.injector.config.mesh["defaultConfig"].get("statusPort", 0)
    return replace(template, pod=un_inject(template.pod, status_port))


def diff_workload(obj: dict[str, Any], sides: tuple[DiffSide, DiffSide], cluster: ClusterFacts,
                  default_namespace: str) -> WorkloadDiff:
    """Compare one typed workload object (any kind with a pod template) injected by both sides."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or default_namespace
    result = WorkloadDiff(namespace, obj.get("kind", ""), meta.get("name") or meta.get("generateName") or "")
    try:
        template = _as_written(workload_pod(obj), sides[0])
        (before, old), (after, new) = (_injected(side, template, namespace, cluster) for side in sides)
    except (InjectionError, ConfigError, TemplateError, SchemaError) as exc:
        result.error = str(exc)
        return result
    result.injected = (old.inject, new.inject)
    result.decisions = (old.reason, new.reason)
    result.changes = summarize(before, after)
    result.diff = unified_diff(before, after, f"{result.title} ({sides[0].label})",
                               f"{result.title} ({sides[1].label})")
    return result


def diff_workloads(objects: Iterable[dict[str, Any]], sides: tuple[DiffSide, DiffSide], cluster: ClusterFacts,
                   default_namespace: str) -> list[WorkloadDiff]:
    return [diff_workload(obj, sides, cluster, default_namespace) for obj in objects]
