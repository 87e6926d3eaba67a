"""Never a 500 on input: every reply to /inject is an AdmissionReview (with the uid when one was readable) or a 4xx
with a reason, over real TLS with the real render pipeline. The hostile bodies of issue 11 one by one, then a
seeded fuzz of whole requests (reviews, pods, headers, encodings, truncation)."""
from __future__ import annotations

import copy
import gzip
import random
import zlib
from typing import Any, Callable

import orjson
import pytest

from tests.malformed_pods import mutated
from tests.server.conftest import MakeWebhook, Webhook, metric, pod, review
from tests.server.test_real_render import REAL

UID = "uid-1"


def _nested(depth: int) -> bytes:
    """A review whose pod carries an unknown field nested ``depth`` objects deep."""
    inner = "1"
    for _ in range(depth):
        inner = '{"a":' + inner + "}"
    obj = orjson.dumps(pod()).decode()[:-1] + ',"x":' + inner + "}"
    return (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"' + UID.encode()
            + b'","object":' + obj.encode() + b"}}")


def _with(path: tuple, value: Any, annotations: dict[str, str] | None = None) -> bytes:
    obj = pod(annotations=annotations)
    obj["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    node: Any = obj
    for key in path[:-1]:
        node = node[key]
    if path:
        node[path[-1]] = value
    return orjson.dumps(review(obj, uid=UID))


VALID = orjson.dumps(review(pod(), uid=UID))

def _bomb(compress: Callable[[bytes], bytes], filler: bytes) -> Callable[[], bytes]:
    """64 MB that compress to a few KB, built when the test runs (not when the module is collected)."""
    return lambda: compress(b'{"a":"' + filler * 64_000_000 + b'"}')


CASES: dict[str, tuple[bytes | Callable[[], bytes], dict[str, str], int, str]] = {
    # name: (body, extra headers, expected status, expected text in the reply)
    "nested-255": (_nested(255), {}, 200, "nested too deeply"),
    "nested-600": (_nested(600), {}, 200, "nested too deeply"),
    "nested-1100": (_nested(1100), {}, 200, "couldn't decode admission review"),
    "gzip-invalid": (VALID, {"Content-Encoding": "gzip"}, 400, "cannot read the request body"),
    "deflate-invalid": (b"not deflate", {"Content-Encoding": "deflate"}, 400, "cannot read the request body"),
    "gzip-valid": (gzip.compress(VALID), {"Content-Encoding": "gzip"}, 200, '"allowed":true'),
    "gzip-bomb": (_bomb(gzip.compress, b"x"), {"Content-Encoding": "gzip"}, 413, "Request entity too large"),
    "deflate-bomb": (_bomb(zlib.compress, b" "), {"Content-Encoding": "deflate"}, 413, "Request entity too large"),
    "userVolume-list": (_with((), None, {"sidecar.istio.io/userVolume": "[1, 2]"}), {}, 200,
                        "sidecar.istio.io/userVolume must be a JSON object"),
    "userVolume-string": (_with((), None, {"sidecar.istio.io/userVolume": '{"v": "x"}'}), {}, 200,
                          "sidecar.istio.io/userVolume must be a JSON object"),
    "userVolumeMount-number": (_with((), None, {"sidecar.istio.io/userVolumeMount": '{"v": 5}'}), {}, 200,
                               "sidecar.istio.io/userVolumeMount must be a JSON object"),
    "userVolume-wrong-field": (_with((), None, {"sidecar.istio.io/userVolume": '{"v": {"emptyDir": 5}}'}), {}, 200,
                               "Go struct field Volume.spec.volumes.emptyDir"),
    "string-field-1e300": (_with(("spec", "containers", 0, "image"), 1e300), {}, 200,
                           "cannot unmarshal number into Go struct field Container.spec.containers.image"),
    "image-true": (_with(("spec", "containers", 0, "image"), True), {}, 200,
                   "cannot unmarshal bool into Go struct field Container.spec.containers.image of type string"),
    "containerPort-2**40": (_with(("spec", "containers", 0, "ports", 0, "containerPort"), 2**40), {}, 200,
                            "cannot unmarshal number 1099511627776 into Go struct field "
                            "ContainerPort.spec.containers.ports.containerPort of type int32"),
    "containerPort-float": (_with(("spec", "containers", 0, "ports", 0, "containerPort"), 80.5), {}, 200,
                            "of type int32"),
    "quantity-exponent": (_with(("spec", "containers", 0, "resources"), {"limits": {"cpu": "1e2147483647"}}), {},
                          200, '"allowed":true'),
}


@pytest.fixture
async def webhook(make_webhook: MakeWebhook) -> Webhook:
    return await make_webhook(workers=1, **REAL)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_hostile_bodies_get_a_review_or_a_4xx(webhook: Webhook, name: str) -> None:
    body, headers, status, text = CASES[name]
    if callable(body):
        body = body()
    async with webhook.session.post(webhook.url("/inject"), data=body, headers={
            "Content-Type": "application/json", **headers}) as response:
        assert response.status == status
        reply = await response.read()
    assert text in reply.decode()
    if status == 200:
        review_reply = orjson.loads(reply)
        assert review_reply["response"]["uid"] == ("" if name == "nested-1100" else UID)
    assert metric(await webhook.metrics(), 'sidecar_injection_failure_total{type="internal"}') == 0


def _fuzzed_request(rnd: random.Random) -> tuple[bytes, dict[str, str], str | None]:
    """A request body, headers, and the uid the reply must echo (None: not required to be readable)."""
    document: Any = review(mutated(rnd), uid=f"fuzz-{rnd.randrange(10**6)}")
    uid: str | None = document["request"]["uid"]
    roll = rnd.random()
    if roll < 0.15:  # wrong types in the review itself
        document = copy.deepcopy(document)
        field = rnd.choice(["uid", "kind", "operation", "namespace", "object", "request", "apiVersion"])
        target = document if field in ("request", "apiVersion") else document["request"]
        target[field] = rnd.choice([None, 1, [], {}, "x", True, 1e300])
        uid = None
    body = orjson.dumps(document)
    headers = {"Content-Type": "application/json"}
    roll = rnd.random()
    if roll < 0.1:
        body, uid = body[:rnd.randrange(len(body))], None  # truncated
    elif roll < 0.15:
        body, uid = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))), None
    elif roll < 0.25:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif roll < 0.3:
        headers["Content-Encoding"], uid = rnd.choice(["gzip", "deflate", "br", "zstd", "x-unknown"]), None
    elif roll < 0.35:
        headers["Content-Type"], uid = rnd.choice(["text/plain", "application/json; charset=utf-8", ""]), None
    return body, headers, uid


@pytest.mark.parametrize("seed", range(3))
async def test_fuzzed_requests_never_get_a_5xx(webhook: Webhook, seed: int) -> None:
    rnd = random.Random(seed)
    seen: set[int] = set()
    for _ in range(120):
        body, headers, uid = _fuzzed_request(rnd)
        async with webhook.session.post(webhook.url("/inject?timeout=10s"), data=body,
                                        headers=headers) as response:
            seen.add(response.status)
            reply = await response.read()
        assert response.status == 200 or 400 <= response.status < 500, (response.status, reply, body[:200])
        if response.status == 200:
            answer = orjson.loads(reply)["response"]
            assert isinstance(answer["allowed"], bool)
            if uid is not None:
                assert answer["uid"] == uid
        else:
            assert reply.strip(), response.status  # a 4xx says why
    assert 200 in seen and any(400 <= status < 500 for status in seen)
    assert metric(await webhook.metrics(), 'sidecar_injection_failure_total{type="internal"}') == 0
