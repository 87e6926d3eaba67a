"""Reading a large review only up to its pod's spec gives what the full decode gives, or gives up."""
from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from injector import admission
from injector.lazy_review import read_lazily


def _pod(**spec: Any) -> dict[str, Any]:
    """A pod as the apiserver writes it: kind, apiVersion, metadata (managedFields too), spec, status."""
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"generateName": "web-7b9c5d-", "namespace": "shop",
                     "labels": {"app": "web", "pod-template-hash": "7b9c5d"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                     '{"spec":{"hostNetwork":true,"nodeName":"n1"}}'},
                     "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                                        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
        "spec": {"containers": [{"name": "web", "image": "web:1",
                                 "env": [{"name": f"E{i}", "value": f"v{i}"} for i in range(2000)]}], **spec},
        "status": {},
    }


def _review(pod: Any, *, version: str = "v1", uid: str = "7e1c-uid") -> dict[str, Any]:
    """Go's field order of an AdmissionReview from kube-apiserver."""
    return {
        "kind": "AdmissionReview", "apiVersion": f"admission.k8s.io/{version}",
        "request": {
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "shop",
            "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                                                "groups": ["system:serviceaccounts"]},
            "object": pod, "oldObject": None, "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def _same_as_full_decode(body: bytes) -> admission.AdmissionRequest:
    lazy = read_lazily(body)
    assert lazy is not None
    full = admission.decode_review(body)
    assert full.pod is not None and lazy.pod is not None
    assert lazy.pod_in_review and lazy.pod["spec"] == {} and "metadata" in lazy.pod
    assert lazy.pod == {**{key: full.pod[key] for key in lazy.pod}, "spec": {}}  # the pod up to its spec
    assert dataclasses.replace(lazy, pod=None, pod_in_review=False) == dataclasses.replace(full, pod=None)
    return lazy


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_an_apiserver_review_is_read_up_to_the_pod_spec(version: str) -> None:
    lazy = _same_as_full_decode(orjson.dumps(_review(_pod(), version=version)))
    assert lazy.api_version == f"admission.k8s.io/{version}" and lazy.uid == "7e1c-uid" and lazy.is_pod_create


def test_whitespace_escapes_and_a_label_named_spec_do_not_matter() -> None:
    pod = _pod()
    pod["metadata"]["labels"]["spec"] = "x"
    pod["metadata"]["annotations"]["note"] = 'a "spec": {} \u00e9 \\ \n'
    body = orjson.dumps(_review(pod, uid="u\u00e9\"x"), option=orjson.OPT_INDENT_2)
    assert _same_as_full_decode(body).uid == 'u\u00e9"x'


@pytest.mark.parametrize("spec", [{"hostNetwork": True}, {"hostNetwork": False}, {"nodeName": "node-1"}])
def test_a_spec_field_the_front_end_reads_needs_the_full_decode(spec: dict[str, Any]) -> None:
    assert read_lazily(orjson.dumps(_review(_pod(**spec)))) is None


def _reordered(review: dict[str, Any], path: tuple[str, ...], first: str) -> dict[str, Any]:
    """``review`` with the key ``first`` of the object at ``path`` moved to the front."""
    parent = review
    for key in path:
        parent = parent[key]
    moved = {first: parent[first], **{k: v for k, v in parent.items() if k != first}}
    parent.clear()
    parent.update(moved)
    return review


@pytest.mark.parametrize(("path", "first"), [
    ((), "request"),  # kind and apiVersion after the pod
    (("request",), "object"),  # uid and the rest after the pod
    (("request", "object"), "spec"),  # metadata after the spec
    (("request", "object"), "status"),
])
def test_fields_after_the_pod_or_its_spec_give_up_unless_unused(path: tuple[str, ...], first: str) -> None:
    body = orjson.dumps(_reordered(_review(_pod()), path, first))
    if first == "status":  # the pod's status is not read: still fine
        _same_as_full_decode(body)
    else:
        assert read_lazily(body) is None
        admission.decode_review(body)  # which the full decode reads


def test_a_request_field_after_the_pod_gives_up() -> None:
    review = _review(_pod())
    operation = review["request"].pop("operation")
    review["request"]["operation"] = operation  # after object: a full decode would see it, a cut would not
    assert read_lazily(orjson.dumps(review)) is None


@pytest.mark.parametrize("body", [
    b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v2","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":{"metadata":{},"spec":{}}}}',  # unknown version
    b'{"kind":"Pod","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":{"metadata":{},"spec":{}}}}',  # not a review
    b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7,"kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":{"metadata":{},"spec":{}}}}',  # uid not a string
    b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":{"metadata":{"labels":{"a":1}},"spec":{}}}}',  # bad labels
    b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":{"metadata":{},"spec":[]}}}',  # spec not an object
    b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":null,"x":{"spec":{}}}}',  # no pod
    b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","userInfo":{"extra":{"object":["x"]}},"object":{"metadata":{},'
    b'"spec":{}}}}',  # "object" first met inside userInfo
    b'{"kind":"AdmissionReview" "apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"kind":"Pod"},'
    b'"namespace":"n","operation":"CREATE","object":{"metadata":{},"spec":{}}}}',  # malformed head
    b'["object":{"metadata":{},"spec":{}}]',
    b'',
])
def test_what_the_cuts_cannot_read_exactly_is_left_to_the_full_decode(body: bytes) -> None:
    assert read_lazily(body) is None


def test_only_the_head_is_checked_the_worker_decodes_the_rest() -> None:
    body = orjson.dumps(_review(_pod()))
    damaged = body.replace(b'"dryRun":false', b'"dryRun":fals')  # a broken tail: the full decode refuses it
    with pytest.raises(admission.ReviewError):
        admission.decode_review(damaged)
    lazy = read_lazily(damaged)
    assert lazy is not None and lazy.uid == "7e1c-uid"  # the worker's decode refuses it, with the uid


def test_occurs_after_agrees_with_bytes_find() -> None:
    """The spec-field check's substring search (libc ``memmem``) answers exactly as ``bytes.find`` would, at the
    edges too: needle at the start offset, straddling it, at the very end, start at or past the end."""
    import random

    from injector.lazy_review import occurs_after

    rnd = random.Random(11)
    for _ in range(2000):
        body = bytes(rnd.choice(b'abN"') for _ in range(rnd.randint(0, 40)))
        needle = bytes(rnd.choice(b'abN"') for _ in range(rnd.randint(1, 4)))
        start = rnd.randint(0, len(body) + 2)
        assert occurs_after(body, needle, start) == (body.find(needle, start) >= 0), (body, needle, start)
    body = b'{"spec":{"containers":[]},"x":"hostNetwork"}'
    assert occurs_after(body, b"hostNetwork", body.index(b"hostNetwork"))
    assert not occurs_after(body, b"hostNetwork", body.index(b"hostNetwork") + 1)
    assert not occurs_after(body, b"nodeName", 0)
