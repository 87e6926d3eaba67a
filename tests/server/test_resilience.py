"""Deadlines, dying workers, config reloads, certificate rotation and graceful shutdown, over real TLS."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from cryptography import x509

from injector.sources.files import ConfigFiles
from tests.server.conftest import MakeWebhook, annotations_of, metric, pod, review, run_certs
from tests.server.revisions_support import eventually_async


# ------------------------------------------------------------------------------------------------ deadline

async def test_slow_template_is_answered_before_the_apiserver_deadline(make_webhook: MakeWebhook,
                                                                       tmp_path: Path) -> None:
    (tmp_path / "values").write_text("sleepSeconds: 30\n")  # every render of this config takes 30s
    webhook = await make_webhook(config_files=ConfigFiles.from_directory(tmp_path), deadline_margin=0.3)
    started = time.monotonic()
    reply = await webhook.admit(pod(name="slow-1"), path="/inject?timeout=2s", uid="slow")
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 2.0
    response = reply["response"]
    assert response["uid"] == "slow" and response["allowed"] is False
    assert "injection of pod test-ns/slow-1 timed out after 1.70s" in response["status"]["message"]
    assert "2s" in response["status"]["message"]
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injection_failure_total{type="timeout"}') == 1


async def test_timeout_without_query_uses_the_apiserver_default(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    (tmp_path / "values").write_text("sleepSeconds: 30\n")
    webhook = await make_webhook(config_files=ConfigFiles.from_directory(tmp_path), default_timeout=1.0,
                                 deadline_margin=0.2)
    started = time.monotonic()
    reply = await webhook.admit(pod())
    assert time.monotonic() - started < 1.0
    assert "timed out after 0.80s" in reply["response"]["status"]["message"]


async def test_abandoned_jobs_leave_the_queue_and_stuck_workers_are_replaced(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook(hang_grace=0.5)
    slow = pod(annotations={"test/sleep": "20"})
    # Two workers, four slow requests: two run, two wait in the queue; all four time out at ~1s.
    replies = await asyncio.gather(*(webhook.admit(slow, path="/inject?timeout=1500ms") for _ in range(4)))
    assert all("timed out" in r["response"]["status"]["message"] for r in replies)
    assert webhook.services.pool.queue_depth == 0  # the two queued jobs were dropped, not run later
    # The two workers stuck on abandoned 20s jobs are killed after the grace period and replaced.
    async def replaced() -> bool:
        return metric(await webhook.metrics(), "sidecar_injector_pool_worker_restarts_total") == 2
    await eventually_async(replaced)
    async def ready() -> bool:
        async with webhook.session.get(webhook.url("/readyz")) as response:
            return response.status == 200
    await eventually_async(ready)
    reply = await webhook.admit(pod(), path="/inject?timeout=10s")
    assert reply["response"]["allowed"] is True


# ------------------------------------------------------------------------------------------------ worker death

async def test_worker_killed_mid_request_is_replaced_and_the_request_retried(make_webhook: MakeWebhook,
                                                                            tmp_path: Path) -> None:
    webhook = await make_webhook()
    pid_file = tmp_path / "busy.pid"
    obj = pod(name="victim", annotations={"test/pid-file": str(pid_file), "test/sleep": "1"})
    request = asyncio.ensure_future(webhook.admit(obj, uid="victim"))
    await eventually_async(lambda: asyncio.sleep(0, pid_file.exists()))
    first_pid = int(pid_file.read_text())
    pid_file.unlink()
    os.kill(first_pid, signal.SIGKILL)
    reply = await request
    assert reply["response"]["allowed"] is True, reply
    assert reply["response"]["uid"] == "victim"
    assert int(pid_file.read_text()) != first_pid  # the retry ran in another worker
    text = await webhook.metrics()
    assert metric(text, "sidecar_injector_pool_worker_restarts_total") == 1
    async def back_to_two() -> bool:
        return webhook.services.pool.complete
    await eventually_async(back_to_two)


async def test_a_pod_that_kills_every_worker_gets_an_answer(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    webhook = await make_webhook()
    pid_file = tmp_path / "pid"
    obj = pod(annotations={"test/pid-file": str(pid_file), "test/sleep": "5"})
    request = asyncio.ensure_future(webhook.admit(obj))
    for _ in range(2):  # the first try and the retry both lose their worker
        await eventually_async(lambda: asyncio.sleep(0, pid_file.exists()))
        pid = int(pid_file.read_text())
        pid_file.unlink()
        os.kill(pid, signal.SIGKILL)
    reply = await request
    assert reply["response"]["allowed"] is False
    assert "died twice" in reply["response"]["status"]["message"]


# ------------------------------------------------------------------------------------------------ config reload

async def test_bad_config_reload_keeps_the_old_one_serving(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    config_dir = tmp_path / "config-dir"
    config_dir.mkdir()
    (config_dir / "config").write_text("policy: enabled\n")
    webhook = await make_webhook(config_files=ConfigFiles.from_directory(config_dir), watch_config=True)
    assert annotations_of(await webhook.admit(pod()))["test/rendered-by"] == "default/1/default"

    (config_dir / "config").write_text("policy: [unclosed\n")  # bad YAML
    async def rejected(count: float) -> bool:
        return metric(await webhook.metrics(),
                      'sidecar_injector_config_reload_failures_total{revision="default"}') == count
    await eventually_async(lambda: rejected(1))
    assert annotations_of(await webhook.admit(pod()))["test/rendered-by"] == "default/1/default"

    (config_dir / "config").write_text("policy: enabled\n")
    (config_dir / "values").write_text("broken: true\n")  # rejected by validation
    await eventually_async(lambda: rejected(2))
    assert annotations_of(await webhook.admit(pod()))["test/rendered-by"] == "default/1/default"

    (config_dir / "values").write_text("{}\n")
    async def reloaded() -> bool:
        reply = await webhook.admit(pod())
        return annotations_of(reply)["test/rendered-by"] != "default/1/default"
    await eventually_async(reloaded)
    text = await webhook.metrics()
    generation = metric(text, 'sidecar_injector_config_generation{revision="default"}')
    assert generation > 1
    assert annotations_of(await webhook.admit(pod()))["test/rendered-by"] == f"default/{generation:.0f}/default"


async def test_reload_under_traffic_never_fails_a_request(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("policy: enabled\n")
    webhook = await make_webhook(config_files=ConfigFiles.from_directory(tmp_path), watch_config=True)
    stop = asyncio.Event()
    seen: set[str] = set()

    async def traffic() -> None:
        while not stop.is_set():
            reply = await webhook.admit(pod())
            assert reply["response"]["allowed"] is True, reply
            seen.add(annotations_of(reply)["test/rendered-by"])

    runners = [asyncio.ensure_future(traffic()) for _ in range(4)]
    await eventually_async(lambda: asyncio.sleep(0, len(seen) == 1))
    for index in range(3):
        (tmp_path / "values").write_text(f"round: {index}\n")
        # The next write waits until traffic has been served by this one: two writes in one poll would coalesce.
        await eventually_async(lambda: asyncio.sleep(0, len(seen) >= index + 2))
    stop.set()
    await asyncio.gather(*runners)
    assert len(seen) >= 3  # several generations served, none of the requests failed


async def test_startup_fails_on_an_invalid_initial_config(make_webhook: MakeWebhook, tmp_path: Path) -> None:
    (tmp_path / "values").write_text("broken: true\n")
    with pytest.raises(Exception, match="rejected on purpose"):
        await make_webhook(config_files=ConfigFiles.from_directory(tmp_path))


# ------------------------------------------------------------------------------------------------ TLS rotation

def _serial_seen(port: int, ca_file: Path, server_name: str = "localhost") -> int:
    """The serial of the certificate a new connection gets (``127.0.0.1`` as name: a client sending no SNI)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


async def test_certificate_rotation_under_traffic(make_webhook: MakeWebhook, cert_dir: Path,
                                                  tmp_path: Path) -> None:
    webhook = await make_webhook()
    ca = cert_dir / "ca.crt"
    old_serial = await asyncio.to_thread(_serial_seen, webhook.server.port, ca)
    stop = asyncio.Event()
    answered = 0

    async def traffic(fresh_connections: bool) -> None:
        nonlocal answered
        context = ssl.create_default_context(cafile=str(ca))
        while not stop.is_set():
            connector = aiohttp.TCPConnector(ssl=context, force_close=fresh_connections)
            async with aiohttp.ClientSession(connector=connector) as session:
                for _ in range(5):
                    async with session.post(webhook.url("/inject"), data=orjson.dumps(review(pod())),
                                            headers={"Content-Type": "application/json"}) as response:
                        assert response.status == 200
                        assert orjson.loads(await response.read())["response"]["allowed"] is True
                        answered += 1

    runners = [asyncio.ensure_future(traffic(fresh)) for fresh in (False, True, True)]
    await eventually_async(lambda: asyncio.sleep(0, answered >= 10))  # traffic flows before the rotation
    # A new serving certificate from the same CA, written the way a secret mount or cert-manager would.
    rotated = tmp_path / "rotated"
    assert run_certs("--dns-name", "localhost", "--dns-name", "127.0.0.1", "--out-dir", str(rotated),
                     "--ca-cert-file", str(ca), "--ca-key-file", str(cert_dir / "ca.key")) == 0
    for name in ("tls.key", "tls.crt"):
        shutil.copy(rotated / name, cert_dir / f".{name}.new")
        os.replace(cert_dir / f".{name}.new", cert_dir / name)
    new_serial = x509.load_pem_x509_certificate((rotated / "tls.crt").read_bytes()).serial_number

    async def rotated_in() -> bool:
        return await asyncio.to_thread(_serial_seen, webhook.server.port, ca) == new_serial
    await eventually_async(rotated_in)
    assert await asyncio.to_thread(_serial_seen, webhook.server.port, ca, "127.0.0.1") == new_serial
    rotated_at = answered
    await eventually_async(lambda: asyncio.sleep(0, answered >= rotated_at + 10))  # and keeps flowing after it
    stop.set()
    await asyncio.gather(*runners)
    assert old_serial != new_serial and answered > 20
    text = await webhook.metrics()
    assert metric(text, "sidecar_injector_tls_reloads_total") >= 1
    assert metric(text, "sidecar_injector_tls_reload_failures_total") == 0


async def test_mismatched_certificate_and_key_keep_the_old_pair(make_webhook: MakeWebhook, cert_dir: Path,
                                                               tmp_path: Path) -> None:
    webhook = await make_webhook()
    ca = cert_dir / "ca.crt"
    old_serial = await asyncio.to_thread(_serial_seen, webhook.server.port, ca)
    other = tmp_path / "other"
    assert run_certs("--dns-name", "localhost", "--out-dir", str(other)) == 0
    shutil.copy(other / "tls.crt", cert_dir / "tls.crt")  # certificate without its key
    async def failed() -> bool:
        return metric(await webhook.metrics(), "sidecar_injector_tls_reload_failures_total") >= 1
    await eventually_async(failed)
    assert await asyncio.to_thread(_serial_seen, webhook.server.port, ca) == old_serial
    assert (await webhook.admit(pod()))["response"]["allowed"] is True


# ------------------------------------------------------------------------------------------------ shutdown

async def test_graceful_shutdown_finishes_in_flight_requests(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    pool = webhook.services.pool
    in_flight = asyncio.ensure_future(webhook.admit(pod(annotations={"test/sleep": "1"}), uid="last"))
    await eventually_async(lambda: asyncio.sleep(0, pool.busy == 1))
    closing = asyncio.ensure_future(webhook.server.close())
    reply = await in_flight
    assert reply["response"]["allowed"] is True and reply["response"]["uid"] == "last"
    await closing
    with pytest.raises(aiohttp.ClientError):
        await webhook.admit(pod())
    assert pool.busy == 0 and not pool.complete
