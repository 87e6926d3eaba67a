"""User-customised injected containers (§6.3).

A pod may define its own ``istio-proxy`` (or any container a template injects) to tweak it. Istio merges the
user's container back over the template result so user fields win, records it in ``proxy.istio.io/overrides``
for re-injection, and aligns the iptables/validation init container with a custom proxy UID/GID.
"""
from __future__ import annotations

import orjson

from workers.k8s.types import container_json, normalize_pod
from workers.merge import apply_container, apply_init_container, copy_json
from workers.post.common import (INIT_CONTAINER, PROXY_CONTAINER, VALIDATION_CONTAINER, annotations_of,
                                 find_container, find_in_pod, find_sidecar)
from workers.serialize.gojson import OrderedStruct, dumps
from workers.strip import OVERRIDES_ANNOTATION, STATUS_ANNOTATION, parse_overrides

AUTO_IMAGE = "auto"
INTERCEPTION_ANNOTATION = "sidecar.istio.io/interceptionMode"


def _status_names(status: str) -> tuple[set[str], set[str]]:
    """Container and init container names of a status annotation, read leniently (webhook.go ``parseStatus``)."""
    try:
        data = orjson.loads(status)
    except orjson.JSONDecodeError:
        return set(), set()
    if not isinstance(data, dict):
        return set(), set()

    def names(key: str) -> set[str]:
        value = data.get(key)
        return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()

    return names("containers"), names("initContainers")


def _overlay(container: dict) -> OrderedStruct:
    typed = container_json(container)
    if typed.get("image") == AUTO_IMAGE:  # a copy: a typed container may be the original pod's own
        typed = OrderedStruct((key, value) for key, value in typed.items() if key != "image")
    return typed


def reapply_overwritten_containers(merged: dict, original: dict, template_pod: dict, proxy_config: dict) -> dict:
    """Merge the user's versions of template-injected containers back over ``merged`` (user fields win).

    ``original`` is the un-stripped pod as received. Containers named in its status annotation were injected
    earlier and are left to the fresh template. Returns a new pod.
    """
    annotations = (original.get("metadata") or {}).get("annotations") or {}
    existing = parse_overrides(annotations[OVERRIDES_ANNOTATION]) if OVERRIDES_ANNOTATION in annotations else \
        {"containers": [], "initContainers": []}
    already_injected = STATUS_ANNOTATION in annotations
    injected, injected_inits = _status_names(annotations[STATUS_ANNOTATION]) if already_injected else (set(), set())
    original_spec = original.get("spec") or {}
    template_spec = template_pod.get("spec") or {}
    applied: list[OrderedStruct] = []
    applied_inits: list[OrderedStruct] = []
    for container in template_spec.get("containers") or ():
        name = container.get("name", "")
        if name in injected:
            continue
        match = find_container(name, existing["containers"]) or find_container(name, original_spec.get("containers"))
        if match is not None:
            applied.append(_overlay(match))
            merged = normalize_pod(apply_container(merged, applied[-1]))
    for container in template_spec.get("initContainers") or ():
        name = container.get("name", "")
        if name in injected_inits:
            continue
        match = find_container(name, existing["initContainers"]) or find_in_pod(name, original)
        if match is not None:
            applied_inits.append(_overlay(match))
            merged = normalize_pod(apply_init_container(merged, applied_inits[-1]))
    if not already_injected and (applied or applied_inits):
        record = OrderedStruct()
        if applied:
            record["containers"] = applied
        if applied_inits:
            record["initContainers"] = applied_inits
        annotations_of(merged)[OVERRIDES_ANNOTATION] = dumps(record)
    return adjust_init_container_user(merged, original, proxy_config)


def adjust_init_container_user(merged: dict, original: dict, proxy_config: dict) -> dict:
    """Give ``istio-validation`` (or iptables' ``-u``) the custom proxy UID/GID of the user's ``istio-proxy``.

    In TPROXY mode the proxy must run as root, so a user runAsUser is reset to 0 instead. Returns ``merged``
    itself when nothing applies, else a new pod.
    """
    user = find_sidecar(original)
    context = (user or {}).get("securityContext") or {}
    run_as_user, run_as_group = context.get("runAsUser"), context.get("runAsGroup")
    if run_as_user is None and run_as_group is None:
        return merged
    inits = (merged.get("spec") or {}).get("initContainers")
    if find_container(INIT_CONTAINER, inits) is None and find_container(VALIDATION_CONTAINER, inits) is None:
        return merged
    merged = copy_json(merged)
    inits = merged["spec"]["initContainers"]
    init = find_container(INIT_CONTAINER, inits) or find_container(VALIDATION_CONTAINER, inits)
    tproxy = proxy_config.get("interceptionMode") == "TPROXY" or \
        ((merged.get("metadata") or {}).get("annotations") or {}).get(INTERCEPTION_ANNOTATION) == "TPROXY"
    if tproxy and run_as_user is not None:
        sidecar_context = (find_sidecar(merged) or {}).get("securityContext") or {}
        if sidecar_context.get("runAsUser") is not None:
            sidecar_context["runAsUser"] = 0
    if not tproxy and init.get("name") == VALIDATION_CONTAINER:
        init_context = init.get("securityContext")
        if init_context is None:
            init_context = init["securityContext"] = {}
        if run_as_user is not None:
            init_context["runAsUser"] = run_as_user
        if run_as_group is not None:
            init_context["runAsGroup"] = run_as_group
    if not run_as_user:
        return merged
    args = init.get("args") or []
    for index, arg in enumerate(args[:-1]):
        if arg == "-u":
            args[index + 1] = str(int(run_as_user))
            break
    return merged


def reset_openshift_sidecar_user(pod: dict) -> dict:
    """On OpenShift, forget the user ``istio-proxy``'s runAsUser/runAsGroup when its UID equals the app's.

    OpenShift stamps the same namespace-range UID on every container of a pod, so a user ``istio-proxy`` that
    carries it was most likely not customised on purpose; keeping it would make the proxy run as the app's UID and
    break traffic interception. A deliberately different UID is kept. As in Istio's webhook, the comparison is the
    last app container's UID (regular, then init containers, skipping ``istio-init``/``istio-validation``) against
    the proxy's, an unset UID counting as 0, so an ``istio-proxy`` with a security context but no UID matches an
    app without one too. The result is the pod every later step (template input, overrides, patch baseline) sees.
    Returns ``pod`` itself when nothing changes, else a new pod.
    """
    sidecar = find_sidecar(pod)
    if sidecar is None or sidecar.get("securityContext") is None:
        return pod
    spec = pod.get("spec") or {}
    proxy_uid = app_uid = 0
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        name = container.get("name", "")
        uid = (container.get("securityContext") or {}).get("runAsUser")
        if name == PROXY_CONTAINER:
            proxy_uid = uid if uid is not None else proxy_uid
        elif name not in (VALIDATION_CONTAINER, INIT_CONTAINER):
            app_uid = uid if uid is not None else app_uid
    if proxy_uid != app_uid:
        return pod
    pod = copy_json(pod)
    context = find_sidecar(pod)["securityContext"]
    context.pop("runAsUser", None)
    context.pop("runAsGroup", None)
    return pod
