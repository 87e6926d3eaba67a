"""What ``injector audit`` and ``/debug/stale`` cost: audit time per pod, and the pod cache's memory per pod.

    python bench/audit_bench.py [--config-dir DIR] [--deployments N] [--replicas R] [--rounds K]

Pods are stored as the apiserver stores them (injected by the revision, defaults and token mount added), N
Deployments of R replicas each. Audit: median seconds per pod over K rounds for current pods and for stale pods
(after a values change), with the same inputs the server ships to its audit process (``audit_serialized`` over
trimmed blobs). Memory: bytes per pod of the informer's trimmed blob against the full pod as parsed Python objects
(tracemalloc), which is what an untrimmed cache would hold.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from injector.audit import AuditInputs, audit_serialized  # noqa: E402
from injector.cluster_facts import ClusterFacts  # noqa: E402
from injector.sources.kube_pods import trim_pod  # noqa: E402
from workers.config.snapshot import build_revision_config  # noqa: E402
from workers.k8s.defaults import TOKEN_MOUNT_PATH, with_api_defaults  # noqa: E402
from workers.render import Injector  # noqa: E402

ISTIO_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "istio" / "configs" / "default"
CLUSTER = ClusterFacts(namespaces={"shop": {"labels": {"istio.io/rev": "default"}, "annotations": {}}})


def texts(directory: Path | None) -> tuple[str | None, str | None, str | None]:
    """Istio's default install when the corpus is beside the checkout (or ``--config-dir``), else embedded."""
    directory = directory or (ISTIO_DEFAULT if (ISTIO_DEFAULT / "config.yaml").exists() else None)
    if directory is None:
        return None, None, None
    names = ("config.yaml", "values.json", "mesh.yaml") if (directory / "config.yaml").exists() else \
        ("config", "values", "mesh")
    return tuple((directory / name).read_text() for name in names)  # type: ignore[return-value]


def stored_pods(config: tuple, deployments: int, replicas: int) -> list[dict]:
    snapshot = build_revision_config(*config, revision="default")
    injector = Injector(snapshot)
    facts = CLUSTER.facts_for({"spec": {}}, "shop", "default", webhook=True)
    pods = []
    for d in range(deployments):
        for r in range(replicas):
            rs = f"app{d}-5d8f9"
            pod = {"metadata": {"name": f"{rs}-{r:05d}", "generateName": f"{rs}-", "namespace": "shop",
                                "uid": f"u-{d}-{r}", "resourceVersion": str(1000 + r),
                                "labels": {"app": f"app{d}", "pod-template-hash": "5d8f9"},
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                                     "uid": "rs", "controller": True}],
                                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                                                   "fieldsV1": {"f:metadata": {"f:labels": {}}}}]},
                   "spec": {"containers": [{
                       "name": "app", "image": f"registry.example/app{d}:1.0",
                       "ports": [{"name": "http", "containerPort": 8080}],
                       "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(10)],
                       "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                       "volumeMounts": [{"name": "kube-api-access-x", "mountPath": TOKEN_MOUNT_PATH,
                                         "readOnly": True}]}],
                       "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [
                           {"serviceAccountToken": {"path": "token"}}]}}],
                       "nodeName": f"node-{r % 7}"},
                   "status": {"phase": "Running", "podIP": "10.0.0.1",
                              "conditions": [{"type": "Ready", "status": "True"}]}}
            injected = with_api_defaults(injector.inject_pod(with_api_defaults(pod), facts).pod)
            injected["status"] = pod["status"]
            injected["metadata"]["managedFields"] = pod["metadata"]["managedFields"]
            pods.append(injected)
    return pods


def per_pod_seconds(blobs: list[bytes], inputs: AuditInputs, rounds: int) -> tuple[float, dict]:
    times, report = [], {}
    for _ in range(rounds):
        started = time.perf_counter()
        report = audit_serialized(blobs, inputs)
        times.append((time.perf_counter() - started) / len(blobs))
    return statistics.median(times), report


def python_bytes(make: object) -> int:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = make()  # type: ignore[operator]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return after - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-dir", type=Path)
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    config = texts(args.config_dir)
    pods = stored_pods(config, args.deployments, args.replicas)
    raw = [orjson.dumps(pod) for pod in pods]
    blobs = [trim_pod(orjson.loads(data))["pod"] for data in raw]

    current = AuditInputs({"default": build_revision_config(*config, revision="default")}, CLUSTER)
    values = json.loads(config[1]) if config[1] else None
    if values is None:
        from workers import defaults

        values = json.loads(defaults.default_values_text())
    values["global"]["tag"] = "bench-next"
    changed = AuditInputs({"default": build_revision_config(config[0], json.dumps(values), config[2],
                                                            revision="default")}, CLUSTER)
    audit_serialized(blobs[:1], current)  # compile the templates outside the timing
    audit_serialized(blobs[:1], changed)
    current_s, current_report = per_pod_seconds(blobs, current, args.rounds)
    stale_s, stale_report = per_pod_seconds(blobs, changed, args.rounds)
    assert current_report["counts"]["current"] == len(pods), current_report["counts"]
    assert stale_report["counts"]["stale"] == len(pods), stale_report["counts"]

    full = python_bytes(lambda: [orjson.loads(data) for data in raw]) / len(pods)
    trimmed = python_bytes(lambda: [trim_pod(orjson.loads(data)) for data in raw]) / len(pods)
    print(f"pods: {len(pods)} ({args.deployments} Deployments x {args.replicas}), templates: "
          f"{'Istio default' if config[0] else 'embedded'}")
    print(f"audit, all current : {current_s * 1e3:.2f} ms/pod ({1 / current_s:.0f} pods/s)")
    print(f"audit, all stale   : {stale_s * 1e3:.2f} ms/pod ({1 / stale_s:.0f} pods/s)")
    print(f"pod JSON from the apiserver: {statistics.mean(map(len, raw)):.0f} B; trimmed blob: "
          f"{statistics.mean(map(len, blobs)):.0f} B")
    print(f"cache memory per pod: full parsed pod {full:.0f} B, trimmed cache entry {trimmed:.0f} B "
          f"({full / trimmed:.1f}x less)")


if __name__ == "__main__":
    main()
