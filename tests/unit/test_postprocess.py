"""postProcessPod steps (§6.4, §6.5) on small pods, plus idempotency on the golden pods."""
from __future__ import annotations

import json

import orjson
import pytest

from tests.unit.test_patch import GOLDENS, pod_templates
from workers.errors import InjectionError
from workers.merge import copy_json
from workers.post import prometheus, probes, reorder, status

MESH = {"defaultConfig": {"statusPort": 15020}}
REWRITE = {"sidecarInjectorWebhook": {"rewriteAppHTTPProbe": True}}


def make_pod(annotations=None, containers=None, inits=None):
    spec = {"containers": containers if containers is not None else [{"name": "app"}, {"name": "istio-proxy"}]}
    if inits is not None:
        spec["initContainers"] = inits
    return {"metadata": {"annotations": dict(annotations or {})}, "spec": spec}


def proxy_env(pod):
    for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        if c["name"] == "istio-proxy":
            return c.get("env", [])
    raise AssertionError("no proxy")


# ---------------------------------------------------------------------------- cluster env and metadata


def test_cluster_env_moves_to_end_sorted():
    pod = make_pod(containers=[{"name": "istio-proxy", "env": [
        {"name": "ISTIO_META_NETWORK", "value": "old"}, {"name": "TRUST_DOMAIN", "value": "td"}]}])
    status.overwrite_cluster_info(pod, {"ISTIO_META_NETWORK": "network1", "ISTIO_META_CLUSTER_ID": "c1"})
    assert proxy_env(pod) == [{"name": "TRUST_DOMAIN", "value": "td"}, {"name": "ISTIO_META_CLUSTER_ID", "value": "c1"},
                              {"name": "ISTIO_META_NETWORK", "value": "network1"}]


def test_status_annotation_exact_json_and_metadata():
    template = {"spec": {"initContainers": [{"name": "istio-init"}, {"name": "istio-proxy"}],
                         "volumes": [{"name": "v<1>"}]}}
    assert status.injection_status(template, "") == (
        '{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["v\\u003c1\\u003e"],'
        '"imagePullSecrets":null,"revision":"default"}')
    pod = make_pod()
    status.apply_metadata(pod, template, {"ISTIO_META_NETWORK": "n1"}, "canary",
                          {"sidecar.istio.io/status": "overridden", "x": "y"})
    assert pod["metadata"]["labels"] == {"topology.istio.io/network": "n1"}
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/status": "overridden", "x": "y"}


# ----------------------------------------------------------------------------------------- prometheus


def test_prometheus_merge_moves_user_config_into_proxy_env():
    pod = make_pod({"prometheus.io/scrape": "true", "prometheus-io/port": "8080", "prometheus.io/path": "/m&"})
    prometheus.prometheus_merge(pod, MESH)
    assert pod["metadata"]["annotations"] == {"prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus",
                                              "prometheus.io/scrape": "true"}
    assert proxy_env(pod) == [{"name": "ISTIO_PROMETHEUS_ANNOTATIONS",
                               "value": '{"scrape":"true","path":"/m\\u0026","port":"8080"}'}]


def test_prometheus_targets_and_no_env_without_config():
    pod = make_pod({"prometheus.istio.io/scrape-targets": " 9090 , 9091:/x"})
    prometheus.prometheus_merge(pod, MESH)
    assert proxy_env(pod)[0]["value"] == (
        '{"scrape":"","path":"/metrics","port":"9090",'
        '"targets":[{"port":"9090","path":"/metrics"},{"port":"9091","path":"/x"}]}')
    bare = make_pod()
    prometheus.prometheus_merge(bare, MESH)
    assert proxy_env(bare) == []
    assert bare["metadata"]["annotations"]["prometheus.io/port"] == "15020"


@pytest.mark.parametrize("annotations", [{"prometheus.io/scrape": "false"},
                                         {"prometheus.istio.io/merge-metrics": "false"},
                                         {"prometheus.io/port": "15020", "prometheus.io/path": "/keep"}])
def test_prometheus_merge_skipped(annotations):
    pod = make_pod(annotations)
    prometheus.prometheus_merge(pod, MESH)
    assert pod["metadata"]["annotations"] == annotations


def test_prometheus_merge_disabled_in_mesh():
    pod = make_pod({"prometheus.io/port": "80"})
    prometheus.prometheus_merge(pod, {**MESH, "enablePrometheusMerge": False})
    assert pod["metadata"]["annotations"] == {"prometheus.io/port": "80"}


@pytest.mark.parametrize("annotations,message", [
    ({"prometheus.io/port": "abc"}, 'invalid prometheus scrape configuration: invalid port "abc"'),
    ({"prometheus.io/port": "70000"}, 'invalid prometheus scrape configuration: invalid port "70000"'),
    ({"prometheus.io/port": "015020"}, "invalid prometheus scrape configuration: port 015020 conflicts with agent port"),
    ({"prometheus.io/port": "15090"}, "invalid prometheus scrape configuration: port 15090 is reserved for Istio "
                                      "(Envoy Prometheus (already merged)) and cannot be scraped"),
    ({"prometheus.istio.io/scrape-targets": "8080,x1"}, 'invalid prometheus scrape targets: invalid target port "x1"'),
    ({"prometheus.istio.io/scrape-targets": "+15020"},
     "invalid prometheus scrape targets: target port +15020 conflicts with agent port"),
    ({"prometheus.istio.io/scrape-targets": "15000:/a"},
     "invalid prometheus scrape targets: target port 15000 is reserved for Istio (Envoy admin) and cannot be scraped"),
])
def test_prometheus_errors(annotations, message):
    with pytest.raises(InjectionError) as err:
        prometheus.prometheus_merge(make_pod(annotations), MESH)
    assert str(err.value) == message


def test_empty_target_port_ignored():
    pod = make_pod({"prometheus.istio.io/scrape-targets": ":/x", "prometheus.io/port": "8080"})
    prometheus.prometheus_merge(pod, MESH)
    assert json.loads(proxy_env(pod)[0]["value"]) == {"scrape": "", "path": "", "port": "8080"}


def test_secure_port():
    pod = make_pod(containers=[{"name": "istio-proxy", "env": [{"name": "ENVOY_SECURE_MERGED_METRICS_PORT"},
                                                               {"name": "ENVOY_SECURE_MERGED_METRICS_PORT",
                                                                "value": "15091"}]}])
    prometheus.secure_port(pod)
    assert pod["metadata"]["annotations"] == {"prometheus.istio.io/secure-port": "15091"}
    user = make_pod({"prometheus.istio.io.secure-port": "1"}, containers=pod["spec"]["containers"])
    prometheus.secure_port(user)
    assert user["metadata"]["annotations"] == {"prometheus.istio.io.secure-port": "1"}


# ---------------------------------------------------------------------------------------------- probes


def app_with_probes():
    return {"name": "app", "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"port": "http", "path": "/ready", "scheme": "HTTPS",
                                           "httpHeaders": [{"name": "h", "value": "v"}]}, "timeoutSeconds": 3},
            "livenessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 5},
            "startupProbe": {"grpc": {"port": 9001}},
            "lifecycle": {"preStop": {"httpGet": {"port": "missing", "path": "/stop"}},
                          "postStart": {"exec": {"command": ["x"]}}}}


def test_probe_rewrite_env_and_probes():
    pod = make_pod(containers=[app_with_probes(), {"name": "istio-proxy"}])
    probes.apply_rewrite(pod, MESH, REWRITE)
    value = proxy_env(pod)[0]["value"]
    assert value == (
        '{"/app-health/app/livez":{"tcpSocket":{"port":9000}},'
        '"/app-health/app/readyz":{"httpGet":{"path":"/ready","port":8080,"scheme":"HTTPS",'
        '"httpHeaders":[{"name":"h","value":"v"}]},"timeoutSeconds":3},'
        '"/app-health/app/startupz":{"grpc":{"port":9001,"service":null}}}')
    app = pod["spec"]["containers"][0]
    assert app["readinessProbe"] == {"httpGet": {"port": 15020, "path": "/app-health/app/readyz", "scheme": "HTTP",
                                                 "httpHeaders": [{"name": "h", "value": "v"}]}, "timeoutSeconds": 3}
    assert app["livenessProbe"] == {"httpGet": {"path": "/app-health/app/livez", "port": 15020}, "periodSeconds": 5}
    assert app["startupProbe"] == {"httpGet": {"path": "/app-health/app/startupz", "port": 15020}}
    assert app["lifecycle"]["preStop"] == {"httpGet": {"port": 15020, "path": "/app-lifecycle/app/prestopz"}}
    assert app["lifecycle"]["postStart"] == {"exec": {"command": ["x"]}}


def test_probe_rewrite_disabled_and_annotation_port():
    pod = make_pod(containers=[app_with_probes(), {"name": "istio-proxy"}])
    before = copy_json(pod)
    probes.apply_rewrite(pod, MESH, {})
    assert pod == before
    pod = make_pod({"sidecar.istio.io/rewriteAppHTTPProbers": "true", "status.sidecar.istio.io/port": "x"},
                   containers=[app_with_probes(), {"name": "istio-proxy"}])
    probes.apply_rewrite(pod, MESH, {})
    assert pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 0


def test_probers_merge_on_reinjection():
    existing = [{"name": "ISTIO_KUBE_APP_PROBERS", "value": '{"/app-health/app/readyz":{"httpGet":{"port":1}}}'}]
    merged = probes.merge_or_append_probers(True, existing, '{"/app-health/app/readyz":{"httpGet":{"port":2}},'
                                                            '"/app-health/app/livez":{"httpGet":{"port":3}}}')
    assert merged == [{"name": "ISTIO_KUBE_APP_PROBERS", "value": '{"/app-health/app/livez":{"httpGet":{"port":3}},'
                                                                  '"/app-health/app/readyz":{"httpGet":{"port":1}}}'}]
    assert probes.merge_or_append_probers(False, existing, "{}")[-1] == {"name": "ISTIO_KUBE_APP_PROBERS",
                                                                         "value": "{}"}


# --------------------------------------------------------------------------------------------- reorder


def names(items):
    return [i["name"] for i in items]


def test_reorder_classic_and_native():
    pod = make_pod(containers=[{"name": "istio-proxy"}, {"name": "a"}],
                   inits=[{"name": "istio-init"}, {"name": "u"}, {"name": "enable-core-dump"},
                          {"name": "istio-validation"}])
    reorder.reorder(pod, False)
    assert names(pod["spec"]["containers"]) == ["a", "istio-proxy"]
    assert names(pod["spec"]["initContainers"]) == ["istio-validation", "u", "istio-init", "enable-core-dump"]
    native = make_pod(containers=[{"name": "a"}], inits=[{"name": "u"}, {"name": "enable-core-dump"},
                                                         {"name": "istio-proxy"}, {"name": "istio-init"}])
    reorder.reorder(native, True)
    assert names(native["spec"]["initContainers"]) == ["istio-init", "istio-proxy", "enable-core-dump", "u"]
    held = make_pod(containers=[{"name": "a"}, {"name": "istio-proxy", "x": 1}, {"name": "istio-proxy", "x": 2}])
    reorder.reorder(held, True)
    assert held["spec"]["containers"] == [{"name": "istio-proxy", "x": 2}, {"name": "a"}]


def test_hold_application():
    assert reorder.hold_application({"holdApplicationUntilProxyStarts": True}, {})
    assert reorder.hold_application({}, {"global": {"proxy": {"holdApplicationUntilProxyStarts": True}}})
    assert not reorder.hold_application({}, {})


def test_native_move():
    merged = make_pod(containers=[{"name": "istio-proxy", "image": "auto"}, {"name": "app"}], inits=[{"name": "u"}])
    template = {"spec": {"initContainers": [{"name": "istio-proxy"}]}}
    moved = reorder.move_native_sidecar(merged, template, True)
    assert names(moved["spec"]["containers"]) == ["app"]
    assert names(moved["spec"]["initContainers"]) == ["u", "istio-proxy"]
    assert names(merged["spec"]["containers"]) == ["istio-proxy", "app"]
    assert reorder.move_native_sidecar(merged, template, False) is merged
    opted_in = {**merged, "metadata": {"annotations": {"sidecar.istio.io/nativeSidecar": "true"}}}
    assert names(reorder.move_native_sidecar(opted_in, template, False)["spec"]["initContainers"])[-1] == "istio-proxy"


# ---------------------------------------------------------------------------- golden idempotency


def golden_pods():
    for golden in sorted(GOLDENS.glob("*.injected")):
        for index, p in enumerate(pod_templates(golden)):
            if "sidecar.istio.io/status" in ((p.get("metadata") or {}).get("annotations") or {}):
                yield pytest.param(p, id=f"{golden.name}[{index}]")


@pytest.mark.parametrize("injected", list(golden_pods()))
def test_golden_steps_idempotent(injected):
    annotations = injected["metadata"]["annotations"]
    port = annotations.get("prometheus.io/port", "15020")
    mesh = {"defaultConfig": {"statusPort": int(port) if port.isdigit() else 15020}}
    pod = copy_json(injected)
    before = orjson.dumps(pod)
    prometheus.prometheus_merge(pod, mesh)
    prometheus.secure_port(pod)
    status.overwrite_cluster_info(pod, {})
    probes.apply_rewrite(pod, mesh, REWRITE)
    containers = pod["spec"]["containers"]
    hold = len(containers) > 1 and containers[0]["name"] == "istio-proxy"
    reorder.reorder(pod, hold)
    if "prometheus.io/port" in annotations or annotations.get("prometheus.io/scrape") == "false":
        assert orjson.dumps(pod) == before
    else:
        assert pod["spec"] == orjson.loads(before)["spec"]
