"""Istio's golden files as acceptance tests: Istio's own Go templates through kube-inject and the webhook path,
and our embedded Jinja2 templates through kube-inject (cases whose config is ``default``)."""
from __future__ import annotations

import pytest

from tests.conformance import corpus
from tests.conformance.expected_failures import (KUBE_INJECT_EMBEDDED_JINJA, KUBE_INJECT_ISTIO_TEMPLATES,
                                                 WEBHOOK_ISTIO_TEMPLATES)

pytestmark = [pytest.mark.conformance, pytest.mark.skipif(not corpus.available(), reason=corpus.MISSING_REASON)]


def _params(selected: list[dict], expected: dict[str, str]) -> list:
    return [pytest.param(case, id=case["name"],
                         marks=[pytest.mark.xfail(reason=expected[case["name"]], strict=True)]
                         if case["name"] in expected else [])
            for case in selected]


KUBE_CASES = [c for c in corpus.cases() if c.get("kube_inject", True)]
WEBHOOK_CASES = [c for c in corpus.cases() if c.get("webhook", True) and "golden" in c]
JINJA_CASES = [c for c in corpus.cases()
               if c["config"] == "default" and "expect_error" not in c and c.get("kube_inject", True)
               and corpus.template_names_used(c) <= corpus.DEFAULT_TEMPLATE_NAMES]


@pytest.mark.parametrize("case", _params(KUBE_CASES, KUBE_INJECT_ISTIO_TEMPLATES))
def test_kube_inject_with_istio_templates(case: dict) -> None:
    outcome = corpus.run_kube_inject(case, istio_templates=True)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("case", _params(WEBHOOK_CASES, WEBHOOK_ISTIO_TEMPLATES))
def test_webhook_with_istio_templates(case: dict) -> None:
    outcome = corpus.run_webhook(case)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("case", _params(JINJA_CASES, KUBE_INJECT_EMBEDDED_JINJA))
def test_kube_inject_with_embedded_jinja_templates(case: dict) -> None:
    outcome = corpus.run_kube_inject(case, istio_templates=False)
    assert outcome.passed, outcome.detail
