"""Typed round trips of the Kubernetes objects the injector reads and writes.

Istio decodes every pod and workload into Go structs and encodes them again; that drops unknown fields, prints
non-omitempty zero fields (``resources: {}``, ``status: {}``, zero status counters), canonicalises quantities and
omits ``creationTimestamp``. These functions return the same data as plain JSON-like values whose struct dicts
(``OrderedStruct``) keep Go field order, so ``gojson.dumps`` prints exactly Go's bytes.
"""
from __future__ import annotations

from typing import Any

from workers.k8s.schema import SchemaError, decoder
from workers.serialize.gojson import OrderedStruct

__all__ = ["KINDS", "OrderedStruct", "SchemaError", "container_json", "decode_container_json", "decode_pod_json", "normalize_object",
           "normalize_pod"]

# kube-inject looks kinds up by name alone, whatever the apiVersion (§8.2).
_KIND_TYPES = {
    "Pod": "core.Pod",
    "ReplicationController": "core.ReplicationController",
    "Deployment": "apps.Deployment",
    "DaemonSet": "apps.DaemonSet",
    "StatefulSet": "apps.StatefulSet",
    "ReplicaSet": "apps.ReplicaSet",
    "Job": "batch.Job",
    "CronJob": "batch.CronJob",
    "DeploymentConfig": "os.DeploymentConfig",
    "List": "meta.List",
}
KINDS = frozenset(_KIND_TYPES)
_DECODERS = {kind: decoder(type_name) for kind, type_name in _KIND_TYPES.items()}
_decode_pod = _DECODERS["Pod"]
_decode_pod_json = decoder("core.Pod", strict=True)
_decode_container = decoder("core.Container")
_decode_container_json = decoder("core.Container", strict=True)


def normalize_pod(pod: dict) -> OrderedStruct:
    """``corev1.Pod`` YAML/JSON -> Go struct -> JSON (``sigs.k8s.io/yaml`` rules, which kube-inject input and
    template output follow); raises SchemaError where Go's decoder would fail."""
    return _decode_pod(pod)


def decode_pod_json(pod: Any) -> OrderedStruct:
    """The same round trip with ``encoding/json`` rules, as Istio's webhook decodes ``request.object``: a number
    or bool in a string field, a fractional or out-of-range integer, any wrong JSON type fails."""
    return _decode_pod_json(pod)


def container_json(container: dict) -> OrderedStruct:
    """One ``corev1.Container`` in Go field order (``resources: {}`` always present)."""
    return _decode_container(container)


def decode_container_json(container: Any) -> OrderedStruct:
    """One ``corev1.Container`` with ``encoding/json`` rules (containers in JSON annotations)."""
    return _decode_container_json(container)


def normalize_object(obj: dict) -> OrderedStruct:
    """Typed round trip of a workload kube-inject handles (by ``kind``); ``List`` items of other kinds stay raw.

    Raises ValueError for kinds outside ``KINDS`` (callers pass those documents through untouched).
    """
    kind = obj.get("kind") if isinstance(obj, dict) else None
    decode = _DECODERS.get(kind) if type(kind) is str else None
    if decode is None:
        raise ValueError(f"no Kubernetes type registered for kind {kind!r}")
    result = decode(obj)
    if kind == "List" and result.get("items"):
        result = type(result)(result, items=[_list_item(item) for item in result["items"]])  # not in place: shared
    return result


def _list_item(item: Any) -> Any:
    kind = item.get("kind") if isinstance(item, dict) else None
    if type(kind) is str and kind in _DECODERS:
        return normalize_object(item)
    return item
