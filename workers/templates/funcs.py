"""The template function map: Istio's injection helpers (``createInjectionFuncmap``) and the sprig functions the
charts use, with Go's semantics on our data model (dicts for maps/structs, lists, floats for Values numbers).

Arguments keep Go's order (``default d v``, ``indent n s``), so a Go pipeline ``x | f a`` is ``f(a, x)``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

from workers.serialize import gojson, goyaml
from workers.templates.errors import TemplateError
from workers.templates.gofmt import format_value, quote as go_quote, sprint
from workers.templates.proxyconfig_json import proxy_config_json

__all__ = ["FUNCS", "go_empty"]

_PROXY_CONTAINER = "istio-proxy"
_OTEL_ENRICHMENT = "OTEL_SEMANTIC_CONVENTIONS"
# ContainerPort in Go field order with its omitempty flags (only containerPort is always printed).
_PORT_FIELDS = (("name", True), ("hostPort", True), ("containerPort", False), ("protocol", True), ("hostIP", True))


def _strval(v: Any) -> str:
    """sprig's ``strval``: strings as is, anything else through ``%v``."""
    return v if isinstance(v, str) else format_value(v)


def go_empty(v: Any) -> bool:
    """sprig's ``empty``: nil, false, 0, ``""`` and empty maps/lists are empty."""
    if v is None or v is False:
        return True
    if isinstance(v, (str, dict, list, tuple)):
        return len(v) == 0
    if isinstance(v, (int, float)):
        return v == 0
    return False


# --- Istio helpers -------------------------------------------------------------------------------------------

def annotation(meta: Mapping[str, Any] | None, name: str, default: Any) -> str:
    """The annotation if present (even ``""``), else ``fmt.Sprint(default)`` (nil prints ``<nil>``)."""
    annotations = (meta or {}).get("annotations") or {}
    if name in annotations:
        return annotations[name]
    return sprint(default)


def isset(m: Mapping[str, str] | None, key: str) -> bool:
    """Whether the key is present; a nil map has no keys."""
    return m is not None and key in m


def value_or_default(value: Any, default: Any) -> Any:
    """``default`` only for ``""`` and nil (``0`` and ``false`` are kept, unlike sprig ``default``)."""
    return default if value is None or value == "" else value


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


def include_inbound_ports(containers: list[Mapping[str, Any]] | None) -> str:
    """TCP container ports of all containers, comma-joined."""
    return _tcp_ports(containers, skip_proxy=False)


def application_ports(containers: list[Mapping[str, Any]] | None) -> str:
    """TCP container ports of all containers but istio-proxy, comma-joined."""
    return _tcp_ports(containers, skip_proxy=True)


def identity(s: str) -> str:
    """``kubevirtInterfaces``/``excludeInterfaces``: Istio keeps them as no-ops for old templates."""
    return s


def to_json(m: Mapping[str, str] | None) -> str:
    """Go ``json.Marshal`` of a string map; nil gives ``{}``."""
    return "{}" if m is None else gojson.dumps(m)


def _no_constants(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def from_json(s: str) -> Any:
    """Generic JSON decode with every number a float64; on error Istio returns the *string* ``"{}"``."""
    try:
        return json.loads(s, parse_int=float, parse_constant=_no_constants)
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


def struct_to_json(v: Any) -> str:
    """Go ``json.Marshal`` of a typed value; nil gives ``{}``. A container port prints in ContainerPort field order."""
    if v is None:
        return "{}"
    if isinstance(v, dict) and "containerPort" in v and not isinstance(v, gojson.OrderedStruct):
        v = _container_port(v)
    return gojson.dumps(v)


def to_yaml(v: Any) -> str:
    """sigs.k8s.io/yaml output; Istio prints ``""`` when marshalling fails."""
    try:
        return goyaml.dumps(v)
    except (TypeError, ValueError):
        return ""


def indent(spaces: int, source: str) -> str:
    """Istio's ``indent``: every line but the first gets ``spaces`` spaces (it overrides sprig's)."""
    pad = " " * abs(spaces)  # Go builds "% Ns" here; a negative width just left-aligns the same padding
    return source.replace("\n", "\n" + pad)


def directory(filepath: str | None) -> str:
    """Go ``path.Split`` directory: up to and including the last ``/`` (``"c"`` gives ``""``)."""
    filepath = filepath or ""
    return filepath[: filepath.rfind("/") + 1]


def contains(needle: str, haystack: str) -> bool:
    """Substring test with the needle first (flipped from ``strings.Contains``)."""
    return needle in haystack


def to_lower(s: str) -> str:
    return s.lower()


def env(key: str, default: str) -> str:
    """istiod's environment variable, or ``default`` when unset or empty."""
    return os.environ.get(key) or default


def _split_qualified_name(name: str) -> tuple[str, str]:
    """k8s ``SplitQualifiedName``: ``ns/name`` -> (ns, name); no ``/`` -> ("", name)."""
    parts = name.split("/")
    if len(parts) < 2:
        return "", name
    return parts[0], parts[1]


def append_multus_network(existing: str, network: str) -> str:
    """Add the istio-cni network to a Multus ``k8s.v1.cni.cncf.io/networks`` value (JSON list or comma list)."""
    if existing == "":
        return network
    i = existing.rfind("]")
    if i != -1:
        try:
            networks = json.loads(existing, parse_int=float, parse_constant=_no_constants)
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


def omit(d: Mapping[str, str] | None, *keys: str) -> dict[str, str]:
    """A copy of the string map without ``keys``."""
    drop = set(keys)
    return {k: v for k, v in (d or {}).items() if k not in drop}


def strdict(*v: str) -> dict[str, str]:
    """Key/value pairs into a string map; a trailing key without a value maps to ``""``."""
    return {v[i]: (v[i + 1] if i + 1 < len(v) else "") for i in range(0, len(v), 2)}


def merge_maps(*maps: Mapping[str, str] | None) -> dict[str, str] | None:
    """Union of string maps, later maps winning; no arguments gives nil."""
    if not maps:
        return None
    out: dict[str, str] = {}
    for m in maps:
        if m:
            out.update(m)
    return out


def to_json_map(*maps: Mapping[str, str] | None) -> str:
    """JSON of the merged maps (``null`` for no arguments, as Go marshals a nil map)."""
    return gojson.dumps(merge_maps(*maps))


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


def omit_nil(v: Any) -> Any:
    """Recursively drop nil map values and list items; containers emptied that way become nil themselves."""
    return _omit_nil(v)[0]


def _image_tag_digest(image: str) -> tuple[str, str]:
    """Tag and digest of ``[registry[:port]/]name[:tag][@digest]``."""
    image, _, digest = image.partition("@")
    slash, colon = image.rfind("/"), image.rfind(":")
    return (image[colon + 1:] if colon > slash else ""), digest


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


def _frac(value: int, digits: int) -> str:
    """``value / 10**digits`` with trailing fractional zeros (and a bare point) removed."""
    whole, rest = divmod(value, 10 ** digits)
    rest_text = f"{rest:0{digits}d}".rstrip("0")
    return f"{whole}.{rest_text}" if rest_text else str(whole)


def format_duration(d: str | None) -> str:
    """Go ``time.Duration.String()`` of a protobuf Duration (nil is 0s): ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    nanos = _duration_nanos(d) if d else 0
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u == 0:
        return "0s"
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_frac(u, 6)}ms"
    secs, sub = divmod(u, 1_000_000_000)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    text = _frac(secs * 1_000_000_000 + sub, 9) + "s"
    if minutes or hours:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


# --- sprig ----------------------------------------------------------------------------------------------------

def default(d: Any, *given: Any) -> Any:
    """``given`` unless it is missing or empty (nil, false, 0, ``""``, empty map/list), else ``d``."""
    if not given or go_empty(given[0]):
        return d
    return given[0]


def quote(*args: Any) -> str:
    """Each non-nil argument stringified and Go-quoted, space-joined."""
    return " ".join(go_quote(_strval(a)) for a in args if a is not None)


def trunc(c: int, s: str) -> str:
    """Byte prefix of length ``c`` (a negative ``c`` keeps the last ``-c`` bytes)."""
    if s.isascii():
        if c < 0:
            return s[c:] if len(s) + c > 0 else s
        return s[:c]
    data = s.encode()
    if c < 0:
        data = data[c:] if len(data) + c > 0 else data
    else:
        data = data[:c]
    return data.decode(errors="replace")  # Go may cut a rune in half; we cannot carry invalid UTF-8


def trim_all(cutset: str, s: str) -> str:
    """``strings.Trim(s, cutset)``."""
    return s.strip(cutset)


def go_list(*v: Any) -> list[Any]:
    return list(v)


def go_append(lst: list[Any] | tuple[Any, ...], v: Any) -> list[Any]:
    """A new list with ``v`` appended (sprig ``append``/``push``)."""
    if not isinstance(lst, (list, tuple)):
        raise TypeError(f"Cannot push on type {type(lst).__name__ if lst is not None else '<nil>'}")
    return [*lst, v]


def join(sep: str, v: Any) -> str:
    """Join the stringified non-nil items; a scalar joins as itself, nil as ``""``."""
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return sep.join(_strval(x) for x in v if x is not None)
    return _strval(v)


def nindent(spaces: int, v: str) -> str:
    """sprig ``nindent``: a newline, then every line indented (unlike Istio's ``indent``)."""
    if spaces < 0:
        raise ValueError("strings: negative Repeat count")
    pad = " " * spaces
    return "\n" + pad + v.replace("\n", "\n" + pad)


def has_key(d: Mapping[str, Any] | None, key: str) -> bool:
    return d is not None and key in d


def go_dict(*v: Any) -> dict[str, Any]:
    """sprig ``dict``: pairs into a map, keys stringified; a trailing key maps to ``""``."""
    return {_strval(v[i]): (v[i + 1] if i + 1 < len(v) else "") for i in range(0, len(v), 2)}


def go_set(d: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set ``d[key]`` in place and return ``d`` (sprig mutates the map)."""
    d[key] = value
    return d


def fail(message: Any) -> Any:
    """sprig's ``fail``: stop rendering with this message (the template name and line are added by the caller)."""
    raise TemplateError("", None, None, f"error calling fail: {_strval(message)}")


FUNCS: Mapping[str, Callable[..., Any]] = {
    # Istio (pkg/kube/inject/template.go)
    "formatDuration": format_duration,
    "isset": isset,
    "excludeInboundPort": exclude_inbound_port,
    "includeInboundPorts": include_inbound_ports,
    "kubevirtInterfaces": identity,
    "excludeInterfaces": identity,
    "applicationPorts": application_ports,
    "annotation": annotation,
    "valueOrDefault": value_or_default,
    "toJSON": to_json,
    "fromJSON": from_json,
    "structToJSON": struct_to_json,
    "protoToJSON": proxy_config_json,
    "toYaml": to_yaml,
    "indent": indent,
    "directory": directory,
    "contains": contains,
    "toLower": to_lower,
    "appendMultusNetwork": append_multus_network,
    "env": env,
    "omit": omit,
    "strdict": strdict,
    "toJsonMap": to_json_map,
    "mergeMaps": merge_maps,
    "omitNil": omit_nil,
    "otelResourceAttributes": otel_resource_attributes,
    # sprig
    "default": default,
    "quote": quote,
    "trunc": trunc,
    "trimAll": trim_all,
    "list": go_list,
    "append": go_append,
    "join": join,
    "nindent": nindent,
    "hasKey": has_key,
    "dict": go_dict,
    "set": go_set,
    "fail": fail,
}
