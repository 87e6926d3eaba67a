"""The embedded defaults (workers/defaults): loader, values/mesh/config files, and our Jinja2 templates.

The main check is parity: for the same template data, our Jinja2 template renders the same pod fragment as Istio's
Go template of the same name (``yaml.safe_load`` of both outputs compared). Istio's templates come from the
conformance corpus beside the repository and run through our Go-template translator
(``compile_templates(..., "go")``); both are skipped with a reason when absent. The data varies over every corpus
input pod, every corpus config, native/classic sidecars, and many annotation, values and mesh variations
(CNI, hold, TPROXY, NONE, images, resources, status port, probes, OTEL, FIPS, datadog/lightstep, gateways, gRPC).
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from workers import defaults

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ISTIO = SHARED / "conformance" / "istio"
HAVE_CORPUS = ISTIO.is_dir()

TEMPLATES = ("sidecar", "gateway", "grpc-simple", "grpc-agent")
ISTIO_FILES = {"sidecar": "injection-template.yaml", "gateway": "gateway-injection-template.yaml",
               "grpc-simple": "grpc-simple.yaml", "grpc-agent": "grpc-agent.yaml"}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same data as yaml.safe_load, much faster
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet", "ReplicationController",
                  "DeploymentConfig")


# ---------------------------------------------------------------------------------------------- loader and files

def test_loader_returns_every_template_with_the_shared_macros() -> None:
    sources = defaults.load_default_sources()
    assert tuple(sources) == TEMPLATES
    macros = (Path(defaults.__file__).parent / defaults.MACROS_FILE).read_text()
    for name, source in sources.items():
        assert source.startswith(macros), name
        assert source.endswith(defaults.template_file_source(name)), name
    assert defaults.load_default_sources() is not defaults.load_default_sources()  # callers may mutate their copy


def test_default_values_are_the_chart_defaults_with_a_real_release() -> None:
    from workers.config.values import parse_values

    values = parse_values(defaults.default_values_text())
    assert values["global"]["hub"] == "docker.io/istio"
    assert values["global"]["tag"] == "1.28.0"
    assert values["global"]["proxy"]["statusPort"] == 15020.0 and isinstance(values["global"]["proxy"]["statusPort"], float)
    assert values["pilot"]["cni"]["enabled"] is False
    if HAVE_CORPUS:
        conformance = json.loads((ISTIO / "configs" / "default" / "values.json").read_text())
        ours = json.loads(defaults.default_values_text())
        conformance["global"].update(hub=ours["global"]["hub"], tag=ours["global"]["tag"])
        assert ours == conformance


def test_default_mesh_parses_with_istio_defaults() -> None:
    from workers.config.mesh import load_mesh_mapping, mesh_from_mapping

    mesh = mesh_from_mapping(load_mesh_mapping(defaults.default_mesh_text()))
    assert mesh["trustDomain"] == "cluster.local"
    assert mesh["defaultConfig"]["discoveryAddress"] == "istiod.istio-system.svc:15012"
    assert mesh["defaultConfig"]["statusPort"] == 15020
    assert mesh["enablePrometheusMerge"] is True


def test_default_config_selects_the_jinja_sidecar() -> None:
    raw = yaml.safe_load(defaults.default_config_text())
    assert raw["policy"] == "enabled"
    assert raw["defaultTemplates"] == ["sidecar"]
    assert raw["templateLanguage"] == "jinja2"
    assert "templates" not in raw


def test_default_config_builds_through_the_config_model() -> None:
    model = pytest.importorskip("workers.config.model")
    config = model.config_from_mapping(yaml.safe_load(defaults.default_config_text()),
                                       extra_templates=defaults.load_default_sources())
    assert config.template_language == "jinja2"
    assert tuple(config.default_templates) == ("sidecar",)
    assert set(config.templates) == set(TEMPLATES)


# ---------------------------------------------------------------------------------------------- rendering helpers

def _jinja():
    try:
        from workers.templates.jinja import compile_templates
    except ImportError as exc:  # pragma: no cover - only while the environment module is missing
        pytest.skip(f"workers.templates.jinja is not importable: {exc}")
    return compile_templates


@lru_cache(maxsize=1)
def ours():
    return _jinja()(defaults.load_default_sources(), "jinja2")


@lru_cache(maxsize=1)
def istio():
    compile_templates = _jinja()
    try:
        import workers.templates.gotemplate as gotemplate
        if not hasattr(gotemplate, "translate"):
            raise ImportError("workers.templates.gotemplate.translate is missing")
    except ImportError as exc:
        pytest.skip(f"Go template translator not importable: {exc}")
    return compile_templates({name: (ISTIO / "templates" / f).read_text() for name, f in ISTIO_FILES.items()}, "go")


def _pods(path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload object, pod template) for each injectable document of an input file."""
    found = []
    for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        if kind == "Pod":
            found.append((doc, doc))
        elif kind == "List":
            found.extend(p for item in doc.get("items") or [] for p in _pods_of_object(item))
        else:
            found.extend(_pods_of_object(doc))
    return found


def _pods_of_object(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    kind = doc.get("kind")
    if kind == "CronJob":
        return [(doc, doc["spec"]["jobTemplate"]["spec"]["template"])]
    if kind in WORKLOAD_KINDS:
        return [(doc, doc["spec"]["template"])]
    if kind == "Pod":
        return [(doc, doc)]
    return []


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) and value \
            else value
    return out


@lru_cache(maxsize=None)
def _config_files(config: str) -> tuple[str, str]:
    """(values, raw mesh) of a corpus config as JSON texts; parsed once, copied per use."""
    from workers.config.values import parse_values

    folder = ISTIO / "configs" / config
    values = parse_values((folder / "values.json").read_text())
    mesh = yaml.load((folder / "mesh.yaml").read_text(), Loader=_LOADER) or {}
    return json.dumps(values), json.dumps(mesh)


def template_data(obj: dict[str, Any], pod: dict[str, Any], *, config: str = "default",
                  annotations: dict[str, str] | None = None, values_patch: dict[str, Any] | None = None,
                  mesh_patch: dict[str, Any] | None = None, native: bool = True, compliance: str = "",
                  revision: str = "", proxy_id: int | None = None) -> dict[str, Any]:
    """Realistic template data, built with the pipeline's own helpers as kube-inject would."""
    from workers.config.mesh import mesh_from_mapping
    from workers.template_data import build_template_data, effective_proxy_config
    from workers.workload import WorkloadMeta, workload_of_pod

    values, mesh_raw = _config_files(config)
    values = _merge(json.loads(values), values_patch or {})
    mesh = mesh_from_mapping(_merge(json.loads(mesh_raw), mesh_patch or {}))
    pod = json.loads(json.dumps(pod))
    meta = pod.setdefault("metadata", {})
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    proxy_config = effective_proxy_config(mesh, meta.get("annotations") or {}, webhook=False)
    if obj is pod or obj.get("kind") == "Pod":
        workload = workload_of_pod(pod, "")
    else:
        workload = WorkloadMeta(name=obj["metadata"].get("name", ""), namespace=obj["metadata"].get("namespace", ""),
                                kind=obj["kind"], api_version=obj["apiVersion"])
    return build_template_data(pod=pod, workload=workload, proxy_config=proxy_config, mesh=mesh, values=values,
                               revision=revision, native_sidecars=native, compliance_policy=compliance,
                               webhook=False, proxy_uid=proxy_id, proxy_gid=proxy_id)


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


def compare(name: str, data: dict[str, Any]) -> str | None:
    """None when both agree (or Istio's template itself fails/produces no YAML); else a diff."""
    from workers.templates.errors import TemplateError

    try:
        reference = _load(istio().render(name, data))
    except (TemplateError, yaml.YAMLError):
        return None  # Go fails on this data too (e.g. a nil map access); nothing to match
    try:
        rendered = ours().render(name, data)
    except TemplateError as exc:
        return f"our template failed: {exc}"
    mine = _load(rendered)
    if mine == reference:
        return None
    return "\n".join(difflib.unified_diff(yaml.safe_dump(reference).splitlines(), yaml.safe_dump(mine).splitlines(),
                                          "istio", "ours", lineterm="", n=2))


def _assert_all_match(cases: Iterator[tuple[str, str, dict[str, Any]]]) -> None:
    failures, count = [], 0
    for label, name, data in cases:
        count += 1
        diff = compare(name, data)
        if diff is not None:
            failures.append(f"--- {label} [{name}]\n{diff}")
    assert count
    assert not failures, f"{len(failures)}/{count} renders differ:\n" + "\n".join(failures[:3])


# ---------------------------------------------------------------------------------------------- variations

ANNOTATION_VARIANTS: dict[str, dict[str, str]] = {
    "none": {},
    "tproxy": {"sidecar.istio.io/interceptionMode": "TPROXY"},
    "none-mode": {"sidecar.istio.io/interceptionMode": "NONE"},
    "empty-mode": {"sidecar.istio.io/interceptionMode": ""},
    "image-full": {"sidecar.istio.io/proxyImage": "my.registry/proxy:1"},
    "image-no-slash": {"sidecar.istio.io/proxyImage": "proxy-only"},
    "image-type": {"sidecar.istio.io/proxyImageType": "distroless"},
    "requests": {"sidecar.istio.io/proxyCPU": "200m", "sidecar.istio.io/proxyMemory": "1Gi"},
    "limits": {"sidecar.istio.io/proxyCPULimit": "2", "sidecar.istio.io/proxyMemoryLimit": "2Gi"},
    "mixed-resources": {"sidecar.istio.io/proxyCPU": "1", "sidecar.istio.io/proxyMemoryLimit": "512Mi"},
    "status-port-0": {"status.sidecar.istio.io/port": "0"},
    "status-port-123": {"status.sidecar.istio.io/port": "123"},
    "readiness": {"readiness.status.sidecar.istio.io/initialDelaySeconds": "5",
                  "readiness.status.sidecar.istio.io/periodSeconds": "7",
                  "readiness.status.sidecar.istio.io/failureThreshold": "9"},
    "native-off": {"sidecar.istio.io/nativeSidecar": "false"},
    "native-on": {"sidecar.istio.io/nativeSidecar": "true"},
    "net-bind": {"sidecar.istio.io/capNetBindService": "true"},
    "net-bind-tproxy": {"sidecar.istio.io/capNetBindService": "true", "sidecar.istio.io/interceptionMode": "TPROXY"},
    "traffic": {"traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8",
                "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.1.0.0/16",
                "traffic.sidecar.istio.io/includeInboundPorts": "80,81",
                "traffic.sidecar.istio.io/excludeInboundPorts": "9000, 9001",
                "traffic.sidecar.istio.io/includeOutboundPorts": "443",
                "traffic.sidecar.istio.io/excludeOutboundPorts": "25"},
    "exclude-status-port": {"traffic.sidecar.istio.io/excludeInboundPorts": "15020"},
    "empty-include-ranges": {"traffic.sidecar.istio.io/includeOutboundIPRanges": ""},
    "kubevirt": {"traffic.sidecar.istio.io/kubevirtInterfaces": "net1",
                 "traffic.sidecar.istio.io/excludeInterfaces": "eth9"},
    "reroute": {"istio.io/reroute-virtual-interfaces": "net2,net3",
                "traffic.sidecar.istio.io/kubevirtInterfaces": "net1"},
    "reroute-empty": {"istio.io/reroute-virtual-interfaces": ""},
    "log-levels": {"sidecar.istio.io/logLevel": "debug", "sidecar.istio.io/componentLogLevel": "a:b",
                   "sidecar.istio.io/agentLogLevel": "x:y"},
    "bootstrap": {"sidecar.istio.io/bootstrapOverride": "my-bootstrap"},
    "user-volumes": {"sidecar.istio.io/userVolume": '{"uv1":{"configMap":{"name":"cm"}},"auv":{"emptyDir":{}}}',
                     "sidecar.istio.io/userVolumeMount": '{"uv1":{"mountPath":"/x","readOnly":true},'
                                                         '"auv":{"mountPath":"/y"}}'},
    "default-container": {"kubectl.kubernetes.io/default-container": "other",
                          "kubectl.kubernetes.io/default-logs-container": "other"},
    "multus-list": {"k8s.v1.cni.cncf.io/networks": "net-a, net-b"},
    "multus-json": {"k8s.v1.cni.cncf.io/networks": '[{"name": "x"}]'},
    "datadog": {"apm.datadoghq.com/env": '{"DD_ENV":"prod","DD_SERVICE":"svc","NUM":5}'},
    "hold": {"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"},
    "hold-classic": {"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true",
                     "sidecar.istio.io/nativeSidecar": "false"},
    "hbone": {"proxy.istio.io/config": 'proxyMetadata: {ISTIO_META_ENABLE_HBONE: "true", FOO: bar}'},
    "iptables-trace": {"proxy.istio.io/config": 'proxyMetadata: {IPTABLES_TRACE_LOGGING: "true"}'},
    "proxy-config-tproxy": {"proxy.istio.io/config": "interceptionMode: TPROXY"},
    "lightstep-tls": {"proxy.istio.io/config": "tracing: {tlsSettings: {caCertificates: /etc/ls/ca.pem}}"},
    "otel": {"resource.opentelemetry.io/service.namespace": "shop", "resource.opentelemetry.io/service.version": "v9"},
}

VALUES_VARIANTS: dict[str, dict[str, Any]] = {
    "chart": {},
    "cni": {"pilot": {"cni": {"enabled": True}}},
    "cni-multus": {"pilot": {"cni": {"enabled": True, "provider": "multus"}}},
    "lifecycle": {"global": {"proxy": {"lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}}}}},
    "hold": {"global": {"proxy": {"holdApplicationUntilProxyStarts": True}}},
    "hardened": {"global": {"proxy": {"seccompProfile": {"type": "RuntimeDefault"}, "capNetBindService": True,
                                      "privileged": True}}},
    "pull-gke-mtls": {"global": {"imagePullPolicy": "Always", "imagePullSecrets": ["s1", "s2"],
                                 "caName": "GkeWorkloadCertificate", "mountMtlsCerts": True}},
    "trust-bundle": {"pilot": {"env": {"ENABLE_CLUSTER_TRUST_BUNDLE_API": True}}, "global": {"trustBundleName": "tb"}},
    "multicluster": {"global": {"meshID": "mesh1", "network": "net1", "multiCluster": {"clusterName": "c1"},
                                "logAsJson": True, "sts": {"servicePort": 15463.0},
                                "proxy": {"outlierLogPath": "/dev/stdout", "tracer": "datadog"}}},
    "lightstep": {"global": {"proxy": {"tracer": "lightstep"}}},
    "gateway-security": {"gateways": {"securityContext": {"runAsNonRoot": True, "fsGroup": 1337.0}}},
    "outbound-ports": {"global": {"proxy": {"includeOutboundPorts": "8080", "excludeOutboundPorts": "25,26"}}},
    "external-ca": {"global": {"caAddress": "ca.example:443", "pilotCertProvider": "kubernetes"},
                    "revision": "canary"},
    "no-startup-nft": {"global": {"proxy": {"startupProbe": {"enabled": False}}, "nativeNftables": True,
                                  "proxy_init": {"forceApplyIptables": True}}},
    "cni-crl-nft": {"pilot": {"crlConfigMapName": "mycrl", "cni": {"enabled": True}}, "global": {"nativeNftables": True}},
    "null-resources": {"global": {"proxy": {"resources": {"limits": {"cpu": None, "memory": None},
                                                          "requests": {"cpu": None}}}}},
    "empty-resources": {"global": {"proxy": {"resources": {}}}},
    "status-port-0": {"global": {"proxy": {"statusPort": 0.0}}},
}

MESH_VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "localhost": {"inboundTrafficPolicy": {"mode": "LOCALHOST"}},
    "hold": {"defaultConfig": {"holdApplicationUntilProxyStarts": True}},
    "tproxy": {"defaultConfig": {"interceptionMode": "TPROXY"}},
    "none": {"defaultConfig": {"interceptionMode": "NONE"}},
    "no-trust-domain": {"trustDomain": ""},
    "listen-ports": {"proxyListenPort": 15111, "proxyInboundListenPort": 15112},
    "otel": {"extensionProviders": [{"name": "otel", "opentelemetry": {
        "service": "otel.svc", "port": 4317, "serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS"}}]},
}

VARIATION_INPUTS = ("hello.yaml", "multi-container.yaml")  # one app container with a port; several containers


def _inputs() -> list[str]:
    """Corpus inputs holding at least one pod (some hold only a Service)."""
    if not HAVE_CORPUS:
        return []
    return sorted(p.name for p in (ISTIO / "inject").glob("*.yaml") if _pods(p))


def _configs() -> list[str]:
    return sorted(p.name for p in (ISTIO / "configs").iterdir()) if HAVE_CORPUS else []


needs_corpus = pytest.mark.skipif(not HAVE_CORPUS, reason=f"conformance corpus not found at {ISTIO}")


@needs_corpus
@pytest.mark.parametrize("input_file", _inputs())
def test_every_input_pod_matches_istio(input_file: str) -> None:
    """Each corpus input, default config, native and classic sidecars, all four templates."""
    def cases():
        for obj, pod in _pods(ISTIO / "inject" / input_file):
            for native in (True, False):
                data = template_data(obj, pod, native=native)
                for name in TEMPLATES:
                    yield f"{input_file} native={native}", name, data
    _assert_all_match(cases())


@needs_corpus
@pytest.mark.parametrize("config", _configs())
def test_every_config_matches_istio(config: str) -> None:
    """Each corpus config (its values and mesh) on a few representative pods."""
    def cases():
        for input_file in VARIATION_INPUTS:
            for obj, pod in _pods(ISTIO / "inject" / input_file)[:1]:
                for native in (True, False):
                    data = template_data(obj, pod, config=config, native=native)
                    for name in TEMPLATES:
                        yield f"{input_file} native={native}", name, data
    _assert_all_match(cases())


@needs_corpus
@pytest.mark.parametrize("variant", list(ANNOTATION_VARIANTS))
def test_annotation_variations_match_istio(variant: str) -> None:
    def cases():
        for input_file in VARIATION_INPUTS:
            for obj, pod in _pods(ISTIO / "inject" / input_file)[:1]:
                value_sets = ("chart", "cni-multus", "multicluster") + (("lightstep",) if "lightstep" in variant else ())
                for values in value_sets:
                    for native, compliance in ((True, ""), (False, "fips-140-3")):
                        data = template_data(obj, pod, annotations=ANNOTATION_VARIANTS[variant],
                                             values_patch=VALUES_VARIANTS[values], native=native,
                                             compliance=compliance)
                        for name in TEMPLATES:
                            yield f"{input_file} values={values} native={native}", name, data
    _assert_all_match(cases())


@needs_corpus
@pytest.mark.parametrize("variant", list(VALUES_VARIANTS))
def test_values_variations_match_istio(variant: str) -> None:
    def cases():
        for input_file in VARIATION_INPUTS:
            for obj, pod in _pods(ISTIO / "inject" / input_file)[:1]:
                for native in (True, False):
                    for annotations in ("none", "none-mode", "status-port-0"):
                        data = template_data(obj, pod, values_patch=VALUES_VARIANTS[variant],
                                             annotations=ANNOTATION_VARIANTS[annotations], native=native,
                                             revision="canary" if native else "")
                        for name in TEMPLATES:
                            yield f"{input_file} annotations={annotations} native={native}", name, data
    _assert_all_match(cases())


@needs_corpus
@pytest.mark.parametrize("variant", list(MESH_VARIANTS))
def test_mesh_variations_match_istio(variant: str) -> None:
    def cases():
        for input_file in VARIATION_INPUTS:
            for obj, pod in _pods(ISTIO / "inject" / input_file)[:1]:
                for native in (True, False):
                    for values in ("chart", "cni", "hold"):
                        data = template_data(obj, pod, mesh_patch=MESH_VARIANTS[variant],
                                             values_patch=VALUES_VARIANTS[values], native=native,
                                             compliance="fips-140-3" if values == "cni" else "",
                                             proxy_id=1000629999 if values == "hold" else None)
                        for name in TEMPLATES:
                            yield f"{input_file} values={values} native={native}", name, data
    _assert_all_match(cases())


# ---------------------------------------------------------------------------------------------- spot checks

@needs_corpus
def test_sidecar_output_spot_checks() -> None:
    """A few facts about our own output, independent of the reference (guards the comparison's data too)."""
    obj, pod = _pods(ISTIO / "inject" / "hello.yaml")[0]
    native = yaml.safe_load(ours().render("sidecar", template_data(obj, pod, native=True)))
    assert "containers" not in native["spec"]
    assert [c["name"] for c in native["spec"]["initContainers"]] == ["istio-init", "istio-proxy"]
    assert native["spec"]["initContainers"][1]["restartPolicy"] == "Always"
    assert native["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "hello"

    classic = yaml.safe_load(ours().render("sidecar", template_data(
        obj, pod, native=False, annotations={"sidecar.istio.io/interceptionMode": "NONE"})))
    assert classic["spec"]["initContainers"] == []
    proxy = classic["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["ISTIO_META_INTERCEPTION_MODE"] == "NONE"
    assert env["ISTIO_META_POD_PORTS"] == '[\n    {"name":"http","containerPort":80}\n]'
    assert proxy["resources"]["limits"] == {"cpu": "2000m", "memory": "1024Mi"}
    assert classic["spec"]["volumes"][0] == {"name": "workload-socket", "emptyDir": None}
