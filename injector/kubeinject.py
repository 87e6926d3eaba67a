"""Manual injection over a YAML stream (``injector kube-inject``), with istioctl's output conventions.

Every document holding a pod template is decoded as its typed Kubernetes object, injected through the same
pipeline as the webhook, and printed as sigs.k8s.io/yaml prints it; other documents are copied byte for byte.
Nothing is written unless every document succeeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from injector.cluster_facts import ClusterFacts
from injector.decision import should_inject
from injector.manifests import (REGISTERED_KINDS, ManifestError, get_path, pod_template_location, with_path,
                                split_documents)
from workers.config.errors import ConfigError
from workers.config.model import InjectorConfig
from workers.errors import InjectionError
from workers.k8s.types import SchemaError, normalize_object
from workers.render import Injector
from workers.serialize import goyaml
from workers.templates.errors import TemplateError
from workers.workload import WorkloadMeta, workload_of_pod
from workers import yamlparse

KUBE_INJECT_POLICY = InjectorConfig(policy="enabled")
"""istioctl decides with policy enabled and no selectors, whatever the ConfigMap says."""


@dataclass
class KubeInjectResult:
    text: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Run:
    injector: Injector
    cluster: ClusterFacts
    revision: str
    warnings: list[str] = field(default_factory=list)

    def process(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj.get("kind", "")
        if kind == "List":
            return {**obj, "items": [self.process(item) if isinstance(item, dict) and item.get("kind") in
                                     REGISTERED_KINDS else item for item in obj.get("items") or []]}
        template = workload_pod(obj)
        pod, workload = template.pod, template.workload
        full_name = f"{workload.namespace}/{workload.name}" if workload.namespace else workload.name
        what = f'{kind} "{full_name}"' if kind else f'"{full_name}"'
        namespace = pod["metadata"].get("namespace", "")
        if pod["spec"].get("hostNetwork"):
            self.warnings.append(f"===> Skipping injection because {what} has host networking enabled\n")
            return obj
        if not should_inject(pod, KUBE_INJECT_POLICY, namespace).inject:
            self.warnings.append(f"===> Skipping injection because {what} has sidecar injection disabled\n")
            return obj
        facts = self.cluster.facts_for(pod, namespace, self.revision, webhook=False)
        result = self.injector.inject_pod(pod, facts, workload=workload)
        obj = with_path(obj, template.meta_path, result.pod.get("metadata") or {})
        return with_path(obj, template.spec_path, result.pod.get("spec") or {})


@dataclass(frozen=True)
class WorkloadPod:
    """A workload's pod template as the injector sees it, and where it sits inside the object."""

    pod: dict[str, Any]
    """``{"metadata": ..., "spec": ...}`` sharing the object's own dicts."""
    workload: WorkloadMeta
    meta_path: tuple[str, ...]
    spec_path: tuple[str, ...]


def workload_pod(obj: dict[str, Any]) -> WorkloadPod:
    """The pod template of a typed object of a pod-bearing kind; a Pod is its own template. Raises
    InjectionError when the template is missing, as istioctl does."""
    kind = obj.get("kind", "")
    location = pod_template_location(kind)
    assert location is not None, f"kind {kind!r} has no pod template"
    meta_path, spec_path = location
    spec = get_path(obj, spec_path)
    if spec is None:
        raise InjectionError("spec.template is required value")
    pod = {"metadata": get_path(obj, meta_path) or {}, "spec": spec}
    if kind == "Pod":
        workload = workload_of_pod(pod)
    else:
        own = obj.get("metadata") or {}
        workload = WorkloadMeta(name=own.get("name", ""), namespace=own.get("namespace", ""), kind=kind,
                                api_version=obj.get("apiVersion", ""))
    return WorkloadPod(pod, workload, meta_path, spec_path)


def pod_bearing_objects(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(document index, typed object)`` for every object with a pod template in a YAML stream, List items
    included; other documents are skipped. Raises ManifestError naming the document."""
    for doc in split_documents(text):
        data = _load(doc.text, doc.index)
        kind = data.get("kind", "") if isinstance(data, dict) else ""
        if kind not in REGISTERED_KINDS:
            continue
        try:
            typed = normalize_object(data)
        except SchemaError as exc:
            raise ManifestError(doc.index, kind, str(exc)) from exc
        items = typed.get("items") or [] if kind == "List" else [typed]
        for item in items:
            if isinstance(item, dict) and pod_template_location(item.get("kind", "")) is not None:
                yield doc.index, item


def _load(raw: str, index: int) -> Any:
    try:
        return yamlparse.load(raw)
    except yaml.YAMLError as exc:
        raise ManifestError(index, "", f"invalid YAML: {exc}") from exc


def kube_inject(text: str, *, injector: Injector, cluster: ClusterFacts, revision: str = "") -> KubeInjectResult:
    """Inject every pod template in a multi-document stream. Raises ManifestError naming the document."""
    run = _Run(injector=injector, cluster=cluster, revision=revision)
    out: list[str] = []
    for doc in split_documents(text):
        data = _load(doc.text, doc.index)
        kind = data.get("kind", "") if isinstance(data, dict) else ""
        if kind not in REGISTERED_KINDS:
            out.append(doc.text)
        else:
            try:
                out.append(goyaml.dumps(normalize_object(run.process(normalize_object(data)))))
            except (InjectionError, ConfigError, TemplateError, SchemaError) as exc:
                raise ManifestError(doc.index, kind, str(exc)) from exc
        out.append("---\n")
    return KubeInjectResult(text="".join(out), warnings=run.warnings)
