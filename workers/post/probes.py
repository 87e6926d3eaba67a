"""Probe rewrite (§6.5 step 4, app_probe.go): kubelet probes go to the agent, which probes the app.

With mTLS the kubelet cannot reach the app directly, so each HTTP/TCP/gRPC probe and HTTP/TCP lifecycle
handler of every app container is pointed at the agent's status port under a per-container path, and the
original actions are handed to the agent as ``ISTIO_KUBE_APP_PROBERS`` JSON. ``restore_app_probes`` undoes the
rewrite from that JSON, to recover the pod the user wrote from a running one.
"""
from __future__ import annotations

from typing import Any

import orjson

from workers.merge import copy_json
from workers.post.common import (PROXY_CONTAINER, annotations_of, atoi, find_sidecar, parse_bool,
                                 sidecar_env_json)
from workers.serialize.gojson import OrderedStruct, dumps
from workers.strip import STATUS_ANNOTATION

REWRITE_ANNOTATION = "sidecar.istio.io/rewriteAppHTTPProbers"
STATUS_PORT_ANNOTATION = "status.sidecar.istio.io/port"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
_PROBES = (("readinessProbe", "/app-health/{}/readyz"), ("livenessProbe", "/app-health/{}/livez"),
           ("startupProbe", "/app-health/{}/startupz"))
_HANDLERS = (("preStop", "/app-lifecycle/{}/prestopz"), ("postStart", "/app-lifecycle/{}/poststartz"))


def should_rewrite(annotations: dict[str, str], values: dict) -> bool:
    """Annotation (Go bool) wins; else ``sidecarInjectorWebhook.rewriteAppHTTPProbe`` (unset = false)."""
    parsed = parse_bool(annotations.get(REWRITE_ANNOTATION))
    if parsed is not None:
        return parsed
    return (values.get("sidecarInjectorWebhook") or {}).get("rewriteAppHTTPProbe") is True


def _int_or_string(value: Any) -> int | str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return 0


def _http_get(action: dict) -> OrderedStruct:
    out = OrderedStruct()
    if action.get("path"):
        out["path"] = action["path"]
    out["port"] = _int_or_string(action.get("port"))
    for key in ("host", "scheme"):
        if action.get(key):
            out[key] = action[key]
    if action.get("httpHeaders"):
        out["httpHeaders"] = [OrderedStruct(name=h.get("name") or "", value=h.get("value") or "")
                              for h in action["httpHeaders"]]
    return out


def _tcp_socket(action: dict) -> OrderedStruct:
    out = OrderedStruct(port=_int_or_string(action.get("port")))
    if action.get("host"):
        out["host"] = action["host"]
    return out


def _grpc(action: dict) -> OrderedStruct:
    port = action.get("port")
    return OrderedStruct(port=int(port) if isinstance(port, (int, float)) else 0, service=action.get("service"))


def prober(probe: dict | None, *, handler: bool = False) -> OrderedStruct | None:
    """Istio's typed ``Prober`` for a probe or lifecycle handler (first of httpGet, tcpSocket, grpc)."""
    if not isinstance(probe, dict):
        return None
    out = OrderedStruct()
    if isinstance(probe.get("httpGet"), dict):
        out["httpGet"] = _http_get(probe["httpGet"])
    elif isinstance(probe.get("tcpSocket"), dict):
        out["tcpSocket"] = _tcp_socket(probe["tcpSocket"])
    elif isinstance(probe.get("grpc"), dict) and not handler:
        out["grpc"] = _grpc(probe["grpc"])
    else:
        return None
    timeout = None if handler else probe.get("timeoutSeconds")
    if timeout:
        out["timeoutSeconds"] = int(timeout)
    return out


def _resolve_port(entry: OrderedStruct, ports: dict[str, int], target_port: int) -> OrderedStruct | None:
    """Named ports become numbers (unknown -> dropped); the status port means already rewritten (dropped)."""
    if "grpc" in entry:
        return entry
    action = entry.get("httpGet") or entry["tcpSocket"]
    port = action["port"]
    if isinstance(port, str):
        if port not in ports:
            return None
        action["port"] = ports[port]
    elif port == target_port:
        return None
    return entry


def dump_app_probers(pod: dict, target_port: int) -> str:
    """``ISTIO_KUBE_APP_PROBERS`` for the pod's app containers (inits first); ``""`` when there is none."""
    spec = pod.get("spec") or {}
    out: dict[str, OrderedStruct] = {}
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        name = container.get("name", "")
        if name == PROXY_CONTAINER:
            continue
        ports = {p["name"]: _int_or_string(p.get("containerPort")) for p in container.get("ports") or ()
                 if p.get("name")}
        for field, url in _PROBES:
            entry = prober(container.get(field))
            if entry is not None and _resolve_port(entry, ports, target_port) is not None:
                out[url.format(name)] = entry
        lifecycle = container.get("lifecycle") or {}
        for field, url in _HANDLERS:
            entry = prober(lifecycle.get(field), handler=True)
            if entry is not None and _resolve_port(entry, ports, target_port) is not None:
                out[url.format(name)] = entry
    return dumps(out) if out else ""


def _typed_probers(text: str) -> dict[str, OrderedStruct | None] | None:
    """Decode a probers JSON value like Go does into ``map[string]*Prober``; None on error."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(v is None or isinstance(v, dict) for v in data.values()):
        return None
    typed: dict[str, OrderedStruct | None] = {}
    for key, value in data.items():
        if value is None:
            typed[key] = None
            continue
        entry = OrderedStruct()
        for field, build in (("httpGet", _http_get), ("tcpSocket", _tcp_socket), ("grpc", _grpc)):
            if isinstance(value.get(field), dict):
                entry[field] = build(value[field])
        if value.get("timeoutSeconds"):
            entry["timeoutSeconds"] = int(value["timeoutSeconds"])
        typed[key] = entry
    return typed


def merge_or_append_probers(previously_injected: bool, env: list[dict], probers: str) -> list[dict]:
    """Append the probers env, or on re-injection merge into the existing one (existing keys win)."""
    if not previously_injected:
        return [*env, {"name": PROBERS_ENV, "value": probers}]
    for index, var in enumerate(env):
        if var.get("name") != PROBERS_ENV:
            continue
        existing = _typed_probers(var.get("value") or "")
        new = _typed_probers(probers)
        if existing is None or new is None:
            return env
        new.update(existing)
        return [*env[:index], {"name": PROBERS_ENV, "value": dumps(new)}, *env[index + 1:]]
    return [*env, {"name": PROBERS_ENV, "value": probers}]


def _rewrite_action(action: dict, url: str, port: int) -> dict:
    action = {**action, "port": port, "path": url}
    if action.get("scheme") == "HTTPS":
        action["scheme"] = "HTTP"
    return action


def _convert(probe: dict | None, url: str, port: int, *, grpc: bool) -> dict | None:
    """The probe/handler pointed at the agent, or None when it has no HTTP/TCP(/gRPC) action."""
    if not isinstance(probe, dict):
        return None
    if isinstance(probe.get("httpGet"), dict):
        return {**probe, "httpGet": _rewrite_action(probe["httpGet"], url, port)}
    for kind in ("tcpSocket", "grpc") if grpc else ("tcpSocket",):
        if isinstance(probe.get(kind), dict):
            converted = {k: v for k, v in probe.items() if k != kind}
            converted["httpGet"] = {"path": url, "port": port}
            return converted
    return None


def _convert_container(container: dict, port: int) -> None:
    name = container.get("name", "")
    for field, url in _PROBES:
        converted = _convert(container.get(field), url.format(name), port, grpc=True)
        if converted is not None:
            container[field] = converted
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        changed = {}
        for field, url in _HANDLERS:
            converted = _convert(lifecycle.get(field), url.format(name), port, grpc=False)
            if converted is not None:
                changed[field] = converted
        if changed:  # a new map: the old one may be shared with the original pod
            container["lifecycle"] = {**lifecycle, **changed}


def rewrite_probes(pod: dict, mesh_status_port: int) -> None:
    """In place: point every app probe/handler at ``status.sidecar.istio.io/port`` (bad value: 0) or the mesh port."""
    value = annotations_of(pod).get(STATUS_PORT_ANNOTATION)
    port = mesh_status_port if value is None else (atoi(value) or 0)
    spec = pod.get("spec") or {}
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or ():
            if container.get("name", "") != PROXY_CONTAINER:
                _convert_container(container, port)


def apply_rewrite(pod: dict, mesh: dict, values: dict) -> None:
    """In place: with a sidecar and rewriting enabled, record the app probers in its env and rewrite them."""
    sidecar = find_sidecar(pod)
    annotations = annotations_of(pod)
    if sidecar is None or not should_rewrite(annotations, values):
        return
    status_port = int(mesh["defaultConfig"]["statusPort"])
    probers = dump_app_probers(pod, status_port)
    if probers:
        sidecar["env"] = merge_or_append_probers(STATUS_ANNOTATION in annotations, sidecar.get("env") or [], probers)
    rewrite_probes(pod, status_port)


def restore_app_probes(pod: dict) -> dict:
    """The app probes and handlers as the user wrote them, taken back from the proxy's ``ISTIO_KUBE_APP_PROBERS``.

    A probe counts as rewritten when its ``httpGet`` path is the agent URL of its container and that URL is in
    the recorded JSON (a named port comes back as the number it resolved to, which renders the same). Returns
    ``pod`` itself when there is nothing to restore, else a restored copy.
    """
    probers = sidecar_env_json(pod, PROBERS_ENV)
    if not probers:
        return pod
    out = copy_json(pod)
    spec = out.get("spec") or {}
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or ():
            name = container.get("name", "")
            if name == PROXY_CONTAINER:
                continue
            for probe_field, url in _PROBES:
                _restore(container, probe_field, url.format(name), probers)
            lifecycle = container.get("lifecycle")
            if isinstance(lifecycle, dict):
                for handler_field, url in _HANDLERS:
                    _restore(lifecycle, handler_field, url.format(name), probers)
    return out


def _restore(holder: dict, key: str, url: str, probers: dict) -> None:
    """In place: ``holder[key]`` with its agent ``httpGet`` replaced by the recorded original action."""
    probe, original = holder.get(key), probers.get(url)
    if not isinstance(probe, dict) or not isinstance(original, dict):
        return
    action = probe.get("httpGet")
    if not isinstance(action, dict) or action.get("path") != url:
        return
    kind = next((k for k in ("httpGet", "tcpSocket", "grpc") if isinstance(original.get(k), dict)), None)
    if kind is not None:
        holder[key] = {**{k: v for k, v in probe.items() if k != "httpGet"}, kind: original[kind]}
