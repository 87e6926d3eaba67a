"""Released Istio versions (tests/releases/data, see tests/releases/README.md): each release's injection ConfigMaps
load as a revision, every template in them renders (pod templates through injection, gateway deployment templates
with gateway data), and kube-inject and the webhook path give what that release's own tests expect of istioctl and
istiod (its golden files), byte for byte."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.conformance import corpus
from workers.config.mesh import parse_mesh
from workers.config.model import parse_injector_config
from workers.config.snapshot import build_revision_config
from workers.config.values import parse_values
from workers.facts import RequestFacts
from workers.render import Injector
from workers.templates.jinja import compile_templates

DATA = Path(__file__).with_name("data")
RELEASES: list[dict[str, Any]] = yaml.safe_load((DATA / "cases.yaml").read_text())


def _cases() -> list[Any]:
    out = []
    for release in RELEASES:
        folder = DATA / release["release"]
        zero_timestamps = "creationTimestamp: null" in (folder / release["cases"][0]["golden"]).read_text()
        for case in release["cases"]:
            out.append(pytest.param({
                **case, "name": f"{release['release']}/{Path(case['input']).name}", "root": str(folder),
                "config_dir": folder, "environment": release["environment"], "zero_timestamps": zero_timestamps,
            }, id=f"{release['release']}/{Path(case['input']).name}"))
    return out


CASES = _cases()


def test_every_release_from_1_22_to_1_30_is_here() -> None:
    minors = sorted({int(r["release"].split(".")[1]) for r in RELEASES})
    assert minors == list(range(22, 31))
    assert all(len(r["cases"]) >= 8 for r in RELEASES)


@pytest.mark.parametrize("case", CASES)
def test_kube_inject_gives_what_that_releases_istioctl_gives(case: dict[str, Any]) -> None:
    outcome = corpus.run_kube_inject(case, istio_templates=True)
    assert outcome.byte_identical, outcome.detail


@pytest.mark.parametrize("case", CASES)
def test_webhook_gives_what_that_releases_istiod_gives(case: dict[str, Any]) -> None:
    outcome = corpus.run_webhook(case)
    assert outcome.passed, outcome.detail


def _pod(templates: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "test-ns", "labels": {"app": "p", "version": "v1"},
                         "annotations": {"inject.istio.io/templates": templates}},
            "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]}}


#: Templates Istio's gateway deployment controller renders (with its own data, not a pod's).
DEPLOYMENT_TEMPLATES = {"kube-gateway", "waypoint", "agentgateway"}


def _settings(release: str) -> tuple[str, str, str]:
    folder = DATA / release
    return tuple((folder / name).read_text() for name in ("config.yaml", "values.json", "mesh.yaml"))


@pytest.mark.parametrize("release", [r["release"] for r in RELEASES])
def test_every_pod_template_of_the_release_injects(release: str) -> None:
    config_text, values_text, mesh_text = _settings(release)
    config = parse_injector_config(config_text)
    pod_templates = set(config.templates) - DEPLOYMENT_TEMPLATES
    assert {"sidecar", "gateway", "grpc-simple", "grpc-agent"} <= pod_templates
    injector = Injector(build_revision_config(config_text, values_text, mesh_text, revision=release, config=config,
                                              source=f"release:{release}"))
    for name in sorted(pod_templates):
        result = injector.inject_pod(_pod(name), RequestFacts(namespace="test-ns"))
        status = orjson.loads(result.pod["metadata"]["annotations"]["sidecar.istio.io/status"])
        assert (status["containers"] or []) + (status["initContainers"] or []), \
            f"template {name} of {release} injected nothing"


@pytest.mark.parametrize("release", [r["release"] for r in RELEASES])
def test_every_gateway_deployment_template_of_the_release_renders(release: str) -> None:
    config_text, values_text, mesh_text = _settings(release)
    config = parse_injector_config(config_text)
    names = sorted(DEPLOYMENT_TEMPLATES & set(config.templates))
    assert names
    compiled = compile_templates({n: config.templates[n] for n in names}, "go")
    mesh = parse_mesh(mesh_text)
    data = {"Name": "gw", "Namespace": "ns", "UID": "0000", "DeploymentName": "gw-istio", "ServiceAccount": "gw-istio",
            "Ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "ServiceType": "LoadBalancer",
            "ClusterID": "Kubernetes", "KubeVersion": 31, "Revision": "", "ProxyImage": "proxyv2:1",
            "ProxyConfig": mesh.get("defaultConfig") or {}, "MeshConfig": mesh, "Values": parse_values(values_text),
            "Labels": {"app": "gw"}, "Annotations": {}, "InfrastructureLabels": {}, "InfrastructureAnnotations": {},
            "GatewayNameLabel": "gw", "GatewayClass": "istio", "ControllerLabel": "istio.io-gateway-controller",
            "Spec": {"gatewayClassName": "istio"}, "ObjectMeta": {"name": "gw", "namespace": "ns"},
            "NativeSidecars": False, "AgentgatewayImage": "agentgateway:1"}
    for name in names:
        kinds = [d.get("kind") for d in yaml.safe_load_all(compiled.render(name, data)) if d]
        assert {"ServiceAccount", "Deployment", "Service"} <= set(kinds), (name, kinds)
