"""Seeded malformed pods for the robustness tests: a valid pod with wrong types at any depth, hostile annotation
values and hostile numbers. Shared by the pipeline fuzz (tests/unit) and the HTTP fuzz (tests/server)."""
from __future__ import annotations

import random
from typing import Any, Iterator

import orjson

BASE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "a"}, "annotations": {"x": "y"}},
    "spec": {"containers": [{"name": "app", "image": "i", "ports": [{"containerPort": 80}],
                             "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                             "env": [{"name": "A", "value": "b"}],
                             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
             "volumes": [{"name": "v", "emptyDir": {}}]},
}
JUNK: list[Any] = [None, 1, -1, 1.5, True, "", "x", [], {}, [1], {"a": 1}, "80", 70000, 1e300, 2**40, 80.0,
                   -(2**63), "1e100000", "1e-2147483648", "9" * 5000 + "Ei", "\x00"]
ANNOTATIONS = ["sidecar.istio.io/status", "proxy.istio.io/config", "proxy.istio.io/overrides",
               "inject.istio.io/templates", "sidecar.istio.io/proxyCPU", "prometheus.io/port",
               "status.sidecar.istio.io/port", "sidecar.istio.io/interceptionMode",
               "traffic.sidecar.istio.io/includeInboundPorts", "sidecar.istio.io/userVolume",
               "sidecar.istio.io/userVolumeMount", "sidecar.istio.io/nativeSidecar",
               "prometheus.istio.io/merge-metrics", "sidecar.istio.io/rewriteAppHTTPProbers"]
ANNOTATION_VALUES = ["", "x", "{}", "[]", '{"a":', "1", "-1", "*", "true", '{"containers":[{"name":1}]}',
                     '{"initContainers":["x"]}', "a,b", "99999", "NONE", "TPROXY", '[{"name": 1}]', "[1, 2]",
                     '{"v": "x"}', '{"v": 5}', '{"v": {"emptyDir": 5}}', '{"v": {"readOnly": "x"}}',
                     '{"v": {"mountPath": "/m", "name": "v"}}', '{"v": {"hostPath": {"path": "/x", "type": ["a"]}}}',
                     '{"containers":[{"name":"istio-proxy","ports":[{"containerPort":1e10}]}]}', "1e300",
                     '{"containers":[{"name":"istio-proxy","image":true}]}', "\u0000\n\t"]


def paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from paths(child, path + (key,))


def mutated(rnd: random.Random) -> dict[str, Any]:
    pod = orjson.loads(orjson.dumps(BASE))
    if rnd.random() < 0.5:
        pod["metadata"]["annotations"][rnd.choice(ANNOTATIONS)] = rnd.choice(ANNOTATION_VALUES)
    for _ in range(rnd.randint(1, 3)):
        path = rnd.choice(list(paths(pod))[1:])
        parent = pod
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = orjson.loads(orjson.dumps(rnd.choice(JUNK)))
    return pod
