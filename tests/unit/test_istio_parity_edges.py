"""Behaviours found by comparing with Istio beyond the local corpus: OpenShift's stamped proxy UID, the image-type
suffixes a tag may carry, and annotation validation as strict (or as lenient) as Istio's Go parsers."""
from __future__ import annotations

import orjson
import pytest
import yaml

from workers.config.snapshot import build_revision_config
from workers.errors import InjectionError
from workers.facts import RequestFacts
from workers.images import proxy_image
from workers.k8s.quantity import QuantityError, parse_quantity
from workers.post.overrides import reset_openshift_sidecar_user
from workers.render import Injector
from workers.validate import validate_annotations

# A template that stamps the proxy UID the injector chose, so we can see which UID wins.
_TEMPLATE = """spec:
  containers:
  - name: istio-proxy
    image: proxy-image
    securityContext:
      runAsUser: {{ .ProxyUID }}
"""


def _injector() -> Injector:
    config = yaml.safe_dump({"policy": "enabled", "templates": {"sidecar": _TEMPLATE}})
    return Injector(build_revision_config(config, "{}", "", revision="default", source="test"))


def _pod(app_uid: int | None, proxy_context: dict | None) -> dict:
    app: dict = {"name": "web", "image": "web:1"}
    if app_uid is not None:
        app["securityContext"] = {"runAsUser": app_uid}
    proxy: dict = {"name": "istio-proxy", "image": "auto"}
    if proxy_context is not None:
        proxy["securityContext"] = proxy_context
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"containers": [app, proxy]}}


def _proxy(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy")


# ---- OpenShift: a proxy UID equal to the app's is the platform's stamp, not a user choice ----

def test_openshift_drops_stamped_proxy_uid_and_group() -> None:
    pod = _pod(4242, {"runAsUser": 4242, "runAsGroup": 7, "readOnlyRootFilesystem": True})
    out = reset_openshift_sidecar_user(pod)
    assert _proxy(out)["securityContext"] == {"readOnlyRootFilesystem": True}
    assert _proxy(pod)["securityContext"]["runAsUser"] == 4242, "input must not be modified"


@pytest.mark.parametrize("app_uid,context", [
    (4242, {"runAsUser": 5000}),      # deliberately different: honoured
    (4242, None),                     # no security context on the proxy: nothing to reset
])
def test_openshift_keeps_deliberate_proxy_settings(app_uid: int, context: dict | None) -> None:
    pod = _pod(app_uid, context)
    assert reset_openshift_sidecar_user(pod) is pod


def test_openshift_unset_uids_count_as_equal() -> None:
    # Neither sets a UID, so both read as 0: the proxy's group is forgotten too.
    out = reset_openshift_sidecar_user(_pod(None, {"runAsGroup": 9}))
    assert _proxy(out)["securityContext"] == {}


def test_openshift_webhook_uses_namespace_uid_and_records_override_without_it() -> None:
    pod = _pod(4242, {"runAsUser": 4242, "readOnlyRootFilesystem": False})
    facts = RequestFacts(namespace="shop", platform="openshift", proxy_uid=9999, proxy_gid=9999)
    result = _injector().inject_pod(pod, facts)
    proxy = _proxy(result.pod)
    assert proxy["securityContext"]["runAsUser"] == 9999
    override = orjson.loads(result.pod["metadata"]["annotations"]["proxy.istio.io/overrides"])
    assert override["containers"][0]["securityContext"] == {"readOnlyRootFilesystem": False}


def test_not_openshift_keeps_user_proxy_uid() -> None:
    pod = _pod(4242, {"runAsUser": 4242})
    result = _injector().inject_pod(pod, RequestFacts(namespace="shop"))
    assert _proxy(result.pod)["securityContext"]["runAsUser"] == 4242


def test_openshift_reset_is_webhook_only() -> None:
    pod = _pod(4242, {"runAsUser": 4242})
    facts = RequestFacts(namespace="shop", platform="openshift", webhook=False)
    assert _proxy(_injector().inject_pod(pod, facts).pod)["securityContext"]["runAsUser"] == 4242


# ---- proxy image type suffixes ----

@pytest.mark.parametrize("tag,image_type,want", [
    ("1.30-debug", "distroless", "1.30-distroless"),
    ("1.30-distroless", "default", "1.30"),
    ("1.30-default", "distroless", "1.30-default-distroless"),   # "-default" is not a published suffix
    ("1.30-default", "default", "1.30-default"),
])
def test_proxy_image_replaces_only_published_type_suffixes(tag: str, image_type: str, want: str) -> None:
    values = {"global": {"hub": "reg.example", "tag": tag}}
    image = proxy_image(values, {"image": {"imageType": image_type}}, {})
    assert image == f"reg.example/proxyv2:{want}"


# ---- annotation validation ----

def _valid(key: str, value: str) -> bool:
    try:
        validate_annotations({key: value})
    except InjectionError:
        return False
    return True


@pytest.mark.parametrize("value,ok", [
    ("10.1.0.0/16", True),
    ("fd00::/8", True),
    ("10.1.0.1", False),             # a bare address has no prefix length
    ("10.0.0.0/255.0.0.0", False),   # netmask notation
    ("10.0.0.0/016", False),         # leading zero in the length
    ("fe80::1%eth0/64", False),      # zones are not allowed in a prefix
    ("10.0.0.0/8,", False),          # empty trailing item
])
def test_cidr_annotations_follow_go_prefix_parsing(value: str, ok: bool) -> None:
    assert _valid("traffic.sidecar.istio.io/excludeOutboundIPRanges", value) is ok


@pytest.mark.parametrize("value,ok", [
    ("", True),                      # no interfaces at all
    ("eth1, net2.100", True),
    ("1abc", False),                 # must start with a letter
    ("veth@1", False),
    ("a" * 16, False),               # longer than IFNAMSIZ-1
    ("eth0,,eth1", False),
])
def test_interface_annotations(value: str, ok: bool) -> None:
    assert _valid("traffic.sidecar.istio.io/excludeInterfaces", value) is ok


@pytest.mark.parametrize("key,value", [
    ("traffic.sidecar.istio.io/excludeInboundPorts", "\uff18\uff10"),   # fullwidth digits are not Go digits
    ("readiness.status.sidecar.istio.io/periodSeconds", "\u0663"),
    ("sidecar.istio.io/proxyCPU", " 250m"),                              # ParseQuantity does not trim
    ("sidecar.istio.io/proxyMemory", "64Mi\u0085"),                      # C1 control character
])
def test_non_go_numbers_are_rejected(key: str, value: str) -> None:
    assert not _valid(key, value)


@pytest.mark.parametrize("text", ["-", ".", "Gi", "e3", "2.G"])
def test_quantity_grammar_accepts_what_go_accepts(text: str) -> None:
    assert _valid("sidecar.istio.io/proxyCPULimit", text)
    parse_quantity(text)


def test_parse_quantity_does_not_trim() -> None:
    with pytest.raises(QuantityError):
        parse_quantity("1Gi ")


@pytest.mark.parametrize("config,ok", [
    ("holdApplicationUntilProxyStarts: true", True),
    ("tracingServiceName: APP_LABEL_AND_NAMESPACE", True),
    ("discoveryAddress: istiod.other-ns.svc:15012", True),
    ("discoveryAddress: '[fd00::1]:15012'", True),
    ("tracing: {zipkin: {address: '$(HOST_IP):9411'}}", True),
    ("statusPort: 0", False),
    ("proxyAdminPort: 65536", False),
    ("drainDuration: 2.5s", False),
    ("discoveryAddress: ''", False),
    ("discoveryAddress: istiod-no-port", False),
    ("discoveryAddress: bad_host:15012", False),
    ("serviceCluster: ''", False),
    ("controlPlaneAuthPolicy: INHERIT", False),
    ("tracing: {zipkin: {address: collector}}", False),
])
def test_proxy_config_annotation_is_validated_like_istio(config: str, ok: bool) -> None:
    assert _valid("proxy.istio.io/config", config) is ok
