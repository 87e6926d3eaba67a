"""Istio's corpus through the real server: every webhook case sent as an AdmissionReview over HTTPS.

One TLS server with the real render pipeline serves one revision per distinct case config (config, mesh patch,
environment) under ``/rev/<key>/inject``; the patch returned over the wire is applied and compared as the
in-process harness does, so both paths must match the same cases.
"""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import jsonpatch
import orjson
import pytest

from injector.app import install_snapshot
from tests.conformance import corpus
from workers.config.snapshot import build_revision_config
from tests.conformance.expected_failures import WEBHOOK_ISTIO_TEMPLATES
from tests.server.conftest import MakeWebhook

pytestmark = [pytest.mark.conformance, pytest.mark.skipif(not corpus.available(), reason=corpus.MISSING_REASON)]

CASES = [c for c in corpus.cases() if c.get("webhook", True) and "golden" in c]


def _key(case: dict[str, Any]) -> str:
    return json.dumps([case["config"], case.get("mesh_patch") or {}, case["environment"]], sort_keys=True)


async def test_corpus_over_https(make_webhook: MakeWebhook) -> None:
    keys = sorted({_key(c) for c in CASES})
    revision_of = {key: f"case{index}" for index, key in enumerate(keys)}
    clusters = {revision_of[_key(c)]: corpus.cluster_for(c) for c in CASES}

    def facts_for(pod: dict, namespace: str, revision: str, path_env: dict) -> Any:
        # every case runs as revision "default", as in Istio's harness; the route only picks the config
        return clusters[revision].facts_for(pod, namespace, "default", path_env)

    webhook = await make_webhook(job="workers.render:Injector", build=build_revision_config, facts_for=facts_for,
                                 workers=2)
    for case in CASES:
        revision = revision_of[_key(case)]
        if webhook.services.registry.get(revision) is None:
            snapshot = replace(corpus.injector_for(case, istio_templates=True, webhook=True).config,
                               revision=revision, generation=webhook.services.registry.next_generation())
            await install_snapshot(webhook.services, snapshot, source=f"corpus {revision}")

    failures = []
    for case in CASES:
        revision = revision_of[_key(case)]
        for index, (pod, namespace, golden) in enumerate(corpus.webhook_pairs(case)):
            reply = await webhook.admit(pod, path=f"/rev/{revision}/inject", namespace=namespace,
                                        uid=f"{case['name']}-{index}")
            response = reply["response"]
            assert response["allowed"], (case["name"], response.get("status"))
            patched = pod
            if "patch" in response:
                patched = jsonpatch.apply_patch(pod, orjson.loads(base64.b64decode(response["patch"])))
            outcome = corpus.compare_webhook_result(patched, golden)
            if not outcome.passed:
                failures.append(f"{case['name']}: {outcome.detail}")
    unexpected = [f for f in failures if f.split(":", 1)[0] not in WEBHOOK_ISTIO_TEMPLATES]
    assert not unexpected, f"{len(unexpected)}/{len(CASES)} cases differ over HTTPS:\n" + "\n".join(unexpected)
    assert len(failures) == len([c for c in CASES if c["name"] in WEBHOOK_ISTIO_TEMPLATES])
