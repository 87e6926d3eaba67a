"""Conformance counts for notes: pass / byte-identical / fail per path, with the first difference of each failure.

    python bench/conformance_report.py            # all three paths
    python bench/conformance_report.py --path go  # one of: go, webhook, jinja
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conformance import corpus  # noqa: E402


def _report(title: str, selected: list[dict], run) -> None:
    passed = identical = 0
    failures = []
    started = time.perf_counter()
    for case in selected:
        try:
            outcome = run(case)
        except Exception as exc:  # a crash is a failure to report, not a reason to stop the report
            failures.append((case["name"], f"crashed: {type(exc).__name__}: {exc}"))
            continue
        if outcome.passed:
            passed += 1
            identical += int(getattr(outcome, "byte_identical", False))
        else:
            failures.append((case["name"], outcome.detail))
    elapsed = time.perf_counter() - started
    extra = f", {identical} byte-identical" if run is not corpus.run_webhook else ""
    print(f"{title}: {passed}/{len(selected)} passed{extra} ({elapsed:.1f}s)")
    for name, detail in failures:
        print(f"  FAIL {name}: {detail[:400]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", choices=("go", "webhook", "jinja"), action="append")
    args = parser.parse_args()
    if not corpus.available():
        print(corpus.MISSING_REASON)
        return 1
    paths = args.path or ["go", "webhook", "jinja"]
    cases = corpus.cases()
    if "go" in paths:
        _report("kube-inject, Istio templates", [c for c in cases if c.get("kube_inject", True)],
                lambda c: corpus.run_kube_inject(c, istio_templates=True))
    if "webhook" in paths:
        _report("webhook (in-process), Istio templates", [c for c in cases if c.get("webhook", True) and "golden" in c],
                corpus.run_webhook)
    if "jinja" in paths:
        selected = [c for c in cases if c["config"] == "default" and "expect_error" not in c
                    and c.get("kube_inject", True) and corpus.template_names_used(c) <= corpus.DEFAULT_TEMPLATE_NAMES]
        _report("kube-inject, embedded Jinja2 templates", selected,
                lambda c: corpus.run_kube_inject(c, istio_templates=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
