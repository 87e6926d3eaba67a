"""Validation of the pod annotations that reach iptables and the proxy (§10.2).

Every failing annotation is reported, like Istio's multierror, and any failure fails the injection: a typo in a
traffic annotation must not silently produce a pod with the wrong capture rules.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Mapping

from workers.config.errors import ConfigError
from workers.config.mesh import apply_proxy_config, parse_proxy_config_annotation
from workers.errors import InjectionError

_INTERFACE = re.compile(r"^[^\s/:]{1,15}$")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
_GO_BOOLS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}


def _port(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"failed parsing port '{text}': not a valid port number")
    return int(text)


def _port_list(name: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        for item in value.strip().split(",") if value.strip() else []:
            try:
                _port(item)
            except ValueError as exc:
                raise ValueError(f"{name} invalid: {exc}") from None
    return check


def _port_list_or_star(name: str) -> Callable[[str], None]:
    check = _port_list(name)
    return lambda value: None if value == "*" else check(value)


def _cidrs(name: str, allow_star: bool) -> Callable[[str], None]:
    def check(value: str) -> None:
        if allow_star and value == "*":
            return
        for item in value.split(",") if value else []:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{name} invalid: failed parsing cidr '{item}': {exc}") from None
    return check


def _interception(value: str) -> None:
    if value not in ("REDIRECT", "TPROXY", "NONE"):
        raise ValueError(f"interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}")


def _status_port(value: str) -> None:
    try:
        _port(value)
    except ValueError as exc:
        raise ValueError(f"excludeInboundPorts invalid: {exc}") from None


def _uint32(value: str) -> None:
    if not value.isdigit() or int(value) > 0xFFFFFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')


def _interfaces(value: str) -> None:
    for item in value.split(","):
        if not _INTERFACE.match(item.strip()):
            raise ValueError(f"invalid interface name '{item}'")


def _go_bool(value: str) -> None:
    if value not in _GO_BOOLS:
        raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _quantity(value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("value contains control characters")
    if not _QUANTITY.match(value):
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def _proxy_config(value: str) -> None:
    try:
        apply_proxy_config({}, parse_proxy_config_annotation(value))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


VALIDATORS: Mapping[str, Callable[[str], None]] = {
    "sidecar.istio.io/interceptionMode": _interception,
    "status.sidecar.istio.io/port": _status_port,
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _uint32,
    "readiness.status.sidecar.istio.io/periodSeconds": _uint32,
    "readiness.status.sidecar.istio.io/failureThreshold": _uint32,
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _cidrs("includeIPRanges", allow_star=True),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _cidrs("excludeIPRanges", allow_star=False),
    "traffic.sidecar.istio.io/includeInboundPorts": _port_list_or_star("includeInboundPorts"),
    "traffic.sidecar.istio.io/excludeInboundPorts": _port_list("excludeInboundPorts"),
    "traffic.sidecar.istio.io/excludeOutboundPorts": _port_list("excludeOutboundPorts"),
    "traffic.sidecar.istio.io/excludeInterfaces": _interfaces,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _interfaces,
    "istio.io/reroute-virtual-interfaces": _interfaces,
    "prometheus.istio.io/merge-metrics": _go_bool,
    "proxy.istio.io/config": _proxy_config,
    "sidecar.istio.io/proxyCPU": _quantity,
    "sidecar.istio.io/proxyMemory": _quantity,
    "sidecar.istio.io/proxyCPULimit": _quantity,
    "sidecar.istio.io/proxyMemoryLimit": _quantity,
}


def validate_annotations(annotations: Mapping[str, Any]) -> None:
    """Raise InjectionError listing every invalid annotation (sorted by key so the message is stable)."""
    problems = []
    for key in sorted(annotations):
        check = VALIDATORS.get(key)
        if check is None:
            continue
        value = annotations[key]
        try:
            check(str(value))
        except ValueError as exc:
            problems.append(f"invalid value '{value}' for annotation '{key}': {exc}")
    if problems:
        count = "1 error occurred" if len(problems) == 1 else f"{len(problems)} errors occurred"
        raise InjectionError(count + ":\n" + "".join(f"\t* {p}\n" for p in problems) + "\n")
