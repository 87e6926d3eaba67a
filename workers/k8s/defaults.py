"""What kube-apiserver adds to a Pod when it stores it: core/v1 defaulting and the service-account token mount.

A sidecar as rendered leaves fields such as ``terminationMessagePath``, ``imagePullPolicy`` or a probe's
``periodSeconds`` empty; the stored pod has them. And the ServiceAccount admission plugin mounts the pod's token
volume (``kube-api-access-*``) into every container that has no mount at the token path, injected ones included.
Comparing what a revision would inject now with a running pod is only meaningful after both carry the same
additions, and all of them are idempotent, so applying them to the stored pod changes nothing. Only the parts an
injection can add are covered: containers and init containers (ports, env, probes, lifecycle handlers, resources,
token mount) and volumes.
"""
from __future__ import annotations

from typing import Any

from workers.merge import copy_json

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_DEFAULT_MODE = 0o644
_TOKEN_EXPIRATION_SECONDS = 3600
_VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "downwardAPI", "projected")
TOKEN_VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def with_api_defaults(pod: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``pod`` with the apiserver's defaults filled in where the fields are empty."""
    out = copy_json(pod)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    token_volume = next((v.get("name") for v in spec.get("volumes") or ()
                         if isinstance(v, dict) and str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)), None)
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or ():
            if isinstance(container, dict):
                _default_container(container)
                if token_volume is not None:
                    _mount_token(container, token_volume)
    for volume in spec.get("volumes") or ():
        if isinstance(volume, dict):
            _default_volume(volume)
    return out


def image_pull_policy(image: str) -> str:
    """``Always`` for an image without tag and digest or tagged ``latest``, else ``IfNotPresent``."""
    reference, _, digest = image.partition("@")
    last = reference.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(container: dict[str, Any]) -> None:
    container.setdefault("imagePullPolicy", image_pull_policy(container.get("image") or ""))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or ():
        port.setdefault("protocol", "TCP")
    for env in container.get("env") or ():
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    resources = container.get("resources")
    if isinstance(resources, dict) and resources.get("limits"):
        # Pods only (not templates): a limit without a request makes the request equal to the limit.
        requests = resources.setdefault("requests", {})
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)
    for name in _PROBES:
        probe = container.get(name)
        if isinstance(probe, dict):
            _default_probe(probe)
    for handler in (container.get("lifecycle") or {}).values():
        if isinstance(handler, dict):
            _default_http_get(handler.get("httpGet"))


def _mount_token(container: dict[str, Any], volume: str) -> None:
    """The ServiceAccount plugin's mount, unless the container already mounts something at the token path (the
    plugin only ever acts when the pod automounts its token, which the token volume being there shows)."""
    mounts = container.setdefault("volumeMounts", [])
    if not any(mount.get("mountPath") == TOKEN_MOUNT_PATH for mount in mounts):
        mounts.append({"name": volume, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})


def _default_probe(probe: dict[str, Any]) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_http_get(probe.get("httpGet"))
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _default_volume(volume: dict[str, Any]) -> None:
    if not any(key != "name" for key in volume):
        volume["emptyDir"] = {}
    for source in _VOLUME_SOURCES_WITH_MODE:
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", _DEFAULT_MODE)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")
    for item in (volume.get("downwardAPI") or {}).get("items") or ():
        _default_field_ref(item)
    for projection in (volume.get("projected") or {}).get("sources") or ():
        for item in (projection.get("downwardAPI") or {}).get("items") or ():
            _default_field_ref(item)
        token = projection.get("serviceAccountToken")
        if isinstance(token, dict):
            token.setdefault("expirationSeconds", _TOKEN_EXPIRATION_SECONDS)


def _default_field_ref(item: dict[str, Any]) -> None:
    field_ref = item.get("fieldRef")
    if isinstance(field_ref, dict):
        field_ref.setdefault("apiVersion", "v1")
