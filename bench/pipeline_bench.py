"""Per-pod cost of the injection pipeline, in one run, against a naive baseline.

    python bench/pipeline_bench.py [--config-dir DIR] [--rounds N]

Scenarios: pods of one Deployment (render cache hits), all-distinct pods (cache misses), a large pod (one app
container with 2000 env vars). Baseline ("naive"): the same pipeline without the render cache, parsing rendered
YAML with PyYAML's ``CSafeLoader`` constructor and diffing with ``jsonpatch.make_patch`` instead of the structural
patch (the straightforward pipeline the performance notes describe). Ratios are the figures to quote: these machines
drift in speed, so only numbers from one interleaved run compare.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import jsonpatch
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.config.snapshot import build_revision_config  # noqa: E402
from workers.facts import RequestFacts  # noqa: E402
from workers import render  # noqa: E402
from workers.render import Injector  # noqa: E402


def deployment_pod(index: int, distinct: bool, env_vars: int = 3) -> bytes:
    suffix = f"-{index}" if distinct else ""
    return orjson.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": f"web{suffix}-7d9f-", "namespace": "shop",
                     "labels": {"app": f"web{suffix}", "pod-template-hash": "7d9f", "version": "v1"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"web{suffix}-7d9f",
                                          "uid": "u", "controller": True}]},
        "spec": {"serviceAccountName": "web", "containers": [{
            "name": "web", "image": "registry.example.com/web:1.0",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(env_vars)],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
    })


class _PyYaml:
    """PyYAML's own C loader in place of the piecewise parse cache."""

    @staticmethod
    def load(text: str) -> object:
        return yaml.load(text, Loader=yaml.CSafeLoader)


def naive_inject(injector: Injector, pod_json: bytes, facts: RequestFacts) -> bytes:
    injector._rendered.clear()
    pod = orjson.loads(pod_json)
    fast, render._RENDERED_YAML = render._RENDERED_YAML, _PyYaml()
    try:
        result = injector.inject_pod(pod, facts)
    finally:
        render._RENDERED_YAML = fast
    return orjson.dumps(jsonpatch.make_patch(result.original, result.pod).patch)


def measure(func: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", help="directory with config, values, mesh (default: embedded)")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    texts = [None, None, None]
    if args.config_dir:
        texts = [(Path(args.config_dir) / name).read_text() for name in ("config", "values", "mesh")]
    injector = Injector(build_revision_config(*texts))
    facts = RequestFacts(namespace="shop", revision="default", native_sidecars=True)
    same = deployment_pod(0, distinct=False)
    counter = iter(range(10**9))
    large = deployment_pod(0, distinct=False, env_vars=2000)
    scenarios: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "same-deployment": (lambda: injector.inject_admission(same, facts),
                            lambda: naive_inject(injector, same, facts)),
        "distinct": (lambda: injector.inject_admission(deployment_pod(next(counter), True), facts),
                     lambda: naive_inject(injector, deployment_pod(next(counter), True), facts)),
        "large-2000-env": (lambda: injector.inject_admission(large, facts),
                           lambda: naive_inject(injector, large, facts)),
    }
    print(f"{'scenario':<18}{'ours p50 ms':>12}{'naive p50 ms':>14}{'speed-up':>10}")
    for name, (ours, naive) in scenarios.items():
        ours(), naive()  # warm up
        ours_samples: list[float] = []
        naive_samples: list[float] = []
        for _ in range(4):  # interleave to cancel CPU-speed drift
            ours_samples += measure(ours, args.rounds // 4)
            naive_samples += measure(naive, args.rounds // 4)
        a, b = statistics.median(ours_samples), statistics.median(naive_samples)
        print(f"{name:<18}{a:>12.3f}{b:>14.3f}{b / a:>9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
