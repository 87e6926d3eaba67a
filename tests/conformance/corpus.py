"""Loading Istio's injection corpus (../shared/conformance/istio) and running its cases the way TestInjection does.

Used by the conformance tests and by bench/conformance_report.py, so counts in notes and in tests agree.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import jsonpatch
import orjson
import yaml

from injector.decision import should_inject
from injector.cluster_facts import ClusterFacts, cluster_facts_from_mapping
from injector.config_flags import kube_inject_config
from injector.kubeinject import kube_inject
from injector.manifests import ManifestError
from workers.config.model import parse_injector_config
from workers.config.snapshot import build_revision_config
from workers.k8s.types import normalize_pod
from workers.render import Injector

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "conformance" / "istio"
MISSING_REASON = f"Istio conformance corpus not found at {CORPUS}"
DEFAULT_TEMPLATE_NAMES = {"sidecar", "gateway", "grpc-simple", "grpc-agent"}
_ZERO_TIMESTAMP = re.compile(r"(?m)^ *creationTimestamp: null\n")
_STATUS_VERSION = re.compile(r"""sidecar\.istio\.io/status: '\{"version":"([0-9a-f]+)",""")
INJECTABLE = {"Deployment", "DeploymentConfig", "DaemonSet", "StatefulSet", "Job", "ReplicaSet",
              "ReplicationController", "CronJob", "Pod"}


def available() -> bool:
    return (CORPUS / "cases.yaml").exists()


@lru_cache(maxsize=1)
def cases() -> list[dict[str, Any]]:
    if not available():
        return []
    return yaml.safe_load((CORPUS / "cases.yaml").read_text())


def cluster_for(case: dict[str, Any]) -> ClusterFacts:
    return cluster_facts_from_mapping(case["environment"], environ={})


def case_file(case: dict[str, Any], key: str) -> Path:
    """A file of the case (``input``/``golden``), under its ``root`` (other corpora, e.g. tests/releases) or the
    shared corpus."""
    return Path(case.get("root", CORPUS)) / case[key]


def _config_folder(case: dict[str, Any]) -> Path:
    return Path(case["config_dir"]) if "config_dir" in case else CORPUS / "configs" / case["config"]


@lru_cache(maxsize=None)
def _snapshot(folder: Path, mesh_patch_json: str, use_config_templates: bool, webhook: bool) -> Injector:
    config_text = (folder / "config.yaml").read_text()
    if use_config_templates:
        injector_config = parse_injector_config(config_text) if webhook else kube_inject_config(config_text)
    else:
        injector_config = kube_inject_config(None)
    return Injector(build_revision_config(
        config_text, (folder / "values.json").read_text(), (folder / "mesh.yaml").read_text(),
        revision="default", mesh_patch=json.loads(mesh_patch_json) or None, config=injector_config,
        source=f"corpus:{folder.name}",
    ))


def injector_for(case: dict[str, Any], *, istio_templates: bool, webhook: bool = False) -> Injector:
    """An injector with the case's config (cached per distinct config); ``istio_templates`` False swaps in our
    embedded Jinja2 templates (issue 2 acceptance)."""
    return _snapshot(_config_folder(case), json.dumps(case.get("mesh_patch") or {}, sort_keys=True),
                     istio_templates, webhook)


def template_names_used(case: dict[str, Any]) -> set[str]:
    """Templates the case's pods ask for (annotation), or the default ``sidecar``."""
    names: set[str] = set()
    text = case_file(case, "input").read_text()
    for doc in yaml.safe_load_all(text):
        for obj in _objects(doc):
            meta = (_pod_template(obj) or {}).get("metadata") or {}
            requested = (meta.get("annotations") or {}).get("inject.istio.io/templates")
            names.update(n.strip() for n in requested.split(",")) if requested else names.add("sidecar")
    return names


@dataclass
class KubeInjectOutcome:
    passed: bool
    byte_identical: bool
    detail: str


def strip_version(text: str) -> str:
    return _STATUS_VERSION.sub("sidecar.istio.io/status: '{\"version\":\"\",", text)


def run_kube_inject(case: dict[str, Any], *, istio_templates: bool) -> KubeInjectOutcome:
    """Run one case through kube-inject and compare with the golden (as YAML data, and byte for byte)."""
    text = case_file(case, "input").read_text()
    try:
        result = kube_inject(text, injector=injector_for(case, istio_templates=istio_templates), cluster=cluster_for(case), revision="")
    except ManifestError as exc:
        if "expect_error" in case:
            ok = case["expect_error"] in str(exc).lower()
            return KubeInjectOutcome(ok, ok, f"error: {exc}")
        return KubeInjectOutcome(False, False, f"unexpected error: {exc}")
    if "expect_error" in case:
        return KubeInjectOutcome(False, False, "expected an error, got output")
    if "expect_log" in case and not any(case["expect_log"] in w for w in result.warnings):
        return KubeInjectOutcome(False, False, f"missing warning {case['expect_log']!r}: {result.warnings}")
    got = strip_version(result.text).strip()
    want = case_file(case, "golden").read_text().strip()
    if case.get("zero_timestamps"):  # printed by an istioctl whose Kubernetes types print zero creationTimestamps
        want = _ZERO_TIMESTAMP.sub("", want)
    identical = got == want
    same_data = identical or list(yaml.safe_load_all(got)) == list(yaml.safe_load_all(want))
    return KubeInjectOutcome(same_data, identical, "" if same_data else _first_difference(got, want))


def _first_difference(got: str, want: str) -> str:
    for number, (a, b) in enumerate(zip(got.splitlines(), want.splitlines()), 1):
        if a != b:
            return f"line {number}: got {a!r}, want {b!r}"
    return f"lengths differ: got {len(got.splitlines())} lines, want {len(want.splitlines())}"


# ---- webhook path (objectToPod + normalizeAndCompareDeployments) ----

def _objects(doc: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        return
    if doc.get("kind") == "List":
        for item in doc.get("items") or []:
            yield from _objects(item)
    elif doc.get("kind") in INJECTABLE:
        yield doc


def _pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template")
    return (obj.get("spec") or {}).get("template")


def object_to_pod(obj: dict[str, Any]) -> dict[str, Any]:
    """Istio's objectToPod: controllers become a Pod with generateName and a controller owner reference."""
    if obj["kind"] == "Pod":
        return orjson.loads(orjson.dumps(obj))
    template = orjson.loads(orjson.dumps(_pod_template(obj) or {}))
    metadata = template.get("metadata") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    if obj["kind"] == "Deployment":
        metadata["generateName"] = f"{name}-fake-"
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-fake",
                                        "controller": True}]
        metadata.setdefault("labels", {})["pod-template-hash"] = "fake"
    else:
        metadata["generateName"] = name
        metadata["ownerReferences"] = [{"apiVersion": obj.get("apiVersion", ""), "kind": obj["kind"], "name": name,
                                        "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec") or {}}


def _split_pods(text: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod, original object) for every injectable document, splitting on "\\n---" like Istio's test."""
    out = []
    for part in text.split("\n---"):
        doc = yaml.safe_load(part)
        for obj in _objects(doc):
            out.append((object_to_pod(obj), obj))
    return out


def _normalise_for_compare(pod: dict[str, Any], *, injected: bool, drop_metajson: bool) -> dict[str, Any]:
    pod = normalize_pod(pod)
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    annotations.pop("sidecar.istio.io/status", None)
    for container in (pod.get("spec") or {}).get("containers") or []:
        env = container.get("env") or []
        if drop_metajson:
            first = next((i for i, e in enumerate(env) if e.get("name") == "ISTIO_METAJSON_ANNOTATIONS"), None)
            if first is not None:
                env.pop(first)
        for entry in env:
            if injected and entry.get("name", "").startswith("ISTIO_METAJSON_"):
                parsed = json.loads(entry.get("value", ""))
                assert isinstance(parsed, dict) and all(isinstance(v, str) for v in parsed.values())
            field_ref = (entry.get("valueFrom") or {}).get("fieldRef")
            if injected and field_ref is not None:
                field_ref.pop("apiVersion", None)
    return pod


@dataclass
class WebhookOutcome:
    passed: bool
    detail: str


def webhook_pairs(case: dict[str, Any]) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(input pod, request namespace, golden pod) pairs of a case."""
    inputs = _split_pods(case_file(case, "input").read_text())
    goldens = _split_pods(case_file(case, "golden").read_text())
    assert len(inputs) == len(goldens), "input and golden hold different numbers of injectable documents"
    return [(pod, (obj.get("metadata") or {}).get("namespace", ""), golden)
            for (pod, obj), (golden, _) in zip(inputs, goldens)]


def compare_webhook_result(patched: dict[str, Any], golden: dict[str, Any]) -> WebhookOutcome:
    for drop in (False, True):
        got = _normalise_for_compare(patched, injected=True, drop_metajson=drop)
        want = _normalise_for_compare(golden, injected=False, drop_metajson=drop)
        if got != want:
            return WebhookOutcome(False, _dict_difference(got, want))
    return WebhookOutcome(True, "")


def run_webhook(case: dict[str, Any], *, istio_templates: bool = True) -> WebhookOutcome:
    """Inject every document through the admission code path in-process and compare with the golden pods."""
    injector = injector_for(case, istio_templates=istio_templates, webhook=True)
    cluster = cluster_for(case)
    for pod, namespace, golden in webhook_pairs(case):
        patch_bytes = b""
        if should_inject(pod, injector.config.config, namespace).inject:
            facts = cluster.facts_for(pod, namespace, "default", {})
            patch_bytes = injector.inject_admission(orjson.dumps(pod), facts)
        patched = jsonpatch.apply_patch(pod, orjson.loads(patch_bytes)) if patch_bytes else pod
        outcome = compare_webhook_result(patched, golden)
        if not outcome.passed:
            return outcome
    return WebhookOutcome(True, "")


def _dict_difference(got: Any, want: Any, path: str = "") -> str:
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if got.get(key) != want.get(key):
                return _dict_difference(got.get(key), want.get(key), f"{path}/{key}")
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for index, (a, b) in enumerate(zip(got, want)):
            if a != b:
                return _dict_difference(a, b, f"{path}/{index}")
    return f"{path}: got {str(got)[:300]}, want {str(want)[:300]}"

