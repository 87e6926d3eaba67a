"""Malformed pods never crash the pipeline: every failure is an InjectionError with a message.

Seeded random mutations of a valid pod (wrong types at any depth, hostile annotation values) go through
``Injector.inject_admission``; a success must return a JSON Patch, a failure must be an InjectionError, never another
exception (which the webhook would have to report as an internal error).
"""
from __future__ import annotations

import random

import orjson
import pytest

from tests.malformed_pods import BASE, mutated
from workers.config.snapshot import build_revision_config
from workers.errors import InjectionError
from workers.facts import RequestFacts
from workers.render import Injector

@pytest.fixture(scope="module")
def injector() -> Injector:
    return Injector(build_revision_config(None, None, None))


@pytest.mark.parametrize("seed", range(4))
def test_malformed_pods_fail_cleanly(injector: Injector, seed: int) -> None:
    rnd = random.Random(seed)
    facts = RequestFacts(namespace="ns", native_sidecars=bool(seed % 2))
    outcomes = {"patched": 0, "refused": 0}
    for _ in range(150):
        pod = mutated(rnd)
        try:
            patch = orjson.loads(injector.inject_admission(orjson.dumps(pod), facts))
        except InjectionError as exc:
            assert str(exc), pod
            outcomes["refused"] += 1
        else:
            assert isinstance(patch, list), pod
            outcomes["patched"] += 1
    assert outcomes["patched"] and outcomes["refused"]  # the mutations exercise both paths


def test_wrong_type_is_reported_as_a_decode_error(injector: Injector) -> None:
    pod = orjson.loads(orjson.dumps(BASE))
    pod["spec"]["containers"][0]["ports"] = [80]
    with pytest.raises(InjectionError, match="could not decode pod: .*ports"):
        injector.inject_admission(orjson.dumps(pod), RequestFacts())


@pytest.mark.parametrize("key", ["sidecar.istio.io/userVolume", "sidecar.istio.io/userVolumeMount"])
@pytest.mark.parametrize("value", ["[1, 2]", '{"v": "x"}', '{"v": 5}', "not json", '"text"'])
def test_user_volume_annotations_must_be_objects_of_objects(injector: Injector, key: str, value: str) -> None:
    pod = orjson.loads(orjson.dumps(BASE))
    pod["metadata"]["annotations"] = {key: value}
    with pytest.raises(InjectionError, match=f"{key} must be a JSON object whose values are objects"):
        injector.inject_admission(orjson.dumps(pod), RequestFacts(namespace="ns"))


@pytest.mark.parametrize(("key", "value", "field"), [
    ("sidecar.istio.io/userVolume", '{"v": {"emptyDir": 5}}', "Volume.spec.volumes.emptyDir"),
    ("sidecar.istio.io/userVolumeMount", '{"v": {"readOnly": "x"}}',
     "VolumeMount.spec.containers.volumeMounts.readOnly"),
    ("proxy.istio.io/overrides", '{"containers": [{"name": "istio-proxy", "image": true}]}', "Container.image"),
])
def test_wrongly_typed_objects_in_annotations_name_the_field(injector: Injector, key: str, value: str,
                                                             field: str) -> None:
    pod = orjson.loads(orjson.dumps(BASE))
    pod["metadata"]["annotations"] = {key: value}
    with pytest.raises(InjectionError, match=f"failed to run injection template: .*json: cannot unmarshal .* "
                                             f"into Go struct field {field} of type"):
        injector.inject_admission(orjson.dumps(pod), RequestFacts(namespace="ns"))


LAUGHS = "".join(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}" if i else "x"] * 10) + "]\n"
                 for i in range(9))


@pytest.mark.parametrize(("annotations", "error"), [
    ({"proxy.istio.io/config": LAUGHS + "proxyMetadata: {k: *i}\n"}, "document contains excessive aliasing"),
    ({"proxy.istio.io/config": "a: &a [1, *a]\n"}, "anchor value contains itself"),
    ({"inject.istio.io/templates": ",".join(["sidecar"] * 10_000)}, "selects more than 64 templates"),
])
def test_annotations_that_would_expand_without_bound_are_refused(injector: Injector, annotations: dict[str, str],
                                                                error: str) -> None:
    pod = orjson.loads(orjson.dumps(BASE))
    pod["metadata"]["annotations"] = annotations
    with pytest.raises(InjectionError, match=error):
        injector.inject_admission(orjson.dumps(pod), RequestFacts(namespace="ns"))


def test_a_whole_review_injects_its_object_as_the_pod_bytes_would(injector: Injector) -> None:
    facts = RequestFacts(namespace="ns")
    review = {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
              "request": {"uid": "u", "operation": "CREATE", "object": BASE, "dryRun": False}}
    assert injector.inject_review(orjson.dumps(review), facts) == injector.inject_admission(orjson.dumps(BASE), facts)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"request": {"object": {"metadata": {}}', "could not decode admission review: "),
    (b'{"request": {"uid": "u"}}', "could not decode pod: not a JSON object"),
    (b'{"request": ["object"]}', "could not decode pod: not a JSON object"),
    (b'[1]', "could not decode pod: not a JSON object"),
])
def test_a_review_without_a_decodable_pod_is_refused_with_a_message(injector: Injector, body: bytes,
                                                                    message: str) -> None:
    with pytest.raises(InjectionError, match=message):
        injector.inject_review(body, RequestFacts(namespace="ns"))
