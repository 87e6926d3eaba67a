"""The server with the real render pipeline (embedded templates, real worker jobs) and ``injector serve`` itself."""
from __future__ import annotations

import asyncio
import signal
import ssl
import time
from pathlib import Path

import aiohttp
import orjson

from injector.app import ServerOptions
from injector.sources.files import ConfigFiles
from tests.server.conftest import MakeWebhook, metric, patch_of, pod, review
from tests.server.serve_process import free_port, start_serve, wait_ready
from workers.limits import RenderLimits

REAL = {"job": ServerOptions.job, "build": ServerOptions.build}


def slow_config(inner_loops: int) -> str:
    """A Jinja2 template that burns CPU before emitting a tiny sidecar for pods annotated ``slow`` (~1.8s per 100
    inner loops here), so the config passes its trial render and only those admissions are slow."""
    return (
        "policy: enabled\ntemplateLanguage: jinja2\ntemplates:\n  sidecar: |\n"
        "    {% if ObjectMeta.annotations.slow %}"
        f"{{% for i in range(100000) %}}{{% for j in range({inner_loops}) %}}{{% set x = i + j %}}"
        "{% endfor %}{% endfor %}{% endif %}\n"
        "    spec:\n      containers:\n      - name: istio-proxy\n        image: proxy\n"
    )


SLOW = {"slow": "true"}


def _proxy_env(patch: list[dict]) -> dict[str, str]:
    for op in patch:
        value = op.get("value")
        containers = value if op["path"] == "/spec/containers" else [value] if "/spec/containers/" in op["path"] else []
        for container in containers:
            if isinstance(container, dict) and container.get("name") == "istio-proxy":
                return {e["name"]: e.get("value", "") for e in container.get("env", [])}
    raise AssertionError(f"no istio-proxy container in {patch}")


async def test_embedded_config_injects_a_sidecar_with_url_cluster_and_network(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook(**REAL)
    reply = await webhook.admit(pod(), path="/inject/cluster/east/net/net-1", version="v1beta1")
    assert reply["apiVersion"] == "admission.k8s.io/v1beta1" and reply["response"]["allowed"] is True
    env = _proxy_env(patch_of(reply))
    assert env["ISTIO_META_CLUSTER_ID"] == "east"
    assert env["ISTIO_META_NETWORK"] == "net-1"
    assert "REV" not in env


async def test_real_template_made_slow_hits_the_deadline(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    (tmp_path / "config").write_text(slow_config(2000))
    webhook = await make_webhook(config_files=ConfigFiles.from_directory(tmp_path), hang_grace=0.5,
                                 render_limits=RenderLimits(cpu_seconds=60.0), **REAL)
    started = time.monotonic()
    reply = await webhook.admit(pod(name="slow", annotations=SLOW), path="/inject?timeout=2s")
    assert time.monotonic() - started < 2.0
    assert reply["response"]["allowed"] is False
    assert "test-ns/slow timed out after 1.50s" in reply["response"]["status"]["message"]


async def _until_a_worker_is_busy(session: aiohttp.ClientSession, metrics_url: str) -> None:
    """Until the render (~1.8s here) is under way: a fixed sleep could signal before the request arrived."""
    async with asyncio.timeout(30):
        while True:
            async with session.get(metrics_url) as response:
                if metric(await response.text(), "sidecar_injector_pool_workers_busy") == 1:
                    return
            await asyncio.sleep(0.02)


async def test_serve_command_drains_in_flight_requests_on_sigterm(cert_dir: Path, client_ssl: ssl.SSLContext,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "config").write_text(slow_config(100))
    port, monitoring = free_port(), free_port()
    process = await start_serve(
        port, "--tls-cert-file", str(cert_dir / "tls.crt"), "--tls-key-file", str(cert_dir / "tls.key"),
        "--config-dir", str(tmp_path), "--workers", "1", "--monitoring-port", str(monitoring),
        "--render-budget", "60", "--log-format", "json", stderr=asyncio.subprocess.PIPE)
    try:
        await wait_ready(f"http://127.0.0.1:{monitoring}/readyz", process)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)) as session:
            request = asyncio.ensure_future(session.post(
                f"https://127.0.0.1:{port}/inject", data=orjson.dumps(review(pod(annotations=SLOW), uid="drain")),
                headers={"Content-Type": "application/json"}))
            await _until_a_worker_is_busy(session, f"http://127.0.0.1:{monitoring}/metrics")
            process.send_signal(signal.SIGTERM)
            response = await request
            reply = orjson.loads(await response.read())
            assert reply["response"]["uid"] == "drain" and reply["response"]["allowed"] is True
        assert await asyncio.wait_for(process.wait(), 20) == 0
        logs = (await process.stderr.read()).decode()
        lines = [orjson.loads(line) for line in logs.splitlines() if line.startswith("{")]
        admission = [line for line in lines if line["msg"] == "admission"]
        assert admission and admission[0]["uid"] == "drain" and admission[0]["outcome"] == "injected"
        assert {"namespace", "pod", "revision", "reason", "latency_ms"} <= set(admission[0])
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
