"""Native sidecar detection (ENABLE_NATIVE_SIDECARS, §6.4): kubelet >= 1.33 runs sidecars as init containers."""
from __future__ import annotations

import re
from typing import Mapping

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+.].*)?$")
MIN_NATIVE_MINOR = 33


def kubelet_supports_native(version: str) -> bool:
    """``v1.33.0`` passes; an unparseable version fails (as hashicorp go-version parsing does in Istio)."""
    match = _VERSION.match(version.strip()) if version else None
    if not match:
        return False
    return int(match.group(2) or 0) >= MIN_NATIVE_MINOR


def native_sidecars_enabled(mode: str, node_name: str | None, node_versions: Mapping[str, str] | None) -> bool:
    """``true`` on, ``auto`` from the nodes, anything else off; ``node_versions`` None means no node access.

    In ``auto``, a pod already bound to a known node is decided by that node alone; otherwise every node must pass
    (an empty cluster passes).
    """
    if mode == "true":
        return True
    if mode != "auto" or node_versions is None:
        return False
    if node_name and node_name in node_versions:
        return kubelet_supports_native(node_versions[node_name])
    return all(kubelet_supports_native(v) for v in node_versions.values())
