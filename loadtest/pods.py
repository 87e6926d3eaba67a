"""The pods and AdmissionReviews the load test sends, shared with the benchmarks in bench/.

Kept free of locust and gevent so a benchmark can import it without gevent's monkey-patching.
"""
from __future__ import annotations

import itertools
import random
import string
import uuid
from typing import Any

import orjson

_counter = itertools.count()


def random_suffix(length: int = 5) -> str:
    """Lower-case letters and digits: valid in names, labels and image tags."""
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def admission_review(pod: dict[str, Any], namespace: str) -> bytes:
    return orjson.dumps({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": namespace,
            "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod, "dryRun": False,
        },
    })


def deployment_pod(app: str, template_hash: str) -> dict[str, Any]:
    """A ReplicaSet's pod: only generateName and the object's uid differ between replicas."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": f"{app}-{template_hash}-", "namespace": "shop",
            "labels": {"app": app, "version": "v1", "pod-template-hash": template_hash},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-{template_hash}",
                                 "uid": "6f1c1c9e-0000-4000-8000-000000000001", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "serviceAccountName": app,
            "containers": [{
                "name": app, "image": f"registry.example.com/{app}:1.4.2",
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            }],
        },
    }


def distinct_pod() -> dict[str, Any]:
    """Every field that can vary does: name, labels, image, ports, annotations."""
    n = next(_counter)
    app = f"svc-{random_suffix()}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{app}-{n}", "namespace": f"team-{n % 50}",
                     "labels": {"app": app, "build": random_suffix(8)},
                     "annotations": {"sidecar.istio.io/proxyCPU": f"{random.randint(50, 500)}m",
                                     "note": random_suffix(20)}},
        "spec": {"containers": [{
            "name": app, "image": f"registry.example.com/{app}:{n}",
            "ports": [{"containerPort": random.randint(1024, 60000)}],
            "env": [{"name": f"K{i}", "value": random_suffix(12)} for i in range(random.randint(1, 20))],
        }]},
    }


def large_pod() -> dict[str, Any]:
    """An app container with 2000 env vars (about 100 KB of JSON)."""
    pod = deployment_pod("bulky", "7b9c5d")
    pod["spec"]["containers"][0]["env"] = [{"name": f"SETTING_{i:04d}", "value": f"value-{i}-{random_suffix(24)}"}
                                           for i in range(2000)]
    return pod
