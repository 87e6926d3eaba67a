"""Translation and compile time of each of Istio's chart templates (Go text/template -> Jinja2 -> compiled).

    python bench/compile_bench.py [--rounds N]

Reads ../shared/conformance/istio/templates/. Reports the median of N rounds per template, split into the Go ->
Jinja2 translation and the Jinja2 compile, plus one render of the sidecar template for scale.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workers.templates.gotemplate import translate  # noqa: E402
from workers.templates.jinja import compile_templates, make_environment  # noqa: E402

TEMPLATES = ROOT.parent / "shared" / "conformance" / "istio" / "templates"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not TEMPLATES.is_dir():
        print(f"templates not found at {TEMPLATES}")
        return 1
    env = make_environment()
    print(f"{'template':<34}{'lines':>6}{'translate ms':>14}{'compile ms':>12}{'total ms':>10}")
    for path in sorted(TEMPLATES.glob("*.yaml")):
        source = path.read_text()
        translate_ms, compile_ms = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            jinja_source = translate(path.stem, source)
            middle = time.perf_counter()
            env.from_string(jinja_source)
            end = time.perf_counter()
            translate_ms.append((middle - start) * 1000)
            compile_ms.append((end - middle) * 1000)
        t, c = statistics.median(translate_ms), statistics.median(compile_ms)
        print(f"{path.name:<34}{source.count(chr(10)):>6}{t:>14.1f}{c:>12.1f}{t + c:>10.1f}")
    start = time.perf_counter()
    compile_templates({p.stem: p.read_text() for p in TEMPLATES.glob("*.yaml")}, "go")
    print(f"whole chart set through compile_templates: {(time.perf_counter() - start) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
