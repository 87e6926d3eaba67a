"""deploy/helm rendered and installed by a real Helm against the real kube-apiserver.

1. ``helm template`` with the kustomize install's revisions renders exactly the objects of ``kubectl kustomize
   deploy/`` (Helm's bookkeeping labels aside): the two installs cannot drift apart.
2. Values reach the objects (image, replicas, resources, webhook policy, selectors as Istio's chart has them);
   revision tags render as Istio's ``istio-revision-tag-<tag>``; bad values fail with a message.
3. ``helm install`` stores every object (the apiserver validates each for real), RBAC is least privilege, and the
   apiserver's own selector matching sends each namespace/pod label combination to the revision path Istio
   would, before and after ``helm upgrade`` moves a tag, and after the ``default`` tag takes over the legacy
   webhooks. The chart's ``injectionURL`` points the webhooks at a recording server (no kube-proxy here).
4. cert-manager mode: with cert-manager's real Certificate CRD installed, the Certificate and the
   ``cert-manager.io/inject-ca-from`` annotations install, and the injector may patch no webhook configuration.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from controlplane import Binaries, ControlPlane, WebhookEndpoint, mutating_webhook, mutating_webhook_configuration
from deploytools import DeployTools
from manifests import (
    CHART,
    CONTROL_NAMESPACE,
    INJECT,
    RELEASE,
    REV,
    ROUTING_CASES,
    Helm,
    assert_access,
    base_access_cases,
    ensure_namespace,
    install_crd,
    objects,
    observe_routes,
    only,
    recording_webhook,
    render_kustomize,
    without_helm_labels,
)

pytestmark = pytest.mark.e2e

ISTIO_SUFFIX = "sidecar-injector.istio.io"


@pytest.fixture(scope="module")
def helm(deploy_tools: DeployTools, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(deploy_tools.helm, tmp_path_factory.mktemp("helm"))


@pytest.fixture
def helm_on_cluster(helm: Helm, control_plane: ControlPlane) -> Iterator[Helm]:
    """Helm talking to the e2e apiserver; the release is uninstalled afterwards (its webhooks fail closed)."""
    on_cluster = Helm(helm.binary, helm.home, control_plane.kubeconfig)
    try:
        yield on_cluster
    finally:
        on_cluster.run("uninstall", RELEASE, "--namespace", CONTROL_NAMESPACE, "--ignore-not-found")


def webhooks_of(rendered: list[dict]) -> dict[str, list[dict]]:
    return {name: mwc["webhooks"] for name, mwc in objects(rendered, "MutatingWebhookConfiguration").items()}


def prefixes(webhooks: list[dict], suffix: str) -> list[str]:
    assert all(w["name"].endswith(suffix) for w in webhooks), [w["name"] for w in webhooks]
    return [w["name"].removesuffix(suffix) for w in webhooks]


# -- 1. the same objects as the kustomize install -----------------------------------------------------------------


def test_chart_renders_exactly_the_kustomize_install(helm: Helm, control_plane_binaries: Binaries) -> None:
    chart = without_helm_labels(helm.template({"revisions": ["default", "canary"]}))
    kustomize = without_helm_labels(render_kustomize(control_plane_binaries))
    assert sorted(chart) == sorted(kustomize)
    for key, obj in kustomize.items():
        assert chart[key] == obj, key


@pytest.mark.parametrize("values", [
    {},
    {"revisions": ["default", "canary"], "revisionTags": {"prod": "canary", "default": "canary"},
     "certificates": {"source": "certManager"}, "sidecarInjectorWebhook": {"enableNamespacesByDefault": True},
     "monitoring": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}},
])
def test_helm_lint_strict_passes(helm: Helm, values: dict) -> None:
    out = helm.run("lint", "--strict", str(CHART), values=values)
    assert out.returncode == 0 and "0 chart(s) failed" in out.stdout, out.stdout + out.stderr


# -- 2. values, tags, refusals ---------------------------------------------------------------------------------------


def test_values_reach_the_objects(helm: Helm) -> None:
    rendered = helm.template({
        "revisions": ["default", "canary"],
        "image": {"repository": "registry.example/injector", "tag": "1.2.3", "pullPolicy": "Always"},
        "replicaCount": 3, "workers": 4, "extraArgs": ["--log-format=text"], "staleAudit": {"enabled": True},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "nodeSelector": {"pool": "system"}, "priorityClassName": "system-cluster-critical",
        "failurePolicy": "Ignore", "timeoutSeconds": 5,
        "sidecarInjectorWebhook": {"enableNamespacesByDefault": True, "reinvocationPolicy": "IfNeeded"},
        "sidecarInjectorWebhookAnnotations": {"example.com/owner": "mesh-team"},
        "istioNamespace": "mesh-config",
    })
    deployment = only(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 3
    assert (container["image"], container["imagePullPolicy"]) == ("registry.example/injector:1.2.3", "Always")
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert {"--workers=4", "--log-format=text", "--control-namespace=mesh-config", "--watch-pods",
            "--webhook-config-selector=app.kubernetes.io/part-of=py-sidecar-injector"} <= set(container["args"])
    assert pod["nodeSelector"] == {"pool": "system"} and pod["priorityClassName"] == "system-cluster-critical"
    assert only(rendered, "Role")["metadata"]["namespace"] == "mesh-config"
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]} in (
        objects(rendered, "ClusterRole")["sidecar-injector"]["rules"])
    assert only(rendered, "RoleBinding")["subjects"][0]["namespace"] == CONTROL_NAMESPACE

    configurations = objects(rendered, "MutatingWebhookConfiguration")
    for mwc in configurations.values():
        assert mwc["metadata"]["annotations"] == {"example.com/owner": "mesh-team"}
        for webhook in mwc["webhooks"]:
            assert (webhook["failurePolicy"], webhook["timeoutSeconds"], webhook["reinvocationPolicy"]) == (
                "Ignore", 5, "IfNeeded")
    default = configurations["sidecar-injector-default"]["webhooks"]
    assert prefixes(default, ISTIO_SUFFIX) == ["rev.namespace.", "rev.object.", "namespace.", "object.", "auto."]
    assert prefixes(configurations["sidecar-injector-canary"]["webhooks"], ISTIO_SUFFIX) == [
        "rev.namespace.", "rev.object."]
    auto = default[-1]
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"]} in (
        auto["namespaceSelector"]["matchExpressions"])


def test_revision_tags_render_as_istio_and_default_takes_over(helm: Helm) -> None:
    rendered = helm.template({"revisions": ["default", "canary"],
                              "revisionTags": {"prod": "canary", "default": "canary"}})
    configurations = objects(rendered, "MutatingWebhookConfiguration")
    # As `istioctl tag set default`: revision default's configuration gives way to the tag's.
    assert sorted(configurations) == ["istio-revision-tag-default", "istio-revision-tag-prod",
                                      "sidecar-injector-canary"]
    tag_suffix = "tag.py-sidecar-injector.io"
    for tag in ("prod", "default"):
        mwc = configurations[f"istio-revision-tag-{tag}"]
        labels = mwc["metadata"]["labels"]
        assert (labels["istio.io/tag"], labels["istio.io/rev"]) == (tag, "canary")
        # istiod's certificate patcher rewrites caBundle of webhooks named *sidecar-injector.istio.io in
        # configurations labelled with its revision, which tag configurations are.
        assert not any(w["name"].endswith(ISTIO_SUFFIX) for w in mwc["webhooks"])
        assert {w["clientConfig"]["service"]["path"] for w in mwc["webhooks"]} == {"/rev/canary/inject"}
        selected = mwc["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]
        assert selected == {"key": REV, "operator": "In", "values": [tag]}
    assert prefixes(configurations["istio-revision-tag-default"]["webhooks"], tag_suffix) == [
        "rev.namespace.", "rev.object.", "namespace.", "object."]
    assert prefixes(configurations["istio-revision-tag-prod"]["webhooks"], tag_suffix) == [
        "rev.namespace.", "rev.object."]
    patchable = sorted(rule["resourceNames"][0] for role in objects(rendered, "ClusterRole").values()
                       for rule in role["rules"] if "patch" in rule["verbs"])
    assert patchable == sorted(configurations)


@pytest.mark.parametrize(("values", "message"), [
    ({"revisions": []}, "revisions"),
    ({"revisions": ["Canary_1"]}, "does not match pattern"),
    ({"revisionTags": {"prod": "canary"}}, 'revision "canary" is not in revisions'),
    ({"revisions": ["default", "canary"], "revisionTags": {"canary": "default"}}, "may not be named like"),
    ({"timeoutSeconds": 31}, "timeoutSeconds"),
    ({"failurePolicy": "Sometimes"}, "failurePolicy"),
    ({"certificates": {"source": "vault"}}, "certificates/source"),
    ({"injectionURL": "https://injector.example:9443"}, "injectionURL needs caBundle"),
])
def test_bad_values_fail_with_a_message(helm: Helm, values: dict, message: str) -> None:
    out = helm.run("template", RELEASE, str(CHART), values=values)
    assert out.returncode != 0 and message in out.stderr, out.stderr
    assert "kind:" not in out.stdout


# -- 3. helm install / upgrade on the apiserver: storage, RBAC, routing ----------------------------------------------

#: Beyond ROUTING_CASES (revisions default and canary): namespaces and pods naming tag prod.
TAG_CASES: list[tuple[dict[str, str], dict[str, str]]] = [
    ({REV: "prod"}, {}),
    ({REV: "prod"}, {INJECT: "false"}),
    ({}, {REV: "prod"}),
    ({"istio-injection": "enabled"}, {REV: "prod"}),
]


def expected_routes(tags: dict[str, str], auto: bool) -> list[list[str]]:
    """Per ROUTING_CASES + TAG_CASES entry, the path the apiserver must call (or none), given the tags."""
    def path(revision: str) -> list[str]:
        served = tags.get("default", "default") if revision == "default" else revision
        return [f"/hook/rev/{served}/inject"]

    routes = [path(expected[1]) if expected else [] for _, _, expected in ROUTING_CASES]
    if auto:  # enableNamespacesByDefault: an unlabelled pod in an unlabelled namespace goes to the default one
        routes[[(n, p) for n, p, _ in ROUTING_CASES].index(({}, {}))] = path("default")
    prod = [f"/hook/rev/{tags['prod']}/inject"]
    routes += [prod, [], prod, path("default")]
    return routes


async def test_helm_install_and_upgrades_route_pods_like_istio(
    helm_on_cluster: Helm,
    kube_api: Any,
    make_namespace: Callable[..., Awaitable[str]],
    make_pod: Callable[..., dict],
    serve_webhook: Callable[[web.Application], Awaitable[WebhookEndpoint]],
    wait_for_admission: Callable[..., Awaitable[dict]],
) -> None:
    calls: list[tuple[str, str]] = []
    endpoint = await serve_webhook(recording_webhook(calls))
    await ensure_namespace(kube_api)
    cases = [(ns, pod) for ns, pod, _ in ROUTING_CASES] + TAG_CASES
    namespaces = [await make_namespace("helm", labels=ns_labels) for ns_labels, _ in cases]
    pods = [pod for _, pod in cases]
    probe = namespaces[len(ROUTING_CASES)]  # namespace istio.io/rev=prod: its route shows which tag is live
    base = {"revisions": ["default", "canary"], "injectionURL": endpoint.url("/hook"),
            "caBundle": base64.b64encode(endpoint.ca_pem).decode()}

    async def route_after(action: str, values: dict) -> list[list[str]]:
        helm_on_cluster.install(action, {**base, **values})
        prod = f"/hook/rev/{values['revisionTags']['prod']}/inject"
        await wait_for_admission(probe, make_pod(), lambda _: bool(calls) and calls[-1] == (prod, probe))
        calls.clear()
        return await observe_routes(namespaces, pods, calls, make_pod, wait_for_admission)

    first = {"revisionTags": {"prod": "default"}}
    assert await route_after("install", first) == expected_routes(first["revisionTags"], auto=False)
    await assert_access(kube_api, base_access_cases(
        ["sidecar-injector-default", "sidecar-injector-canary", "istio-revision-tag-prod"]))

    moved = {"revisionTags": {"prod": "canary"}}
    assert await route_after("upgrade", moved) == expected_routes(moved["revisionTags"], auto=False)

    default_moved = {"revisionTags": {"prod": "canary", "default": "canary"},
                     "sidecarInjectorWebhook": {"enableNamespacesByDefault": True}, "staleAudit": {"enabled": True}}
    assert await route_after("upgrade", default_moved) == expected_routes(default_moved["revisionTags"], auto=True)
    admission = client.AdmissionregistrationV1Api(kube_api)
    names = {m.metadata.name for m in (await admission.list_mutating_webhook_configuration(
        label_selector="app.kubernetes.io/part-of=py-sidecar-injector")).items}
    assert names == {"sidecar-injector-canary", "istio-revision-tag-prod", "istio-revision-tag-default"}
    pods_read = [(True, {"verb": verb, "resource": "pods"}) for verb in ("list", "watch")]  # staleAudit
    cases = [case for case in base_access_cases(sorted(names)) if case[1] != {"verb": "list", "resource": "pods"}]
    await assert_access(kube_api, cases + pods_read + [
        (False, {"verb": "get", "resource": "pods", "namespace": "default", "name": "any"}),
        (False, {"verb": "patch", "group": "admissionregistration.k8s.io",
                 "resource": "mutatingwebhookconfigurations", "name": "sidecar-injector-default"})])


def istioctl_tag(tag: str, revision: str, endpoint: WebhookEndpoint) -> dict:
    """A tag configuration as `istioctl tag set` writes it (Istio's names and labels), calling /istiod/inject."""
    mwc = mutating_webhook_configuration(f"istio-revision-tag-{tag}", [
        mutating_webhook(f"rev.namespace.{ISTIO_SUFFIX}", endpoint.client_config("/istiod/inject"),
                         namespace_selector={"matchExpressions": [
                             {"key": REV, "operator": "In", "values": [tag]},
                             {"key": "istio-injection", "operator": "DoesNotExist"}]}),
        mutating_webhook(f"rev.object.{ISTIO_SUFFIX}", endpoint.client_config("/istiod/inject"),
                         namespace_selector={"matchExpressions": [
                             {"key": REV, "operator": "DoesNotExist"},
                             {"key": "istio-injection", "operator": "DoesNotExist"}]},
                         object_selector={"matchExpressions": [{"key": REV, "operator": "In", "values": [tag]}]}),
    ])
    mwc["metadata"]["labels"] = {"istio.io/tag": tag, "istio.io/rev": revision}
    return mwc


async def test_istioctl_tag_is_taken_over_without_a_gap(
    helm_on_cluster: Helm,
    control_plane: ControlPlane,
    kube_api: Any,
    make_namespace: Callable[..., Awaitable[str]],
    make_pod: Callable[..., dict],
    serve_webhook: Callable[[web.Application], Awaitable[WebhookEndpoint]],
    register_webhooks: Callable[[dict], Awaitable[dict]],
    wait_for_admission: Callable[..., Awaitable[dict]],
) -> None:
    """deploy/README.md, migration step 3: `helm upgrade --take-ownership` merges our webhooks into the istioctl
    tag configuration (both are called meanwhile), then one strategic-merge patch removes Istio's entries. Every
    pod in the tag's namespace reaches a webhook at every step."""
    calls: list[tuple[str, str]] = []
    endpoint = await serve_webhook(recording_webhook(calls))
    await ensure_namespace(kube_api)
    namespace = await make_namespace("tag", labels={REV: "prod"})
    await register_webhooks(istioctl_tag("prod", "canary", endpoint))
    base = {"revisions": ["default", "canary"], "injectionURL": endpoint.url("/hook"),
            "caBundle": base64.b64encode(endpoint.ca_pem).decode()}

    async def routes_become(expected: list[str], *, strict: bool = True) -> None:
        def reached(_: dict) -> bool:
            hits = sorted(path for path, ns in calls if ns == namespace)
            calls.clear()
            assert hits or not strict, "a pod in the tag's namespace reached no webhook"
            return hits == expected

        await wait_for_admission(namespace, make_pod(), reached)

    await routes_become(["/istiod/inject"], strict=False)  # until the apiserver has loaded the configuration
    helm_on_cluster.install("install", base)
    await routes_become(["/istiod/inject"])
    helm_on_cluster.install("upgrade", {**base, "revisionTags": {"prod": "canary"}})
    await routes_become(["/hook/rev/canary/inject", "/istiod/inject"])
    delete = {"webhooks": [{"name": f"{prefix}{ISTIO_SUFFIX}", "$patch": "delete"}
                           for prefix in ("rev.namespace.", "rev.object.")]}
    patched = control_plane.kubectl("patch", "mutatingwebhookconfiguration", "istio-revision-tag-prod",
                                    "--type=strategic", "-p", json.dumps(delete), check=False)
    assert patched.returncode == 0, patched.stderr
    await routes_become(["/hook/rev/canary/inject"])
    admission = client.AdmissionregistrationV1Api(kube_api)
    stored = await admission.read_mutating_webhook_configuration("istio-revision-tag-prod")
    rendered = objects(helm_on_cluster.template({**base, "revisionTags": {"prod": "canary"}}),
                       "MutatingWebhookConfiguration")["istio-revision-tag-prod"]
    assert [w.name for w in stored.webhooks] == [w["name"] for w in rendered["webhooks"]]


# -- 4. cert-manager -----------------------------------------------------------------------------------------------


async def test_cert_manager_mode_installs_and_leaves_ca_bundle_to_cert_manager(
    helm_on_cluster: Helm, deploy_tools: DeployTools, control_plane: ControlPlane, kube_api: Any,
) -> None:
    await ensure_namespace(kube_api)
    install_crd(control_plane, deploy_tools.certificate_crd)
    values = {"revisions": ["default", "canary"], "revisionTags": {"prod": "canary"},
              "certificates": {"source": "certManager",
                               "certManager": {"issuerRef": {"name": "mesh-ca", "kind": "ClusterIssuer",
                                                             "group": "cert-manager.io"}}},
              # Nothing answers here: the configurations must not select the namespaces other tests create.
              "failurePolicy": "Ignore"}
    rendered = helm_on_cluster.template(values)
    certificate = only(rendered, "Certificate")
    deployment = only(rendered, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert certificate["spec"]["secretName"] == volumes["tls"]["secret"]["secretName"]
    assert "sidecar-injector.istio-system.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"] == {"name": "mesh-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not any(a.startswith("--webhook-config-") for a in args), "cert-manager owns caBundle, not the server"
    for mwc in objects(rendered, "MutatingWebhookConfiguration").values():
        assert mwc["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "istio-system/sidecar-injector"}

    helm_on_cluster.install("install", values)
    stored = client.CustomObjectsApi(kube_api)
    got = await stored.get_namespaced_custom_object("cert-manager.io", "v1", CONTROL_NAMESPACE, "certificates",
                                                    "sidecar-injector")
    assert got["spec"]["secretName"] == certificate["spec"]["secretName"]
    await assert_access(kube_api, base_access_cases([]) + [
        (False, {"verb": "patch", "group": "admissionregistration.k8s.io",
                 "resource": "mutatingwebhookconfigurations", "name": name})
        for name in ("sidecar-injector-default", "sidecar-injector-canary", "istio-revision-tag-prod")])
