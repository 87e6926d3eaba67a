"""The data every injection template sees (Istio's ``SidecarTemplateData``), built once per pod.

Top-level keys are Istio's Go field names, values underneath are Kubernetes/protojson JSON form; see
docs/DESIGN.md. Our Jinja2 templates read it directly; translated Go templates read it through the Go-name mapping
of ``workers.templates.gotemplate.runtime``.
"""
from __future__ import annotations

from typing import Any, Mapping

from workers.config.errors import ConfigError
from workers.config.mesh import apply_proxy_config, parse_proxy_config_annotation
from workers.images import proxy_image, proxy_init_image
from workers.workload import WorkloadMeta

PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
DEFAULT_PROXY_ID = 1337


def effective_proxy_config(mesh: Mapping[str, Any], annotations: Mapping[str, str], *, webhook: bool) -> dict[str, Any]:
    """ProxyConfig for one pod: mesh ``defaultConfig`` plus the pod's ``proxy.istio.io/config`` annotation.

    The webhook layers without zero scalars and ignores an unparseable annotation (§4.3); kube-inject applies zero
    values and fails on a bad annotation.
    """
    text = annotations.get(PROXY_CONFIG_ANNOTATION)
    if not text:
        return apply_proxy_config(mesh["defaultConfig"], None)
    try:
        overlay = parse_proxy_config_annotation(text)
    except ConfigError:
        if webhook:
            return apply_proxy_config(mesh["defaultConfig"], None)
        raise
    return apply_proxy_config(mesh["defaultConfig"], overlay, skip_zero=webhook)


def inbound_traffic_policy_mode(mesh: Mapping[str, Any]) -> str:
    mode = (mesh.get("inboundTrafficPolicy") or {}).get("mode")
    return "localhost" if mode == "LOCALHOST" else "passthrough"


def build_template_data(*, pod: Mapping[str, Any], workload: WorkloadMeta, proxy_config: Mapping[str, Any],
                        mesh: Mapping[str, Any], values: Mapping[str, Any], revision: str, native_sidecars: bool,
                        proxy_uid: int | None = None, proxy_gid: int | None = None,
                        compliance_policy: str = "", webhook: bool = True) -> dict[str, Any]:
    """Assemble the data for ``pod`` (already stripped of a previous injection).

    In kube-inject the pod's ProxyConfig annotation is folded into ``MeshConfig.defaultConfig`` too, as istioctl
    does; the webhook passes the mesh unchanged.
    """
    metadata = pod.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    mesh_for_template = mesh if webhook else {**mesh, "defaultConfig": proxy_config}
    return {
        "TypeMeta": {"apiVersion": workload.api_version, "kind": workload.kind},
        "DeploymentMeta": {"name": workload.name, "namespace": workload.namespace},
        "ObjectMeta": metadata,
        "Spec": pod.get("spec") or {},
        "ProxyConfig": proxy_config,
        "MeshConfig": mesh_for_template,
        "Values": values,
        "Revision": revision,
        "NativeSidecars": native_sidecars,
        "ProxyImage": proxy_image(values, proxy_config, annotations),
        "ProxyInitImage": proxy_init_image(values, annotations),
        "ProxyUID": DEFAULT_PROXY_ID if proxy_uid is None else proxy_uid,
        "ProxyGID": DEFAULT_PROXY_ID if proxy_gid is None else proxy_gid,
        "InboundTrafficPolicyMode": inbound_traffic_policy_mode(mesh),
        "CompliancePolicy": compliance_policy,
    }
