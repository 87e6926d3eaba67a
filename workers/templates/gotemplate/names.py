"""Go names -> template data: the static Go types the templates see, and how a field chain walks our data.

The template data are plain JSON-shaped dicts (see DESIGN.md "Template data"), but Go templates were written
against typed Go values, and the two differ where it shows in the output:

- ``.Foo`` on a **struct** is a field: its JSON key is the lower-camel form of the Go name (``ServiceAccountName``
  -> ``serviceAccountName``, ``UID`` -> ``uid``), and an unset field is the zero value of its Go type (``""``, ``0``,
  ``false``, an enum's first name, nil). Proto messages also have nil-safe ``GetFoo`` getters; wrappers
  (``BoolValue``...) are stored unwrapped, so ``.GetValue`` is the value itself; enums are stored by name, so
  ``.String`` is the value itself.
- ``.foo`` on a **map** (``Values``, labels, annotations, ``ProxyMetadata``, ``fromJSON`` output) is a literal key:
  missing gives "no value" (nil in expressions, ``<no value>`` when printed).

Which is which is decided by the Go type (this schema), never by looking at the data. Types the schema does not
model are ``OPAQUE``: Go structs of unknown shape, read with the default JSON naming rule.

A chain is compiled into a tuple of steps (constants in the generated Jinja) that ``runtime.go_chain`` walks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

# Step opcodes (see runtime.go_chain).
FIELD, GETTER, MAPKEY, DYN, OPAQUE_STEP, FAIL, METHOD = range(7)


@dataclass(frozen=True)
class GoType:
    """A static Go type. ``kind``: any, string, bool, int, float, map, slice, enum, wrapper, duration, struct,
    opaque. ``pointer`` structs/scalars may be nil (nil field access is an error, truth is "not nil")."""
    kind: str
    name: str
    elem: "GoType | None" = None
    zero: Any = None
    pointer: bool = False

    @property
    def nil_text(self) -> str:
        """What Go prints for a nil value of this type."""
        if self.kind == "map":
            return "map[]"
        if self.kind == "slice":
            return "[]"
        if self.pointer or self.kind in ("wrapper", "duration"):
            return "<nil>"
        return "<no value>"


ANY = GoType("any", "interface {}")
STRING = GoType("string", "string", zero="")
BOOL = GoType("bool", "bool", zero=False)
INT = GoType("int", "int", zero=0)
INT64 = GoType("int", "int64", zero=0)
INT32 = GoType("int", "int32", zero=0)
UINT32 = GoType("int", "uint32", zero=0)
FLOAT = GoType("float", "float64", zero=0.0)
OPAQUE = GoType("opaque", "struct")
DURATION = GoType("duration", "*durationpb.Duration", pointer=True)


@cache
def named(go_name: str) -> GoType:
    """A type known only by its Go name (``time.Time``, ``*semver.Version`` returned by functions): a field of
    it is one of its methods."""
    return GoType("object", go_name)


@cache
def map_of(elem: GoType) -> GoType:
    return GoType("map", f"map[string]{elem.name}", elem)


@cache
def slice_of(elem: GoType) -> GoType:
    return GoType("slice", f"[]{elem.name}", elem)


@cache
def enum(name: str, zero_name: str) -> GoType:
    return GoType("enum", name, zero=zero_name)


@cache
def wrapper(name: str, elem: GoType) -> GoType:
    return GoType("wrapper", f"*wrapperspb.{name}", elem, pointer=True)


@cache
def ptr(elem: GoType) -> GoType:
    """A pointer to a scalar (``*string``, ``*int32``): nil when unset, printed as its target otherwise."""
    return GoType(elem.kind, "*" + elem.name, elem, pointer=True)


@dataclass(frozen=True)
class Struct:
    """A Go struct: its fields (Go name -> (JSON key, type)); ``complete`` when every field is listed, so an
    unknown name is Go's "can't evaluate field" error rather than an unmodelled field."""
    name: str
    fields: tuple[tuple[str, str, GoType], ...]
    getters: bool = False
    complete: bool = False

    def field(self, go_name: str) -> tuple[str, GoType] | None:
        for name, key, typ in self.fields:
            if name == go_name:
                return key, typ
        return None


_STRUCTS: dict[str, Struct] = {}


def struct_type(name: str, pointer: bool) -> GoType:
    return GoType("struct", ("*" if pointer else "") + name, zero=None, pointer=pointer)


def struct_of(t: GoType) -> Struct:
    return _STRUCTS[t.name.lstrip("*")]


_ACRONYM_HEAD = re.compile(r"^[A-Z]+(?=[A-Z][a-z0-9])|^[A-Z]+$|^[A-Z]")
_JSON_EXCEPTIONS = {"DeprecatedServiceAccount": "serviceAccount"}


def json_name(go_name: str) -> str:
    """Default Go-field -> JSON-key rule of the k8s and protojson types: lower-case the leading capital run
    (``UID`` -> ``uid``, ``APIVersion`` -> ``apiVersion``, ``ProxyMetadata`` -> ``proxyMetadata``)."""
    special = _JSON_EXCEPTIONS.get(go_name)
    if special is not None:
        return special
    return _ACRONYM_HEAD.sub(lambda m: m.group().lower(), go_name, count=1)


def _define(name: str, fields: dict[str, GoType], getters: bool = False, complete: bool = False,
            keys: dict[str, str] | None = None) -> None:
    keys = keys or {}
    _STRUCTS[name] = Struct(name, tuple((f, keys.get(f, json_name(f)), t) for f, t in fields.items()),
                            getters, complete)


# ---- Kubernetes types ------------------------------------------------------------------------------------------
STRINGS = slice_of(STRING)
STRING_MAP = map_of(STRING)
OPAQUE_PTR = GoType("opaque", "*struct", pointer=True)
OPAQUE_LIST = slice_of(OPAQUE)

_define("v1.TypeMeta", {"Kind": STRING, "APIVersion": STRING}, complete=True)
_define("types.NamespacedName", {"Namespace": STRING, "Name": STRING}, complete=True)
_define("v1.OwnerReference", {"APIVersion": STRING, "Kind": STRING, "Name": STRING, "UID": STRING,
                              "Controller": ptr(BOOL), "BlockOwnerDeletion": ptr(BOOL)}, complete=True)
_define("v1.ObjectMeta", {
    "Name": STRING, "GenerateName": STRING, "Namespace": STRING, "SelfLink": STRING, "UID": STRING,
    "ResourceVersion": STRING, "Generation": INT64, "CreationTimestamp": OPAQUE, "DeletionTimestamp": OPAQUE_PTR,
    "DeletionGracePeriodSeconds": ptr(INT64), "Labels": STRING_MAP, "Annotations": STRING_MAP,
    "OwnerReferences": slice_of(struct_type("v1.OwnerReference", False)), "Finalizers": STRINGS,
    "ManagedFields": OPAQUE_LIST}, getters=True, complete=True)
_define("v1.ContainerPort", {"Name": STRING, "HostPort": INT32, "ContainerPort": INT32, "Protocol": STRING,
                             "HostIP": STRING}, complete=True)
_define("v1.Container", {
    "Name": STRING, "Image": STRING, "Command": STRINGS, "Args": STRINGS, "WorkingDir": STRING,
    "Ports": slice_of(struct_type("v1.ContainerPort", False)), "EnvFrom": OPAQUE_LIST, "Env": OPAQUE_LIST,
    "Resources": OPAQUE, "ResizePolicy": OPAQUE_LIST, "RestartPolicy": ptr(STRING), "VolumeMounts": OPAQUE_LIST,
    "VolumeDevices": OPAQUE_LIST, "LivenessProbe": OPAQUE_PTR, "ReadinessProbe": OPAQUE_PTR,
    "StartupProbe": OPAQUE_PTR, "Lifecycle": OPAQUE_PTR, "TerminationMessagePath": STRING,
    "TerminationMessagePolicy": STRING, "ImagePullPolicy": STRING, "SecurityContext": OPAQUE_PTR, "Stdin": BOOL,
    "StdinOnce": BOOL, "TTY": BOOL})
_CONTAINERS = slice_of(struct_type("v1.Container", False))
_define("v1.GatewaySpecAddress", {"Type": ptr(STRING), "Value": STRING}, complete=True)
# The pod spec, plus the Gateway spec fields the gateway templates read (``Spec`` is one or the other).
_define("v1.PodSpec", {
    "Volumes": OPAQUE_LIST, "InitContainers": _CONTAINERS, "Containers": _CONTAINERS,
    "EphemeralContainers": OPAQUE_LIST, "RestartPolicy": STRING, "TerminationGracePeriodSeconds": ptr(INT64),
    "ActiveDeadlineSeconds": ptr(INT64), "DNSPolicy": STRING, "NodeSelector": STRING_MAP,
    "ServiceAccountName": STRING, "DeprecatedServiceAccount": STRING, "AutomountServiceAccountToken": ptr(BOOL),
    "NodeName": STRING, "HostNetwork": BOOL, "HostPID": BOOL, "HostIPC": BOOL, "ShareProcessNamespace": ptr(BOOL),
    "SecurityContext": OPAQUE_PTR, "ImagePullSecrets": OPAQUE_LIST, "Hostname": STRING, "Subdomain": STRING,
    "Affinity": OPAQUE_PTR, "SchedulerName": STRING, "Tolerations": OPAQUE_LIST, "HostAliases": OPAQUE_LIST,
    "PriorityClassName": STRING, "Priority": ptr(INT32), "DNSConfig": OPAQUE_PTR, "ReadinessGates": OPAQUE_LIST,
    "RuntimeClassName": ptr(STRING), "EnableServiceLinks": ptr(BOOL), "PreemptionPolicy": ptr(STRING),
    "Overhead": STRING_MAP, "TopologySpreadConstraints": OPAQUE_LIST, "SetHostnameAsFQDN": ptr(BOOL),
    "OS": OPAQUE_PTR, "HostUsers": ptr(BOOL), "SchedulingGates": OPAQUE_LIST, "ResourceClaims": OPAQUE_LIST,
    "GatewayClassName": STRING, "Listeners": OPAQUE_LIST, "Infrastructure": OPAQUE_PTR,
    "Addresses": slice_of(struct_type("v1.GatewaySpecAddress", False))})
_define("v1.ServicePort", {"Name": STRING, "Protocol": STRING, "AppProtocol": ptr(STRING), "Port": INT32,
                           "TargetPort": OPAQUE, "NodePort": INT32}, complete=True)

# ---- Istio mesh/proxy config (protobuf; protojson keys) --------------------------------------------------------
_BOOL_VALUE = wrapper("BoolValue", BOOL)
_INT32_VALUE = wrapper("Int32Value", INT32)
_UINT32_VALUE = wrapper("UInt32Value", UINT32)
_define("v1alpha1.ClientTLSSettings", {
    "Mode": enum("v1alpha1.ClientTLSSettings_TLSmode", "DISABLE"), "ClientCertificate": STRING,
    "PrivateKey": STRING, "CaCertificates": STRING, "CredentialName": STRING, "SubjectAltNames": STRINGS,
    "Sni": STRING, "InsecureSkipVerify": _BOOL_VALUE, "CaCrl": STRING}, getters=True)
_define("v1alpha1.Tracing", {
    "Zipkin": OPAQUE_PTR, "Lightstep": OPAQUE_PTR, "Datadog": OPAQUE_PTR, "Stackdriver": OPAQUE_PTR,
    "OpenCensusAgent": OPAQUE_PTR, "CustomTags": map_of(OPAQUE_PTR), "MaxPathTagLength": _UINT32_VALUE,
    "Sampling": FLOAT, "TlsSettings": struct_type("v1alpha1.ClientTLSSettings", True),
    "EnableIstioTags": _BOOL_VALUE}, getters=True)
_define("v1alpha1.ProxyImage", {"ImageType": STRING}, getters=True, complete=True)
_define("v1alpha1.ProxyConfig", {
    "ConfigPath": STRING, "BinaryPath": STRING, "ServiceCluster": STRING, "DrainDuration": DURATION,
    "DiscoveryAddress": STRING, "DiscoveryRefreshDelay": DURATION,
    "ZipkinAddress": STRING, "StatsdUdpAddress": STRING, "EnvoyMetricsServiceAddress": STRING,
    "ProxyAdminPort": INT32, "AvailabilityZone": STRING,
    "ControlPlaneAuthPolicy": enum("v1alpha1.AuthenticationPolicy", "NONE"), "CustomConfigFile": STRING,
    "StatNameLength": INT32, "Concurrency": _INT32_VALUE, "ProxyBootstrapTemplatePath": STRING,
    "InterceptionMode": enum("v1alpha1.ProxyConfig_InboundInterceptionMode", "REDIRECT"),
    "Tracing": struct_type("v1alpha1.Tracing", True), "Sds": OPAQUE_PTR, "EnvoyAccessLogService": OPAQUE_PTR,
    "EnvoyMetricsService": OPAQUE_PTR, "ProxyMetadata": STRING_MAP, "RuntimeValues": STRING_MAP,
    "StatusPort": INT32, "ExtraStatTags": STRINGS, "GatewayTopology": OPAQUE_PTR,
    "TerminationDrainDuration": DURATION, "MeshId": STRING, "ReadinessProbe": OPAQUE_PTR,
    "ProxyStatsMatcher": OPAQUE_PTR, "HoldApplicationUntilProxyStarts": _BOOL_VALUE, "CaCertificatesPem": STRINGS,
    "Image": struct_type("v1alpha1.ProxyImage", True), "PrivateKeyProvider": OPAQUE_PTR,
    "ProxyHeaders": OPAQUE_PTR, "FileFlushInterval": DURATION, "FileFlushMinSizeKb": UINT32,
    "StatsCompression": _BOOL_VALUE, "ConnectionSettings": OPAQUE_PTR}, getters=True)
_define("v1alpha1.MeshConfig", {
    "ProxyListenPort": INT32, "ProxyInboundListenPort": INT32, "ProxyHttpPort": INT32, "ConnectTimeout": DURATION,
    "ProtocolDetectionTimeout": DURATION, "TcpKeepalive": OPAQUE_PTR, "IngressClass": STRING,
    "IngressService": STRING, "IngressControllerMode": enum("v1alpha1.MeshConfig_IngressControllerMode",
                                                            "UNSPECIFIED"),
    "IngressSelector": STRING, "EnableTracing": BOOL, "AccessLogFile": STRING, "AccessLogFormat": STRING,
    "AccessLogEncoding": enum("v1alpha1.MeshConfig_AccessLogEncoding", "TEXT"),
    "EnableEnvoyAccessLogService": BOOL, "DisableEnvoyListenerLog": BOOL,
    "DefaultConfig": struct_type("v1alpha1.ProxyConfig", True), "OutboundTrafficPolicy": OPAQUE_PTR,
    "InboundTrafficPolicy": OPAQUE_PTR, "ConfigSources": OPAQUE_LIST, "EnableAutoMtls": _BOOL_VALUE,
    "TrustDomain": STRING, "TrustDomainAliases": STRINGS, "DefaultServiceExportTo": STRINGS,
    "DefaultVirtualServiceExportTo": STRINGS, "DefaultDestinationRuleExportTo": STRINGS, "RootNamespace": STRING,
    "LocalityLbSetting": OPAQUE_PTR, "DnsRefreshRate": DURATION,
    "H2UpgradePolicy": enum("v1alpha1.MeshConfig_H2UpgradePolicy", "DO_NOT_UPGRADE"),
    "InboundClusterStatName": STRING, "OutboundClusterStatName": STRING, "Certificates": OPAQUE_LIST,
    "ServiceSettings": OPAQUE_LIST, "EnablePrometheusMerge": _BOOL_VALUE, "VerifyCertificateAtClient": _BOOL_VALUE,
    "Ca": OPAQUE_PTR, "ExtensionProviders": slice_of(OPAQUE_PTR), "DefaultProviders": OPAQUE_PTR,
    "DiscoverySelectors": OPAQUE_LIST, "PathNormalization": OPAQUE_PTR, "DefaultHttpRetryPolicy": OPAQUE_PTR,
    "MeshMTLS": OPAQUE_PTR, "TlsDefaults": OPAQUE_PTR}, getters=True)

# ---- the data given to a template ------------------------------------------------------------------------------
# Top-level keys are the Go field names themselves (DESIGN.md). The sidecar injector's SidecarTemplateData and the
# gateway deployment controller's data share one root type, so both kinds of chart template translate.
_ROOT_FIELDS = {
    # inject.SidecarTemplateData
    "TypeMeta": struct_type("v1.TypeMeta", False), "DeploymentMeta": struct_type("types.NamespacedName", False),
    "ObjectMeta": struct_type("v1.ObjectMeta", False), "Spec": struct_type("v1.PodSpec", False),
    "ProxyConfig": struct_type("v1alpha1.ProxyConfig", True), "MeshConfig": struct_type("v1alpha1.MeshConfig", True),
    "Values": map_of(ANY), "Revision": STRING, "NativeSidecars": BOOL, "ProxyImage": STRING,
    "ProxyInitImage": STRING, "ProxyUID": INT64, "ProxyGID": INT64, "InboundTrafficPolicyMode": STRING,
    "CompliancePolicy": STRING,
    # gateway TemplateInput (its embedded Gateway's metadata is promoted to the top level)
    "Name": STRING, "Namespace": STRING, "UID": STRING, "Labels": STRING_MAP, "Annotations": STRING_MAP,
    "DeploymentName": STRING, "ServiceAccount": STRING, "Ports": slice_of(struct_type("v1.ServicePort", False)),
    "ServiceType": STRING, "ClusterID": STRING, "KubeVersion": INT, "GatewayClass": STRING,
    "InfrastructureLabels": STRING_MAP, "InfrastructureAnnotations": STRING_MAP, "GatewayNameLabel": STRING,
    "ControllerLabel": STRING, "AgentgatewayImage": STRING,
}
_define("inject.SidecarTemplateData", _ROOT_FIELDS, complete=True, keys={f: f for f in _ROOT_FIELDS})
ROOT = struct_type("inject.SidecarTemplateData", True)


def resolve(t: GoType, go_name: str) -> tuple[tuple, GoType]:
    """The runtime step for ``.go_name`` on a value of static type ``t``, and the type of the result."""
    kind = t.kind
    if kind == "struct":
        st = struct_of(t)
        nil_msg = f"{t.name}.{go_name}" if t.pointer else ""
        found = st.field(go_name)
        if found is not None:
            key, ft = found
            return (FIELD, key, ft.zero, nil_msg), ft
        if st.getters and go_name.startswith("Get"):
            found = st.field(go_name[3:])
            if found is not None:
                key, ft = found
                return (GETTER, key, ft.zero), ft
        if st.complete:
            return (FAIL, f"can't evaluate field {go_name} in type {t.name}"), ANY
        return (OPAQUE_STEP, go_name), OPAQUE
    if kind == "map":
        return (MAPKEY, go_name, t.elem.kind == "any"), t.elem
    if kind == "wrapper":
        if go_name == "GetValue":
            return (GETTER, None, t.elem.zero), t.elem
        if go_name == "Value":
            return (FIELD, None, t.elem.zero, f"{t.name}.Value"), t.elem
    elif kind == "enum" and go_name == "String":
        return (GETTER, None, t.zero), STRING
    elif kind in ("any",):
        return (DYN, go_name), ANY
    elif kind in ("opaque", "duration"):
        return (OPAQUE_STEP, go_name), OPAQUE
    elif kind == "object":
        return (METHOD, go_name), ANY
    return (FAIL, f"can't evaluate field {go_name} in type {t.name}"), ANY


def element(t: GoType) -> tuple[GoType, GoType]:
    """(key type, element type) of ``range``/``index`` over a value of static type ``t``."""
    if t.kind == "slice":
        return INT, t.elem
    if t.kind == "map":
        return STRING, t.elem
    if t.kind == "int":
        return t, t
    return ANY, (OPAQUE if t.kind == "opaque" else ANY)


_NAMED_TYPES = {t.name: t for t in (STRING, BOOL, INT, INT64, INT32, UINT32, FLOAT, ANY, STRING_MAP, STRINGS,
                                    DURATION, map_of(ANY), slice_of(ANY), _CONTAINERS,
                                    struct_type("v1.ObjectMeta", False), struct_type("v1alpha1.MeshConfig", True),
                                    struct_type("v1alpha1.ProxyConfig", True))}


def type_named(go_name: str) -> GoType:
    """The static type for a Go type name as ``reflect`` prints it (function signatures)."""
    return _NAMED_TYPES.get(go_name) or named(go_name)
