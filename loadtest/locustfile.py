"""Load test for the admission webhook: AdmissionReviews over TLS, as kube-apiserver sends them.

Three kinds of traffic, weighted like a busy cluster: pods of one Deployment (identical templates, the common
case and the one a render cache helps), all-distinct pods (no two alike), and large pods (an app container with
2000 env vars, stressing parsing, IPC and the patch). Settings come from the environment (see README.md):
INJECTOR_CA_FILE (trust anchor, from ``injector certs``), INJECTOR_PATH (default /inject),
INJECTOR_TIMEOUT (the ``?timeout=`` the apiserver would append, default 10s).
"""
from __future__ import annotations

import base64
import itertools
import os
import random
import string
import uuid
from typing import Any

import gevent.ssl
import orjson
from locust import FastHttpUser, task

CA_FILE = os.environ.get("INJECTOR_CA_FILE")
WEBHOOK_PATH = f"{os.environ.get('INJECTOR_PATH', '/inject')}?timeout={os.environ.get('INJECTOR_TIMEOUT', '10s')}"
HEADERS = {"Content-Type": "application/json"}
_counter = itertools.count()


def _suffix(length: int = 5) -> str:
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
    app = f"svc-{_suffix()}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{app}-{n}", "namespace": f"team-{n % 50}",
                     "labels": {"app": app, "build": _suffix(8)},
                     "annotations": {"sidecar.istio.io/proxyCPU": f"{random.randint(50, 500)}m",
                                     "note": _suffix(20)}},
        "spec": {"containers": [{
            "name": app, "image": f"registry.example.com/{app}:{n}",
            "ports": [{"containerPort": random.randint(1024, 60000)}],
            "env": [{"name": f"K{i}", "value": _suffix(12)} for i in range(random.randint(1, 20))],
        }]},
    }


def large_pod() -> dict[str, Any]:
    """An app container with 2000 env vars (about 100 KB of JSON)."""
    pod = deployment_pod("bulky", "7b9c5d")
    pod["spec"]["containers"][0]["env"] = [{"name": f"SETTING_{i:04d}", "value": f"value-{i}-{_suffix(24)}"}
                                           for i in range(2000)]
    return pod


def _trust_our_ca(**_: Any) -> gevent.ssl.SSLContext:
    """geventhttpclient passes its own ``cafile`` (None); the webhook's CA is what must be trusted."""
    return gevent.ssl.create_default_context(cafile=CA_FILE)


class _WebhookUser(FastHttpUser):
    abstract = True
    insecure = CA_FILE is None
    ssl_context_factory = staticmethod(_trust_our_ca) if CA_FILE else None

    def admit(self, body: bytes, name: str) -> None:
        with self.client.post(WEBHOOK_PATH, data=body, headers=HEADERS, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.error or (response.text or '')[:200]}")
                return
            reply = orjson.loads(response.content)["response"]
            if not reply.get("allowed"):
                response.failure(reply.get("status", {}).get("message", "denied"))
            elif "patch" not in reply:
                response.failure("allowed without a patch: the pod was not injected")
            else:
                base64.b64decode(reply["patch"], validate=True)


class SameDeploymentUser(_WebhookUser):
    """Scale-ups and rollouts: many replicas of a handful of Deployments."""

    weight = 6

    def on_start(self) -> None:
        self.templates = [deployment_pod(app, _suffix(6)) for app in ("cart", "checkout", "catalog")]

    @task
    def replica(self) -> None:
        self.admit(admission_review(random.choice(self.templates), "shop"), "same-deployment")


class DistinctPodUser(_WebhookUser):
    """Jobs, CI runners and one-off pods: nothing repeats."""

    weight = 3

    @task
    def one_off(self) -> None:
        pod = distinct_pod()
        self.admit(admission_review(pod, pod["metadata"]["namespace"]), "distinct")


class LargePodUser(_WebhookUser):
    """Rare but heavy: the worst case for parsing and for the patch."""

    weight = 1

    def on_start(self) -> None:
        self.pod = large_pod()

    @task
    def large(self) -> None:
        self.admit(admission_review(self.pod, "shop"), "large-2000-env")
