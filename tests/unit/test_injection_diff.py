"""The injection summary: every difference named once, under the aspect an operator looks for."""
from __future__ import annotations

import copy
from typing import Any

from workers.injection_diff import ASPECTS, Change, short, short_pair, summarize, unified_diff

PROXY = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0",
         "env": [{"name": "PROXY_CONFIG", "value": "{}"}, {"name": "POD_NAME",
                                                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
         "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}, "periodSeconds": 15},
         "args": ["proxy", "sidecar"]}
INIT = {"name": "istio-init", "image": "docker.io/istio/proxyv2:1.22.0", "args": ["istio-iptables"]}


def injected_pod() -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "cart", "security.istio.io/tlsMode": "istio"},
                         "annotations": {"istio.io/rev": "default", "sidecar.istio.io/status": "{}"}},
            "spec": {"initContainers": [copy.deepcopy(INIT)],
                     "containers": [{"name": "app", "image": "cart:1"}, copy.deepcopy(PROXY)],
                     "volumes": [{"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}]}}


def texts(changes: list[Change]) -> list[str]:
    return [change.text() for change in changes]


def test_identical_pods_have_no_changes_and_no_diff() -> None:
    assert summarize(injected_pod(), injected_pod()) == []
    assert unified_diff(injected_pod(), injected_pod(), "a", "b") == ""


def test_image_tag_change_names_each_container() -> None:
    after = injected_pod()
    for container in [*after["spec"]["initContainers"], *after["spec"]["containers"][1:]]:
        container["image"] = "docker.io/istio/proxyv2:1.23.1"
    assert texts(summarize(injected_pod(), after)) == [
        "istio-init image: docker.io/istio/proxyv2:1.22.0 -> docker.io/istio/proxyv2:1.23.1",
        "istio-proxy image: docker.io/istio/proxyv2:1.22.0 -> docker.io/istio/proxyv2:1.23.1"]


def test_env_added_removed_and_changed_by_name() -> None:
    after = injected_pod()
    proxy = after["spec"]["containers"][1]
    proxy["env"] = [{"name": "PROXY_CONFIG", "value": '{"concurrency":2}'},
                    {"name": "ISTIO_META_DNS_CAPTURE", "value": "true"}]
    changes = summarize(injected_pod(), after)
    assert {change.aspect for change in changes} == {"env"}
    assert texts(changes) == [
        'istio-proxy env PROXY_CONFIG: {} -> {"concurrency":2}',
        "istio-proxy env ISTIO_META_DNS_CAPTURE: added true",
        'istio-proxy env POD_NAME: removed (was {"fieldRef":{"fieldPath":"metadata.name"}})']


def test_resources_per_quantity() -> None:
    after = injected_pod()
    after["spec"]["containers"][1]["resources"] = {"requests": {"cpu": "200m", "memory": "128Mi"},
                                                   "limits": {"memory": "1Gi"}}
    assert texts(summarize(injected_pod(), after)) == [
        "istio-proxy resources requests.cpu: 100m -> 200m", "istio-proxy resources limits.cpu: removed (was 2)"]


def test_probes_are_their_own_aspect_even_on_app_containers() -> None:
    after = injected_pod()
    after["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"path": "/app-health/app/livez", "port": 15020}}
    after["spec"]["containers"][1]["readinessProbe"]["periodSeconds"] = 5
    changes = summarize(injected_pod(), after)
    assert [(c.aspect, c.subject) for c in changes] == [("probes", "app livenessProbe"),
                                                        ("probes", "istio-proxy readinessProbe")]
    assert changes[0].before is None and changes[0].after == '{"httpGet":{"path":"/app-health/app/livez","port":15020}}'


def test_move_to_a_native_sidecar_is_a_move_not_a_removal() -> None:
    after = injected_pod()
    proxy = after["spec"]["containers"].pop(1)
    proxy["restartPolicy"] = "Always"
    after["spec"]["initContainers"].append(proxy)
    changes = summarize(injected_pod(), after)
    assert [(c.aspect, c.subject, c.before, c.after) for c in changes] == [
        ("native-sidecar", "istio-proxy placement", "containers", "initContainers")]


def test_containers_added_and_removed_with_their_image() -> None:
    after = injected_pod()
    after["spec"]["initContainers"] = [{"name": "istio-validation", "image": "proxyv2:1"}]
    assert texts(summarize(injected_pod(), after)) == [
        "init container istio-validation: added proxyv2:1",
        "init container istio-init: removed (was docker.io/istio/proxyv2:1.22.0)"]
    plain = {"metadata": {}, "spec": {"containers": [{"name": "app", "image": "cart:1"}]}}
    added = summarize(plain, injected_pod())
    assert ("containers", "container istio-proxy") in [(c.aspect, c.subject) for c in added]
    assert ("annotations", "annotation istio.io/rev") in [(c.aspect, c.subject) for c in added]


def test_annotations_labels_volumes_and_other_fields() -> None:
    after = injected_pod()
    after["metadata"]["annotations"]["istio.io/rev"] = "canary"
    after["metadata"]["labels"]["service.istio.io/canonical-revision"] = "v2"
    after["spec"]["volumes"][0]["emptyDir"] = {}
    after["spec"]["containers"][1]["args"] = ["proxy", "sidecar", "--concurrency", "2"]
    after["spec"]["dnsConfig"] = {"options": [{"name": "ndots", "value": "2"}]}
    changes = summarize(injected_pod(), after)
    assert [(c.aspect, c.subject) for c in changes] == [
        ("annotations", "annotation istio.io/rev"), ("labels", "label service.istio.io/canonical-revision"),
        ("volumes", "volume istio-envoy"), ("other", "istio-proxy args"), ("other", "spec.dnsConfig")]
    assert changes[0].before == "default" and changes[0].after == "canary"


def test_order_changes_are_reported() -> None:
    after = injected_pod()
    after["spec"]["containers"].reverse()
    assert [(c.aspect, c.subject) for c in summarize(injected_pod(), after)] == [("containers", "containers order")]
    env_swapped = injected_pod()
    env_swapped["spec"]["containers"][1]["env"].reverse()
    assert [c.subject for c in summarize(injected_pod(), env_swapped)] == ["istio-proxy env order"]


def test_summary_follows_aspect_order() -> None:
    after = injected_pod()
    after["spec"]["containers"][1]["args"] = ["x"]
    after["metadata"]["annotations"]["new"] = "1"
    after["spec"]["containers"][1]["image"] = "proxy:2"
    aspects = [c.aspect for c in summarize(injected_pod(), after)]
    assert aspects == sorted(aspects, key=ASPECTS.index) == ["image", "annotations", "other"]


def test_long_values_are_cut_around_their_first_difference() -> None:
    status = '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["a","b","c","d","e"],' \
             '"imagePullSecrets":null,"revision":"%s"}'
    before, after = short_pair(status % "default", status % "canary")
    assert before.startswith("...") and before.endswith('"revision":"default"}')
    assert after.endswith('"revision":"canary"}') and len(after) <= 72
    assert short("a\nb") == "a\\nb" and short({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert len(short("x" * 500)) == 72


def test_unified_diff_is_kubernetes_yaml_with_labels() -> None:
    after = injected_pod()
    after["spec"]["containers"][1]["image"] = "docker.io/istio/proxyv2:1.23.0"
    diff = unified_diff(injected_pod(), after, "shop/Deployment/cart (default)", "shop/Deployment/cart (canary)")
    assert diff.startswith("--- shop/Deployment/cart (default)\n+++ shop/Deployment/cart (canary)\n@@ ")
    assert "-    image: docker.io/istio/proxyv2:1.22.0\n+    image: docker.io/istio/proxyv2:1.23.0\n" in diff


def test_change_json_carries_its_text() -> None:
    change = Change("image", "istio-proxy image", "a:1", "a:2")
    assert change.as_json() == {"aspect": "image", "subject": "istio-proxy image", "before": "a:1", "after": "a:2",
                                "text": "istio-proxy image: a:1 -> a:2"}
