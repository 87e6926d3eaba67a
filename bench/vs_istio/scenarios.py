"""The request sets of the side-by-side benchmark, from the load test's pods (``loadtest/pods.py``).

Each scenario is a list of AdmissionReview bodies (one JSON line each) generated from a fixed seed, so every run
and both servers see byte-identical requests. The 12-byte token ``__SEQUENCE__`` marks what must differ between
requests; the load generator replaces it with the request's sequence number (Python does the same for the
patch comparison), so a render cache cannot turn "distinct" pods into repeats:

* ``replicas``: pods of one Deployment's ReplicaSet (the apiserver sends them without a name; only the admission
  uid differs), the case a real rollout produces.
* ``distinct``: every pod of its own workload: name, app label, container name and image carry the sequence
  number, so even the rendered sidecar differs from request to request.
* ``env2000``: pods of one Deployment whose app container has 2000 env vars (~100 KB of JSON); one env value
  carries the sequence number, so no two requests are the same pod.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any, Callable

import orjson

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtest import pods  # noqa: E402

TOKEN = "__SEQUENCE__"
NAMESPACE = "shop"
UID = f"6f1c1c9e-0000-4000-8000-{TOKEN}"


def review(pod: dict[str, Any]) -> bytes:
    """An AdmissionReview line whose uid carries the token (12 digits make it a well-formed UUID)."""
    body = orjson.loads(pods.admission_review(pod, NAMESPACE))
    body["request"]["uid"] = UID
    return orjson.dumps(body)


def replicas() -> list[bytes]:
    return [review(pods.deployment_pod("checkout", "5d8f7c9b4"))]


def distinct() -> list[bytes]:
    bodies = []
    for _ in range(64):
        pod = pods.distinct_pod()
        app = f"{pod['metadata']['labels']['app']}-{TOKEN}"
        pod["metadata"]["name"] = app
        pod["metadata"]["labels"]["app"] = app
        container = pod["spec"]["containers"][0]
        container["name"] = app
        container["image"] = f"registry.example.com/{app}:{TOKEN}"
        bodies.append(review(pod))
    return bodies


def env2000() -> list[bytes]:
    bodies = []
    for _ in range(16):
        pod = pods.large_pod()
        pod["spec"]["containers"][0]["env"][0]["value"] = TOKEN
        bodies.append(review(pod))
    return bodies


SCENARIOS: dict[str, Callable[[], list[bytes]]] = {
    "replicas": replicas, "distinct": distinct, "env2000": env2000,
}


def build(name: str, seed: int = 12) -> list[bytes]:
    """The bodies of one scenario; the same seed gives the same pods (``loadtest.pods`` draws from ``random``)."""
    random.seed(seed)
    return SCENARIOS[name]()


def mixed(seed: int = 12) -> list[bytes]:
    """The load test's mix (6 replicas : 3 distinct : 1 env2000), interleaved, for the memory measurement."""
    sets = {name: build(name, seed) for name in SCENARIOS}
    order = ["replicas"] * 6 + ["distinct"] * 3 + ["env2000"]
    used = dict.fromkeys(sets, 0)
    out = []
    for index in range(10 * len(order)):
        name = order[index % len(order)]
        out.append(sets[name][used[name] % len(sets[name])])
        used[name] += 1
    return out


def request_for(bodies: list[bytes], seq: int) -> tuple[bytes, str]:
    """What the load generator sends as request number ``seq``: body and uid."""
    digits = f"{seq:012d}"
    return bodies[seq % len(bodies)].replace(TOKEN.encode(), digits.encode()), UID.replace(TOKEN, digits)


def write(bodies: list[bytes], path: Path) -> Path:
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path
