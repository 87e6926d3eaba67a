"""Re-injection strip (§6.1) and overrides reinsertion, on small pods and on every golden."""
from __future__ import annotations

import json
import pathlib

import pytest

from tests.unit.test_patch import GOLDENS, pod_templates
from workers.errors import InjectionError
from workers.strip import (OVERRIDES_ANNOTATION, STATUS_ANNOTATION, parse_status, reinsert_overrides,
                           sanitize_label_name, strip_pod)


def pod(annotations, containers=("app", "istio-proxy"), inits=("istio-init",)):
    return {"metadata": {"annotations": dict(annotations)},
            "spec": {"containers": [{"name": n} for n in containers],
                     "initContainers": [{"name": n} for n in inits],
                     "volumes": [{"name": "istio-envoy"}]}}


STATUS = json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"], "volumes": ["istio-envoy"],
                     "imagePullSecrets": None, "revision": "default"})


def test_strips_injected_containers_status_and_agent_prometheus_annotations():
    original = pod({STATUS_ANNOTATION: STATUS, "prometheus.io/port": "15020", "prometheus-io/path": "/stats",
                    "prometheus.istio.io/scrape-targets": "1:/m", "other": "x"})
    stripped = strip_pod(original, 15020)
    assert [c["name"] for c in stripped["spec"]["containers"]] == ["app"]
    assert stripped["spec"]["initContainers"] == []
    assert stripped["spec"]["volumes"] == [{"name": "istio-envoy"}]
    assert stripped["metadata"]["annotations"] == {"other": "x"}
    assert STATUS_ANNOTATION in original["metadata"]["annotations"]
    assert len(original["spec"]["containers"]) == 2


def test_user_prometheus_port_kept():
    stripped = strip_pod(pod({STATUS_ANNOTATION: STATUS, "prometheus.io/port": "8080"}), 15020)
    assert stripped["metadata"]["annotations"] == {"prometheus.io/port": "8080"}


@pytest.mark.parametrize("status", ["not json", '{"containers": "istio-proxy"}', '[1]', '{"revision": 3}'])
def test_unparseable_status_strips_nothing(status):
    original = pod({STATUS_ANNOTATION: status, "prometheus.io/port": "15020"})
    assert strip_pod(original, 15020) is original


def test_status_parsing_is_go_like():
    assert parse_status("null") == {"initContainers": [], "containers": [], "volumes": [], "imagePullSecrets": [],
                                    "revision": ""}
    assert parse_status('{"Containers": ["a"], "unknown": 1}')["containers"] == ["a"]


def test_sanitize():
    assert sanitize_label_name("prometheus.io/port") == sanitize_label_name("prometheus-io/port") == \
        "prometheus_io_port"


def test_reinsert_overrides_appends_missing_only():
    overrides = json.dumps({"containers": [{"name": "app", "image": "x"}, {"name": "istio-proxy", "image": "auto"}],
                            "initContainers": [{"name": "istio-init"}]})
    original = pod({OVERRIDES_ANNOTATION: overrides}, containers=("app",), inits=())
    out = reinsert_overrides(original)
    assert out["spec"]["containers"] == [{"name": "app"}, {"name": "istio-proxy", "image": "auto"}]
    assert out["spec"]["initContainers"] == [{"name": "istio-init"}]
    assert original["spec"]["containers"] == [{"name": "app"}]
    assert reinsert_overrides(pod({})) is not None


@pytest.mark.parametrize("value", ["{bad", '"x"', '{"containers": {"name": "a"}}'])
def test_invalid_overrides_fail(value):
    with pytest.raises(InjectionError):
        reinsert_overrides(pod({OVERRIDES_ANNOTATION: value}))


def golden_pods():
    for golden in sorted(GOLDENS.glob("*.injected")):
        for index, p in enumerate(pod_templates(golden)):
            if STATUS_ANNOTATION in ((p.get("metadata") or {}).get("annotations") or {}):
                yield pytest.param(p, id=f"{golden.name}[{index}]")


@pytest.mark.parametrize("injected", list(golden_pods()))
def test_golden_strip_removes_exactly_the_injected_containers(injected):
    status = json.loads(injected["metadata"]["annotations"][STATUS_ANNOTATION])
    stripped = strip_pod(injected, 15020)
    for field in ("containers", "initContainers"):
        expected = [c["name"] for c in injected["spec"].get(field) or [] if c["name"] not in (status[field] or [])]
        assert [c["name"] for c in stripped["spec"].get(field) or []] == expected
    assert stripped["spec"].get("volumes") == injected["spec"].get("volumes")
    annotations = stripped["metadata"]["annotations"]
    assert STATUS_ANNOTATION not in annotations
    expected = {k: v for k, v in injected["metadata"]["annotations"].items() if k != STATUS_ANNOTATION}
    if expected.get("prometheus.io/port") == "15020":
        expected = {k: v for k, v in expected.items() if not sanitize_label_name(k).startswith("prometheus_io_")}
    assert annotations == expected
