"""Template data shapes for the oracle tier, as JSON text holding SidecarTemplateData fields by their Go names.

``POD`` looks like what istiod renders the sidecar template with (typed pod metadata and spec, ProxyConfig and
MeshConfig in protojson form, Values from the chart with float numbers, int64 proxy ids); ``BARE`` is the zero
value of every field; ``ODD`` carries the awkward values (unicode, nulls, negatives, big and fractional numbers).
"""
from __future__ import annotations

import json

_POD = {
    "TypeMeta": {"kind": "Pod", "apiVersion": "v1"},
    "DeploymentMeta": {"name": "web", "namespace": "prod"},
    "ObjectMeta": {
        "name": "web-1", "namespace": "prod",
        "labels": {"app": "web", "version": "v1", "app.kubernetes.io/version": "1.2.3"},
        "annotations": {"sidecar.istio.io/proxyCPU": "200m", "proxy.istio.io/config": "{\"holdApplicationUntilProxyStarts\": true}",
                        "traffic.sidecar.istio.io/includeInboundPorts": "*", "empty": ""},
    },
    "Spec": {
        "serviceAccountName": "web",
        "containers": [
            {"name": "app", "image": "registry:5000/web:1.2@sha256:abc",
             "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                       {"name": "dns", "containerPort": 53, "protocol": "UDP"}]},
            {"name": "istio-proxy", "image": "proxyv2", "ports": [{"containerPort": 15090}]},
        ],
        "nodeSelector": {"disk": "ssd"},
    },
    "ProxyConfig": {"drainDuration": "45s", "terminationDrainDuration": "5.5s", "proxyMetadata": {"A": "b"},
                    "concurrency": 2, "statusPort": 15020, "holdApplicationUntilProxyStarts": True},
    "MeshConfig": {"trustDomain": "cluster.local", "enableTracing": True, "defaultConfig": {"discoveryAddress": "istiod:15012"},
                   "extensionProviders": [{"name": "otel", "opentelemetry": {"service": "otel", "port": 4317,
                                                                             "serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS"}}]},
    "Values": {
        "global": {"proxy": {"image": "proxyv2", "resources": {"limits": {"cpu": "2", "memory": None}}, "logLevel": "warning"},
                   "hub": "docker.io/istio", "tag": "1.30.0", "imagePullSecrets": [], "meshID": ""},
        "num": 15020, "neg": -3, "frac": 2.5, "big": 1e21, "zero": 0, "yes": True, "no": False, "str": "hello",
        "empty": "", "nothing": None, "list": [1, "two", None, 3.5], "strs": ["b", "a", "c"], "emptyList": [],
        "map": {"k": "v", "n": None, "nested": {"x": 1}}, "emptyMap": {}, "csv": "a,b,,c", "json": "{\"a\":[1,2]}",
        "version": "1.24.3", "ts": 1700000000,
    },
    "Revision": "canary", "NativeSidecars": True, "ProxyImage": "docker.io/istio/proxyv2:1.30.0",
    "ProxyUID": 1337, "ProxyGID": 1337, "InboundTrafficPolicyMode": "passthrough", "CompliancePolicy": "",
}

_ODD = {
    "ObjectMeta": {"name": "ünï", "labels": {"é": "ü", "": "empty-key"}, "annotations": {"k": "\u2028<&>\""}},
    "Values": {"s": "héllo wörld ✓", "big": 9007199254740993, "tiny": 1e-7, "negf": -0.5, "nul": None,
               "deep": {"a": {"b": {"c": None}}}, "mixed": [[], {}, "", 0, False], "quote": "a\"b\\c\n\t",
               "num_str": "0x1F", "oct": "0755", "spaces": "  padded  "},
    "ProxyUID": 1000680000, "ProxyGID": 1000680000,
}

POD = json.dumps(_POD, sort_keys=True)
BARE = json.dumps({})
ODD = json.dumps(_ODD, sort_keys=True)
SHAPES = {"pod": POD, "bare": BARE, "odd": ODD}
