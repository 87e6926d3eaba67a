"""Health, readiness and metrics endpoints, on the TLS port and on the plain-HTTP monitoring port."""
from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer

from injector.app import create_monitoring_app
from tests.server.conftest import MakeWebhook, metric, pod


async def test_probes_and_metrics_on_the_tls_port(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    async with webhook.session.get(webhook.url("/healthz")) as response:
        assert response.status == 200
    async with webhook.session.get(webhook.url("/readyz")) as response:
        assert response.status == 200
    await webhook.admit(pod())
    async with webhook.session.get(webhook.url("/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await response.text()
    for name in ("sidecar_injection_requests_total", "sidecar_injection_success_total",
                 "sidecar_injection_skip_total", "sidecar_injection_time_seconds_count",
                 "sidecar_injector_pool_queue_depth", "sidecar_injector_pool_worker_restarts_total"):
        assert f"\n{name} " in text, name
    assert metric(text, 'sidecar_injector_config_generation{revision="default"}') == 1
    assert "# TYPE sidecar_injection_failure_total counter" in text


async def test_readyz_reports_not_ready_without_workers(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    await webhook.services.pool.close()
    async with webhook.session.get(webhook.url("/readyz")) as response:
        assert response.status == 503


async def test_monitoring_port_is_plain_http_without_inject(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    monitoring = TestServer(create_monitoring_app(webhook.app), host="127.0.0.1")
    await monitoring.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{monitoring.port}"
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 200
            async with session.get(f"{base}/metrics") as response:
                assert "sidecar_injection_requests_total" in await response.text()
            async with session.post(f"{base}/inject", data=b"{}") as response:
                assert response.status in (404, 405)
    finally:
        await monitoring.close()
