"""Cluster facts for running without a cluster: nodes, namespaces and feature flags from a YAML file.

The file has the shape of the ``environment`` mapping of the conformance corpus's ``cases.yaml``. Feature flags
default to the process environment (as Istio reads them), and the file's values win so a case is reproducible.
With ``--kube`` the same questions are answered from informer caches (:class:`KubeClusterFacts`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from injector.sources.kube_facts import KubeFacts
from workers.config.errors import ConfigError
from workers.facts import RequestFacts
from workers.native import native_sidecars_enabled

FEATURE_FLAGS = {"ENABLE_NATIVE_SIDECARS": "auto", "PLATFORM": "", "COMPLIANCE_POLICY": ""}
UID_RANGE = "openshift.io/sa.scc.uid-range"
SUPPLEMENTAL_GROUPS = "openshift.io/sa.scc.supplemental-groups"


@dataclass(frozen=True)
class ClusterFacts:
    """What the injector would learn from the cluster. ``node_versions`` None = no node access at all."""

    node_versions: Mapping[str, str] | None = None
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    feature_flags: Mapping[str, str] = field(default_factory=dict)

    def flag(self, name: str) -> str:
        return self.feature_flags.get(name, FEATURE_FLAGS.get(name, ""))

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        return (self.namespaces.get(name) or {}).get("labels") or {}

    def facts_for(self, pod: Mapping[str, Any], namespace: str, revision: str, path_env: Mapping[str, str] | None = None,
                  *, webhook: bool = True) -> RequestFacts:
        """Condense what matters for one pod into picklable RequestFacts."""
        return request_facts(
            pod, namespace, revision, path_env, flag=self.flag, webhook=webhook,
            native_auto=lambda node: native_sidecars_enabled("auto", node, self.node_versions),
            namespace_annotations=(self.namespaces.get(namespace) or {}).get("annotations") or {})


@dataclass(frozen=True)
class KubeClusterFacts:
    """The same answers as :class:`ClusterFacts`, read live from the informer caches of ``injector serve --kube``.

    Feature flags still come from the process environment (and ``--cluster-facts``), as istiod reads them.
    """

    live: KubeFacts
    feature_flags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_flags(cls, feature_flags: Mapping[str, str]) -> "KubeClusterFacts":
        """Node kubelet versions matter only for ENABLE_NATIVE_SIDECARS=auto; otherwise no Node informer runs."""
        mode = feature_flags.get("ENABLE_NATIVE_SIDECARS", FEATURE_FLAGS["ENABLE_NATIVE_SIDECARS"])
        return cls(KubeFacts(nodes_watched=mode == "auto"), feature_flags)

    def flag(self, name: str) -> str:
        return self.feature_flags.get(name, FEATURE_FLAGS.get(name, ""))

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        """A namespace the informer has not seen (created a moment ago) has no labels yet: pod labels decide."""
        return self.live.namespace_labels(name) or {}

    def facts_for(self, pod: Mapping[str, Any], namespace: str, revision: str,
                  path_env: Mapping[str, str] | None = None) -> RequestFacts:
        return request_facts(pod, namespace, revision, path_env, flag=self.flag,
                             native_auto=self.live.native_sidecars_auto,
                             namespace_annotations=self.live.namespace_annotations(namespace) or {})

    def snapshot(self) -> ClusterFacts:
        """A frozen, picklable copy giving the same answers, for work done away from the informers (audits)."""
        return ClusterFacts(node_versions=dict(self.live.node_versions()) if self.live.nodes_watched else None,
                            namespaces={name: {"labels": dict(ns["labels"]), "annotations": dict(ns["annotations"])}
                                        for name, ns in self.live.namespaces().items()},
                            feature_flags=dict(self.feature_flags))


def request_facts(pod: Mapping[str, Any], namespace: str, revision: str, path_env: Mapping[str, str] | None, *,
                  flag: Callable[[str], str], native_auto: Callable[[str | None], bool],
                  namespace_annotations: Mapping[str, str], webhook: bool = True) -> RequestFacts:
    """The one place that turns flags, node and namespace facts into RequestFacts, whatever they were read from.

    ``native_auto(node_name)`` answers ENABLE_NATIVE_SIDECARS=auto for a pod on that node (None: not scheduled).
    """
    spec = pod.get("spec") or {}
    mode = flag("ENABLE_NATIVE_SIDECARS")
    uid = gid = None
    platform = flag("PLATFORM")
    if webhook and platform == "openshift":
        uid, gid = openshift_ids(namespace_annotations)
    return RequestFacts(
        namespace=namespace, revision=revision, path_env=dict(path_env or {}),
        native_sidecars=mode == "true" or (mode == "auto" and native_auto(spec.get("nodeName"))),
        proxy_uid=uid, proxy_gid=gid, compliance_policy=flag("COMPLIANCE_POLICY"), platform=platform,
        webhook=webhook,
    )


def _range_end(block: str) -> int | None:
    """``start/size`` -> start+size-1; ``start-end`` -> end (the first block of a comma list)."""
    first = block.split(",")[0].strip()
    try:
        if "/" in first:
            start, size = first.split("/", 1)
            return int(start) + int(size) - 1
        if "-" in first:
            return int(first.split("-", 1)[1])
    except ValueError:
        return None
    return None


def openshift_ids(annotations: Mapping[str, str]) -> tuple[int | None, int | None]:
    """Proxy UID/GID on OpenShift from the namespace's SCC annotations (GID falls back to the UID range)."""
    uid = _range_end(annotations.get(UID_RANGE, "")) if annotations.get(UID_RANGE) else None
    groups = annotations.get(SUPPLEMENTAL_GROUPS) or annotations.get(UID_RANGE) or ""
    gid = _range_end(groups) if groups else None
    return uid, gid


def cluster_facts_from_mapping(raw: Mapping[str, Any] | None, *, environ: Mapping[str, str] | None = None) -> ClusterFacts:
    raw = raw or {}
    env = os.environ if environ is None else environ
    flags = {name: env[name] for name in FEATURE_FLAGS if name in env}
    file_flags = raw.get("feature_flags") or {}
    if not isinstance(file_flags, dict):
        raise ConfigError("feature_flags", "must be a mapping")
    flags.update({str(k): str(v) for k, v in file_flags.items()})
    nodes = raw.get("nodes")
    node_versions = None
    if nodes is not None:
        if not isinstance(nodes, list):
            raise ConfigError("nodes", "must be a list of {name, kubeletVersion}")
        node_versions = {str(n.get("name")): str(n.get("kubeletVersion", "")) for n in nodes}
    namespaces = {str(ns.get("name")): ns for ns in raw.get("namespaces") or []}
    return ClusterFacts(node_versions=node_versions, namespaces=namespaces, feature_flags=flags)


def load_cluster_facts(path: str | os.PathLike[str] | None) -> ClusterFacts:
    """Read a cluster-facts YAML file; ``None`` gives only the process environment's flags."""
    if path is None:
        return cluster_facts_from_mapping(None)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read cluster facts: {exc}") from exc
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(str(path), "cluster facts must be a YAML mapping")
    return cluster_facts_from_mapping(raw)
