"""Fixtures for the e2e tier: a real etcd + kube-apiserver per test session, clients, namespaces and webhooks.

Session fixtures:
  control_plane_binaries  built/cached kube-apiserver, etcd, kubectl (skips when impossible, see below)
  deploy_tools            built/cached helm, promtool, Certificate and PrometheusRule CRDs (deploytools.py)
  control_plane           a running controlplane.ControlPlane (kubeconfig, CA, kubectl(), webhook_endpoint())
Function fixtures (async where they talk to the apiserver):
  kube_api                kubernetes_asyncio ApiClient logged in as system:masters
  make_namespace          await make_namespace(labels=...) -> name; also creates its "default" ServiceAccount
  webhook_endpoint        a fresh 127.0.0.1 port + apiserver-trusted serving cert, to run any webhook server on
  serve_webhook           await serve_webhook(aiohttp_app) -> WebhookEndpoint serving it over TLS until teardown
  register_webhooks       await register_webhooks(mwc_body) creates a MutatingWebhookConfiguration, deletes it after
  wait_for_admission      await wait_for_admission(ns, pod, predicate) dry-runs the pod until predicate(result)

Skips and failures: without Go (or with INJECTOR_E2E_BUILD=0 and no cached build) the tier skips with the reason.
Set INJECTOR_E2E_REQUIRE=1 (CI does) to turn every such skip into a failure, so a broken toolchain cannot pass
silently.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane import (
    Binaries,
    BuildError,
    ControlPlane,
    ControlPlaneError,
    WebhookEndpoint,
    cached_binaries,
    ensure_binaries,
    find_go,
)


def _unavailable(reason: str) -> None:
    """Skip, or fail when the environment promises the tier can run (CI)."""
    if os.environ.get("INJECTOR_E2E_REQUIRE") == "1":
        pytest.fail(f"e2e control plane required (INJECTOR_E2E_REQUIRE=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is e2e, so `-m "not e2e"` deselects the tier even if a test forgot the mark."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _built(cached: Callable[[], Any], ensure: Callable[[], Any], what: str, build_command: str) -> Any:
    """A cached build, else build it now; skip (or fail under INJECTOR_E2E_REQUIRE) when that is impossible."""
    found = cached()
    if found:
        return found
    if os.environ.get("INJECTOR_E2E_BUILD") == "0":
        _unavailable(f"no cached {what} and INJECTOR_E2E_BUILD=0 (run: {build_command})")
    if find_go() is None:
        _unavailable(f"Go toolchain not found: {what} is built from the Go module proxy (install Go >= 1.24)")
    try:
        return ensure()
    except (BuildError, OSError) as exc:
        _unavailable(f"could not build {what}: {exc}")
        raise  # unreachable: _unavailable raises


@pytest.fixture(scope="session")
def control_plane_binaries() -> Binaries:
    return _built(cached_binaries, ensure_binaries, "control plane (kube-apiserver, etcd, kubectl)",
                  "python tests/e2e/controlplane.py build")


@pytest.fixture(scope="session")
def deploy_tools() -> Any:
    """``deploytools.DeployTools``: helm, promtool and the CRDs for the deploy/ tests."""
    from deploytools import cached_deploy_tools, ensure_deploy_tools

    return _built(cached_deploy_tools, ensure_deploy_tools, "helm, promtool and the CRDs",
                  "python tests/e2e/deploytools.py build")


@pytest.fixture(scope="session")
def control_plane(control_plane_binaries: Binaries) -> Iterator[ControlPlane]:
    workdir = Path(tempfile.mkdtemp(prefix="injector-e2e-"))
    plane = ControlPlane(control_plane_binaries, workdir)
    try:
        plane.start()
    except (ControlPlaneError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        _unavailable(f"control plane did not start: {exc}")
    try:
        yield plane
    finally:
        plane.stop()
        if os.environ.get("INJECTOR_E2E_KEEP"):
            print(f"\n[controlplane] kept {workdir} (logs, kubeconfig, certs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def kube_api(control_plane: ControlPlane) -> AsyncIterator[Any]:
    """A fresh client per test: kubernetes_asyncio clients are bound to the event loop, which is per test."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(control_plane.kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration=configuration)
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
def make_namespace(kube_api: Any) -> Callable[..., Awaitable[str]]:
    """Namespaces with a default ServiceAccount, which the ServiceAccount admission plugin needs for pods.

    A real cluster's controller-manager creates that account; this control plane has none. Namespaces are not
    deleted afterwards: without the namespace controller they would only hang in Terminating, and the whole
    etcd is discarded at the end of the session anyway. Names are unique, so tests never collide.
    """
    from kubernetes_asyncio import client

    core = client.CoreV1Api(kube_api)

    async def make(prefix: str = "e2e", labels: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        await core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
        await core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
        return name

    return make


@pytest.fixture
def webhook_endpoint(control_plane: ControlPlane) -> WebhookEndpoint:
    """Port + certificate for a webhook server started by the test itself (e.g. `injector serve`)."""
    return control_plane.webhook_endpoint()


@pytest.fixture
async def serve_webhook(control_plane: ControlPlane) -> AsyncIterator[Callable[..., Awaitable[WebhookEndpoint]]]:
    """Run aiohttp applications over TLS on loopback, in the test's event loop, until the test ends."""
    from aiohttp import web

    runners: list[web.AppRunner] = []

    async def serve(app: web.Application) -> WebhookEndpoint:
        endpoint = control_plane.webhook_endpoint()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, endpoint.host, endpoint.port, ssl_context=endpoint.server_ssl_context())
        await site.start()
        return endpoint

    try:
        yield serve
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


@pytest.fixture
async def register_webhooks(kube_api: Any) -> AsyncIterator[Callable[[dict], Awaitable[dict]]]:
    """Create MutatingWebhookConfigurations and delete them after the test.

    Deleting matters: the apiserver is shared by the whole session and a leftover fail-closed webhook whose
    server is gone would reject pod creations in later tests.
    """
    from kubernetes_asyncio import client

    admission = client.AdmissionregistrationV1Api(kube_api)
    created: list[str] = []

    async def register(body: dict) -> dict:
        result = await admission.create_mutating_webhook_configuration(body)
        created.append(body["metadata"]["name"])
        return kube_api.sanitize_for_serialization(result)

    try:
        yield register
    finally:
        for name in created:
            try:
                await admission.delete_mutating_webhook_configuration(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture
def wait_for_admission(kube_api: Any) -> Callable[..., Awaitable[dict]]:
    """Dry-run a pod until ``predicate(admitted_pod)`` holds; returns that pod.

    The apiserver picks up new webhook configurations through an informer, a moment after they are created.
    Dry-run creations still call webhooks declared ``sideEffects: None`` but store nothing, so probing this way
    leaves no trace. ``predicate`` may ignore the pod and look at what a test server recorded instead.
    """
    from kubernetes_asyncio import client

    core = client.CoreV1Api(kube_api)

    async def wait(
        namespace: str, pod: dict, predicate: Callable[[dict], bool], timeout: float = 15.0
    ) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                admitted = kube_api.sanitize_for_serialization(
                    await core.create_namespaced_pod(namespace, pod, dry_run="All")
                )
                if predicate(admitted):
                    return admitted
                last = admitted
            except client.ApiException as exc:
                last = f"{exc.status}: {exc.body}"
            await asyncio.sleep(0.2)
        raise AssertionError(f"admission did not satisfy the predicate within {timeout}s; last result: {last}")

    return wait


def pod_manifest(name: str = "probe", labels: dict[str, str] | None = None, image: str = "busybox") -> dict:
    """A minimal valid pod (no scheduler or kubelet here: it is only admitted and stored)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


@pytest.fixture
def make_pod() -> Callable[..., dict]:
    """Factory for minimal pod manifests (fixture form, so tests need not import conftest)."""
    return pod_manifest
