"""One-shot read of a revision's config from the cluster, for ``kube-inject`` and ``check`` (as istioctl does, §8.1).

The server watches ConfigMaps; the command-line tools only need them once, so they GET the two ConfigMaps Istio's
chart names for the revision and stop. Unlike the server, a missing ConfigMap or key is an error here: there is
no older config to fall back to, and silently injecting with embedded defaults would mislead.
"""
from __future__ import annotations

import asyncio

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from injector.revision_loader import Texts
from injector.sources.kube import canonical_configmap_name, load_client
from workers.config.errors import ConfigError


async def _configmap_data(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    try:
        configmap = await core.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        raise ConfigError(f"configmap {namespace}/{name}", f"cannot read it from the cluster: {exc.status} "
                                                           f"{exc.reason}") from exc
    return configmap.data or {}


def _key(data: dict[str, str], key: str, namespace: str, name: str) -> str:
    if key not in data:
        raise ConfigError(f"configmap {namespace}/{name}", f"missing key {key!r}")
    return data[key]


async def read_revision_texts(kubeconfig: str | None, namespace: str, revision: str) -> Texts:
    """``(config, values, mesh)`` of ``revision`` from ``istio-sidecar-injector[-<rev>]`` and ``istio[-<rev>]``."""
    revision = revision or "default"
    injector_name = canonical_configmap_name(revision, "injector-config")
    mesh_name = canonical_configmap_name(revision, "mesh")
    api_client = await load_client(kubeconfig)
    try:
        core = k8s.CoreV1Api(api_client)
        injector, mesh = await asyncio.gather(_configmap_data(core, namespace, injector_name),
                                              _configmap_data(core, namespace, mesh_name))
    finally:
        await api_client.close()
    return (_key(injector, "config", namespace, injector_name), _key(injector, "values", namespace, injector_name),
            _key(mesh, "mesh", namespace, mesh_name))
