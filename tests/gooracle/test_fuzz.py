"""Seeded random templates (fuzz.py) through Go and ours: no differences. The default run uses a fixed seed and a
budget that keeps the suite quick; INJECTOR_FUZZ_BUDGET / INJECTOR_FUZZ_SEED run more, or other, templates."""
from __future__ import annotations

import os

from tests.gooracle import fuzz
from tests.gooracle.client import Oracle


def test_random_templates_agree_with_go(oracle: Oracle) -> None:
    budget = int(os.environ.get("INJECTOR_FUZZ_BUDGET", fuzz.DEFAULT_BUDGET))
    seed = int(os.environ.get("INJECTOR_FUZZ_SEED", fuzz.DEFAULT_SEED))
    report = fuzz.run(oracle, budget, seed)
    shown = "\n".join(f"[{shape}] {template}\n  go:   {go[:300]}\n  ours: {us[:300]}"
                      for template, shape, go, us in report.mismatches[:5])
    assert not report.mismatches, (
        f"seed {seed}: {len(report.mismatches)}/{report.cases} templates differ ({report.rate:.2%}):\n{shown}")


def test_the_fuzzer_is_deterministic_and_varied() -> None:
    import random
    first = [fuzz.TemplateFuzzer(random.Random(7)).case() for _ in range(1)]
    again = [fuzz.TemplateFuzzer(random.Random(7)).case() for _ in range(1)]
    assert first == again
    gen = fuzz.TemplateFuzzer(random.Random(fuzz.DEFAULT_SEED))
    cases = [gen.case() for _ in range(300)]
    assert len({t for t, _ in cases}) > 290
    used = {name for t, _ in cases for name in fuzz._FUNCTIONS if f" {name} " in f" {t} "}
    assert len(used) > 150  # most of the map appears within a few hundred templates
