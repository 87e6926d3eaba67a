"""The template function map, checked against the Go semantics of Istio's template.go and sprig."""
import pytest

from workers.config.mesh import DEFAULT_PROXY_CONFIG
from workers.templates.funcs import FUNCS

F = FUNCS

ISTIO = ["formatDuration", "isset", "excludeInboundPort", "includeInboundPorts", "kubevirtInterfaces",
         "excludeInterfaces", "applicationPorts", "annotation", "valueOrDefault", "toJSON", "fromJSON", "structToJSON",
         "protoToJSON", "toYaml", "indent", "directory", "contains", "toLower", "appendMultusNetwork", "env", "omit",
         "strdict", "toJsonMap", "mergeMaps", "omitNil", "otelResourceAttributes"]
SPRIG = ["default", "quote", "trunc", "trimAll", "list", "append", "join", "nindent", "hasKey", "dict", "set"]


def test_funcmap_has_every_istio_and_chart_function():
    assert set(ISTIO + SPRIG) <= set(FUNCS)


# --- Istio helpers -------------------------------------------------------------------------------------------

def test_annotation_present_even_empty():
    meta = {"annotations": {"a": "", "b": "v"}}
    assert F["annotation"](meta, "a", "dflt") == ""
    assert F["annotation"](meta, "b", "dflt") == "v"


@pytest.mark.parametrize("default, expected", [
    ("dflt", "dflt"), (None, "<nil>"), (15020.0, "15020"), (1e6, "1e+06"), (True, "true"), ("REDIRECT", "REDIRECT"),
])
def test_annotation_default_printed_with_sprint(default, expected):
    assert F["annotation"]({"name": "p"}, "missing", default) == expected
    assert F["annotation"]({"annotations": None}, "missing", default) == expected


def test_isset():
    assert F["isset"]({"k": ""}, "k") is True
    assert F["isset"]({"k": "v"}, "other") is False
    assert F["isset"](None, "k") is False


@pytest.mark.parametrize("value, expected", [
    ("", "d"), (None, "d"), (0, 0), (0.0, 0.0), (False, False), ("x", "x"), ([], []),
])
def test_value_or_default(value, expected):
    assert F["valueOrDefault"](value, "d") == expected


@pytest.mark.parametrize("port, ports, expected", [
    (15020.0, "", "15020"),
    ("15020", "15021", "15021,15020"),
    (0, "1,2", "1,2"),
    ("0", " 1, 2", " 1, 2"),
    ("", "1", "1"),
    ("  ", "1", "1"),
    (" 15021 ", "1", "1,15021"),
    ("15020", "15020", "15020"),
    ("15020", "1,15020,2", "1,15020,2"),
    ("15020", "1, 15020", "1,15020,15020"),  # " 15020" is compared untrimmed, so it does not match
    ("15020", " 1 ,, 2 ,", "1,2,15020"),
    (None, "1", "1,<nil>"),
])
def test_exclude_inbound_port(port, ports, expected):
    assert F["excludeInboundPort"](port, ports) == expected


CONTAINERS = [
    {"name": "app", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"},
                              {"containerPort": 9000, "protocol": "TCP"}]},
    {"name": "istio-proxy", "ports": [{"containerPort": 15090, "protocol": "TCP"}]},
    {"name": "side", "ports": [{"containerPort": 7000, "protocol": "SCTP"}, {"containerPort": 8080}]},
    {"name": "noports"},
]


def test_include_inbound_ports_all_tcp_ports():
    assert F["includeInboundPorts"](CONTAINERS) == "80,9000,15090,8080"
    assert F["includeInboundPorts"]([]) == ""
    assert F["includeInboundPorts"](None) == ""


def test_application_ports_skip_proxy():
    assert F["applicationPorts"](CONTAINERS) == "80,9000,8080"


def test_interface_helpers_are_identity():
    assert F["kubevirtInterfaces"]("net1,net2") == "net1,net2"
    assert F["excludeInterfaces"]("") == ""


def test_to_json():
    assert F["toJSON"](None) == "{}"
    assert F["toJSON"]({}) == "{}"
    assert F["toJSON"]({"b": "1", "a": "<x&y>"}) == '{"a":"\\u003cx\\u0026y\\u003e","b":"1"}'


def test_from_json_numbers_are_floats():
    assert F["fromJSON"]('{"a": 1, "b": [2.5, "x", null, true]}') == {"a": 1.0, "b": [2.5, "x", None, True]}
    assert isinstance(F["fromJSON"]('{"a": 1}')["a"], float)
    assert F["fromJSON"]("[]") == []
    assert F["fromJSON"]('"s"') == "s"


@pytest.mark.parametrize("bad", ["", "{", "{'a': 1}", "[1,]", "NaN", "{} x"])
def test_from_json_error_gives_string(bad):
    assert F["fromJSON"](bad) == "{}"


def test_struct_to_json_container_port_field_order():
    port = {"protocol": "TCP", "containerPort": 80, "name": "http", "hostIP": "1.2.3.4", "hostPort": 8080}
    assert F["structToJSON"](port) == \
        '{"name":"http","hostPort":8080,"containerPort":80,"protocol":"TCP","hostIP":"1.2.3.4"}'
    assert F["structToJSON"]({"containerPort": 80}) == '{"containerPort":80}'
    assert F["structToJSON"]({"containerPort": 80, "name": "", "hostPort": 0}) == '{"containerPort":80}'


def test_struct_to_json_generic_and_nil():
    assert F["structToJSON"](None) == "{}"
    assert F["structToJSON"]({"b": 1.0, "a": [True, None]}) == '{"a":[true,null],"b":1}'


def test_to_yaml():
    assert F["toYaml"]({}) == "{}\n"
    assert F["toYaml"]({"requests": {"cpu": "100m", "memory": 128.0}}) == "requests:\n  cpu: 100m\n  memory: 128\n"
    assert F["toYaml"](None) == "null\n"


def test_indent_skips_first_line():
    assert F["indent"](4, "a\nb\n") == "a\n    b\n    "
    assert F["indent"](2, "one") == "one"
    assert F["indent"](0, "a\nb") == "a\nb"


def test_nindent_indents_every_line_after_newline():
    assert F["nindent"](2, "a\nb") == "\n  a\n  b"
    assert F["nindent"](4, "") == "\n    "
    with pytest.raises(ValueError):
        F["nindent"](-1, "a")


@pytest.mark.parametrize("path, expected", [
    ("/etc/certs/root.pem", "/etc/certs/"), ("c", ""), ("", ""), ("/c", "/"), ("a/b/", "a/b/"), (None, ""),
])
def test_directory(path, expected):
    assert F["directory"](path) == expected


def test_contains_needle_first_and_to_lower():
    assert F["contains"]("/", "docker.io/istio/proxyv2") is True
    assert F["contains"]("/", "proxyv2") is False
    assert F["toLower"]("Deployment") == "deployment"


def test_env(monkeypatch):
    monkeypatch.setenv("INJ_TEST_SET", "v")
    monkeypatch.setenv("INJ_TEST_EMPTY", "")
    monkeypatch.delenv("INJ_TEST_UNSET", raising=False)
    assert F["env"]("INJ_TEST_SET", "d") == "v"
    assert F["env"]("INJ_TEST_EMPTY", "d") == "d"
    assert F["env"]("INJ_TEST_UNSET", "d") == "d"


NET = "default/istio-cni"


@pytest.mark.parametrize("existing, network, expected", [
    ("", NET, NET),
    ("macvlan", NET, "macvlan, default/istio-cni"),
    ("macvlan, default/istio-cni ", NET, "macvlan, default/istio-cni "),
    ("default/istio-cni-x", NET, "default/istio-cni-x, default/istio-cni"),
    ('[{"name": "macvlan"}]', NET, '[{"name": "macvlan"}, {"name": "istio-cni", "namespace": "default"}]'),
    ('[{"name": "istio-cni", "namespace": "default"}]', NET, '[{"name": "istio-cni", "namespace": "default"}]'),
    ('[{"name": "istio-cni"}]', NET, '[{"name": "istio-cni"}, {"name": "istio-cni", "namespace": "default"}]'),
    ('[{"name": "istio-cni"}]', "istio-cni", '[{"name": "istio-cni"}]'),
    ('[{"name": "istio-cni", "namespace": null}]', "istio-cni", '[{"name": "istio-cni", "namespace": null}]'),
    ('[{"name": "a"}]', "istio-cni", '[{"name": "a"}, {"name": "istio-cni"}]'),
    ("[]", NET, '[, {"name": "istio-cni", "namespace": "default"}]'),
    ("[ ]  ", NET, '[ , {"name": "istio-cni", "namespace": "default"}]  '),
    ("null]", NET, "null]"),  # not valid JSON: kept as is
    ("[not json]", NET, "[not json]"),
    ('["macvlan"]', NET, '["macvlan"]'),  # entries must be objects
    ('{"name": "]"}', NET, '{"name": "]"}'),  # not a list
])
def test_append_multus_network(existing, network, expected):
    assert F["appendMultusNetwork"](existing, network) == expected


def test_omit_strdict_merge_maps():
    assert F["omit"]({"a": "1", "b": "2", "c": "3"}, "a", "c") == {"b": "2"}
    assert F["omit"](None, "a") == {}
    assert F["strdict"]("a", "1", "b") == {"a": "1", "b": ""}
    assert F["strdict"]() == {}
    assert F["mergeMaps"]() is None
    assert F["mergeMaps"]({"a": "1", "b": "1"}, None, {"b": "2"}) == {"a": "1", "b": "2"}


def test_to_json_map():
    assert F["toJsonMap"]() == "null"
    assert F["toJsonMap"]({"z": "1", "a": "x"}, {"z": "2"}) == '{"a":"x","z":"2"}'
    assert F["toJsonMap"](None) == "{}"


@pytest.mark.parametrize("value, expected", [
    (None, None),
    ({"a": [None, {"x": None}]}, None),
    ({"limits": {"cpu": None, "memory": "1Gi"}, "requests": {"cpu": "10m"}},
     {"limits": {"memory": "1Gi"}, "requests": {"cpu": "10m"}}),
    ({"limits": {"cpu": None}, "requests": {"cpu": "10m"}}, {"requests": {"cpu": "10m"}}),
    ({"limits": {}, "x": None}, {"limits": {}}),  # untouched empty map stays
    ({}, {}),
    ([], []),
    ([None], None),
    ([1.0, None, [None], "x"], [1.0, "x"]),
    ("s", "s"),
    (0.0, 0.0),
])
def test_omit_nil(value, expected):
    assert F["omitNil"](value) == expected


def test_omit_nil_does_not_mutate_input():
    data = {"a": {"b": None, "c": 1.0}}
    F["omitNil"](data)
    assert data == {"a": {"b": None, "c": 1.0}}


OTEL_MESH = {"extensionProviders": [
    {"name": "prometheus", "prometheus": {}},
    {"name": "otel", "opentelemetry": {"service": "otel.svc", "port": 4317,
                                       "serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS"}},
]}


def test_otel_resource_attributes_disabled_without_semconv_provider():
    mesh = {"extensionProviders": [{"name": "otel", "opentelemetry": {"service": "x"}}]}
    assert F["otelResourceAttributes"](mesh, {}, {}, "ns", [{"name": "app", "image": "app:1"}]) == ""
    assert F["otelResourceAttributes"]({}, None, None, "ns", None) == ""


@pytest.mark.parametrize("annotations, labels, ns, containers, expected", [
    ({}, {}, "ns", [{"name": "app", "image": "reg:5000/app:1.2"}],
     "service.namespace=ns,service.version=1.2,service.instance.id=ns.$(POD_NAME).app"),
    ({}, {}, "ns", [{"name": "app", "image": "app:1.2@sha256:abc"}],
     "service.namespace=ns,service.version=1.2@sha256:abc,service.instance.id=ns.$(POD_NAME).app"),
    ({}, {}, "ns", [{"name": "app", "image": "reg:5000/app@sha256:abc"}],
     "service.namespace=ns,service.version=sha256:abc,service.instance.id=ns.$(POD_NAME).app"),
    ({}, {}, "ns", [{"name": "app", "image": "reg:5000/app"}],
     "service.namespace=ns,service.instance.id=ns.$(POD_NAME).app"),
    ({}, {"app.kubernetes.io/version": "v3"}, "", [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}],
     "service.version=v3,service.instance.id=.$(POD_NAME).a"),
    ({}, {}, "ns", [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}],
     "service.namespace=ns,service.instance.id=ns.$(POD_NAME).a"),
    ({"resource.opentelemetry.io/service.namespace": "team",
      "resource.opentelemetry.io/service.version": "9",
      "resource.opentelemetry.io/service.instance.id": "id1"}, {"app.kubernetes.io/version": "v3"}, "ns", [],
     "service.namespace=team,service.version=9,service.instance.id=id1"),
    ({"resource.opentelemetry.io/service.namespace": ""}, {}, "", [], ""),
])
def test_otel_resource_attributes(annotations, labels, ns, containers, expected):
    assert F["otelResourceAttributes"](OTEL_MESH, annotations, labels, ns, containers) == expected


@pytest.mark.parametrize("duration, expected", [
    (None, "0s"), ("0s", "0s"), ("45s", "45s"), ("90s", "1m30s"), ("3600s", "1h0m0s"), ("3723.5s", "1h2m3.5s"),
    ("1.5s", "1.5s"), ("0.5s", "500ms"), ("0.0015s", "1.5ms"), ("0.000002s", "2µs"), ("0.000000100s", "100ns"),
    ("-90s", "-1m30s"),
])
def test_format_duration(duration, expected):
    assert F["formatDuration"](duration) == expected


# --- protoToJSON ----------------------------------------------------------------------------------------------

def _pc(**overrides):
    return {**DEFAULT_PROXY_CONFIG, **overrides}


@pytest.mark.parametrize("config, expected", [
    (_pc(), "{}"),
    (None, "{}"),
    (_pc(drainDuration="23s"), '{"drainDuration":"23s"}'),
    (_pc(interceptionMode="TPROXY"), '{"interceptionMode":"TPROXY"}'),
    (_pc(tracing={}), '{"tracing":{}}'),
    (_pc(holdApplicationUntilProxyStarts=True), '{"holdApplicationUntilProxyStarts":true}'),
    (_pc(holdApplicationUntilProxyStarts=False), '{"holdApplicationUntilProxyStarts":false}'),
    (_pc(statusPort=0), "{}"),
    (_pc(statusPort=123), '{"statusPort":123}'),
    (_pc(discoveryAddress="foo:123", concurrency=0, proxyMetadata={"FOO": "bar", "ISTIO_META_TLS_CLIENT_KEY": "k"}),
     '{"discoveryAddress":"foo:123","concurrency":0,"proxyMetadata":{"FOO":"bar","ISTIO_META_TLS_CLIENT_KEY":"k"}}'),
    # declaration order, not alphabetical: proxyMetadata (24) < statusPort (26) < holdApplication... (33) < image
    ({"image": {"imageType": "distroless"}, "statusPort": 1, "proxyMetadata": {"b": "<", "a": "1"},
      "holdApplicationUntilProxyStarts": True, "controlPlaneAuthPolicy": "NONE", "configPath": "/x"},
     '{"configPath":"/x","proxyMetadata":{"a":"1","b":"\\u003c"},"statusPort":1,'
     '"holdApplicationUntilProxyStarts":true,"image":{"imageType":"distroless"}}'),
    (_pc(terminationDrainDuration="5.000s", drainDuration="1.5s"), '{"drainDuration":"1.500s"}'),
    (_pc(tracing={"sampling": 1.0, "zipkin": {"address": "z:9411"}, "maxPathTagLength": 0}),
     '{"tracing":{"zipkin":{"address":"z:9411"},"sampling":1}}'),
    (_pc(serviceCluster="other", controlPlaneAuthPolicy="NONE"), '{"serviceCluster":"other"}'),
])
def test_proto_to_json(config, expected):
    assert F["protoToJSON"](config) == expected


# --- sprig ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ((), "d"), ((None,), "d"), (("",), "d"), ((0,), "d"), ((0.0,), "d"), ((False,), "d"), (([],), "d"), (({},), "d"),
    (("x",), "x"), ((1337,), 1337), ((True,), True), (([1],), [1]), (({"a": 1},), {"a": 1}),
])
def test_default(given, expected):
    assert F["default"]("d", *given) == expected


def test_quote():
    assert F["quote"]("15001") == '"15001"'
    assert F["quote"](1337) == '"1337"'
    assert F["quote"](15006.0) == '"15006"'
    assert F["quote"](None) == ""
    assert F["quote"]("a", None, True) == '"a" "true"'
    assert F["quote"]('x"y') == '"x\\"y"'


@pytest.mark.parametrize("n, s, expected", [
    (63, "short", "short"), (3, "abcdef", "abc"), (0, "abc", ""), (-2, "abcdef", "ef"), (-10, "abc", "abc"),
    (2, "é", "é"), (3, "éa", "éa"),
])
def test_trunc_is_byte_based(n, s, expected):
    assert F["trunc"](n, s) == expected


def test_trim_all():
    assert F["trimAll"]("-_.", "-_my.app_-.") == "my.app"
    assert F["trimAll"]("", " x ") == " x "


def test_list_append_join():
    empty = F["list"]()
    assert empty == []
    one = F["append"](empty, "app")
    assert one == ["app"] and empty == []
    assert F["append"](("a",), "b") == ["a", "b"]
    with pytest.raises(TypeError):
        F["append"](None, "x")
    assert F["join"](",", ["a", None, 1.0, True]) == "a,1,true"
    assert F["join"](",", None) == ""
    assert F["join"](",", "solo") == "solo"


def test_has_key_dict_set():
    assert F["hasKey"]({"a": None}, "a") is True
    assert F["hasKey"](None, "a") is False
    assert F["dict"]("a", 1, 2.0, "x", "odd") == {"a": 1, "2": "x", "odd": ""}
    d = {"a": 1}
    assert F["set"](d, "b", 2) is d and d == {"a": 1, "b": 2}
