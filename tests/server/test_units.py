"""Pure parts of the server: URL path env, Go durations, the review codec, metrics text, the registry, certs."""
from __future__ import annotations

import base64
import datetime
import stat
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from injector import admission, urlpath
from injector.metrics import InjectorMetrics
from injector.revisions import RevisionRegistry
from tests.server.conftest import run_certs


@pytest.mark.parametrize(("path", "expected"), [
    ("/inject", {}),
    ("/inject/", {}),
    ("/inject/cluster/c1", {"ISTIO_META_CLUSTER_ID": "c1"}),
    ("/inject/net/n1/cluster/c1/", {"ISTIO_META_NETWORK": "n1", "ISTIO_META_CLUSTER_ID": "c1"}),
    ("/inject/foo/bar/odd", {"FOO": "bar"}),
    ("/inject/root/a--slash--b--slash--c", {"ROOT": "a/b/c"}),
    ("/inject/:ENV:net=n1:ENV:cluster=c1:ENV:path=/a/b", {"ISTIO_META_NETWORK": "n1", "ISTIO_META_CLUSTER_ID": "c1",
                                                         "PATH": "/a/b"}),
    ("/inject/:ENV:empty=:ENV:=novalue:ENV:nokey", {"EMPTY": ""}),
    ("/inject/:ENV:x=a--slash--b", {"X": "a--slash--b"}),
    ("/inject//v", {}),
])
def test_inject_envs(path: str, expected: dict[str, str]) -> None:
    assert urlpath.inject_envs(path) == expected


def test_strip_revision() -> None:
    assert urlpath.strip_revision("/rev/canary/inject/cluster/c1", "canary") == "/inject/cluster/c1"
    assert urlpath.inject_envs(urlpath.strip_revision("/rev/canary/inject", "canary")) == {}


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5s", 1.5), ("2h", 7200.0), ("0", 0.0),
    ("", None), ("10", None), ("s", None), ("10x", None), ("1s2", None),
])
def test_go_durations(text: str, seconds: float | None) -> None:
    assert urlpath.parse_go_duration(text) == seconds


def test_request_timeout_falls_back_on_nonsense() -> None:
    assert urlpath.request_timeout("30s", 10.0) == 30.0
    assert urlpath.request_timeout(None, 10.0) == 10.0
    assert urlpath.request_timeout("garbage", 10.0) == 10.0
    assert urlpath.request_timeout("0s", 10.0) == 10.0
    assert urlpath.request_timeout("100000h", 10.0) == 30.0  # the apiserver never waits longer than 30s


def test_decode_review_fields() -> None:
    body = orjson.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {
        "uid": "u", "namespace": "ns", "operation": "CREATE", "kind": {"kind": "Pod"}, "object": {"a": 1}}})
    request = admission.decode_review(body)
    assert request == admission.AdmissionRequest("admission.k8s.io/v1beta1", "u", "ns", "CREATE", "Pod", {"a": 1})
    assert request.is_pod_create


def test_encode_response_key_order_and_patch() -> None:
    body = admission.encode_response("admission.k8s.io/v1", "u", allowed=True, patch=b"[]")
    assert body == (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":'
                    b'{"uid":"u","allowed":true,"patch":"' + base64.b64encode(b"[]") + b'","patchType":"JSONPatch"}}')
    assert admission.encode_response(None, "", allowed=False, message="m") == (
        b'{"response":{"uid":"","allowed":false,"status":{"metadata":{},"message":"m"}}}')


def test_pod_name_uses_generate_name() -> None:
    assert admission.pod_name({"metadata": {"generateName": "web-"}}, "ns") == "ns/web-*"
    assert admission.pod_name({"metadata": {"name": "p", "namespace": "a"}}, "ns") == "a/p"


def test_metrics_exposition() -> None:
    metrics = InjectorMetrics()
    metrics.observe_admission("", "http_error", 'we"ird\n', 0.05)
    for value in (0.1, 2.0, 100.0):
        metrics.observe_admission("default", "injected", "", value)
    body, content_type = metrics.exposition(None)
    text = body.decode()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE sidecar_injection_requests_total counter\nsidecar_injection_requests_total 4.0\n" in text
    assert "sidecar_injection_success_total 3.0\n" in text
    assert 'sidecar_injection_failure_total{type="we\\"ird\\n"} 1.0' in text
    assert 'sidecar_injection_time_seconds_bucket{le="0.1"} 2.0\n' in text
    assert 'sidecar_injection_time_seconds_bucket{le="3.0"} 3.0\n' in text
    assert 'sidecar_injection_time_seconds_bucket{le="60.0"} 3.0\n' in text
    assert 'sidecar_injection_time_seconds_bucket{le="+Inf"} 4.0\n' in text
    assert "sidecar_injection_time_seconds_count 4.0\n" in text
    assert 'sidecar_injector_admissions_total{outcome="injected",revision="default"} 3.0\n' in text
    assert "_created" not in text
    assert text.endswith("\n")


@dataclass(frozen=True)
class _Snap:
    revision: str
    generation: int


def test_registry_swap_tags_and_listeners() -> None:
    registry = RevisionRegistry()
    changes: list[tuple[str, object, object]] = []
    registry.add_listener(lambda rev, old, new: changes.append((rev, old, new)))
    registry.add_listener(lambda rev, old, new: 1 / 0)  # a broken listener does not stop the swap
    first = _Snap("default", registry.next_generation())
    second = _Snap("default", registry.next_generation())
    assert registry.set("default", first) is None
    assert registry.set("default", second) is first
    assert registry.get("default") is second and second.generation > first.generation
    registry.set_tag("stable", "default")
    assert registry.resolve_tag("stable") == "default" and registry.lookup("stable") is second
    assert registry.resolve_tag("other") == "other" and registry.lookup("other") is None
    assert registry.remove("default") is second and registry.get("default") is None
    assert changes == [("default", None, first), ("default", first, second), ("default", second, None)]
    with pytest.raises(ValueError):
        registry.set("canary", first)


def test_certs_command_writes_a_usable_bundle(tmp_path: Path) -> None:
    assert run_certs("--dns-name", "istiod.istio-system.svc", "--dns-name", "10.0.0.1",
                     "--out-dir", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert stat.S_IMODE((tmp_path / "tls.key").stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=300)


def test_certs_command_rejects_half_a_ca(tmp_path: Path) -> None:
    assert run_certs("--dns-name", "x", "--out-dir", str(tmp_path), "--ca-cert-file", "ca.crt") == 2
