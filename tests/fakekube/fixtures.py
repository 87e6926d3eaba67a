"""Pytest fixtures around :class:`FakeKube`: import the ones a test module needs (there is no shared conftest)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
from kubernetes_asyncio import client as k8s

from injector.sources.informer import Backoff
from injector.sources.kube import load_client
from tests.fakekube.server import FakeKube

FAST_BACKOFF = Backoff(initial=0.01, maximum=0.1, jitter=0.1)
"""Retry quickly in tests; the schedule itself is tested separately."""


@pytest.fixture
async def fake_kube() -> AsyncIterator[FakeKube]:
    server = FakeKube()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def kubeconfig(fake_kube: FakeKube, tmp_path: Path) -> Path:
    return fake_kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def api_client(kubeconfig: Path) -> AsyncIterator[k8s.ApiClient]:
    """A kubernetes-asyncio client loaded from the kubeconfig, exactly as ``--kubeconfig`` would load it."""
    api = await load_client(str(kubeconfig))
    yield api
    await api.close()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds; the informer works in the background, so tests observe, then assert."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)
