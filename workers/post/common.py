"""Small pod accessors shared by the post-processing steps (the pod is a JSON dict already copied by the caller)."""
from __future__ import annotations

import re
from typing import Any

import orjson

PROXY_CONTAINER = "istio-proxy"
INIT_CONTAINER = "istio-init"
VALIDATION_CONTAINER = "istio-validation"
CORE_DUMP_CONTAINER = "enable-core-dump"

_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_GO_INT = re.compile(r"[+-]?[0-9]+\Z")
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000"


def parse_bool(value: Any) -> bool | None:
    """Go ``strconv.ParseBool``; None when it would fail."""
    return _GO_BOOLS.get(value) if isinstance(value, str) else None


def atoi(value: str) -> int | None:
    """Go ``strconv.Atoi`` (64-bit); None when it would fail."""
    if not _GO_INT.match(value):
        return None
    number = int(value)
    return number if -(1 << 63) <= number < (1 << 63) else None


def annotations_of(pod: dict) -> dict[str, str]:
    """The pod's annotation map, created if missing (postProcessPod does this first)."""
    meta = pod.setdefault("metadata", {})
    if meta.get("annotations") is None:
        meta["annotations"] = {}
    return meta["annotations"]


def labels_of(pod: dict) -> dict[str, str]:
    """The pod's label map, created if missing."""
    meta = pod.setdefault("metadata", {})
    if meta.get("labels") is None:
        meta["labels"] = {}
    return meta["labels"]


def find_container(name: str, containers: list[dict] | None) -> dict | None:
    """First container with this name."""
    for container in containers or ():
        if container.get("name", "") == name:
            return container
    return None


def find_in_pod(name: str, pod: dict) -> dict | None:
    """First container with this name in ``containers``, else in ``initContainers`` (Istio ``FindContainerFromPod``)."""
    spec = pod.get("spec") or {}
    return find_container(name, spec.get("containers")) or find_container(name, spec.get("initContainers"))


def find_sidecar(pod: dict) -> dict | None:
    """The ``istio-proxy`` container wherever it is (regular or native)."""
    return find_in_pod(PROXY_CONTAINER, pod)


def sidecar_env_json(pod: dict, name: str) -> dict | None:
    """The proxy's env var ``name`` decoded as a JSON object (a record an injection left there), else None."""
    sidecar = find_sidecar(pod)
    recorded = next((var.get("value") for var in (sidecar or {}).get("env") or () if var.get("name") == name), None)
    try:
        value = orjson.loads(recorded) if recorded else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
