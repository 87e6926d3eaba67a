"""``protoToJSON .ProxyConfig``: Istio's ``cleanProxyConfig`` then golang/protobuf ``jsonpb`` compact output.

jsonpb prints message fields in ``.proto`` declaration order (not sorted, not by number), leaves out proto3 scalars
and enums at their zero value, keeps set messages and wrappers even when empty/zero (``"tracing":{}``,
``"concurrency":0``), sorts map keys, prints durations as ``"<s>[.fff|.ffffff|.fffffffff]s"``, int64 wrappers as
strings and strings like Go ``encoding/json`` (HTML-escaped). The input is the protojson (camelCase) dict form.

The field table below lists istio/api ``mesh/v1alpha1/proxy.proto`` (and the networking messages it embeds) in
declaration order. Kinds: ``s`` string, ``i`` int32/uint32, ``f`` double, ``b`` bool, ``e:ZERO`` enum whose zero
value is ZERO, ``o`` oneof scalar (printed whenever set), ``d`` Duration, ``w`` wrapper, ``w64`` Int64Value,
``m:Msg`` message, ``map`` map<string,string>, ``map:Msg`` map of messages, ``ls`` repeated scalar, ``lm:Msg``
repeated message.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from workers.config.mesh import DEFAULT_PROXY_CONFIG
from workers.serialize import gojson

__all__ = ["clean_proxy_config", "proxy_config_json"]

_MESSAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "ProxyConfig": (
        ("configPath", "s"), ("binaryPath", "s"), ("serviceCluster", "o"), ("tracingServiceName", "o"),
        ("drainDuration", "d"), ("discoveryAddress", "s"), ("discoveryRefreshDelay", "d"), ("zipkinAddress", "s"),
        ("statsdUdpAddress", "s"), ("envoyMetricsServiceAddress", "s"), ("proxyAdminPort", "i"),
        ("availabilityZone", "s"), ("controlPlaneAuthPolicy", "e:NONE"), ("customConfigFile", "s"),
        ("statNameLength", "i"), ("concurrency", "w"), ("proxyBootstrapTemplatePath", "s"),
        ("interceptionMode", "e:REDIRECT"), ("tracing", "m:Tracing"), ("sds", "m:SDS"),
        ("envoyAccessLogService", "m:RemoteService"), ("envoyMetricsService", "m:RemoteService"),
        ("proxyMetadata", "map"), ("runtimeValues", "map"), ("statusPort", "i"), ("extraStatTags", "ls"),
        ("gatewayTopology", "m:Topology"), ("terminationDrainDuration", "d"), ("meshId", "s"),
        ("readinessProbe", "m:ReadinessProbe"), ("proxyStatsMatcher", "m:ProxyStatsMatcher"),
        ("holdApplicationUntilProxyStarts", "w"), ("caCertificatesPem", "ls"), ("image", "m:ProxyImage"),
        ("privateKeyProvider", "m:PrivateKeyProvider"), ("proxyHeaders", "m:ProxyHeaders"),
        ("fileFlushInterval", "d"), ("fileFlushMinSizeKb", "i"), ("statsCompression", "w"),
        ("connectionSettings", "m:ConnectionSettings"),
    ),
    "Tracing": (
        ("zipkin", "m:Address"), ("lightstep", "m:Lightstep"), ("datadog", "m:Address"),
        ("stackdriver", "m:Stackdriver"), ("openCensusAgent", "m:OpenCensusAgent"),
        ("customTags", "map:CustomTag"), ("maxPathTagLength", "i"), ("sampling", "f"),
        ("tlsSettings", "m:ClientTLSSettings"), ("enableIstioTags", "w"),
    ),
    "Address": (("address", "s"),),
    "Lightstep": (("address", "s"), ("accessToken", "s")),
    "Stackdriver": (
        ("debug", "b"), ("maxNumberOfAttributes", "w64"), ("maxNumberOfAnnotations", "w64"),
        ("maxNumberOfMessageEvents", "w64"),
    ),
    "OpenCensusAgent": (("address", "s"), ("context", "ls")),
    "CustomTag": (("literal", "m:Literal"), ("environment", "m:NameDefault"), ("header", "m:NameDefault")),
    "Literal": (("value", "s"),),
    "NameDefault": (("name", "s"), ("defaultValue", "s")),
    "SDS": (("enabled", "b"), ("k8sSaJwtPath", "s")),
    "Topology": (
        ("numTrustedProxies", "i"), ("forwardClientCertDetails", "e:UNDEFINED"), ("proxyProtocol", "m:Empty"),
    ),
    "Empty": (),
    "PrivateKeyProvider": (("cryptomb", "m:Poll"), ("qat", "m:Poll")),
    "Poll": (("pollDelay", "d"), ("fallback", "w")),
    "ProxyStatsMatcher": (("inclusionPrefixes", "ls"), ("inclusionSuffixes", "ls"), ("inclusionRegexps", "ls")),
    "ProxyImage": (("imageType", "s"),),
    "ProxyHeaders": (
        ("forwardedClientCert", "e:UNDEFINED"), ("setCurrentClientCertDetails", "m:SetCurrentClientCertDetails"),
        ("requestId", "m:Disabled"), ("server", "m:Server"), ("attemptCount", "m:Disabled"),
        ("envoyDebugHeaders", "m:Disabled"), ("metadataExchangeHeaders", "m:MetadataExchangeHeaders"),
        ("preserveHttp1HeaderCase", "w"), ("xForwardedHost", "m:Enabled"), ("xForwardedPort", "m:Enabled"),
    ),
    "SetCurrentClientCertDetails": (("subject", "w"), ("cert", "w"), ("chain", "w"), ("dns", "w"), ("uri", "w")),
    "Disabled": (("disabled", "w"),),
    "Enabled": (("enabled", "w"),),
    "Server": (("disabled", "w"), ("value", "s")),
    "MetadataExchangeHeaders": (("mode", "e:UNDEFINED"),),
    "ConnectionSettings": (
        ("profile", "e:SIDECAR"), ("listenerPerConnectionBufferLimitBytes", "w"),
        ("clusterPerConnectionBufferLimitBytes", "w"), ("httpIdleTimeout", "d"), ("httpMaxConnectionDuration", "d"),
        ("httpDrainTimeout", "d"), ("httpRequestTimeout", "d"), ("httpRequestHeadersTimeout", "d"),
        ("httpStreamIdleTimeout", "d"), ("httpMaxStreamDuration", "d"), ("httpMaxConcurrentStreams", "w"),
        ("http2InitialStreamWindowSize", "w"), ("http2InitialConnectionWindowSize", "w"),
        ("httpHeadersWithUnderscoresAction", "e:HEADERS_WITH_UNDERSCORES_UNSPECIFIED"), ("httpMergeSlashes", "w"),
        ("httpPathWithEscapedSlashesAction", "e:PATH_WITH_ESCAPED_SLASHES_UNSPECIFIED"),
        ("listenerConnectionLimit", "w"), ("globalDownstreamConnectionLimit", "w"),
    ),
    "RemoteService": (("address", "s"), ("tlsSettings", "m:ClientTLSSettings"), ("tcpKeepalive", "m:TcpKeepalive")),
    "ClientTLSSettings": (
        ("mode", "e:DISABLE"), ("clientCertificate", "s"), ("privateKey", "s"), ("caCertificates", "s"),
        ("credentialName", "s"), ("subjectAltNames", "ls"), ("sni", "s"), ("insecureSkipVerify", "w"), ("caCrl", "s"),
    ),
    "TcpKeepalive": (("probes", "i"), ("time", "d"), ("interval", "d")),
    "ReadinessProbe": (
        ("initialDelaySeconds", "i"), ("timeoutSeconds", "i"), ("periodSeconds", "i"), ("successThreshold", "i"),
        ("failureThreshold", "i"), ("httpGet", "m:HTTPHealthCheckConfig"), ("tcpSocket", "m:TCPHealthCheckConfig"),
        ("exec", "m:ExecHealthCheckConfig"), ("grpc", "m:GrpcHealthCheckConfig"),
    ),
    "HTTPHealthCheckConfig": (
        ("path", "s"), ("port", "i"), ("host", "s"), ("scheme", "s"), ("httpHeaders", "lm:HTTPHeader"),
    ),
    "HTTPHeader": (("name", "s"), ("value", "s")),
    "TCPHealthCheckConfig": (("host", "s"), ("port", "i")),
    "ExecHealthCheckConfig": (("command", "ls"),),
    "GrpcHealthCheckConfig": (("port", "i"), ("service", "s")),
}

# Fields cleanProxyConfig clears when equal to DefaultProxyConfig(). (It also compares envoyMetricsService,
# envoyAccessLogService, tracing and concurrency, whose defaults are nil: that can only clear an already-nil field.)
_CLEARED_WHEN_DEFAULT = (
    "configPath", "binaryPath", "controlPlaneAuthPolicy", "serviceCluster", "drainDuration",
    "terminationDrainDuration", "discoveryAddress", "proxyAdminPort", "statNameLength", "statusPort",
)
_DURATION = re.compile(r"(-)?(\d+)(?:\.(\d{1,9}))?s\Z")


def _duration_parts(text: str) -> tuple[int, int] | None:
    """(seconds, nanos) of a protojson duration string, both carrying the sign; None if not one."""
    m = _DURATION.match(text)
    if m is None:
        return None
    sign = -1 if m.group(1) else 1
    return sign * int(m.group(2)), sign * int((m.group(3) or "").ljust(9, "0"))


def _duration(text: str) -> str:
    """jsonpb's Duration text: 0, 3, 6 or 9 fractional digits."""
    parts = _duration_parts(text)
    if parts is None:
        return gojson.dumps(text)
    s, ns = parts
    sign = "-" if s < 0 or ns < 0 else ""
    x = f"{sign}{abs(s)}.{abs(ns):09d}"
    x = x.removesuffix("000").removesuffix("000").removesuffix(".000")
    return f'"{x}s"'


def _same(key: str, value: Any, default: Any) -> bool:
    if key.endswith("Duration") and isinstance(value, str) and isinstance(default, str):
        return _duration_parts(value) == _duration_parts(default)
    return value == default


def clean_proxy_config(pc: Mapping[str, Any]) -> dict[str, Any]:
    """Istio's ``cleanProxyConfig``: drop fields equal to ``DefaultProxyConfig()`` and an empty proxyMetadata."""
    out = dict(pc)
    for key in _CLEARED_WHEN_DEFAULT:
        if key in out and _same(key, out[key], DEFAULT_PROXY_CONFIG.get(key)):
            del out[key]
    if not out.get("proxyMetadata"):
        out.pop("proxyMetadata", None)
    return out


def _scalar(v: Any) -> str:
    """A set wrapper, oneof member or map value: printed even when zero."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return gojson.dumps(v)


def _field(v: Any, kind: str) -> str | None:
    """JSON text of one set field, or None when jsonpb leaves it out."""
    k, _, arg = kind.partition(":")
    if k in ("s", "b"):
        return gojson.dumps(v) if v else None
    if k == "i":
        return str(int(v)) if v else None
    if k == "f":
        return gojson.dumps(float(v)) if v else None
    if k == "e":
        return None if v in (arg, 0) else gojson.dumps(v)
    if k in ("o", "w"):
        return _scalar(v)
    if k == "w64":
        return f'"{int(v)}"'
    if k == "d":
        return _duration(v)
    if k == "m":
        return _message(v, arg)
    if not v:  # maps and repeated fields: empty means unset
        return None
    if k == "map":
        return "{" + ",".join(f"{gojson.dumps(str(key))}:{_message(v[key], arg) if arg else _scalar(v[key])}"
                              for key in sorted(v)) + "}"
    if k == "ls":
        return "[" + ",".join(_scalar(x) for x in v) + "]"
    return "[" + ",".join(_message(x, arg) for x in v) + "]"  # lm


def _message(msg: Mapping[str, Any], name: str) -> str:
    parts = []
    for key, kind in _MESSAGES[name]:
        v = msg.get(key)
        if v is not None:
            text = _field(v, kind)
            if text is not None:
                parts.append(f'"{key}":{text}')
    return "{" + ",".join(parts) + "}"


def proxy_config_json(pc: Mapping[str, Any] | str | None) -> str:
    """``protoToJSON``: the cleaned ProxyConfig as compact jsonpb text; ``{}`` for nil."""
    if pc is None:
        return "{}"
    if isinstance(pc, str):  # a Duration field of the ProxyConfig, passed on through an interface {}
        if _duration_parts(pc) is None:
            raise TypeError("wrong type for value; expected protoreflect.ProtoMessage; got string")
        return _duration(pc)
    return _message(clean_proxy_config(pc), "ProxyConfig")
