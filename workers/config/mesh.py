"""MeshConfig and ProxyConfig with Istio's defaults, in protojson (camelCase) form.

Istio applies a mesh YAML onto ``DefaultMeshConfig()``: top-level fields replace, ``defaultConfig`` is merged onto
the default ProxyConfig field by field (``proxyMetadata`` maps unioned), ``defaultProviders`` merged,
``extensionProviders`` merged by name and ``trustDomainAliases`` unioned (§10.3). The same per-field rule applies a
``proxy.istio.io/config`` annotation onto a ProxyConfig (§4.3).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import orjson

from workers.config.errors import ConfigError, load_yaml_mapping

DEFAULT_PROXY_CONFIG: Mapping[str, Any] = {
    "configPath": "./etc/istio/proxy",
    "binaryPath": "/usr/local/bin/envoy",
    "serviceCluster": "istio-proxy",
    "drainDuration": "45s",
    "discoveryAddress": "istiod.istio-system.svc:15012",
    "proxyAdminPort": 15000,
    "controlPlaneAuthPolicy": "MUTUAL_TLS",
    "statNameLength": 189,
    "interceptionMode": "REDIRECT",
    "proxyMetadata": {},
    "statusPort": 15020,
    "terminationDrainDuration": "5s",
}
"""Istio's ``DefaultProxyConfig()``. ``interceptionMode`` REDIRECT is the enum's zero value; it is kept here so
templates can read it, and protojson printing leaves it out as Go does. ``proxyMetadata`` is always a map."""

_DEFAULT_MESH: Mapping[str, Any] = {
    "enableTracing": True,
    "accessLogEncoding": "TEXT",
    "protocolDetectionTimeout": "0s",
    "ingressService": "istio-ingressgateway",
    "ingressControllerMode": "STRICT",
    "ingressClass": "istio",
    "trustDomain": "cluster.local",
    "trustDomainAliases": [],
    "enableAutoMtls": True,
    "outboundTrafficPolicy": {"mode": "ALLOW_ANY"},
    "inboundTrafficPolicy": {"mode": "PASSTHROUGH"},
    "localityLbSetting": {"enabled": True},
    "rootNamespace": "istio-system",
    "proxyListenPort": 15001,
    "proxyInboundListenPort": 15006,
    "connectTimeout": "10s",
    "defaultServiceExportTo": ["*"],
    "defaultVirtualServiceExportTo": ["*"],
    "defaultDestinationRuleExportTo": ["*"],
    "dnsRefreshRate": "60s",
    "enablePrometheusMerge": True,
    "defaultProviders": {},
    "extensionProviders": [
        {"name": "prometheus", "prometheus": {}},
        {"name": "stackdriver", "stackdriver": {}},
        {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}},
    ],
}

WRAPPER_FIELDS = frozenset({"concurrency", "holdApplicationUntilProxyStarts"})
"""ProxyConfig fields of protobuf wrapper types: a set wrapper is a present message even when its value is zero."""

_SNAKE = re.compile(r"_([a-z0-9])")


def _camel(key: str) -> str:
    """protojson accepts the proto field name (snake_case) as well as the JSON name."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), key) if "_" in key else key


def _copy(data: Any) -> Any:
    return orjson.loads(orjson.dumps(data))


def _message(raw: Any, key: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(key, f"must be a mapping, got {type(raw).__name__}")
    return {_camel(str(k)): v for k, v in raw.items()}


def apply_proxy_config(base: Mapping[str, Any], overlay: Mapping[str, Any] | None, *,
                       skip_zero: bool = False) -> dict[str, Any]:
    """Apply a ProxyConfig overlay: present fields replace, ``proxyMetadata`` maps union (overlay wins per key).

    ``skip_zero`` reproduces the webhook's layering, where each layer is serialised without zero scalars first, so a
    ``statusPort: 0`` cannot override there (it can in kube-inject and in the mesh).
    """
    merged = _copy(base)
    merged.setdefault("proxyMetadata", {})
    for key, value in _message(overlay, "defaultConfig").items():
        if key == "proxyMetadata":
            if value is not None and not isinstance(value, dict):
                raise ConfigError("proxyMetadata", "must be a mapping of strings")
            merged["proxyMetadata"].update({str(k): v for k, v in (value or {}).items()})
        elif skip_zero and key not in WRAPPER_FIELDS and value in (0, "", False, None) and not isinstance(value, dict):
            continue
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if merged.get("interceptionMode") is None:
        merged["interceptionMode"] = "REDIRECT"
    return merged


def _merge_providers(default: list[dict[str, Any]], extra: Any) -> list[dict[str, Any]]:
    if extra is None:
        return default
    if not isinstance(extra, list):
        raise ConfigError("extensionProviders", "must be a list")
    by_name = {p.get("name"): i for i, p in enumerate(default)}
    out = list(default)
    for provider in extra:
        if not isinstance(provider, dict) or not provider.get("name"):
            raise ConfigError("extensionProviders", "each provider needs a name")
        if provider["name"] in by_name:
            out[by_name[provider["name"]]] = provider
        else:
            by_name[provider["name"]] = len(out)
            out.append(provider)
    return out


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive mapping merge (patch wins; lists and scalars replace). Used for the corpus's ``mesh_patch``."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def mesh_from_mapping(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply a parsed mesh mapping onto Istio's defaults (``ApplyMeshConfig``)."""
    mesh = _copy(_DEFAULT_MESH)
    overlay = _message(raw, "mesh")
    proxy = apply_proxy_config(DEFAULT_PROXY_CONFIG, overlay.pop("defaultConfig", None))
    providers = _merge_providers(mesh["extensionProviders"], overlay.pop("extensionProviders", None))
    default_providers = {**mesh["defaultProviders"], **_message(overlay.pop("defaultProviders", None),
                                                                 "defaultProviders")}
    aliases = overlay.pop("trustDomainAliases", None) or []
    if not isinstance(aliases, list):
        raise ConfigError("trustDomainAliases", "must be a list of strings")
    mesh.update(overlay)
    mesh["defaultConfig"] = proxy
    mesh["extensionProviders"] = providers
    mesh["defaultProviders"] = default_providers
    mesh["trustDomainAliases"] = sorted(set(mesh["trustDomainAliases"]) | set(aliases))
    _validate_mesh(mesh)
    return mesh


def _validate_mesh(mesh: Mapping[str, Any]) -> None:
    for port_key in ("proxyListenPort", "proxyInboundListenPort"):
        port = mesh.get(port_key)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigError(port_key, f"must be a port number, got {port!r}")
    status = mesh["defaultConfig"].get("statusPort", 0)
    if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 65535:
        raise ConfigError("defaultConfig.statusPort", f"must be a port number, got {status!r}")
    if not isinstance(mesh.get("trustDomain"), str):
        raise ConfigError("trustDomain", "must be a string")


def load_mesh_mapping(text: str | None, *, source: str = "mesh") -> dict[str, Any]:
    """Parse mesh YAML text (empty = no overrides)."""
    return load_yaml_mapping(text, source=source, problem="invalid mesh YAML")


def parse_mesh(text: str | None, patch: Mapping[str, Any] | None = None, *, source: str = "mesh") -> dict[str, Any]:
    """Mesh YAML text (+ an optional recursive patch applied before defaults) -> MeshConfig dict with defaults."""
    raw = load_mesh_mapping(text, source=source)
    if patch:
        raw = deep_merge(raw, patch)
    return mesh_from_mapping(raw)


def parse_proxy_config_annotation(text: str) -> dict[str, Any]:
    """The ``proxy.istio.io/config`` annotation: a ProxyConfig in YAML or JSON."""
    return load_yaml_mapping(text, source="proxy.istio.io/config", problem="invalid YAML")
