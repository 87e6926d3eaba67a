"""Per-call cost of the pipeline's pure tree functions: normalize_pod, strategic_merge, create_patch.

    python bench/micro_bench.py [--rounds N] [--baseline GIT_REV]

Inputs: the small pod of ``pipeline_bench`` and the same pod with 2000 env vars, injected once with the default
config to get the realistic shapes: the raw pod (as parsed from the AdmissionReview), the injected pod as plain
JSON (what normalize_pod sees after post-processing), a template-like patch (the injected metadata, init
containers, proxy container and volumes) and the typed original/final pair the patch is computed from.

With ``--baseline`` the same functions are also imported from ``workers/`` at that git revision and the two are
measured interleaved in one process, so the ratio is immune to the CPU-speed drift of these machines.
"""
from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline_bench import deployment_pod  # noqa: E402
from workers.config.snapshot import build_revision_config  # noqa: E402
from workers.facts import RequestFacts  # noqa: E402
from workers.render import Injector  # noqa: E402

PROXY = "istio-proxy"
_MODULES = ("workers.k8s.types", "workers.merge", "workers.patch")


def implementation() -> SimpleNamespace:
    """The functions under test from the working tree."""
    types, merge, patch = (importlib.import_module(name) for name in _MODULES)
    return SimpleNamespace(normalize_pod=types.normalize_pod, strategic_merge=merge.strategic_merge,
                           create_patch=patch.create_patch)


def baseline(rev: str, workdir: Path) -> SimpleNamespace:
    """The functions under test from ``workers/`` at ``rev``, imported beside the working tree's modules.

    The revision's package is unpacked into ``workdir`` and imported with the current ``workers`` modules
    hidden; afterwards the current ones are restored, while the baseline functions keep their own globals.
    """
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "workers"], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(workdir, filter="data")
    current = {name: mod for name, mod in sys.modules.items() if name == "workers" or name.startswith("workers.")}
    for name in current:
        del sys.modules[name]
    sys.path.insert(0, str(workdir))
    try:
        return implementation()
    finally:
        sys.path.remove(str(workdir))
        for name in [n for n in sys.modules if n == "workers" or n.startswith("workers.")]:
            del sys.modules[name]
        sys.modules.update(current)


def plain(value: Any) -> Any:
    """JSON data without OrderedStruct, as a caller holding parsed JSON would have it."""
    return orjson.loads(orjson.dumps(value))


def template_like_patch(final: dict) -> dict:
    """What an injection template renders: annotations/labels, inits, the proxy container and the volumes."""
    spec = final["spec"]
    return plain({
        "metadata": {"annotations": final["metadata"].get("annotations") or {},
                     "labels": final["metadata"].get("labels") or {}},
        "spec": {"initContainers": spec.get("initContainers") or [],
                 "containers": [c for c in spec["containers"] if c["name"] == PROXY],
                 "volumes": spec.get("volumes") or []},
    })


def cases(injector: Injector, facts: RequestFacts, env_vars: int) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Named calls: function name and arguments."""
    raw = orjson.loads(deployment_pod(0, distinct=False, env_vars=env_vars))
    result = injector.inject_pod(raw, facts)
    final = plain(result.pod)
    return {
        "normalize_pod(raw pod)": ("normalize_pod", (raw,)),
        "normalize_pod(injected pod)": ("normalize_pod", (final,)),
        "strategic_merge(typed pod, template)": ("strategic_merge", (result.original, template_like_patch(final))),
        "create_patch(original, final)": ("create_patch", (result.original, result.pod)),
    }


def median_ms(func: Callable[..., Any], args: tuple[Any, ...], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func(*args)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--baseline", metavar="GIT_REV", help="also measure workers/ at this revision")
    args = parser.parse_args()
    injector = Injector(build_revision_config(None, None, None))
    facts = RequestFacts(namespace="shop", revision="default", native_sidecars=True)
    impls = {"current": implementation()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            impls = {"baseline": baseline(args.baseline, Path(tmp)), **impls}
        header = "".join(f"{name + ' ms':>14}" for name in impls)
        print(f"{'call':<48}{header}{'speed-up':>10}" if args.baseline else f"{'call':<48}{header}")
        for size in (3, 2000):
            for label, (func_name, call_args) in cases(injector, facts, size).items():
                funcs = [getattr(impl, func_name) for impl in impls.values()]
                samples: list[list[float]] = [[] for _ in funcs]
                for func in funcs:
                    func(*call_args)  # warm up
                for _ in range(4):  # interleave to cancel CPU-speed drift
                    for func, out in zip(funcs, samples):
                        out += median_ms(func, call_args, max(1, args.rounds // 4))
                medians = [statistics.median(s) for s in samples]
                row = f"{label + f' [{size} env]':<48}" + "".join(f"{m:>14.4f}" for m in medians)
                if args.baseline:
                    row += f"{medians[0] / medians[1]:>9.1f}x"
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
