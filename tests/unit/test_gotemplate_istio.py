"""Istio's real injection templates translate, compile through ``compile_templates(..., 'go')`` and render.

Uses the conformance corpus beside the repository (skipped when it is absent): every chart template and every
config's ``templates:`` (custom ones included), rendered with a realistic sidecar data dict built from that
config's values.json and mesh.yaml.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.templates.jinja import CompiledTemplates, compile_templates

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ISTIO = SHARED / "conformance" / "istio"
pytestmark = pytest.mark.skipif(not ISTIO.is_dir(), reason=f"conformance corpus not found at {ISTIO}")

CONFIGS = sorted(p.name for p in (ISTIO / "configs").iterdir()) if ISTIO.is_dir() else []
CHART_TEMPLATES = sorted(p.name for p in (ISTIO / "templates").glob("*.yaml")) if ISTIO.is_dir() else []


def template_data(config: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """Sidecar template data as DESIGN.md describes it (plus the gateway controller's fields, which the
    gateway templates read), from one config's values and mesh."""
    folder = ISTIO / "configs" / config
    values = json.loads((folder / "values.json").read_text(), parse_int=float)
    mesh = yaml.safe_load((folder / "mesh.yaml").read_text()) or {}
    proxy = {"discoveryAddress": "istiod.istio-system.svc:15012", "drainDuration": "45s",
             "terminationDrainDuration": "5s", "statusPort": 15020, "interceptionMode": "REDIRECT",
             "proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}, **(mesh.get("defaultConfig") or {})}
    return {
        "TypeMeta": {"apiVersion": "apps/v1", "kind": "Deployment"},
        "DeploymentMeta": {"name": "hello", "namespace": "default"},
        "ObjectMeta": {"name": "hello", "namespace": "default", "labels": {"app": "hello", "version": "v1"},
                       "annotations": dict(annotations or {})},
        "Spec": {"containers": [{"name": "hello", "image": "fake.docker.io/google-samples/hello-go-gke:1.0",
                                 "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]}],
                 "serviceAccountName": "default", "addresses": [{"value": "10.0.0.1"}]},
        "ProxyConfig": proxy,
        "MeshConfig": {"proxyListenPort": 15001, "proxyInboundListenPort": 15006, **mesh},
        "Values": values,
        "Revision": "default", "NativeSidecars": False, "CompliancePolicy": "",
        "ProxyImage": "registry.istio.io/testing/proxyv2:latest",
        "ProxyInitImage": "registry.istio.io/testing/proxyv2:latest",
        "ProxyUID": 1337, "ProxyGID": 1337, "InboundTrafficPolicyMode": "passthrough",
        # gateway deployment controller data
        "Name": "gw", "Namespace": "default", "UID": "0000-1111", "DeploymentName": "gw-istio",
        "ServiceAccount": "gw-istio", "ServiceType": "LoadBalancer", "GatewayClass": "istio", "ClusterID": "Kubernetes", "KubeVersion": 30,
        "Ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"}],
        "InfrastructureLabels": {"gateway.networking.k8s.io/gateway-name": "gw"}, "InfrastructureAnnotations": {},
        "GatewayNameLabel": "gateway.networking.k8s.io/gateway-name", "ControllerLabel": "istio.io-gateway",
        "AgentgatewayImage": "registry.istio.io/testing/agentgateway:latest",
    }


def config_templates(config: str) -> dict[str, str]:
    return yaml.safe_load((ISTIO / "configs" / config / "config.yaml").read_text())["templates"]


_COMPILED: dict[str, CompiledTemplates] = {}


def compiled_once(name: str, source: str) -> CompiledTemplates:
    """Configs mostly share the chart's templates: compile each distinct text once."""
    if source not in _COMPILED:
        _COMPILED[source] = compile_templates({name: source}, "go")
    return _COMPILED[source]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_config_template_translates_compiles_and_renders(config: str) -> None:
    data = template_data(config)
    for name, source in config_templates(config).items():
        compiled = compiled_once(name, source)
        out = compiled.render(compiled.names[0], data)
        assert out.strip(), name
        docs = [d for d in yaml.safe_load_all(out) if d is not None]  # the output is YAML
        assert docs, name


def test_chart_templates_translate_and_render() -> None:
    sources = {name: (ISTIO / "templates" / name).read_text() for name in CHART_TEMPLATES}
    compiled = compile_templates(sources, "go")
    data = template_data("default")
    for name in CHART_TEMPLATES:
        assert yaml.safe_load_all(compiled.render(name, data)) is not None


def test_sidecar_output_follows_the_data() -> None:
    annotations = {
        "sidecar.istio.io/proxyCPU": "200m", "sidecar.istio.io/interceptionMode": "TPROXY",
        "sidecar.istio.io/userVolume": '{"v1": {"emptyDir": {}}}',
        "sidecar.istio.io/userVolumeMount": '{"v1": {"mountPath": "/v1"}}',
    }
    compiled = compile_templates({"sidecar": config_templates("default")["sidecar"]}, "go")
    pod = yaml.safe_load(compiled.render("sidecar", template_data("default", annotations)))
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"]["service.istio.io/canonical-name"] == "hello"
    assert meta["labels"]["service.istio.io/canonical-revision"] == "v1"
    assert meta["annotations"]["istio.io/rev"] == "default"
    assert meta["annotations"]["kubectl.kubernetes.io/default-container"] == "hello"
    proxy = next(c for c in spec["containers"] if c["name"] == "istio-proxy")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["ISTIO_META_DNS_CAPTURE"] == "true"
    assert env["ISTIO_META_INTERCEPTION_MODE"] == "TPROXY"
    assert json.loads(env["ISTIO_META_POD_PORTS"]) == [{"name": "http", "containerPort": 80, "protocol": "TCP"}]
    assert proxy["resources"]["requests"]["cpu"] == "200m"
    assert {"name": "v1", "emptyDir": {}} in spec["volumes"]
    init = spec["initContainers"][0]
    assert init["args"][init["args"].index("-m") + 1] == "TPROXY"
    assert init["args"][init["args"].index("-u") + 1] == "1337"


def test_custom_templates_of_the_iop_configs() -> None:
    custom = config_templates("iop-custom-template")["custom"]
    out = compile_templates({"custom": custom}, "go").render("custom", template_data("iop-custom-template"))
    assert yaml.safe_load(out)["spec"]["containers"][0]["name"] == "hello"
