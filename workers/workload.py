"""Which workload a pod belongs to (Istio's ``GetDeployMetaFromPod``), for names, owner and canonical labels."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

_CRONJOB_JOB = re.compile(r"^(.+)-\d{8,10}$")


@dataclass(frozen=True, slots=True)
class WorkloadMeta:
    """``DeploymentMeta`` (name, namespace) and ``TypeMeta`` (apiVersion, kind) of the owning workload."""

    name: str
    namespace: str
    kind: str
    api_version: str


def workload_of_pod(pod: Mapping[str, Any], namespace: str = "") -> WorkloadMeta:
    """Derive the workload from ownerReferences, only when the pod was created by a controller (generateName)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    name, kind, api_version = meta.get("name") or "", "Pod", "v1"
    ns = meta.get("namespace") or namespace
    if meta.get("generateName"):
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if owner is not None:
            name, kind, api_version = owner.get("name", ""), owner.get("kind", ""), owner.get("apiVersion", "")
            name, kind, api_version = controller_of(name, kind, api_version, labels)
    return WorkloadMeta(name=name or meta.get("name") or "", namespace=ns, kind=kind, api_version=api_version)


def controller_of(name: str, kind: str, api_version: str, labels: Mapping[str, str]) -> tuple[str, str, str]:
    """The workload above a pod's direct controller, guessed from names and labels as Istio does (a ReplicaSet
    named ``<deployment>-<pod-template-hash>``, a Job named ``<cronjob>-<schedule time>``); else the controller."""
    if kind == "ReplicaSet":
        pod_hash = labels.get("pod-template-hash")
        rollout_hash = labels.get("rollouts-pod-template-hash")
        if pod_hash and name.endswith("-" + pod_hash):
            return name[: -len(pod_hash) - 1], "Deployment", api_version
        if rollout_hash and name.endswith("-" + rollout_hash):
            return name[: -len(rollout_hash) - 1], "Rollout", "v1alpha1"
    elif kind == "ReplicationController" and labels.get("deploymentconfig"):
        return labels["deploymentconfig"], "DeploymentConfig", api_version
    elif kind == "Job":
        match = _CRONJOB_JOB.match(name)
        if match:
            return match.group(1), "CronJob", "batch/v1"
    return name, kind, api_version
