"""Un-injection: from a running pod back to the pod the user wrote, so that injecting it again shows staleness."""
from __future__ import annotations

import json

import orjson
import pytest

from injector.decision import should_inject
from tests.conformance import corpus
from workers.errors import InjectionError
from workers.post.probes import restore_app_probes
from workers.post.prometheus import user_scrape_annotations
from workers.strip import OVERRIDES_ANNOTATION, STATUS_ANNOTATION
from workers.uninject import un_inject

STATUS = json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                     "volumes": ["istio-envoy", "istio-token"], "imagePullSecrets": ["istio-pull"],
                     "revision": "default"})
PROBERS = {"/app-health/app/readyz": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTPS"}},
           "/app-health/app/livez": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 3},
           "/app-lifecycle/app/prestopz": {"httpGet": {"path": "/stop", "port": 8080}}}


def running_pod() -> dict:
    """An injected pod as stored: agent probes, agent scrape annotations, injected volumes and pull secret."""
    agent = {"path": "/app-health/app/readyz", "port": 15020, "scheme": "HTTP"}
    return {
        "metadata": {"name": "cart-1", "annotations": {
            STATUS_ANNOTATION: STATUS, "prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/scrape": "true", "team": "shop"}},
        "spec": {
            "initContainers": [{"name": "istio-init", "image": "proxy:1"}],
            "containers": [
                {"name": "app", "image": "cart:1",
                 "readinessProbe": {"httpGet": agent, "periodSeconds": 5},
                 "livenessProbe": {"httpGet": {"path": "/app-health/app/livez", "port": 15020}, "timeoutSeconds": 3},
                 "startupProbe": {"exec": {"command": ["true"]}},
                 "lifecycle": {"preStop": {"httpGet": {"path": "/app-lifecycle/app/prestopz", "port": 15020}}}},
                {"name": "istio-proxy", "image": "proxy:1", "env": [
                    {"name": "ISTIO_KUBE_APP_PROBERS", "value": json.dumps(PROBERS)},
                    {"name": "ISTIO_PROMETHEUS_ANNOTATIONS",
                     "value": '{"scrape":"true","path":"/metrics","port":"9090"}'}]}],
            "volumes": [{"name": "data"}, {"name": "istio-envoy"}, {"name": "istio-token"}],
            "imagePullSecrets": [{"name": "mine"}, {"name": "istio-pull"}]}}


def test_everything_the_status_names_goes_and_the_users_parts_come_back() -> None:
    original = running_pod()
    user = un_inject(original, 15020)
    spec = user["spec"]
    assert [c["name"] for c in spec["containers"]] == ["app"] and spec["initContainers"] == []
    assert spec["volumes"] == [{"name": "data"}] and spec["imagePullSecrets"] == [{"name": "mine"}]
    assert user["metadata"]["annotations"] == {"team": "shop", "prometheus.io/scrape": "true",
                                               "prometheus.io/path": "/metrics", "prometheus.io/port": "9090"}
    app = spec["containers"][0]
    assert app["readinessProbe"] == {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTPS"},
                                     "periodSeconds": 5}
    assert app["livenessProbe"] == {"tcpSocket": {"port": 8080}, "timeoutSeconds": 3}
    assert app["startupProbe"] == {"exec": {"command": ["true"]}}
    assert app["lifecycle"]["preStop"] == {"httpGet": {"path": "/stop", "port": 8080}}
    assert original == running_pod()  # the input is not modified


def test_a_pod_without_injection_is_returned_as_it_is() -> None:
    plain = {"metadata": {"annotations": {"a": "b"}}, "spec": {"containers": [{"name": "app"}]}}
    assert un_inject(plain, 15020) is plain
    broken = {"metadata": {"annotations": {STATUS_ANNOTATION: "not json"}}, "spec": {}}
    assert un_inject(broken, 15020) is broken


def test_overrides_come_back_as_containers_and_the_annotation_goes() -> None:
    pod = running_pod()
    custom = {"name": "istio-proxy", "resources": {"limits": {"cpu": "3"}}}
    pod["metadata"]["annotations"][OVERRIDES_ANNOTATION] = orjson.dumps({"containers": [custom]}).decode()
    user = un_inject(pod, 15020)
    assert user["spec"]["containers"][-1] == custom
    assert OVERRIDES_ANNOTATION not in user["metadata"]["annotations"]


def test_probes_that_were_never_rewritten_stay() -> None:
    pod = running_pod()
    pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/own", "port": 15020}}
    assert restore_app_probes(pod)["spec"]["containers"][0]["readinessProbe"] == \
        {"httpGet": {"path": "/own", "port": 15020}}
    no_record = running_pod()
    no_record["spec"]["containers"][1]["env"] = []
    assert restore_app_probes(no_record) is no_record


def test_scrape_annotations_from_the_agent_env() -> None:
    def with_env(value: str) -> dict:
        return {"spec": {"containers": [{"name": "istio-proxy", "env": [
            {"name": "ISTIO_PROMETHEUS_ANNOTATIONS", "value": value}]}]}}

    assert user_scrape_annotations(with_env('{"scrape":"","path":"","port":"8080"}')) == \
        {"prometheus.io/port": "8080"}
    targets = '{"scrape":"true","path":"/a","port":"1","targets":[{"port":"1","path":"/a"},{"port":"2","path":"/b"}]}'
    assert user_scrape_annotations(with_env(targets)) == {"prometheus.io/scrape": "true",
                                                          "prometheus.istio.io/scrape-targets": "1:/a,2:/b"}
    assert user_scrape_annotations(with_env("not json")) == {}
    assert user_scrape_annotations({"spec": {"containers": [{"name": "app"}]}}) == {}


@pytest.mark.skipif(not corpus.available(), reason=corpus.MISSING_REASON)
def test_reinjecting_the_recovered_pod_gives_the_same_pod_for_every_corpus_case() -> None:
    """Istio's 98 webhook cases: inject, un-inject, inject again: identical, so a current pod is never stale."""
    checked = 0
    for case in corpus.cases():
        if "expect_error" in case:
            continue
        injector = corpus.injector_for(case, istio_templates=True, webhook=True)
        cluster = corpus.cluster_for(case)
        status_port = injector.config.mesh["defaultConfig"]["statusPort"]
        for pod, namespace, _ in corpus.webhook_pairs(case):
            annotations = (pod.get("metadata") or {}).get("annotations") or {}
            if STATUS_ANNOTATION in annotations or not should_inject(pod, injector.config.config, namespace).inject:
                continue  # an input injected by an older template re-injects to something else, by design
            facts = cluster.facts_for(pod, namespace, "default", {})
            try:
                first = injector.inject_pod(pod, facts).pod
            except InjectionError:
                continue
            again = injector.inject_pod(un_inject(first, status_port), facts).pod
            assert again == first, (case["input"], corpus._dict_difference(again, first))
            checked += 1
    assert checked >= 80
