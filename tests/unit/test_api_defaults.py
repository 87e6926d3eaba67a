"""What kube-apiserver adds to a stored pod, so that a freshly rendered sidecar compares equal to a running one."""
from __future__ import annotations

import pytest

from workers.k8s.defaults import TOKEN_MOUNT_PATH, image_pull_policy, with_api_defaults


@pytest.mark.parametrize(("image", "policy"), [
    ("docker.io/istio/proxyv2:1.22.0", "IfNotPresent"),
    ("docker.io/istio/proxyv2:latest", "Always"),
    ("docker.io/istio/proxyv2", "Always"),
    ("registry:5000/proxyv2", "Always"),
    ("registry:5000/proxyv2:1.0", "IfNotPresent"),
    ("proxyv2@sha256:abcd", "IfNotPresent"),
    ("proxyv2:latest@sha256:abcd", "Always"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def rendered() -> dict:
    return {"spec": {
        "initContainers": [{"name": "istio-init", "image": "proxy:1", "resources": {"limits": {"cpu": "2"}}}],
        "containers": [
            {"name": "app", "image": "app:1",
             "volumeMounts": [{"name": "kube-api-access-x1", "mountPath": TOKEN_MOUNT_PATH, "readOnly": True}]},
            {"name": "istio-proxy", "image": "proxy:1", "ports": [{"containerPort": 15090}],
             "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
             "readinessProbe": {"httpGet": {"port": 15021}, "periodSeconds": 15},
             "startupProbe": {"grpc": {"port": 1}},
             "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
             "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "2", "memory": "1Gi"}}}],
        "volumes": [{"name": "kube-api-access-x1", "projected": {"sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
                    {"name": "istio-envoy"}, {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
                    {"name": "host", "hostPath": {"path": "/x"}},
                    {"name": "podinfo", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "x"}}]}}],
    }}


def test_container_probe_and_volume_defaults() -> None:
    pod = with_api_defaults(rendered())
    init, (app, proxy) = pod["spec"]["initContainers"][0], pod["spec"]["containers"]
    assert (proxy["imagePullPolicy"], proxy["terminationMessagePath"], proxy["terminationMessagePolicy"]) == \
        ("IfNotPresent", "/dev/termination-log", "File")
    assert proxy["ports"][0]["protocol"] == "TCP"
    assert proxy["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert proxy["readinessProbe"] == {"httpGet": {"port": 15021, "path": "/", "scheme": "HTTP"}, "periodSeconds": 15,
                                       "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    assert proxy["startupProbe"]["grpc"] == {"port": 1, "service": ""}
    assert proxy["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}
    assert proxy["resources"]["requests"] == {"cpu": "100m", "memory": "1Gi"}  # a limit without request
    assert init["resources"]["requests"] == {"cpu": "2"}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["istio-envoy"]["emptyDir"] == {}
    assert volumes["istiod-ca-cert"]["configMap"]["defaultMode"] == 0o644
    assert volumes["host"]["hostPath"]["type"] == ""
    assert volumes["podinfo"]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"
    projected = volumes["kube-api-access-x1"]["projected"]
    assert projected["defaultMode"] == 0o644
    assert projected["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600
    assert projected["sources"][1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"


def test_every_container_gets_the_token_mount_once() -> None:
    pod = with_api_defaults(rendered())
    mount = {"name": "kube-api-access-x1", "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    assert pod["spec"]["initContainers"][0]["volumeMounts"] == [mount]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [mount]  # already there: not twice
    assert pod["spec"]["containers"][1]["volumeMounts"] == [mount]
    without_token = rendered()
    without_token["spec"]["volumes"].pop(0)
    assert "volumeMounts" not in with_api_defaults(without_token)["spec"]["containers"][1]


def test_idempotent_and_input_untouched() -> None:
    original = rendered()
    once = with_api_defaults(original)
    assert with_api_defaults(once) == once
    assert original == rendered()
    assert once["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    explicit = rendered()
    explicit["spec"]["containers"][1]["imagePullPolicy"] = "Never"
    assert with_api_defaults(explicit)["spec"]["containers"][1]["imagePullPolicy"] == "Never"
