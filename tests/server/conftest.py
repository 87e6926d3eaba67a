"""Fixtures for server tests: real certificates from ``injector certs``, a real TLS server, review builders.

Rendering is done by ``tests.server.fake_job`` in real worker processes, so the tests can make a job slow, crash
its worker or fail, and know exactly what the patch holds. One test module (test_real_render) uses the real
pipeline end to end.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import shutil
import ssl
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from injector import cmd_certs
from injector.app import (SERVICES, ServerOptions, Services, create_app, create_monitoring_app, serve_inject_directly,
                          stamp_arrivals)
from injector.sources.files import ConfigFiles
from injector.tls import ReloadingTLS
from tests.server.fake_job import build_fake_config

FAKE_JOB = "tests.server.fake_job:FakeInjector"


def run_certs(*argv: str) -> int:
    """``injector certs`` exactly as the CLI runs it."""
    parser = argparse.ArgumentParser()
    cmd_certs.add_arguments(parser)
    return cmd_certs.run(parser.parse_args(list(argv)))


@contextlib.contextmanager
def serve_workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory with ``tls/`` (a CA and a certificate for 127.0.0.1, made quietly) and an empty
    ``revisions/`` for ``--config-dir``: what a benchmark's ``injector serve`` needs."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            assert run_certs("--dns-name", "127.0.0.1", "--out-dir", str(work / "tls")) == 0
        (work / "revisions").mkdir()
        yield work


@pytest.fixture(scope="session")
def issued_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    assert run_certs("--dns-name", "localhost", "--dns-name", "127.0.0.1", "--out-dir", str(out),
                     "--keep-ca-key") == 0
    return out


@pytest.fixture
def cert_dir(issued_certs: Path, tmp_path: Path) -> Path:
    """A per-test copy, so a test may rotate its certificate without disturbing others."""
    target = tmp_path / "tls"
    shutil.copytree(issued_certs, target)
    return target


@pytest.fixture
def client_ssl(cert_dir: Path) -> ssl.SSLContext:
    """Trusts only our CA and checks the host name, like kube-apiserver with the webhook's caBundle."""
    return ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))


def pod(name: str = "app-1", *, namespace: str = "test-ns", annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "app", "image": "nginx"}], **spec}}


def review(obj: dict[str, Any] | None, *, version: str = "v1", uid: str | None = None, operation: str = "CREATE",
           kind: str = "Pod", namespace: str = "test-ns") -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": kind},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": namespace,
        "operation": operation,
    }
    if obj is not None:
        request["object"] = obj
    return {"apiVersion": f"admission.k8s.io/{version}", "kind": "AdmissionReview", "request": request}


def patch_of(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return orjson.loads(base64.b64decode(reply["response"]["patch"]))


def annotations_of(reply: dict[str, Any]) -> dict[str, str]:
    """The annotations the fake job added, by key (``test/...``)."""
    return {op["path"].rsplit("/", 1)[1].replace("~1", "/"): op["value"] for op in patch_of(reply)}


def metric(text: str, name: str) -> float:
    """One sample's value from the exposition text (``name`` includes any labels)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@dataclass
class Webhook:
    """A running TLS server, its plain-HTTP monitoring listener, and a client that trusts the CA."""

    server: TestServer
    monitoring: TestServer
    session: aiohttp.ClientSession
    app: web.Application

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.server.port}{path}"

    def monitoring_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.monitoring.port}{path}"

    async def debug(self, path: str = "/debug/revisions") -> Any:
        """A ``/debug/*`` endpoint's JSON, from the monitoring listener (the only one serving them)."""
        async with self.session.get(self.monitoring_url(path)) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: bytes, content_type: str | None = "application/json",
                   ) -> aiohttp.ClientResponse:
        headers = {"Content-Type": content_type} if content_type else {}
        return await self.session.post(self.url(path), data=body, headers=headers)

    async def admit(self, obj: dict[str, Any] | None, path: str = "/inject", **kwargs: Any) -> dict[str, Any]:
        response = await self.post(path, orjson.dumps(review(obj, **kwargs)))
        assert response.status == 200, await response.text()
        return orjson.loads(await response.read())

    async def metrics(self) -> str:
        async with self.session.get(self.url("/metrics")) as response:
            return await response.text()


MakeWebhook = Callable[..., Awaitable[Webhook]]


@pytest.fixture
async def make_webhook(cert_dir: Path, client_ssl: ssl.SSLContext, tmp_path: Path) -> AsyncIterator[MakeWebhook]:
    """``await make_webhook(**ServerOptions overrides)``: fake render job, 2 workers, fast file watching;
    ``route_directly=False`` leaves out ``serve_inject_directly``."""
    started: list[Webhook] = []

    async def make(*, route_directly: bool = True, **overrides: Any) -> Webhook:
        tls = ReloadingTLS(cert_dir / "tls.crt", cert_dir / "tls.key")
        options = ServerOptions(config_files=ConfigFiles(required=False), workers=2, job=FAKE_JOB,
                                build=build_fake_config, tls=tls, watch_interval=0.1, hang_grace=1.0,
                                drain_timeout=10.0)
        app = create_app(replace(options, **overrides))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=tls.context)
        assert server.runner is not None and server.runner.server is not None
        stamp_arrivals(server.runner.server)
        if route_directly:  # as ``injector serve`` does; False: every request through the router
            serve_inject_directly(server.runner.server, app)
        monitoring = TestServer(create_monitoring_app(app), host="127.0.0.1")
        await monitoring.start_server()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl))
        webhook = Webhook(server, monitoring, session, app)
        started.append(webhook)
        return webhook

    yield make
    for webhook in started:
        await webhook.session.close()
        await webhook.monitoring.close()
        await webhook.server.close()
