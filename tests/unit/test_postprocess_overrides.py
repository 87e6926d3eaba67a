"""User-customised injected containers (§6.3) and the whole ``post_process`` driver."""
from __future__ import annotations

import json

import pytest

from workers.errors import InjectionError
from workers.postprocess import (adjust_init_container_user, apply_prometheus_merge, post_process,
                                 reapply_overwritten_containers)

TEMPLATE = {"spec": {"initContainers": [{"name": "istio-validation"}], "containers": [{"name": "istio-proxy"}]}}


def merged_pod(extra_annotations=None):
    return {"metadata": {"annotations": dict(extra_annotations or {})},
            "spec": {"initContainers": [{"name": "istio-validation", "image": "proxy:1",
                                         "args": ["istio-iptables", "-u", "1337"]}],
                     "containers": [{"name": "istio-proxy", "image": "proxy:1", "args": ["proxy", "sidecar"],
                                     "env": [{"name": "A", "value": "1"}],
                                     "securityContext": {"runAsUser": 1337, "runAsGroup": 1337}},
                                    {"name": "app", "image": "app:1"}]}}


def user_pod(annotations=None):
    return {"metadata": {"annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": "app", "image": "app:1"},
                                    {"name": "istio-proxy", "image": "auto", "args": ["custom"],
                                     "env": [{"name": "B", "value": "2"}]}]}}


def proxy(pod):
    return next(c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy")


def test_user_fields_win_and_are_recorded():
    merged, original = merged_pod(), user_pod()
    out = reapply_overwritten_containers(merged, original, TEMPLATE, {})
    assert proxy(out)["image"] == "proxy:1"
    assert proxy(out)["args"] == ["custom"]
    assert [e["name"] for e in proxy(out)["env"]] == ["B", "A"]
    assert out["metadata"]["annotations"]["proxy.istio.io/overrides"] == \
        '{"containers":[{"name":"istio-proxy","args":["custom"],"env":[{"name":"B","value":"2"}],"resources":{}}]}'
    assert proxy(merged)["args"] == ["proxy", "sidecar"]


def test_reinjected_containers_not_reapplied_nor_recorded():
    status = json.dumps({"containers": ["istio-proxy"], "initContainers": ["istio-validation"]})
    out = reapply_overwritten_containers(merged_pod(), user_pod({"sidecar.istio.io/status": status}), TEMPLATE, {})
    assert proxy(out)["args"] == ["proxy", "sidecar"]
    assert "proxy.istio.io/overrides" not in out["metadata"]["annotations"]


def test_overrides_annotation_used_before_pod_containers():
    overrides = json.dumps({"containers": [{"name": "istio-proxy", "args": ["from-annotation"]}]})
    original = user_pod({"proxy.istio.io/overrides": overrides, "sidecar.istio.io/status": "{}"})
    out = reapply_overwritten_containers(merged_pod(), original, TEMPLATE, {})
    assert proxy(out)["args"] == ["from-annotation"]
    with pytest.raises(InjectionError):
        reapply_overwritten_containers(merged_pod(), user_pod({"proxy.istio.io/overrides": "{"}), TEMPLATE, {})


def with_user_security(context):
    original = user_pod()
    proxy(original)["securityContext"] = context
    return original


def test_validation_container_follows_user_uid_gid():
    out = adjust_init_container_user(merged_pod(), with_user_security({"runAsUser": 1000, "runAsGroup": 2000}), {})
    init = out["spec"]["initContainers"][0]
    assert init["securityContext"] == {"runAsUser": 1000, "runAsGroup": 2000}
    assert init["args"] == ["istio-iptables", "-u", "1000"]


def test_tproxy_forces_root_proxy():
    merged = merged_pod({"sidecar.istio.io/interceptionMode": "TPROXY"})
    out = adjust_init_container_user(merged, with_user_security({"runAsUser": 1000}), {})
    assert proxy(out)["securityContext"]["runAsUser"] == 0
    assert "securityContext" not in out["spec"]["initContainers"][0]
    assert proxy(merged)["securityContext"]["runAsUser"] == 1337


def test_nothing_to_adjust_returns_input():
    merged = merged_pod()
    assert adjust_init_container_user(merged, user_pod(), {}) is merged


def test_post_process_end_to_end():
    original = {"metadata": {"annotations": {"prometheus.io/port": "8080"}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
    merged = {"metadata": {"annotations": {"prometheus.io/port": "8080"}},
              "spec": {"containers": [{"name": "istio-proxy", "image": "proxy:1"}, {"name": "app", "image": "app:1"}],
                       "initContainers": [{"name": "istio-init"}]}}
    template = {"spec": {"containers": [{"name": "istio-proxy"}], "initContainers": [{"name": "istio-init"}]}}
    out = post_process(merged, original=original, template_pod=template,
                       mesh={"defaultConfig": {"statusPort": 15020}}, values={}, revision="default",
                       path_env={"ISTIO_META_NETWORK": "n1"}, injected_annotations={}, proxy_config={})
    assert [c["name"] for c in out["spec"]["containers"]] == ["app", "istio-proxy"]
    assert out["metadata"]["labels"] == {"topology.istio.io/network": "n1"}
    assert [e["name"] for e in proxy(out)["env"]] == ["ISTIO_META_NETWORK", "ISTIO_PROMETHEUS_ANNOTATIONS"]
    assert out["metadata"]["annotations"]["sidecar.istio.io/status"] == (
        '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":null,"imagePullSecrets":null,'
        '"revision":"default"}')
    assert merged["spec"]["containers"][0]["name"] == "istio-proxy"
    assert apply_prometheus_merge(merged, {"defaultConfig": {"statusPort": 15020}}) is not merged
