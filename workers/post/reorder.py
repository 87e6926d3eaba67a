"""Container placement (§6.4 native move, §6.5 step 6 reorder).

The proxy goes last among app containers so ``kubectl exec`` defaults to the app, or first when the app must wait
for it; init containers are ordered so traffic capture never blackholes other init containers.
"""
from __future__ import annotations

from workers.post.common import (CORE_DUMP_CONTAINER, INIT_CONTAINER, PROXY_CONTAINER, VALIDATION_CONTAINER,
                                 find_container)

NATIVE_ANNOTATION = "sidecar.istio.io/nativeSidecar"


def _move(containers: list[dict], name: str, first: bool) -> list[dict]:
    """All ``name`` containers removed and the last of them put first or last (Istio ``modifyContainers``)."""
    rest = [c for c in containers if c.get("name", "") != name]
    if len(rest) == len(containers):
        return rest
    match = next(c for c in reversed(containers) if c.get("name", "") == name)
    return [match, *rest] if first else [*rest, match]


def reorder(pod: dict, hold_application: bool) -> None:
    """In place: proxy first (hold) or last; inits in native or classic order."""
    spec = pod.setdefault("spec", {})
    spec["containers"] = _move(spec.get("containers") or [], PROXY_CONTAINER, hold_application)
    inits = spec.get("initContainers") or []
    if find_container(PROXY_CONTAINER, inits) is not None:
        for name in (CORE_DUMP_CONTAINER, PROXY_CONTAINER, VALIDATION_CONTAINER, INIT_CONTAINER):
            inits = _move(inits, name, True)
    else:
        inits = _move(inits, VALIDATION_CONTAINER, True)
        inits = _move(inits, INIT_CONTAINER, False)
        inits = _move(inits, CORE_DUMP_CONTAINER, False)
    if inits or "initContainers" in spec:
        spec["initContainers"] = inits


def hold_application(proxy_config: dict, values: dict) -> bool:
    """ProxyConfig ``holdApplicationUntilProxyStarts`` or ``global.proxy.holdApplicationUntilProxyStarts``."""
    proxy_values = ((values.get("global") or {}).get("proxy") or {})
    return proxy_config.get("holdApplicationUntilProxyStarts") is True \
        or proxy_values.get("holdApplicationUntilProxyStarts") is True


def native_enabled(merged_pod: dict, default: bool) -> bool:
    """``sidecar.istio.io/nativeSidecar`` exactly ``"true"``/``"false"`` overrides the cluster-wide mode."""
    value = ((merged_pod.get("metadata") or {}).get("annotations") or {}).get(NATIVE_ANNOTATION)
    return {"true": True, "false": False}.get(value, default) if isinstance(value, str) else default


def move_native_sidecar(merged_pod: dict, template_pod: dict, native_default: bool) -> dict:
    """Before merging a template: a user ``istio-proxy`` in ``containers`` moves to the end of the inits when the
    template injects it natively, so the user's customisations merge into the native sidecar.

    Returns ``merged_pod`` itself when nothing moves, else a new pod sharing untouched subtrees.
    """
    spec = merged_pod.get("spec") or {}
    template_inits = (template_pod.get("spec") or {}).get("initContainers")
    containers = spec.get("containers") or []
    if not (native_enabled(merged_pod, native_default)
            and find_container(PROXY_CONTAINER, template_inits) is not None
            and find_container(PROXY_CONTAINER, containers) is not None):
        return merged_pod
    index = next(i for i, c in enumerate(containers) if c.get("name", "") == PROXY_CONTAINER)
    new_spec = {**spec, "containers": containers[:index] + containers[index + 1:],
                "initContainers": [*(spec.get("initContainers") or ()), containers[index]]}
    return {**merged_pod, "spec": new_spec}
