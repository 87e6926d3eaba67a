"""Health, readiness and metrics endpoints, on the TLS port and on the plain-HTTP monitoring port."""
from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from injector.app import DEBUG_ROUTES
from tests.server.conftest import MakeWebhook, metric, pod
from tests.server.serve_process import running_serve


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
    async with aiohttp.ClientSession() as session:
        async with session.get(webhook.monitoring_url("/readyz")) as response:
            assert response.status == 200
        async with session.get(webhook.monitoring_url("/metrics")) as response:
            assert "sidecar_injection_requests_total" in await response.text()
        async with session.post(webhook.monitoring_url("/inject"), data=b"{}") as response:
            assert response.status in (404, 405)


async def test_debug_routes_are_served_on_the_monitoring_port_only(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    async with webhook.session.get(webhook.url("/debug/revisions")) as response:
        assert response.status == 404
    assert "default" in (await webhook.debug("/debug/revisions"))["revisions"]
    for path in DEBUG_ROUTES:  # whatever debug routes exist: monitoring port only
        async with webhook.session.get(webhook.url(path)) as response:
            assert response.status == 404, path
        await webhook.debug(path)


async def test_each_listener_binds_its_own_address(cert_dir: Path, client_ssl: ssl.SSLContext,
                                                   tmp_path: Path) -> None:
    """``--address`` for the webhook, ``--monitoring-address`` for the monitoring listener (127.0.0.2 is loopback
    too on Linux): each answers on its address only."""
    async with running_serve(cert_dir, tmp_path / "serve.log", monitoring_host="127.0.0.2") as serve:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as session:
            async with session.get(serve.monitoring_url("/debug/revisions")) as response:
                assert response.status == 200 and "default" in (await response.json())["revisions"]
            async with session.get(serve.url("/readyz")) as response:
                assert response.status == 200
            async with session.get(serve.url("/debug/revisions")) as response:
                assert response.status == 404
            for host, port in (("127.0.0.1", serve.monitoring), ("127.0.0.2", serve.port)):
                with pytest.raises(aiohttp.ClientConnectorError):
                    async with session.get(f"http://{host}:{port}/readyz"):
                        pass
