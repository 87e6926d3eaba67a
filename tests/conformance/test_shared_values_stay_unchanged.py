"""Typed values and cached renders are shared between pipeline steps and between requests, never copied: no step
may change one in place. Over every webhook and kube-inject case of the corpus, the typed original and every
cached template output must read the same after injecting (twice, so the second run uses the caches)."""
from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conformance import corpus
from workers import render

pytestmark = [pytest.mark.conformance,
              pytest.mark.skipif(not corpus.available(), reason=corpus.MISSING_REASON)]


def _frozen(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@pytest.fixture
def originals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, bytes]]:
    """Every typed original the injector decodes, with its serialisation at the moment it was made."""
    made: list[tuple[Any, bytes]] = []
    for name in ("decode_pod_json", "normalize_pod"):
        decode = getattr(render, name)

        def recording(pod: Any, decode: Any = decode) -> Any:
            out = decode(pod)
            made.append((out, _frozen(out)))
            return out

        monkeypatch.setattr(render, name, recording)
    return made


def _cached(injector: render.Injector) -> list[tuple[Any, bytes]]:
    return [(value, _frozen(value)) for value in injector._rendered.values()]


def _assert_unchanged(values: list[tuple[Any, bytes]], what: str) -> None:
    changed = [i for i, (value, frozen) in enumerate(values) if _frozen(value) != frozen]
    assert not changed, f"{len(changed)} {what} changed in place"


def _webhook_cases() -> list[dict]:
    return [c for c in corpus.cases() if "golden" in c and c.get("webhook", True)]


@pytest.mark.parametrize("case", _webhook_cases(), ids=lambda c: c["name"])
def test_webhook_injection_changes_no_shared_value(case: dict, originals: list[tuple[Any, bytes]]) -> None:
    injector = corpus.injector_for(case, istio_templates=True, webhook=True)
    cluster = corpus.cluster_for(case)
    for pod, namespace, _ in corpus.webhook_pairs(case):
        facts = cluster.facts_for(pod, namespace, "default", {})
        try:
            first = injector.inject_admission(orjson.dumps(pod), facts)
        except Exception:  # noqa: BLE001 - cases whose injection fails are checked by the conformance tests
            continue
        cached = _cached(injector)
        assert injector.inject_admission(orjson.dumps(pod), facts) == first
        _assert_unchanged(cached, "cached renders")
    _assert_unchanged(originals, "typed originals")


@pytest.mark.parametrize("case", [c for c in corpus.cases() if c.get("kube_inject", True) and "golden" in c],
                         ids=lambda c: c["name"])
def test_kube_inject_changes_no_shared_value(case: dict, originals: list[tuple[Any, bytes]]) -> None:
    first = corpus.run_kube_inject(case, istio_templates=True)
    cached = _cached(corpus.injector_for(case, istio_templates=True))
    again = corpus.run_kube_inject(case, istio_templates=True)
    assert again == first
    _assert_unchanged(cached, "cached renders")
    _assert_unchanged(originals, "typed originals")
