"""CPU per request of the render worker on the locust traffic mix, with Python's default GC thresholds vs ours.

    python bench/worker_mix_bench.py [--requests N] [--rounds R]

The mix is the load test's (6 same-Deployment : 3 distinct : 1 large pod, from loadtest/pods.py). Each
setting runs in its own fresh process, alternating R times, so both see the same machine drift.
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_mix(requests: int, worker_gc: bool) -> float:
    """Milliseconds of CPU per injection over ``requests`` pods of the load-test mix."""
    sys.path.insert(0, str(ROOT))
    import orjson

    from workers.config.snapshot import build_revision_config
    from workers.facts import RequestFacts
    from workers import gc_policy
    from workers.render import Injector
    from loadtest import pods

    injector = Injector(build_revision_config(None, None, None))
    gc.collect()
    gc.freeze()  # as the worker does after loading a generation
    if worker_gc:
        gc_policy.apply()
    rnd = random.Random(1)
    same = [lambda: pods.deployment_pod(rnd.choice(["checkout", "cart", "search"]), "5d8f7c9b4")]
    makers = same * 6 + [pods.distinct_pod] * 3 + [pods.large_pod]
    bodies = [orjson.dumps(rnd.choice(makers)()) for _ in range(requests)]
    facts = RequestFacts(namespace="shop")
    start = time.process_time()
    for body in bodies:
        injector.inject_admission(body, facts)
    return (time.process_time() - start) / requests * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=("default", "worker"))
    args = parser.parse_args()
    if args.child:
        print(run_mix(args.requests, args.child == "worker"))
        return 0
    results: dict[str, list[float]] = {"default": [], "worker": []}
    for _ in range(args.rounds):
        for setting in results:
            out = subprocess.run([sys.executable, __file__, "--child", setting, "--requests", str(args.requests)],
                                 check=True, capture_output=True, text=True).stdout
            results[setting].append(float(out))
    default, worker = statistics.median(results["default"]), statistics.median(results["worker"])
    print(f"CPU ms per request, load-test mix: default GC {default:.2f}, worker GC {worker:.2f} "
          f"({default / worker:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
