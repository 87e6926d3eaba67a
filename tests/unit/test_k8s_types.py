"""Typed round trips (JSON -> Go struct -> JSON) of pods and the workloads kube-inject handles."""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from workers.k8s import schema
from workers.k8s.schema import TYPED
from workers.k8s.schema_data import SCHEMA
from workers.k8s.types import (KINDS, OrderedStruct, SchemaError, container_json, decode_pod_json, normalize_object,
                               normalize_pod)
from workers.serialize import gojson, goyaml

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "istio" / "inject"
# Golden written by an older Kubernetes that still printed `creationTimestamp: null`.
STALE = {("hello-openshift.yaml.injected", 0)}
EXPECTED_IDEMPOTENT = 97


def _documents(path: Path) -> list[object]:
    docs = re.split(r"^---[ \t]*(?:#.*)?\n", path.read_text(), flags=re.M)
    return [yaml.load(d, Loader=yaml.CSafeLoader) for d in docs if d.strip()]


def _workloads(pattern: str) -> list[tuple[str, int, dict]]:
    return [
        (path.name, index, doc)
        for path in sorted(CORPUS.glob(pattern))
        for index, doc in enumerate(_documents(path))
        if isinstance(doc, dict) and doc.get("kind") in KINDS
    ]


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"conformance corpus not found at {CORPUS}")


@needs_corpus
def test_goldens_are_fixed_points() -> None:
    same, differing = 0, set()
    for name, index, doc in _workloads("*.injected"):
        if normalize_object(doc) == doc:
            same += 1
        else:
            differing.add((name, index))
    assert differing == STALE
    assert same == EXPECTED_IDEMPOTENT


@needs_corpus
def test_inputs_normalise_to_fixed_points() -> None:
    inputs = _workloads("*.yaml")
    assert len(inputs) > 50
    for name, index, doc in inputs:
        once = normalize_object(doc)
        assert normalize_object(once) == once, (name, index)
        text = goyaml.dumps(once)
        assert "creationTimestamp" not in text, (name, index)
        assert goyaml.dumps(yaml.safe_load(text)) == text, (name, index)


def test_container_prints_in_go_field_order() -> None:
    container = {
        "tty": True,
        "securityContext": {"runAsUser": 0, "privileged": False, "capabilities": {"drop": ["ALL"]}},
        "readinessProbe": {"periodSeconds": 1, "httpGet": {"scheme": "HTTP", "port": 8080, "path": "/x"}},
        "volumeMounts": [{"mountPath": "/a", "readOnly": True, "name": "v"}],
        "ports": [{"protocol": "TCP", "containerPort": 80, "name": "http", "hostPort": 0}],
        "image": "img",
        "name": "app",
    }
    assert gojson.dumps(container_json(container)) == (
        '{"name":"app","image":"img","ports":[{"name":"http","containerPort":80,"protocol":"TCP"}],"resources":{},'
        '"volumeMounts":[{"name":"v","readOnly":true,"mountPath":"/a"}],'
        '"readinessProbe":{"httpGet":{"path":"/x","port":8080,"scheme":"HTTP"},"periodSeconds":1},'
        '"securityContext":{"capabilities":{"drop":["ALL"]},"privileged":false,"runAsUser":0},"tty":true}'
    )


def test_structs_are_ordered_struct_instances_of_their_typed_class() -> None:
    out = container_json({"name": "a"})
    assert isinstance(out, OrderedStruct) and isinstance(out["resources"], OrderedStruct)
    assert type(out) is TYPED["core.Container"] and type(out["resources"]) is TYPED["core.ResourceRequirements"]


def test_typed_parts_are_shared_on_a_second_round_trip() -> None:
    pod = normalize_pod({"spec": {"containers": [{"name": "a", "env": [{"name": f"V{i}", "value": "x"}
                                                                       for i in range(50)]}]}})
    changed = {**pod, "spec": {**pod["spec"], "containers": [*pod["spec"]["containers"], {"name": "b"}]}}
    again = normalize_pod(changed)
    assert again == normalize_pod(orjson.loads(orjson.dumps(changed)))
    app, added = again["spec"]["containers"]
    assert app is pod["spec"]["containers"][0]  # untouched typed container: the same object
    assert type(added) is TYPED["core.Container"] and added["resources"] == {}
    env = pod["spec"]["containers"][0]["env"]
    decoded = normalize_pod({"spec": {"containers": [{"name": "a", "env": env}]}})["spec"]["containers"][0]["env"]
    assert decoded == env and decoded is not env and all(x is y for x, y in zip(decoded, env))


def test_a_typed_value_in_the_wrong_place_is_decoded_again() -> None:
    env_var = normalize_pod({"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}]}})[
        "spec"]["containers"][0]["env"][0]
    container = container_json(env_var)  # an EnvVar where a Container belongs: read as a plain map
    assert type(container) is TYPED["core.Container"] and container == {"name": "X", "resources": {}}


def test_grpc_service_is_null_when_unset_and_ports_keep_int_or_string() -> None:
    probe = container_json({"livenessProbe": {"grpc": {"port": 5}, "tcpSocket": {"port": "http"}}})["livenessProbe"]
    assert probe == {"tcpSocket": {"port": "http"}, "grpc": {"port": 5, "service": None}}
    assert gojson.dumps(probe) == '{"tcpSocket":{"port":"http"},"grpc":{"port":5,"service":null}}'


def test_empty_and_null_optional_fields_are_dropped() -> None:
    out = container_json(
        {"name": "a", "image": "", "args": [], "env": None, "stdin": False, "ports": [], "securityContext": None}
    )
    assert out == {"name": "a", "resources": {}}


def test_unknown_fields_are_dropped_and_field_names_match_case_insensitively() -> None:
    out = container_json({"Name": "a", "IMAGE": "i", "bogus": {"x": 1}})
    assert out == {"name": "a", "image": "i", "resources": {}}
    assert container_json({"name": "exact", "Name": "folded"})["name"] == "exact"


def test_quantities_are_canonical() -> None:
    out = container_json({"resources": {"limits": {"cpu": "2000m", "memory": "1024Mi"}, "requests": {"cpu": 0.5}}})
    assert out["resources"] == {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "500m"}}
    env = container_json({"env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]})
    assert env["env"][0]["valueFrom"]["resourceFieldRef"] == {"resource": "limits.cpu", "divisor": "0"}


def test_numbers_and_bools_become_text_in_string_fields() -> None:
    pod = normalize_pod(
        {
            "metadata": {"labels": {"version": 1.0, "n": 7, "on": True}, "annotations": {"a": 0.1}},
            "spec": {"containers": [{"name": "a", "args": [15001, 1e6], "env": [{"name": "B", "value": False}]}]},
        }
    )
    assert pod["metadata"] == {"labels": {"version": "1", "n": "7", "on": "true"}, "annotations": {"a": "0.1"}}
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["15001", "1e+06"] and container["env"] == [{"name": "B", "value": "false"}]


def test_wrong_types_raise_like_go() -> None:
    with pytest.raises(SchemaError, match="^json: cannot unmarshal string into Go struct field "
                                          "ContainerPort.ports.containerPort of type int32$"):
        container_json({"ports": [{"containerPort": "80"}]})
    with pytest.raises(SchemaError, match=r"^json: cannot unmarshal string into Go struct field Container.args "
                                          r"of type \[\]string$"):
        container_json({"args": "not-a-list"})
    with pytest.raises(SchemaError, match="^json: cannot unmarshal string into Go struct field ResourceRequirements."
                                          "resources.limits of type resource.Quantity: quantities must match"):
        container_json({"resources": {"limits": {"cpu": "lots"}}})
    with pytest.raises(SchemaError, match="^json: cannot unmarshal array into Go struct field Pod.spec of type "
                                          "v1.PodSpec$"):
        normalize_pod({"spec": []})
    with pytest.raises(SchemaError, match="^json: cannot unmarshal string into Go value of type v1.Pod$"):
        normalize_pod("pod")


# What Go's encoding/json refuses in a webhook pod (strict), and what sigs.k8s.io/yaml turns into text or an
# integer for kube-inject (lenient): field path and Go type as Go prints them.
_STRICTNESS = [
    (("spec", "containers", 0, "image"), True, "bool", "Container.spec.containers.image", "string", "true"),
    (("spec", "containers", 0, "image"), 1e300, "number", "Container.spec.containers.image", "string", "+Inf"),
    (("spec", "containers", 0, "image"), 7, "number", "Container.spec.containers.image", "string", "7"),
    (("spec", "containers", 0, "ports", 0, "containerPort"), 80.0, "number 80.0",
     "ContainerPort.spec.containers.ports.containerPort", "int32", 80),
    (("metadata", "labels", "a"), 1.5, "number", "ObjectMeta.metadata.labels", "string", "1.5"),
    (("spec", "containers", 0, "livenessProbe"), {"httpGet": {"port": 8080.0}}, "number 8080.0",
     "HTTPGetAction.spec.containers.livenessProbe.httpGet.port", "int32", {"httpGet": {"port": 8080}}),
]
_ALWAYS_REFUSED = [
    (("spec", "containers", 0, "ports", 0, "containerPort"), 2**40, "number 1099511627776",
     "ContainerPort.spec.containers.ports.containerPort", "int32"),
    (("spec", "containers", 0, "ports", 0, "containerPort"), -(2**31) - 1, "number -2147483649",
     "ContainerPort.spec.containers.ports.containerPort", "int32"),
    (("spec", "securityContext"), {"runAsUser": 2**63}, "number 9223372036854775808",
     "PodSecurityContext.spec.securityContext.runAsUser", "int64"),
    (("spec", "terminationGracePeriodSeconds"), 1e19, "number 1e+19", "PodSpec.spec.terminationGracePeriodSeconds",
     "int64"),
    (("spec", "containers", 0, "ports", 0, "containerPort"), 1.5, "number 1.5",
     "ContainerPort.spec.containers.ports.containerPort", "int32"),
    (("spec", "containers", 0, "ports", 0, "containerPort"), True, "bool",
     "ContainerPort.spec.containers.ports.containerPort", "int32"),
    (("spec", "containers", 0, "livenessProbe"), {"tcpSocket": {"port": 2**31}}, "number 2147483648",
     "TCPSocketAction.spec.containers.livenessProbe.tcpSocket.port", "int32"),
    (("spec", "containers", 0, "tty"), "true", "string", "Container.spec.containers.tty", "bool"),
    (("spec", "containers"), [1], "number", "PodSpec.spec.containers", "v1.Container"),
    (("spec", "containers", 0, "env"), {"a": 1}, "object", "Container.spec.containers.env", "[]v1.EnvVar"),
    (("metadata", "creationTimestamp"), "2024-01-02", "string", "ObjectMeta.metadata.creationTimestamp",
     "v1.Time: not an RFC 3339 time"),
]


def _pod_with(path: tuple, value: object) -> dict:
    pod = {"metadata": {"name": "p", "labels": {"a": "b"}},
           "spec": {"containers": [{"name": "app", "image": "i", "ports": [{"containerPort": 80}]}]}}
    node: Any = pod
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return pod


def _at(pod: dict, path: tuple) -> object:
    for key in path:
        pod = pod[key]
    return pod


@pytest.mark.parametrize(("path", "value", "found", "field", "go_type", "lenient"), _STRICTNESS)
def test_webhook_decode_refuses_what_encoding_json_refuses(path: tuple, value: object, found: str, field: str,
                                                           go_type: str, lenient: object) -> None:
    with pytest.raises(SchemaError) as error:
        decode_pod_json(_pod_with(path, value))
    assert str(error.value) == f"json: cannot unmarshal {found} into Go struct field {field} of type {go_type}"
    assert _at(normalize_pod(_pod_with(path, value)), path) == lenient


@pytest.mark.parametrize(("path", "value", "found", "field", "go_type"), _ALWAYS_REFUSED)
@pytest.mark.parametrize("decode", [decode_pod_json, normalize_pod], ids=["json", "yaml"])
def test_out_of_range_and_wrong_types_are_refused_in_both_modes(decode: Any, path: tuple, value: object, found: str,
                                                               field: str, go_type: str) -> None:
    with pytest.raises(SchemaError) as error:
        decode(_pod_with(path, value))
    assert str(error.value) == f"json: cannot unmarshal {found} into Go struct field {field} of type {go_type}"


def test_integer_limits_and_int_or_string_are_accepted() -> None:
    pod = decode_pod_json(_pod_with(("spec", "containers", 0), {
        "name": "a", "ports": [{"containerPort": 2**31 - 1, "hostPort": -(2**31)}],
        "readinessProbe": {"httpGet": {"port": "http"}}, "livenessProbe": {"tcpSocket": {"port": 8080}},
        "securityContext": {"runAsUser": 2**63 - 1}}))
    container = pod["spec"]["containers"][0]
    assert container["ports"] == [{"hostPort": -(2**31), "containerPort": 2**31 - 1}]
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert container["securityContext"] == {"runAsUser": 2**63 - 1}


def test_webhook_decode_keeps_what_the_apiserver_sends() -> None:
    """Strict decoding changes nothing for well-typed input: same result as the lenient decode."""
    pod = _pod_with(("spec", "containers", 0, "resources"), {"limits": {"cpu": "2"}, "requests": {"cpu": 0.5}})
    pod["metadata"]["creationTimestamp"] = "2024-01-02T03:04:05Z"
    assert orjson.dumps(decode_pod_json(pod)) == orjson.dumps(normalize_pod(pod))


def test_pod_defaults_and_volume_without_source() -> None:
    pod = normalize_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": None},
            "spec": {"volumes": [{"emptyDir": None, "name": "workload-socket"}], "containers": [{"name": "a"}]},
        }
    )
    assert goyaml.dumps(pod) == (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    resources: {}\n"
        "  volumes:\n  - name: workload-socket\nstatus: {}\n"
    )


def test_creation_timestamp_is_kept_when_set_in_utc() -> None:
    pod = normalize_pod({"metadata": {"creationTimestamp": "2024-01-02T03:04:05.123+01:00"}})
    assert pod["metadata"] == {"creationTimestamp": "2024-01-02T02:04:05Z"}


def test_pod_without_containers_prints_null_like_go() -> None:
    assert gojson.dumps(normalize_pod({})) == '{"metadata":{},"spec":{"containers":null},"status":{}}'


_TEMPLATE = {"metadata": {}, "spec": {"containers": None}}
_DAEMON_STATUS = {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}


@pytest.mark.parametrize(
    ("kind", "api_version", "spec", "status"),
    [
        # apps/v1 selectors are non-omitempty pointers: Go prints null.
        ("Deployment", "apps/v1", {"selector": None, "strategy": {}, "template": _TEMPLATE}, {}),
        ("StatefulSet", "apps/v1",
         {"selector": None, "template": _TEMPLATE, "serviceName": "", "updateStrategy": {}},
         {"replicas": 0, "availableReplicas": 0}),
        ("DaemonSet", "apps/v1", {"selector": None, "template": _TEMPLATE, "updateStrategy": {}}, _DAEMON_STATUS),
        ("ReplicaSet", "apps/v1", {"selector": None, "template": _TEMPLATE}, {"replicas": 0}),
        ("ReplicationController", "v1", {}, {"replicas": 0}),
        ("Job", "batch/v1", {"template": _TEMPLATE}, {}),
        ("CronJob", "batch/v1", {"schedule": "", "jobTemplate": {"metadata": {}, "spec": {"template": _TEMPLATE}}}, {}),
    ],
)
def test_zero_fields_per_kind(kind: str, api_version: str, spec: dict, status: dict) -> None:
    out = normalize_object({"kind": kind, "apiVersion": api_version, "metadata": {"name": "x"}})
    assert out == {"kind": kind, "apiVersion": api_version, "metadata": {"name": "x"}, "spec": spec, "status": status}


def test_deployment_config_zero_fields() -> None:
    out = normalize_object({"kind": "DeploymentConfig", "apiVersion": "apps.openshift.io/v1", "spec": {"replicas": 1}})
    assert out["spec"] == {"strategy": {"resources": {}}, "triggers": None, "replicas": 1, "test": False}
    counters = ["latestVersion", "observedGeneration", "replicas", "updatedReplicas", "availableReplicas"]
    assert out["status"] == dict.fromkeys([*counters, "unavailableReplicas"], 0)


def test_list_items_of_known_kinds_are_typed_and_others_stay_raw() -> None:
    service = {"kind": "Service", "apiVersion": "v1", "spec": {"ports": [{"port": 80, "extra": None}]}}
    out = normalize_object({"kind": "List", "apiVersion": "v1", "items": [{"kind": "Pod", "bogus": 1}, service]})
    assert out == {
        "kind": "List",
        "apiVersion": "v1",
        "metadata": {},
        "items": [{"kind": "Pod", "metadata": {}, "spec": {"containers": None}, "status": {}}, service],
    }


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="Service"):
        normalize_object({"kind": "Service"})


def test_inputs_are_not_mutated() -> None:
    pod = {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "2000m"}}}]}}
    normalize_pod(pod)
    assert pod == {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "2000m"}}}]}}


# -- generated decoders against the general algorithm ---------------------------------------------------------

_LEAF_SAMPLES: dict[str, list] = {
    "s": ["x", "", 7, 1.5, 1e6, True, False, None, [1]],
    "i32": [0, 3, 2.0, 2.5, "4", True, None, 2**31, -(2**31), 1e10],
    "i64": [0, -3, 2.0, 2**63, 2**63 - 1, "4", False, None, 1e19],
    "b": [True, False, None, 0, "true"],
    "f": [0, 1.5, 3, None, "1", False],
    "q": ["100m", "1024Mi", "0", 2, 0.5, None, "lots", True],
    "ios": [0, 8080, "http", 2.0, 2.5, None, False],
    "t": ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5+02:00", None, "yesterday", 5, "2024-01-02"],
    "any": [None, {"a": [1, None]}, "raw", 1],
}


def _sample(code: str, rng: random.Random, depth: int) -> object:
    """A value for a field of this kind: mostly well typed, sometimes null, wrongly typed or oddly keyed."""
    if code in _LEAF_SAMPLES:
        return rng.choice(_LEAF_SAMPLES[code])
    if rng.random() < 0.08:
        return rng.choice([None, "wrong", 3, [], {}])
    if code.startswith("*"):
        return _sample(code[1:], rng, depth)
    if code.startswith("[]"):
        items = [_sample(code[2:], rng, depth + 1) for _ in range(rng.randrange(4 if depth < 4 else 1))]
        if items and code[2:] in SCHEMA and rng.random() < 0.5:
            items = [OrderedStruct(i) if isinstance(i, dict) else i for i in items]  # typed input, as re-normalised
        return items
    if code.startswith("{}"):
        keys = rng.sample(["a", "b", "c"], rng.randrange(3)) + ([1] if rng.random() < 0.1 else [])
        return {k: _sample(code[2:], rng, depth + 1) for k in keys}
    return _struct_sample(code, rng, depth + 1)


def _struct_sample(name: str, rng: random.Random, depth: int) -> dict:
    fields = schema._FIELDS[name]
    chosen = rng.sample(fields, min(len(fields), rng.randrange(5))) if depth < 5 else []
    out: dict = {}
    for field, code, *_ in chosen:
        key = field
        roll = rng.random()
        if roll < 0.08:
            key = field.upper()  # case-folded match
        elif roll < 0.12:
            out[field.capitalize()] = _sample(code, rng, depth)  # both spellings: order decides
        out[key] = _sample(code, rng, depth)
    if rng.random() < 0.1:
        out["unknownField"] = 1
    keys = list(out)
    rng.shuffle(keys)
    return {k: out[k] for k in keys}


def _outcome(decode, value) -> object:
    try:
        return orjson.dumps(decode(value))  # order-sensitive, unlike ==
    except SchemaError as exc:
        return str(exc)


@pytest.mark.parametrize("strict", [False, True], ids=["yaml", "json"])
@pytest.mark.parametrize("name", sorted(SCHEMA))
def test_generated_decoders_match_the_interpretive_ones(name: str, strict: bool) -> None:
    """Same output (and key order) as the reference algorithm; the same error, even with several wrong fields."""
    rng = random.Random(name)
    generated, exact = schema._GENERATED[strict][name], schema._INTERPRETED[strict][name]
    for _ in range(150):
        value = _struct_sample(name, rng, 0)
        expected = _outcome(schema.decoder(name, strict=strict), value)
        try:
            reference: object = orjson.dumps(exact(value))
        except (schema._FieldError, schema._KindError):
            reference = None
        assert isinstance(expected, bytes) == isinstance(reference, bytes), value
        if isinstance(expected, bytes):
            assert expected == reference, value
            assert _outcome(generated, value) == expected, value  # decoded without the fallback
    list_code = f"[]{name}"
    if list_code in schema._GENERATED[strict]:
        for _ in range(30):
            items = _sample(list_code, rng, 0)
            try:
                expected = orjson.dumps(schema._INTERPRETED[strict][list_code](items))
            except (schema._FieldError, schema._KindError):
                continue
            assert orjson.dumps(schema._GENERATED[strict][list_code](items)) == expected, items


def test_wide_struct_stops_reading_once_every_key_is_used() -> None:
    volume = normalize_pod({"spec": {"volumes": [{"name": "a"}, {"name": "b", "emptyDir": {}}, {"image": None,
                                                                                              "name": "c"}]}})
    assert volume["spec"]["volumes"] == [{"name": "a"}, {"name": "b", "emptyDir": {}}, {"name": "c"}]
    assert gojson.dumps(normalize_pod({"metadata": {"labels": {"a": "b"}, "name": "n"}})["metadata"]) == \
        '{"name":"n","labels":{"a":"b"}}'


@needs_corpus
def test_corpus_webhook_pods_decode_the_same_with_json_rules() -> None:
    """Every pod of Istio's webhook corpus decodes under encoding/json rules exactly as before: strictness only
    refuses what Go refuses."""
    from tests.conformance import corpus

    pods = [pod for case in corpus.cases() if "golden" in case and case.get("webhook", True)
            for pod, _, _ in corpus.webhook_pairs(case)]
    assert len(pods) > 90
    for pod in pods:
        assert orjson.dumps(decode_pod_json(pod)) == orjson.dumps(normalize_pod(pod))


@pytest.mark.parametrize("strict", [False, True])
def test_long_flat_lists_decode_as_the_reference_decoder_does(strict: bool) -> None:
    """Long lists of flat string maps (env vars) are copied at C speed; every variant must match the reference."""
    rnd = random.Random(7)
    variants = [
        lambda i: {"name": f"V{i}", "value": f"x{i}"},
        lambda i: {"name": f"V{i}", "value": ""},                      # omitempty string dropped
        lambda i: {"value": f"x{i}", "name": f"V{i}"},                 # not in Go order
        lambda i: {"name": f"V{i}"},
        lambda i: {"name": f"V{i}", "value": i},                       # a number: text (lenient) or an error
        lambda i: {"Name": f"V{i}", "value": "x"},                     # case-folded key
        lambda i: {"name": f"V{i}", "value": "x", "other": 1},         # unknown key
        lambda i: {"name": f"V{i}", "valueFrom": {"fieldRef": {"fieldPath": "a"}}},
        lambda i: {"value": "x"},                                      # no name: Go prints ""
    ]
    fast = schema._GENERATED[strict]["core.Pod"]
    reference = schema._INTERPRETED[strict]["core.Pod"]
    for _ in range(60):
        env = [rnd.choice(variants)(i) if rnd.random() < 0.2 else variants[0](i) for i in range(rnd.randint(8, 40))]
        if rnd.random() < 0.5:
            env = [variants[rnd.randrange(len(variants))](i) for i in range(12)] if rnd.random() < 0.3 else env
        pod = {"spec": {"containers": [{"name": "a", "env": env}]}}
        try:
            want = gojson.dumps(reference(pod))
        except (schema._KindError, schema._FieldError):  # the fast path must fail too (decoder() then reports
            with pytest.raises((schema._KindError, schema._FieldError)):  # the reference's error)
                fast(pod)
            continue
        assert gojson.dumps(fast(pod)) == want
