"""A refused admission (the common case under overload) answers, counts and logs exactly like any other denial.

The refusal path is kept cheap for the event loop (no timer, no cache key, no log record that would be dropped, a
body already received taken at once); these tests pin down what it must still do. ``?timeout=500ms`` with the
default 0.5 s margin leaves a budget of 0, so the scheduler refuses every admission on arrival, as under overload.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

import orjson
import pytest

from injector.app import SERVICES
from tests.server.conftest import MakeWebhook, metric, pod, review
from tests.server.revisions_support import write_revision

REFUSED_PATH = "/inject?timeout=500ms"


def _refusal_text(name: str) -> str:
    """No render has been seen yet, so the scheduler assumes its default render time (50 ms) for the estimate."""
    return (f"injector overloaded: pod test-ns/{name} was not injected because estimated wait 0.00s plus render "
            f"0.05s exceeds its budget of 0.00s; it was not rendered, retry later")


async def test_a_refused_admission_is_answered_counted_and_logged(make_webhook: MakeWebhook,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    webhook = await make_webhook()
    caplog.set_level(logging.INFO, logger="injector.admission")
    replies = [await webhook.admit(pod(name=f"p{index}"), path=REFUSED_PATH, uid=f"uid-{index}")
               for index in range(3)]
    for index, reply in enumerate(replies):
        assert reply == {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "response": {
            "uid": f"uid-{index}", "allowed": False, "status": {"metadata": {}, "message": _refusal_text(f"p{index}")}}}
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_shed_total{reason="deadline",revision="default"}') == 3
    assert metric(text, 'sidecar_injection_failure_total{type="overloaded"}') == 3
    assert metric(text, 'sidecar_injector_admissions_total{outcome="denied",revision="default"}') == 3
    assert metric(text, "sidecar_injection_requests_total") == 3
    assert metric(text, "sidecar_injection_success_total") == 3  # Istio counts every review written
    assert metric(text, 'sidecar_injector_admission_duration_seconds_count{revision="default"}') == 3
    records = [r for r in caplog.records if r.name == "injector.admission"]
    assert [r.levelno for r in records] == [logging.WARNING] * 3
    assert all(getattr(r, "rate_limit") == "denied:overloaded" for r in records)
    fields = [getattr(r, "fields") for r in records]
    assert [f["uid"] for f in fields] == ["uid-0", "uid-1", "uid-2"]
    assert fields[0]["message"] == _refusal_text("p0")
    assert {(f["pod"], f["namespace"], f["revision"], f["reason"], f["outcome"], f["path"]) for f in fields[:1]} == {
        ("p0", "test-ns", "default", "overloaded", "denied", "/inject")}


async def test_refusals_are_counted_when_their_log_level_is_off(make_webhook: MakeWebhook,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    webhook = await make_webhook()
    caplog.set_level(logging.ERROR, logger="injector.admission")
    reply = await webhook.admit(pod(name="quiet"), path=REFUSED_PATH)
    assert reply["response"]["status"]["message"] == _refusal_text("quiet")
    assert not [r for r in caplog.records if r.name == "injector.admission"]
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_shed_total{reason="deadline",revision="default"}') == 1
    assert metric(text, 'sidecar_injector_admissions_total{outcome="denied",revision="default"}') == 1


async def test_each_query_string_keeps_its_own_timeout(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    paths = [REFUSED_PATH, "/inject?timeout=10s", REFUSED_PATH, "/inject?timeout=10s&x=1", "/inject"]
    allowed = [(await webhook.admit(pod(name=f"q{i}"), path=path))["response"]["allowed"]
               for i, path in enumerate(paths)]
    assert allowed == [False, True, False, True, True]


async def test_a_body_arriving_in_pieces_is_read_whole(make_webhook: MakeWebhook,
                                                       client_ssl: ssl.SSLContext) -> None:
    """The body is not all there when the handler starts: it is awaited (under the deadline), not cut short."""
    webhook = await make_webhook()
    body = orjson.dumps(review(pod(name="pieces"), uid="uid-pieces"))
    reader, writer = await asyncio.open_connection("127.0.0.1", webhook.server.port, ssl=client_ssl,
                                                   server_hostname="localhost")
    writer.write(b"POST /inject?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.write(body[100:])
    async with asyncio.timeout(30):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        reply: dict[str, Any] = orjson.loads(await reader.readexactly(length))
    writer.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert reply["response"]["uid"] == "uid-pieces" and reply["response"]["allowed"] is True


async def test_inject_paths_answer_the_same_with_and_without_the_router(make_webhook: MakeWebhook,
                                                                        tmp_path: Path) -> None:
    """``serve_inject_directly`` skips the router for ``/inject...``: every path, method and header gets the same
    status and body either way (the patch shows the revision and the URL's env pairs)."""
    revisions = tmp_path / "revisions"
    revisions.mkdir()
    for revision in ("default", "canary"):
        write_revision(revisions, revision, "policy: enabled\n")
    direct, routed = [await make_webhook(config_dir=revisions, route_directly=flag) for flag in (True, False)]
    body = orjson.dumps(review(pod(name="same"), uid="uid-same"))
    cases = [("POST", "/inject", {}), ("POST", "/inject/", {}), ("PUT", "/inject/cluster/c1/net/n1", {}),
             ("POST", "/inject/:ENV:cluster=c2:ENV:net=n2", {}), ("POST", "/inject%2Fcluster/c3", {}),
             ("POST", "/rev/canary/inject/net/n4", {}), ("POST", "/inject?timeout=500ms", {}),
             ("POST", "/inject", {"Expect": "100-continue"}), ("POST", "/inject", {"Content-Type": "text/plain"}),
             ("POST", "/injectx", {}), ("GET", "/healthz", {}), ("POST", "/healthz", {})]
    for method, path, headers in cases:
        answers = []
        for webhook in (direct, routed):
            sent = {"Content-Type": "application/json", **headers}
            async with webhook.session.request(method, webhook.url(path), data=body, headers=sent) as response:
                answers.append((response.status, await response.read()))
        assert answers[0] == answers[1], (method, path, headers)
    text = await direct.metrics()
    assert metric(text, 'sidecar_injector_admissions_total{outcome="injected",revision="default"}') >= 4
    assert metric(text, 'sidecar_injector_admissions_total{outcome="injected",revision="canary"}') == 1


async def test_an_app_with_middlewares_keeps_the_router_for_inject_paths(make_webhook: MakeWebhook) -> None:
    """A middleware (or a response signal) added to the application must see /inject requests too."""
    from aiohttp import web

    from injector.app import serve_inject_directly

    webhook = await make_webhook(route_directly=False)
    server = webhook.server.runner.server if webhook.server.runner is not None else None
    assert server is not None
    routed = server.request_handler
    app = web.Application(middlewares=[web.normalize_path_middleware()])
    app[SERVICES] = webhook.services
    serve_inject_directly(server, app)
    assert server.request_handler is routed
    serve_inject_directly(server, webhook.app)
    assert server.request_handler is not routed
