"""Event-loop cost of metrics: prometheus-client (``injector.metrics``) vs the hand-written module it replaced.

    python bench/metrics_bench.py [--baseline-rev 47054ab] [--rounds 7] [--n 200000]

The baseline is read from git (``git show REV:injector/metrics.py``, the last hand-written version) and imported
under another name, so the tree holds no copy of it. Interleaved rounds, best of each, reported as a ratio:

- per admission: what the handler records for one injected pod. Baseline: Istio's three updates (requests,
  success, duration). Ours: ``observe_admission`` (the same three plus the per-revision counter and histogram),
  and the same three Istio updates alone for an equal-work comparison;
- per scrape: one exposition with a few revisions' worth of series (ours also runs the process, platform and GC
  collectors, which read /proc).
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from injector.metrics import InjectorMetrics  # noqa: E402


def load_baseline(rev: str) -> ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:injector/metrics.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_metrics.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_metrics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def per_call(fn: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-rev", default="47054ab")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()

    baseline = load_baseline(args.baseline_rev).create_metrics()
    ours = InjectorMetrics()
    for revision in ("default", "canary", "stable"):
        baseline.config_generation.set(1, revision)
        baseline.config_reloads.inc(revision)
        ours.revision_installed(revision, 1)
        ours.observe_admission(revision, "injected", "", 0.004)
    baseline.failure.inc("timeout")
    ours.observe_admission("", "denied", "timeout", 0.5)
    baseline.queue_depth.read = lambda: 0
    baseline.workers_busy.read = lambda: 0
    ours.watch(queue_depth=lambda: 0, busy=lambda: 0, worker_pids=lambda: [], ready=lambda: True,
               revision_queue_depths=lambda: {"default": 0, "canary": 0, "stable": 0})

    def baseline_admission() -> None:
        baseline.requests.inc()
        baseline.success.inc()
        baseline.duration.observe(0.004)

    def ours_istio_only() -> None:
        ours.requests.inc()
        ours.success.inc()
        ours.duration.observe(0.004)

    def ours_admission() -> None:
        ours.observe_admission("canary", "injected", "", 0.004)

    cases: dict[str, tuple[Callable[[], None], int]] = {
        "admission: baseline (3 Istio updates)": (baseline_admission, args.n),
        "admission: ours, same 3 updates": (ours_istio_only, args.n),
        "admission: ours, observe_admission (5 updates)": (ours_admission, args.n),
        "scrape: baseline render()": (baseline.render, max(args.n // 1000, 50)),
        "scrape: ours exposition() text 0.0.4": (lambda: ours.exposition(None), max(args.n // 1000, 50)),
        "scrape: ours exposition() OpenMetrics": (
            lambda: ours.exposition("application/openmetrics-text; version=1.0.0"), max(args.n // 1000, 50)),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(args.rounds):
        for name, (fn, n) in cases.items():
            best[name] = min(best[name], per_call(fn, n))
    admission_base = best["admission: baseline (3 Istio updates)"]
    scrape_base = best["scrape: baseline render()"]
    for name, seconds in best.items():
        base = scrape_base if name.startswith("scrape") else admission_base
        print(f"{name:50s} {seconds * 1e6:9.2f} us   x{seconds / base:5.2f} of baseline")


if __name__ == "__main__":
    main()
