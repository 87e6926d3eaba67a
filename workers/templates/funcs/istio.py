"""Istio's injection helpers (``createInjectionFuncmap`` in pkg/kube/inject/template.go), which Istio installs on
top of sprig's map (so its ``indent``, ``contains``, ``env`` and ``omit`` replace sprig's), with Go's semantics on
our data model (dicts for maps/structs, lists, floats for Values numbers)."""
from __future__ import annotations

import os
from typing import Any, Mapping

from workers.serialize import gojson, goyaml
from workers.templates.gofmt import sprint, sprintf
from workers.templates.govalues import StrMap
from workers.templates.proxyconfig_json import proxy_config_json
from workers.templates.sizes import check_string

from .dates import duration_string
from .encoding import go_json, parse_go_json, valid_utf8
from .registry import FuncTable

ISTIO = FuncTable()
go = ISTIO.go

_PROXY_CONTAINER = "istio-proxy"
_OTEL_ENRICHMENT = "OTEL_SEMANTIC_CONVENTIONS"
# ContainerPort in Go field order with its omitempty flags (only containerPort is always printed).
_PORT_FIELDS = (("name", True), ("hostPort", True), ("containerPort", False), ("protocol", True), ("hostIP", True))


@go("func(v1.ObjectMeta, string, interface {}) string", "annotation")
def annotation(meta: Mapping[str, Any] | None, name: str, default: Any) -> str:
    """The annotation if present (even ``""``), else ``fmt.Sprint(default)`` (nil prints ``<nil>``)."""
    annotations = (meta or {}).get("annotations") or {}
    if name in annotations:
        return annotations[name]
    return sprint(default)


@go("func(map[string]string, string) bool", "isset")
def isset(m: Mapping[str, str] | None, key: str) -> bool:
    """Whether the key is present; a nil map has no keys."""
    return m is not None and key in m


@go("func(interface {}, interface {}) interface {}", "valueOrDefault")
def value_or_default(value: Any, default: Any) -> Any:
    """``default`` only for ``""`` and nil (``0`` and ``false`` are kept, unlike sprig ``default``)."""
    return default if value is None or value == "" else value


@go("func(interface {}, string) string", "excludeInboundPort")
def exclude_inbound_port(port: Any, excluded: str) -> str:
    """Add ``port`` to a comma list unless it is 0/empty or equal to an untrimmed item already there."""
    port_str = sprint(port).strip()
    if port_str in ("", "0"):
        return excluded
    out = []
    for item in excluded.split(","):
        if item == port_str:  # Go compares before trimming: " 15020" does not count as present
            return excluded
        item = item.strip()
        if item:
            out.append(item)
    out.append(port_str)
    return ",".join(out)


def _tcp_ports(containers: list[Mapping[str, Any]] | None, skip_proxy: bool) -> str:
    parts = []
    for c in containers or ():
        if skip_proxy and c.get("name") == _PROXY_CONTAINER:
            continue
        for p in c.get("ports") or ():
            if p.get("protocol") in ("UDP", "SCTP"):
                continue
            parts.append(str(int(p.get("containerPort") or 0)))
    return ",".join(parts)


@go("func([]v1.Container) string", "includeInboundPorts")
def include_inbound_ports(containers: list[Mapping[str, Any]] | None) -> str:
    """TCP container ports of all containers, comma-joined."""
    return _tcp_ports(containers, skip_proxy=False)


@go("func([]v1.Container) string", "applicationPorts")
def application_ports(containers: list[Mapping[str, Any]] | None) -> str:
    """TCP container ports of all containers but istio-proxy, comma-joined."""
    return _tcp_ports(containers, skip_proxy=True)


@go("func(string) string", "kubevirtInterfaces", "excludeInterfaces")
def identity(s: str) -> str:
    """``kubevirtInterfaces``/``excludeInterfaces``: Istio keeps them as no-ops for old templates."""
    return s


@go("func(map[string]string) string", "toJSON")
def to_json(m: Mapping[str, str] | None) -> str:
    """Go ``json.Marshal`` of a string map; nil gives ``{}``."""
    return "{}" if m is None else go_json(m)


@go("func(string) interface {}", "fromJSON")
def from_json(s: str) -> Any:
    """Generic JSON decode with every number a float64; on error Istio returns the *string* ``"{}"``."""
    try:
        return parse_go_json(s)
    except (ValueError, TypeError):
        return "{}"


def _container_port(p: Mapping[str, Any]) -> gojson.OrderedStruct:
    out = gojson.OrderedStruct()
    for key, omitempty in _PORT_FIELDS:
        v = p.get(key)
        if not omitempty:
            out[key] = int(v or 0)
        elif v:
            out[key] = v
    return out


@go("func(interface {}) string", "structToJSON")
def struct_to_json(v: Any) -> str:
    """Go ``json.Marshal`` of a typed value; nil gives ``{}``. A container port prints in ContainerPort field order."""
    if v is None:
        return "{}"
    if isinstance(v, dict) and "containerPort" in v and not isinstance(v, gojson.OrderedStruct):
        v = _container_port(v)
    return go_json(v)


@go("func(interface {}) string", "toYaml")
def to_yaml(v: Any) -> str:
    """sigs.k8s.io/yaml output; Istio prints ``""`` when marshalling fails."""
    try:
        return goyaml.dumps(valid_utf8(gojson.plain(v), "\ufffd"))  # its JSON round trip made them U+FFFD
    except (TypeError, ValueError):
        return ""


@go("func(int, string) string", "indent")
def indent(spaces: int, source: str) -> str:
    """Istio's ``indent``: every line but the first gets ``spaces`` spaces (it overrides sprig's)."""
    if 0 <= spaces <= 1_000_000:
        check_string(len(source) + source.count("\n") * spaces, "indent")
        return source.replace("\n", "\n" + " " * spaces)
    line_format = sprintf(f"%% {spaces}s%%s")  # what Go builds for other widths, with its printf rules
    check_string(len(source) + source.count("\n") * len(sprintf(line_format, "", "")), "indent")
    first, *rest = source.split("\n")
    return "\n".join([first, *(sprintf(line_format, "", line) for line in rest)])


@go("func(string) string", "directory")
def directory(filepath: str | None) -> str:
    """Go ``path.Split`` directory: up to and including the last ``/`` (``"c"`` gives ``""``)."""
    filepath = filepath or ""
    return filepath[: filepath.rfind("/") + 1]


@go("func(string, string) bool", "contains")
def contains(needle: str, haystack: str) -> bool:
    """Substring test with the needle first (flipped from ``strings.Contains``)."""
    return needle in haystack


@go("func(string) string", "toLower")
def to_lower(s: str) -> str:
    return s.lower()


@go("func(string, string) string", "env")
def env(key: str, default: str) -> str:
    """istiod's environment variable, or ``default`` when unset or empty."""
    return os.environ.get(key) or default


def _split_qualified_name(name: str) -> tuple[str, str]:
    """k8s ``SplitQualifiedName``: ``ns/name`` -> (ns, name); no ``/`` -> ("", name)."""
    parts = name.split("/")
    if len(parts) < 2:
        return "", name
    return parts[0], parts[1]


@go("func(string, string) string", "appendMultusNetwork")
def append_multus_network(existing: str, network: str) -> str:
    """Add the istio-cni network to a Multus ``k8s.v1.cni.cncf.io/networks`` value (JSON list or comma list)."""
    if existing == "":
        return network
    i = existing.rfind("]")
    if i != -1:
        try:
            networks = parse_go_json(existing)
        except ValueError:
            return existing
        if networks is None:
            networks = []
        if not isinstance(networks, list) or not all(n is None or isinstance(n, dict) for n in networks):
            return existing  # Go fails to decode into []map[string]any and keeps the value
        ns, name = _split_qualified_name(network)
        for net in networks:
            net = net or {}
            found_ns = net.get("namespace", "")
            if net.get("name") == name and (found_ns if found_ns is not None else "") == ns:
                return existing
        if ns == "":
            entry = f', {{"name": "{name}"}}'
        else:
            entry = f', {{"name": "{name}", "namespace": "{ns}"}}'
        return existing[:i] + entry + existing[i:]
    for net in existing.split(","):
        if net.strip() == network:
            return existing
    return existing + ", " + network


@go("func(map[string]string, ...string) map[string]string", "omit")
def omit(d: Mapping[str, str] | None, *keys: str) -> StrMap:
    """A copy of the string map without ``keys``."""
    drop = set(keys)
    return StrMap((k, v) for k, v in (d or {}).items() if k not in drop)


@go("func(...string) map[string]string", "strdict")
def strdict(*v: str) -> StrMap:
    """Key/value pairs into a string map; a trailing key without a value maps to ``""``."""
    return StrMap((v[i], v[i + 1] if i + 1 < len(v) else "") for i in range(0, len(v), 2))


@go("func(...map[string]string) map[string]string", "mergeMaps")
def merge_maps(*maps: Mapping[str, str] | None) -> StrMap | None:
    """Union of string maps, later maps winning; no arguments gives nil."""
    if not maps:
        return None
    out = StrMap()
    for m in maps:
        if m:
            out.update(m)
    return out


@go("func(...map[string]string) string", "toJsonMap")
def to_json_map(*maps: Mapping[str, str] | None) -> str:
    """JSON of the merged maps (``null`` for no arguments, as Go marshals a nil map)."""
    return go_json(merge_maps(*maps))


def _omit_nil(v: Any) -> tuple[Any, bool]:
    """(filtered value, whether anything was dropped). Untouched containers are returned as they are, so an
    originally empty map stays ``{}``; only a container emptied by filtering becomes nil."""
    if v is None:
        return None, True
    if isinstance(v, dict):
        out, changed = {}, False
        for k, item in v.items():
            f, c = _omit_nil(item)
            changed |= c
            if f is not None:
                out[k] = f
        if not changed:
            return v, False
        return (out or None), True
    if isinstance(v, list):
        filtered = [_omit_nil(item) for item in v]
        if not any(c for _, c in filtered):
            return v, False
        out_list = [f for f, _ in filtered if f is not None]
        return (out_list or None), True
    return v, False


@go("func(interface {}) interface {}", "omitNil")
def omit_nil(v: Any) -> Any:
    """Recursively drop nil map values and list items; containers emptied that way become nil themselves."""
    return _omit_nil(v)[0]


def _image_tag_digest(image: str) -> tuple[str, str]:
    """Tag and digest of ``[registry[:port]/]name[:tag][@digest]``."""
    image, _, digest = image.partition("@")
    slash, colon = image.rfind("/"), image.rfind(":")
    return (image[colon + 1:] if colon > slash else ""), digest


@go("func(*v1alpha1.MeshConfig, map[string]string, map[string]string, string, []v1.Container) string", "otelResourceAttributes")
def otel_resource_attributes(mesh: Mapping[str, Any] | None, annotations: Mapping[str, str] | None,
                             labels: Mapping[str, str] | None, namespace: str,
                             containers: list[Mapping[str, Any]] | None) -> str:
    """OTEL_RESOURCE_ATTRIBUTES when an OpenTelemetry provider asks for semantic-convention enrichment, else ``""``."""
    providers = (mesh or {}).get("extensionProviders") or ()
    if not any(((p or {}).get("opentelemetry") or {}).get("serviceAttributeEnrichment") == _OTEL_ENRICHMENT
               for p in providers):
        return ""
    annotations, labels, containers = annotations or {}, labels or {}, containers or []
    attrs = []
    if v := annotations.get("resource.opentelemetry.io/service.namespace"):
        attrs.append("service.namespace=" + v)
    elif namespace:
        attrs.append("service.namespace=" + namespace)
    if v := annotations.get("resource.opentelemetry.io/service.version"):
        attrs.append("service.version=" + v)
    elif v := labels.get("app.kubernetes.io/version"):
        attrs.append("service.version=" + v)
    elif len(containers) == 1:
        tag, digest = _image_tag_digest(containers[0].get("image") or "")
        version = f"{tag}@{digest}" if tag and digest else (digest or tag)
        if version:
            attrs.append("service.version=" + version)
    if v := annotations.get("resource.opentelemetry.io/service.instance.id"):
        attrs.append("service.instance.id=" + v)
    elif containers:
        attrs.append(f"service.instance.id={namespace}.$(POD_NAME).{containers[0].get('name') or ''}")
    return ",".join(attrs)


def _duration_nanos(text: str) -> int:
    """Nanoseconds of a protojson duration string (``"1.5s"``, ``"-2s"``)."""
    text = text.strip().removesuffix("s")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("+-").partition(".")
    nanos = int(whole or "0") * 1_000_000_000 + int((frac[:9] or "0").ljust(9, "0"))
    return -nanos if negative else nanos


@go("func(*durationpb.Duration) string", "formatDuration")
def format_duration(d: str | None) -> str:
    """Go ``time.Duration.String()`` of a protobuf Duration (nil is 0s): ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    return duration_string(_duration_nanos(d) if d else 0)


ISTIO.add("protoToJSON", "func(protoreflect.ProtoMessage) string", proxy_config_json)

__all__ = ["ISTIO"]
