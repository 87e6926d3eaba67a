"""deploy/ rendered by kustomize and checked three ways: structure, server-side validation, real behaviour.

1. Structure: the objects the manifests promise (2 replicas, probes, non-root, PDB, Service and webhook wiring).
2. The real apiserver accepts every object (server-side dry run) and stores the RBAC objects and webhook
   configurations; SubjectAccessReviews then show the injector's ServiceAccount gets exactly what it needs.
3. The webhook selectors route pods like Istio's: the rendered configurations are registered with their service
   clientConfig swapped for a recording server, and the apiserver's own selector matching decides which
   webhook (and so which /rev/<rev>/inject path) each namespace/pod label combination reaches.

kustomize is the one embedded in the kubectl built with the control plane (Debian's kubectl 1.20 predates
kustomize components).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from controlplane import Binaries, ControlPlane, WebhookEndpoint, redirect_webhooks
from manifests import (
    CONTROL_NAMESPACE,
    ROUTING_CASES,
    assert_access,
    base_access_cases,
    ensure_namespace,
    kubectl_apply,
    kubectl_delete,
    objects,
    observe_routes,
    only,
    recording_webhook,
    render_kustomize,
)

pytestmark = pytest.mark.e2e

REVISIONS = ("default", "canary")
MWC_NAMES = {rev: f"sidecar-injector-{rev}" for rev in REVISIONS}


@pytest.fixture(scope="module")
def rendered(control_plane_binaries: Binaries) -> list[dict]:
    return render_kustomize(control_plane_binaries)


# -- 1. structure -----------------------------------------------------------------------------------------------


def test_renders_one_deployment_and_one_webhook_configuration_per_revision(rendered: list[dict]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rendered)
    assert kinds == sorted(
        [
            ("ClusterRole", "sidecar-injector"),
            ("ClusterRoleBinding", "sidecar-injector"),
            ("Deployment", "sidecar-injector"),
            ("PodDisruptionBudget", "sidecar-injector"),
            ("Role", "sidecar-injector"),
            ("RoleBinding", "sidecar-injector"),
            ("Service", "sidecar-injector"),
            ("ServiceAccount", "sidecar-injector"),
        ]
        + [("MutatingWebhookConfiguration", MWC_NAMES[rev]) for rev in REVISIONS]
        + [(kind, f"sidecar-injector-webhook-{rev}") for rev in REVISIONS for kind in ("ClusterRole", "ClusterRoleBinding")]
    )
    for obj in rendered:
        namespaced = obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration")
        assert obj["metadata"].get("namespace") == (CONTROL_NAMESPACE if namespaced else None), obj["metadata"]


def test_deployment_is_highly_available_and_locked_down(rendered: list[dict]) -> None:
    deployment = only(rendered, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    labels = spec["template"]["metadata"]["labels"]

    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert labels["sidecar.istio.io/inject"] == "false"
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"].items() <= labels.items()

    assert pod["serviceAccountName"] == "sidecar-injector"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-monitoring", "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-monitoring", "scheme": "HTTP"}
    args = dict(a.split("=", 1) for a in container["args"] if "=" in a)
    assert container["args"][0] == "serve" and "--kube" in container["args"]
    assert int(args["--port"]) == ports["https-webhook"]
    assert int(args["--monitoring-port"]) == ports["http-monitoring"]
    assert args["--control-namespace"] == CONTROL_NAMESPACE
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert args["--tls-cert-file"].startswith(mounts["tls"] + "/")
    assert args["--tls-key-file"].startswith(mounts["tls"] + "/")
    assert volumes["tls"]["secret"]["secretName"] == "sidecar-injector-tls"
    assert mounts["tmp"] == "/tmp" and "emptyDir" in volumes["tmp"]


def test_service_and_pdb_select_the_injector_pods(rendered: list[dict]) -> None:
    deployment = only(rendered, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container_ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    service, pdb = only(rendered, "Service"), only(rendered, "PodDisruptionBudget")
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} == container_ports
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1


def test_webhooks_call_the_service_on_their_revision_path(rendered: list[dict]) -> None:
    service = only(rendered, "Service")
    service_ports = {p["port"] for p in service["spec"]["ports"]}
    configurations = objects(rendered, "MutatingWebhookConfiguration")
    expected_names = {
        "default": {"rev.namespace.", "rev.object.", "namespace.", "object."},
        "canary": {"rev.namespace.", "rev.object."},
    }
    for rev in REVISIONS:
        mwc = configurations[MWC_NAMES[rev]]
        assert "istio.io/rev" not in mwc["metadata"].get("labels", {}), "istiod's cert patcher would adopt it"
        names = {w["name"].removesuffix("sidecar-injector.istio.io") for w in mwc["webhooks"]}
        assert names == expected_names[rev]
        for webhook in mwc["webhooks"]:
            target = webhook["clientConfig"]["service"]
            assert (target["name"], target["namespace"]) == (service["metadata"]["name"], CONTROL_NAMESPACE)
            assert target["port"] in service_ports
            assert target["path"] == f"/rev/{rev}/inject"
            assert webhook["rules"] == [
                {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
            ]
            assert (webhook["failurePolicy"], webhook["sideEffects"]) == ("Fail", "None")
            assert webhook["admissionReviewVersions"] == ["v1"]


# -- 2. the apiserver accepts the objects, and RBAC is least privilege ----------------------------------------


async def test_every_object_passes_server_side_validation(
    kube_api: Any, control_plane: ControlPlane, rendered: list[dict]
) -> None:
    await ensure_namespace(kube_api)
    out = kubectl_apply(control_plane, rendered, "--dry-run=server")
    assert out.count("serverside-applied (server dry run)") == len(rendered), out


async def test_rbac_and_webhooks_are_stored_and_least_privilege(
    kube_api: Any, control_plane: ControlPlane, rendered: list[dict]
) -> None:
    await ensure_namespace(kube_api)
    wanted = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"}
    applied = [o for o in rendered if o["kind"] in wanted]
    admission = client.AdmissionregistrationV1Api(kube_api)
    try:
        kubectl_apply(control_plane, applied)
        for rev in REVISIONS:
            stored = kube_api.sanitize_for_serialization(
                await admission.read_mutating_webhook_configuration(MWC_NAMES[rev])
            )
            source = objects(rendered, "MutatingWebhookConfiguration")[MWC_NAMES[rev]]
            for got, want in zip(stored["webhooks"], source["webhooks"], strict=True):
                assert got["namespaceSelector"] == want["namespaceSelector"]
                assert got["objectSelector"] == want["objectSelector"]
                assert got["clientConfig"]["service"] == want["clientConfig"]["service"]
        await assert_access(kube_api, base_access_cases(list(MWC_NAMES.values())))
    finally:
        # The stored configurations fail closed towards a Service with no pods, and cluster-wide RBAC would grant
        # later tests' service accounts what they must not have: remove everything.
        kubectl_delete(control_plane, applied)


# -- 3. the selectors route pods like Istio's --------------------------------------------------------------------

async def test_webhook_selectors_route_pods_like_istio(
    rendered: list[dict],
    make_namespace: Callable[..., Awaitable[str]],
    make_pod: Callable[..., dict],
    serve_webhook: Callable[[web.Application], Awaitable[WebhookEndpoint]],
    register_webhooks: Callable[[dict], Awaitable[dict]],
    wait_for_admission: Callable[..., Awaitable[dict]],
) -> None:
    calls: list[tuple[str, str]] = []
    endpoint = await serve_webhook(recording_webhook(calls))
    namespaces = [await make_namespace("route", labels=ns_labels) for ns_labels, _, _ in ROUTING_CASES]
    for mwc in objects(rendered, "MutatingWebhookConfiguration").values():
        await register_webhooks(redirect_webhooks(mwc, endpoint))
    # Wait until both configurations are live (the apiserver loads them through an informer).
    for probe_ns, probe_labels in ((namespaces[0], {}), (namespaces[6], {})):
        await wait_for_admission(probe_ns, make_pod(labels=probe_labels), lambda _: any(ns == probe_ns for _, ns in calls))
    calls.clear()

    observed = await observe_routes(namespaces, [pod_l for _, pod_l, _ in ROUTING_CASES], calls, make_pod,
                                    wait_for_admission)

    def expected_paths(expected: tuple[str, str] | None) -> list[str]:
        if expected is None:
            return []
        prefix, rev = expected
        return [f"/hook/{prefix}sidecar-injector.istio.io/rev/{rev}/inject"]

    table = [(ns_l, pod_l) for ns_l, pod_l, _ in ROUTING_CASES]
    assert list(zip(table, observed)) == list(zip(table, [expected_paths(e) for _, _, e in ROUTING_CASES]))

    # The server's own resolver (used for /inject without a revision) must agree with the registered selectors.
    try:
        from injector.routing import resolve_revision
    except ImportError:
        return
    served = set(REVISIONS)
    for ns_labels, pod_labels, expected in ROUTING_CASES:
        resolved = resolve_revision(pod_labels, ns_labels)
        assert (resolved if resolved in served else None) == (expected[1] if expected else None), (ns_labels, pod_labels)
