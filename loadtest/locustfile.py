"""Load test for the admission webhook: AdmissionReviews over TLS, as kube-apiserver sends them.

Three kinds of traffic, weighted like a busy cluster: pods of one Deployment (identical templates, the common
case and the one a render cache helps), all-distinct pods (no two alike), and large pods (an app container with
2000 env vars, stressing parsing, IPC and the patch). Settings come from the environment (see README.md):
INJECTOR_CA_FILE (trust anchor, from ``injector certs``), INJECTOR_PATH (default /inject),
INJECTOR_TIMEOUT (the ``?timeout=`` the apiserver would append, default 10s).
"""
from __future__ import annotations

import base64
import os
import random
from typing import Any

import gevent.ssl
import orjson
from locust import FastHttpUser, task
from pods import random_suffix, admission_review, deployment_pod, distinct_pod, large_pod  # locust puts this dir on sys.path

CA_FILE = os.environ.get("INJECTOR_CA_FILE")
WEBHOOK_PATH = f"{os.environ.get('INJECTOR_PATH', '/inject')}?timeout={os.environ.get('INJECTOR_TIMEOUT', '10s')}"
HEADERS = {"Content-Type": "application/json"}
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
        self.templates = [deployment_pod(app, random_suffix(6)) for app in ("cart", "checkout", "catalog")]

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
