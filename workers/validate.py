"""Validation of the pod annotations that reach iptables and the proxy (§10.2).

Every failing annotation is reported, like Istio's multierror, and any failure fails the injection: a typo in a
traffic annotation must not silently produce a pod with the wrong capture rules.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any, Callable, Mapping

from workers.config.errors import ConfigError
from workers.config.mesh import DEFAULT_PROXY_CONFIG, apply_proxy_config, parse_proxy_config_annotation
from workers.errors import InjectionError
from workers.k8s.quantity import parse_quantity
from workers.post.common import GO_SPACE, atoi, parse_bool
from workers.templates.gofmt import quote as go_quote

_INTERFACE = re.compile(r"[a-zA-Z][a-zA-Z0-9_.\-]*")


def _ascii_digits(text: str) -> bool:
    """Go's ``ParseUint`` takes ASCII digits only; ``str.isdigit`` also takes e.g. fullwidth or superscript ones."""
    return text.isascii() and text.isdigit()


def _port(text: str) -> int:
    text = text.strip(GO_SPACE)
    if not _ascii_digits(text) or int(text) > 65535:
        raise ValueError(f"failed parsing port '{text}': not a valid port number")
    return int(text)


def _port_list(name: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        for item in value.strip(GO_SPACE).split(",") if value.strip(GO_SPACE) else []:
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
                _parse_prefix(item)
            except ValueError as exc:
                raise ValueError(f"{name} invalid: failed parsing cidr '{item}': {exc}") from None
    return check


def _parse_prefix(text: str) -> None:
    """Go's ``netip.ParsePrefix``, which is stricter than ``ipaddress.ip_network``.

    A bare address (no ``/``), a netmask instead of a length, a length with a sign or leading zero and an IPv6
    zone are all rejected by Istio, so a pod carrying them must fail injection here too.
    """
    where = f'netip.ParsePrefix("{text}")'
    address, slash, bits = text.rpartition("/")
    if not slash:
        raise ValueError(f"{where}: no '/'")
    if "%" in address:
        raise ValueError(f"{where}: IPv6 zones cannot be present in a prefix")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not _ascii_digits(bits) or (len(bits) > 1 and bits[0] == "0"):
        raise ValueError(f'{where}: bad bits after slash: "{bits}"')
    if int(bits) > parsed.max_prefixlen:
        raise ValueError(f"{where}: prefix length out of range")


def _interception(value: str) -> None:
    if value not in ("REDIRECT", "TPROXY", "NONE"):
        raise ValueError(f"interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}")


def _status_port(value: str) -> None:
    try:
        _port(value)
    except ValueError as exc:
        raise ValueError(f"excludeInboundPorts invalid: {exc}") from None


def _uint32(value: str) -> None:
    if not _ascii_digits(value) or int(value) > 0xFFFFFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')


def _interfaces(value: str) -> None:
    """Istio's ``ValidateInterfaceNames``: an empty value means no interfaces and is fine; otherwise every trimmed
    item must be a name of at most 15 bytes that starts with a letter (the kernel's IFNAMSIZ, iptables' syntax)."""
    if not value:
        return
    for item in value.split(","):
        item = item.strip(GO_SPACE)
        if not item:
            raise ValueError("empty interface name")
        if len(item.encode()) > 15:
            raise ValueError(f"interface name {go_quote(item)} too long (max 15 chars)")
        if not _INTERFACE.fullmatch(item):
            raise ValueError(f"interface name {go_quote(item)} contains invalid characters")


def _go_bool(value: str) -> None:
    if parse_bool(value) is None:
        raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _quantity(value: str) -> None:
    """Control characters first (they could break out of the YAML the template writes), then Go's ParseQuantity on
    the exact text: its grammar accepts more than the documented regex (``-``, ``.``, ``Mi``) and no padding."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("value contains control characters")
    parse_quantity(value)


def _proxy_config(value: str) -> None:
    """The annotation applied onto Istio's built-in ProxyConfig (not the mesh's) must still be a usable config.

    Istio runs its agent ProxyConfig validation here, so e.g. an empty ``discoveryAddress``, a status port of 0 or
    a sub-second ``drainDuration`` in the annotation fail the injection instead of producing a broken proxy.
    """
    try:
        config = apply_proxy_config(DEFAULT_PROXY_CONFIG, parse_proxy_config_annotation(value))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    problems = _proxy_config_problems(config)
    if problems:
        raise ValueError("; ".join(problems))


_DURATION = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,9}))?s")


def _duration_nanos(value: Any) -> int | None:
    """A protojson Duration string in nanoseconds; None when it is not one."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    nanos = int(match.group(2)) * 1_000_000_000 + int((match.group(3) or "0").ljust(9, "0"))
    return -nanos if match.group(1) else nanos


def _int_field(value: Any) -> int | None:
    """An int32 field as protojson accepts it (number or decimal string); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _hostname_ok(host: str) -> bool:
    """Istio's ``ValidateFQDN`` (DNS-1123 labels, not all-numeric TLD, optional final dot) or an IP address."""
    if 0 < len(host) <= 255:
        parts = host.split(".")
        if atoi(parts[-1]) is None and all(
                (i == len(parts) - 1 and not label) or (len(label) <= 63 and _DNS_LABEL.fullmatch(label))
                for i, label in enumerate(parts)):
            return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address_problem(address: str) -> str | None:
    """Istio's ``ValidateProxyAddress``: ``host:port`` with a port in 1..65535 and a hostname or IP host."""
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
        if not sep or "]" in host:
            return f"unable to split {go_quote(address)}"
    else:
        host, sep, port = address.rpartition(":")
        if not sep or ":" in host:
            return f"unable to split {go_quote(address)}"
    number = atoi(port)
    if number is None:
        return f"port ({port}) is not a number"
    if not 1 <= number <= 65535:
        return f"port number {number} must be in the range 1..65535"
    if not _hostname_ok(host):
        return f"{go_quote(host)} is not a valid hostname or an IP address"
    return None


def _proxy_config_problems(config: Mapping[str, Any]) -> list[str]:
    """The checks of Istio's ``ValidateMeshConfigProxyConfig`` that a pod annotation can trip."""
    problems = []
    if not config.get("configPath"):
        problems.append("config path must be set")
    if not config.get("binaryPath"):
        problems.append("binary path must be set")
    if "tracingServiceName" not in config and not config.get("serviceCluster"):
        problems.append("service cluster must be specified")
    drain = _duration_nanos(config.get("drainDuration", "0s"))
    if drain is None or drain < 1_000_000 or drain % 1_000_000:
        problems.append("invalid drain duration: duration must be greater than 1ms with ms precision")
    elif drain % 1_000_000_000:
        problems.append("drain time only supports durations to seconds precision")
    discovery = config.get("discoveryAddress") or ""
    if not discovery:
        problems.append("discovery address must be set to the proxy discovery service")
    elif (problem := _address_problem(str(discovery))) is not None:
        problems.append(f"invalid discovery address: {problem}")
    tracing = config.get("tracing") if isinstance(config.get("tracing"), dict) else {}
    for kind in ("zipkin", "datadog", "lightstep"):
        tracer = tracing.get(kind)
        if isinstance(tracer, dict):
            address = str(tracer.get("address") or "").replace("$(HOST_IP)", "127.0.0.1", 1)
            if (problem := _address_problem(address)) is not None:
                problems.append(f"invalid {kind} config: {problem}")
    addresses = [("statsd udp", config.get("statsdUdpAddress")),
                 ("envoy metrics service", config.get("envoyMetricsServiceAddress")),
                 ("envoy metrics service", (config.get("envoyMetricsService") or {}).get("address")),
                 ("envoy access log service", (config.get("envoyAccessLogService") or {}).get("address"))]
    for what, address in addresses:
        if address and (problem := _address_problem(str(address))) is not None:
            problems.append(f"invalid {what} address {go_quote(str(address))}: {problem}")
    for what, key in (("proxy admin", "proxyAdminPort"), ("status", "statusPort")):
        port = _int_field(config.get(key, 0))
        if port is None or not 1 <= port <= 65535:
            problems.append(f"invalid {what} port: port number {config.get(key, 0)} must be in the range 1..65535")
    if config.get("controlPlaneAuthPolicy", "NONE") not in ("NONE", "MUTUAL_TLS", 0, 1):
        problems.append(f"invalid authentication policy: unrecognized control plane auth policy "
                        f"{go_quote(str(config.get('controlPlaneAuthPolicy')))}")
    return problems


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
