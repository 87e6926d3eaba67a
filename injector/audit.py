"""Which running pods carry an injection that their revision would no longer produce (``injector audit``,
``/debug/stale``).

For every injected pod: take it back to what the user wrote (:func:`workers.uninject.un_inject`), inject that with
the current config of the revision named in its status annotation, fill in the apiserver's defaults on both sides
(:mod:`workers.k8s.defaults`) and compare (:func:`workers.injection_diff.summarize`). A pod is

* ``stale`` when the comparison finds differences (template, image, values or mesh changed since), or when the
  revision would not inject it any more;
* ``revision-changed`` when its namespace or pod labels now select another served revision (a canary move waiting
  for its restart);
* ``revision-not-served`` when the revision that injected it is gone (or its config is rejected);
* ``not-injected`` when it has no sidecar although a served revision selects it and would inject it;
* ``injection-error`` when re-injecting it fails: a restart would be refused by the webhook.

Findings are grouped by the workload a user restarts, following ownerReferences (pod -> ReplicaSet -> Deployment,
Job -> CronJob) through the controllers read from the cluster, else guessed from names as Istio does.

Everything here is synchronous CPU work on plain data (no cluster access): the CLI runs it in-process, the server
in a separate process.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from injector.cluster_facts import ClusterFacts
from injector.decision import should_inject
from injector.routing import REV_LABEL, resolve_revision
from workers.config.snapshot import RevisionConfig
from workers.errors import InjectionError
from workers.injection_diff import Change, summarize
from workers.k8s.defaults import with_api_defaults
from workers.k8s.types import SchemaError, normalize_pod
from workers.render import Injector
from workers.strip import STATUS_ANNOTATION, parse_status
from workers.uninject import un_inject
from workers.workload import controller_of

STATUSES = ("stale", "revision-changed", "revision-not-served", "not-injected", "injection-error")
"""Every finding status, most urgent last-but-not-least: the order reports list them in."""
ROLLOUT_KINDS = frozenset({"Deployment", "DaemonSet", "StatefulSet"})
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

Controllers = Mapping[tuple[str, str, str], "tuple[str, str] | None"]
"""``(namespace, kind, name)`` of a ReplicaSet or Job -> ``(kind, name)`` of its controller (None: it has none)."""


@dataclass(frozen=True)
class AuditInputs:
    """What the audit needs besides the pods; picklable, so the server can ship it to another process."""

    revisions: Mapping[str, RevisionConfig]
    """The served revisions' current configs."""
    cluster: ClusterFacts
    tags: Mapping[str, str] = field(default_factory=dict)
    """Revision tag -> revision."""
    controllers: Controllers = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    """Revisions whose config exists but is rejected -> why (for the ``revision-not-served`` reason)."""


@dataclass(frozen=True, order=True)
class Owner:
    """The workload a user restarts to replace a pod."""

    namespace: str
    kind: str
    name: str

    def remedy(self, pods: Iterable[str]) -> tuple[str, str]:
        """``(command, note)`` that replaces the pods, so the webhook injects them afresh."""
        if self.kind in ROLLOUT_KINDS:
            return f"kubectl rollout restart {self.kind.lower()}/{self.name} -n {self.namespace}", ""
        command = f"kubectl delete pod -n {self.namespace} {' '.join(sorted(pods))}"
        if self.kind == "Pod":
            return command, "a bare pod: nothing re-creates it, apply its manifest again after deleting it"
        return command, f"its {self.kind} {self.name} re-creates the pods"


@dataclass(frozen=True)
class Verdict:
    """One pod's finding (never built for a pod that is current)."""

    status: str
    revision: str
    reason: str
    changes: tuple[Change, ...] = ()


@dataclass
class Finding:
    """Pods of one workload with the same verdict."""

    verdict: Verdict
    pods: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"status": self.verdict.status, "revision": self.verdict.revision, "reason": self.verdict.reason,
                "pods": sorted(self.pods), "changes": [change.as_json() for change in self.verdict.changes]}


@dataclass
class WorkloadFindings:
    owner: Owner
    findings: list[Finding]

    def as_json(self) -> dict[str, Any]:
        pods = [pod for finding in self.findings for pod in finding.pods]
        command, note = self.owner.remedy(pods)
        return {"namespace": self.owner.namespace, "kind": self.owner.kind, "name": self.owner.name,
                "command": command, "note": note, "findings": [finding.as_json() for finding in self.findings]}


@dataclass
class AuditReport:
    workloads: list[WorkloadFindings]
    counts: dict[str, int]
    """Pods per status, plus ``pods`` (looked at), ``injected`` and ``current``."""
    revisions: list[str]

    @property
    def found(self) -> bool:
        return any(self.counts.get(status) for status in STATUSES)

    def by_status_and_revision(self) -> list[dict[str, Any]]:
        """Pods per (status, revision): what the ``sidecar_injector_stale_pods`` gauge exports."""
        counts: Counter[tuple[str, str]] = Counter()
        for workload in self.workloads:
            for finding in workload.findings:
                counts[(finding.verdict.status, finding.verdict.revision)] += len(finding.pods)
        return [{"status": status, "revision": revision, "pods": pods}
                for (status, revision), pods in sorted(counts.items())]

    def as_json(self) -> dict[str, Any]:
        return {"revisions": self.revisions, "counts": self.counts, "by_status": self.by_status_and_revision(),
                "workloads": [workload.as_json() for workload in self.workloads]}


class _PodAuditor:
    """Holds one Injector per revision used (templates compile once) and judges pods one by one."""

    def __init__(self, inputs: AuditInputs) -> None:
        self._inputs = inputs
        self._injectors: dict[str, Injector] = {}

    def _selected(self, pod: Mapping[str, Any], namespace: str) -> str | None:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        selected = resolve_revision(labels, self._inputs.cluster.namespace_labels(namespace))
        return self._inputs.tags.get(selected, selected) if selected is not None else None

    def judge(self, pod: dict[str, Any]) -> Verdict | None:
        """The pod's finding, or None when it is fine (current, or neither injected nor meant to be)."""
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        annotations = meta.get("annotations") or {}
        raw_status = annotations.get(STATUS_ANNOTATION)
        status = parse_status(raw_status) if isinstance(raw_status, str) else None
        selected = self._selected(pod, namespace)
        revisions = self._inputs.revisions
        if status is None:
            if selected in revisions and should_inject(pod, revisions[selected].config, namespace).inject:
                return Verdict("not-injected", selected,
                               f"revision {selected} selects this pod and would inject it, but it has no sidecar")
            return None
        revision = status["revision"] or annotations.get(REV_LABEL) or (meta.get("labels") or {}).get(REV_LABEL) \
            or "default"
        revision = self._inputs.tags.get(revision, revision)
        if revision not in revisions:
            why = self._inputs.rejected.get(revision)
            reason = f"injected by revision {revision}, which is " + (f"rejected: {why}" if why else "not served")
            if selected in revisions:
                reason += f"; a restart moves it to revision {selected}"
            return Verdict("revision-not-served", revision, reason)
        if selected is not None and selected != revision and selected in revisions:
            return Verdict("revision-changed", revision,
                           f"injected by revision {revision}; its labels now select revision {selected}")
        return self._compare(pod, namespace, revision)

    def _compare(self, pod: dict[str, Any], namespace: str, revision: str) -> Verdict | None:
        snapshot = self._inputs.revisions[revision]
        pod = as_admitted(pod)
        user = un_inject(pod, snapshot.mesh["defaultConfig"].get("statusPort", 0))
        decision = should_inject(user, snapshot.config, namespace)
        if not decision.inject:
            return Verdict("stale", revision, f"revision {revision} would not inject it now: {decision.reason}")
        # As at admission: a pod created by a controller is not scheduled yet, so no node decides.
        facts = self._inputs.cluster.facts_for({"spec": {}}, namespace, revision, webhook=True)
        try:
            expected = self._injector(revision).inject_pod(user, facts).pod
            running = normalize_pod(pod)
        except (InjectionError, SchemaError) as exc:
            return Verdict("injection-error", revision, f"injecting it again with revision {revision} fails: {exc}")
        changes = tuple(summarize(with_api_defaults(running), with_api_defaults(expected)))
        if not changes:
            return None
        return Verdict("stale", revision, f"revision {revision} would inject it differently now", changes)

    def _injector(self, revision: str) -> Injector:
        if revision not in self._injectors:
            self._injectors[revision] = Injector(self._inputs.revisions[revision])
        return self._injectors[revision]


def as_admitted(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod as its admission saw it: no name when a controller generated it, no node, none of the metadata
    the server sets, no status. Besides being faithful, this makes the pods of one ReplicaSet alike, so the
    injector's render cache serves all but the first of them."""
    meta = pod.get("metadata") or {}
    kept = {key: meta[key] for key in ("generateName", "namespace", "labels", "annotations", "ownerReferences")
            if key in meta}
    if not meta.get("generateName") and "name" in meta:
        kept["name"] = meta["name"]
    return {"metadata": kept, "spec": {k: v for k, v in (pod.get("spec") or {}).items() if k != "nodeName"}}


def owner_of(pod: Mapping[str, Any], controllers: Controllers) -> Owner:
    """Follow the controller references up to two levels (pod -> ReplicaSet -> Deployment, pod -> Job ->
    CronJob), through ``controllers`` where it knows the object, else by Istio's naming rules."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    ref = next((r for r in meta.get("ownerReferences") or () if r.get("controller")), None)
    if ref is None:
        return Owner(namespace, "Pod", meta.get("name") or "")
    kind, name = ref.get("kind", ""), ref.get("name", "")
    key = (namespace, kind, name)
    if key in controllers:
        parent = controllers[key]
        if parent is not None:
            kind, name = parent
    else:
        name, kind, _ = controller_of(name, kind, "", meta.get("labels") or {})
    return Owner(namespace, kind, name)


def _skipped(pod: Mapping[str, Any]) -> bool:
    """Pods on their way out are not worth a restart."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) \
        or (pod.get("status") or {}).get("phase") in FINISHED_PHASES


def audit(pods: Iterable[dict[str, Any]], inputs: AuditInputs) -> AuditReport:
    """Judge every pod and group the findings by owner workload (sorted, so reports are stable)."""
    auditor = _PodAuditor(inputs)
    counts: Counter[str] = Counter()
    grouped: defaultdict[Owner, dict[Verdict, list[str]]] = defaultdict(dict)
    for pod in pods:
        if _skipped(pod):
            continue
        injected = STATUS_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})
        counts["pods"] += 1
        counts["injected"] += injected
        verdict = auditor.judge(pod)
        if verdict is None:
            counts["current" if injected else "not-selected"] += 1
            continue
        counts[verdict.status] += 1
        grouped[owner_of(pod, inputs.controllers)].setdefault(verdict, []).append(
            (pod.get("metadata") or {}).get("name") or "")
    order = {status: index for index, status in enumerate(STATUSES)}
    workloads = [WorkloadFindings(owner, [Finding(verdict, sorted(names)) for verdict, names in sorted(
        verdicts.items(), key=lambda item: (order[item[0].status], item[0].revision, item[0].reason))])
        for owner, verdicts in sorted(grouped.items())]
    return AuditReport(workloads, {key: counts.get(key, 0) for key in (
        "pods", "injected", "current", "not-selected", *STATUSES)}, sorted(inputs.revisions))


def audit_serialized(pods: Iterable[bytes], inputs: AuditInputs) -> dict[str, Any]:
    """:func:`audit` over pods as JSON bytes, returning the JSON report: the entry point the server runs in its
    audit process (bytes travel to it cheaply, and the decoded pods never exist in the server)."""
    return audit((orjson.loads(blob) for blob in pods), inputs).as_json()
