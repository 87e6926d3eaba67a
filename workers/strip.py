"""Re-injection support (§6.1): the pod the templates see when a pod is injected a second time.

Istio makes injection idempotent by removing what a previous injection added (the containers named in
``sidecar.istio.io/status``) before rendering, then putting back the user's customised containers kept in
``proxy.istio.io/overrides`` so templates that read ``.Spec.Containers`` render the same as the first time.
"""
from __future__ import annotations

import re
from typing import Any

import orjson

from workers.errors import InjectionError
from workers.k8s.schema import SchemaError, json_type_name
from workers.k8s.types import decode_container_json

STATUS_ANNOTATION = "sidecar.istio.io/status"
OVERRIDES_ANNOTATION = "proxy.istio.io/overrides"

PROMETHEUS_PORT = "prometheus_io_port"
PROMETHEUS_SCRAPE = "prometheus_io_scrape"
PROMETHEUS_PATH = "prometheus_io_path"
PROMETHEUS_SCRAPE_TARGETS = "prometheus_istio_io_scrape_targets"
PROMETHEUS_VARIANTS = frozenset({PROMETHEUS_PORT, PROMETHEUS_SCRAPE, PROMETHEUS_PATH, PROMETHEUS_SCRAPE_TARGETS})

_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
# Go matches JSON keys to struct fields case-insensitively: lower-cased key -> field of the decoded value.
_STATUS_LISTS = {"initcontainers": "initContainers", "containers": "containers", "volumes": "volumes",
                 "imagepullsecrets": "imagePullSecrets"}
_OVERRIDE_LISTS = {"containers": "containers", "initcontainers": "initContainers"}


def sanitize_label_name(name: str) -> str:
    """Prometheus label sanitising: Istio compares annotation keys this way, so ``prometheus.io/port`` variants match."""
    return _INVALID_LABEL_CHAR.sub("_", name)


def prometheus_port(annotations: dict[str, str]) -> str | None:
    """Value of the first annotation that sanitises to ``prometheus_io_port``."""
    for key, value in annotations.items():
        if sanitize_label_name(key) == PROMETHEUS_PORT:
            return value
    return None


def without_prometheus_annotations(annotations: dict[str, str]) -> dict[str, str]:
    """A copy without any scrape/port/path/scrape-targets variant."""
    return {k: v for k, v in annotations.items() if sanitize_label_name(k) not in PROMETHEUS_VARIANTS}


def parse_status(value: str) -> dict[str, Any] | None:
    """Decode the status annotation like Go's ``json.Unmarshal`` into ``SidecarInjectionStatus``.

    Returns None when Go reports an error (bad JSON or a field of the wrong type); field names match
    case-insensitively as in Go; ``null`` decodes to an empty status.
    """
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    status: dict[str, Any] = {"initContainers": [], "containers": [], "volumes": [], "imagePullSecrets": [],
                              "revision": ""}
    if data is None:
        return status
    if not isinstance(data, dict):
        return None
    for key, item in data.items():
        lowered = key.lower()
        if lowered == "revision":
            if item is not None and not isinstance(item, str):
                return None
            status["revision"] = item or ""
            continue
        field = _STATUS_LISTS.get(lowered)
        if field is None:
            continue
        if item is None:
            status[field] = []
        elif isinstance(item, list) and all(v is None or isinstance(v, str) for v in item):
            status[field] = [v or "" for v in item]
        else:
            return None
    return status


RE_INJECTION_LISTS = ("containers", "initContainers")
"""What Istio strips before re-injecting: volumes and pull secrets stay (the templates merge into them)."""
STATUS_LISTS = ("containers", "initContainers", "volumes", "imagePullSecrets")
"""Everything the status annotation names: stripping all of it gives back the pod the user wrote."""


def strip_pod(pod: dict, status_port: int, lists: tuple[str, ...] = RE_INJECTION_LISTS) -> dict:
    """The pod without a previous injection's ``lists`` entries (by name), agent Prometheus annotations and status.

    When the status annotation is absent or does not parse, ``pod`` itself is returned; otherwise a new pod
    sharing the untouched subtrees with ``pod`` (callers must not mutate either).
    """
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(STATUS_ANNOTATION)
    status = parse_status(raw) if isinstance(raw, str) else None
    if status is None:
        return pod
    out = dict(pod)
    spec = dict(pod.get("spec") or {})
    for field in lists:
        names = set(status[field])
        if names:
            spec[field] = [c for c in spec.get(field) or [] if c.get("name", "") not in names]
    out["spec"] = spec
    annotations = dict(annotations)
    del annotations[STATUS_ANNOTATION]
    if prometheus_port(annotations) == str(status_port):
        annotations = without_prometheus_annotations(annotations)
    out["metadata"] = {**pod["metadata"], "annotations": annotations}
    return out


def parse_overrides(value: str) -> dict[str, list[dict]]:
    """Decode ``proxy.istio.io/overrides`` (``{"containers": [...], "initContainers": [...]}``); bad JSON fails."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as err:
        raise InjectionError(f"failed to run injection template: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InjectionError("failed to run injection template: json: cannot unmarshal "
                             f"{json_type_name(data)} into Go value of type inject.podOverrides")
    out: dict[str, list[dict]] = {"containers": [], "initContainers": []}
    for key, items in data.items():
        field = _OVERRIDE_LISTS.get(key.lower())
        if field is None or items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
            raise InjectionError("failed to run injection template: json: cannot unmarshal "
                                 f"{json_type_name(items)} into Go struct field podOverrides.{field} of type "
                                 "[]v1.Container")
        for container in items:
            try:
                decode_container_json(container)  # Go decodes the annotation into []corev1.Container
            except SchemaError as exc:
                raise InjectionError(f"failed to run injection template: {field}: {exc}") from None
        out[field] = items
    return out


def reinsert_overrides(pod: dict) -> dict:
    """Append each overrides container that the pod no longer has (after ``strip_pod``), by name."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(OVERRIDES_ANNOTATION)
    if raw is None:
        return pod
    overrides = parse_overrides(raw)
    if not overrides["containers"] and not overrides["initContainers"]:
        return pod
    spec = dict(pod.get("spec") or {})
    for field in ("containers", "initContainers"):
        current = list(spec.get(field) or [])
        names = {c.get("name", "") for c in current}
        added = False
        for container in overrides[field]:
            if container.get("name", "") not in names:
                names.add(container.get("name", ""))
                current.append(container)
                added = True
        if added:
            spec[field] = current
    return {**pod, "spec": spec}
