"""One-shot reads from a cluster for the command-line tools (``kube-inject``, ``check``, ``diff``, ``audit``).

The server watches ConfigMaps; the command-line tools only need them once, so they GET or LIST and stop
(as istioctl does, §8.1). Unlike the server, a missing ConfigMap or key of a revision asked for by name is an
error here: there is no older config to fall back to, and silently injecting with embedded defaults would mislead.

Objects are read as plain JSON dicts (``_preload_content=False`` + orjson), the form the pipeline works on, and
lists are paged so a large cluster never arrives as one response. Cluster facts are digested by the very handlers
the server's informers feed (:class:`injector.sources.kube_facts.KubeFacts`), so both see a cluster the same way.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio import client as k8s

from injector.revision_loader import Texts
from injector.sources.informer import JSON, KubeApiError
from injector.sources.kube import canonical_configmap_name, load_client, select_configmaps
from injector.sources.kube_facts import TAG_LABEL, KubeFacts
from workers.config.errors import ConfigError

PAGE_SIZE = 500
ListCall = Callable[..., Awaitable[Any]]


class ClusterReadError(Exception):
    """The cluster could not be read (unreachable, forbidden, ...); the message names what was being read."""


class ClusterReader:
    """Reads over one API client; every method raises ClusterReadError (or ConfigError for a revision's
    ConfigMaps) with a message naming the resource."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._core = k8s.CoreV1Api(api_client)
        self._apps = k8s.AppsV1Api(api_client)
        self._batch = k8s.BatchV1Api(api_client)
        self._admission = k8s.AdmissionregistrationV1Api(api_client)

    # ------------------------------------------------------------------------------------------- revisions

    async def revision_texts(self, namespace: str, revision: str) -> Texts:
        """``(config, values, mesh)`` of ``revision`` from ``istio-sidecar-injector[-<rev>]`` and
        ``istio[-<rev>]``; a missing ConfigMap or key is a ConfigError."""
        revision = revision or "default"
        injector_name = canonical_configmap_name(revision, "injector-config")
        mesh_name = canonical_configmap_name(revision, "mesh")
        injector = await self._configmap_data(namespace, injector_name)  # first: its absence is the likely error
        mesh = await self._configmap_data(namespace, mesh_name)
        return (_key(injector, "config", namespace, injector_name),
                _key(injector, "values", namespace, injector_name), _key(mesh, "mesh", namespace, mesh_name))

    async def all_revision_texts(self, namespace: str) -> tuple[dict[str, Texts], dict[str, str]]:
        """Every revision ``serve --kube`` would serve from ``namespace``, by the same ConfigMap selection:
        ``({revision: texts}, {revision: why it is rejected})``. A missing mesh ConfigMap means the default mesh."""
        chosen = select_configmaps(await self._list(self._core.list_namespaced_config_map, namespace,
                                                    what=f"configmaps in {namespace}"))
        served: dict[str, Texts] = {}
        rejected: dict[str, str] = {}
        for (revision, kind), configmap in sorted(chosen.items()):
            if kind != "injector-config":
                continue
            data = configmap.get("data") or {}
            missing = [key for key in ("config", "values") if key not in data]
            if missing:
                rejected[revision] = (f"configmap {namespace}/{configmap['metadata']['name']}: missing key "
                                      + " and ".join(map(repr, missing)))
                continue
            mesh = chosen.get((revision, "mesh"))
            served[revision] = (data["config"], data["values"], (mesh.get("data") or {}).get("mesh") if mesh else None)
        return served, rejected

    async def _configmap_data(self, namespace: str, name: str) -> dict[str, str]:
        try:
            response = await self._core.read_namespaced_config_map(name, namespace, _preload_content=False)
            async with response:
                if response.status != 200:
                    raise await KubeApiError.from_response(response)
                configmap = orjson.loads(await response.read())
        except KubeApiError as exc:
            raise ConfigError(f"configmap {namespace}/{name}",
                              f"cannot read it from the cluster: {exc.code} {exc.reason}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConfigError(f"configmap {namespace}/{name}", f"cannot read it from the cluster: {exc}") from exc
        return configmap.get("data") or {}

    # ------------------------------------------------------------------------------------------- facts

    async def facts(self, *, nodes: bool) -> KubeFacts:
        """Namespaces, revision-tag webhooks and (``nodes``: for ENABLE_NATIVE_SIDECARS=auto) Nodes, digested by
        the server's own handlers."""
        facts = KubeFacts(nodes_watched=nodes)
        sources: list[tuple[ListCall, Callable[[str, JSON], Awaitable[None]], dict[str, Any], str]] = [
            (self._core.list_namespace, facts.on_namespace, {}, "namespaces"),
            (self._admission.list_mutating_webhook_configuration, facts.on_tag_webhook,
             {"label_selector": TAG_LABEL}, "mutatingwebhookconfigurations"),
        ]
        if nodes:
            sources.append((self._core.list_node, facts.on_node, {}, "nodes"))
        for call, handler, selectors, what in sources:
            for obj in await self._list(call, what=what, **selectors):
                await handler("ADDED", obj)
        return facts

    # ------------------------------------------------------------------------------------------- workloads

    async def pods(self, namespaces: Sequence[str]) -> list[JSON]:
        return await self._namespaced(self._core.list_namespaced_pod, self._core.list_pod_for_all_namespaces,
                                      namespaces, "pods")

    async def workloads(self, namespaces: Sequence[str]) -> list[JSON]:
        """Every object that owns a pod template and is not itself controlled by another one (a Deployment, not
        its ReplicaSets; a CronJob, not its Jobs; a bare Pod), in a stable order."""
        calls = [
            (self._apps.list_namespaced_deployment, self._apps.list_deployment_for_all_namespaces, "deployments"),
            (self._apps.list_namespaced_daemon_set, self._apps.list_daemon_set_for_all_namespaces, "daemonsets"),
            (self._apps.list_namespaced_stateful_set, self._apps.list_stateful_set_for_all_namespaces,
             "statefulsets"),
            (self._apps.list_namespaced_replica_set, self._apps.list_replica_set_for_all_namespaces, "replicasets"),
            (self._batch.list_namespaced_cron_job, self._batch.list_cron_job_for_all_namespaces, "cronjobs"),
            (self._batch.list_namespaced_job, self._batch.list_job_for_all_namespaces, "jobs"),
            (self._core.list_namespaced_replication_controller,
             self._core.list_replication_controller_for_all_namespaces, "replicationcontrollers"),
            (self._core.list_namespaced_pod, self._core.list_pod_for_all_namespaces, "pods"),
        ]
        found: list[JSON] = []
        for namespaced, everywhere, what in calls:
            found += [obj for obj in await self._namespaced(namespaced, everywhere, namespaces, what)
                      if controller_ref(obj) is None]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), o["kind"], o["metadata"]["name"]))

    async def controllers(self, namespaces: Sequence[str]) -> dict[tuple[str, str, str], tuple[str, str] | None]:
        """``(namespace, kind, name)`` of each ReplicaSet and Job -> ``(kind, name)`` of its own controller
        (None: it has none), to follow a pod up to the workload a user restarts."""
        owners: dict[tuple[str, str, str], tuple[str, str] | None] = {}
        for namespaced, everywhere, what in (
                (self._apps.list_namespaced_replica_set, self._apps.list_replica_set_for_all_namespaces,
                 "replicasets"),
                (self._batch.list_namespaced_job, self._batch.list_job_for_all_namespaces, "jobs")):
            for obj in await self._namespaced(namespaced, everywhere, namespaces, what):
                meta = obj["metadata"]
                ref = controller_ref(obj)
                owners[(meta.get("namespace", ""), obj["kind"], meta["name"])] = \
                    (ref.get("kind", ""), ref.get("name", "")) if ref else None
        return owners

    # ------------------------------------------------------------------------------------------- lists

    async def _namespaced(self, namespaced: ListCall, everywhere: ListCall, namespaces: Sequence[str],
                          what: str) -> list[JSON]:
        if not namespaces:
            return await self._list(everywhere, what=what)
        found: list[JSON] = []
        for namespace in namespaces:
            found += await self._list(namespaced, namespace, what=f"{what} in {namespace}")
        return found

    async def _list(self, call: ListCall, *args: Any, what: str, **selectors: Any) -> list[JSON]:
        """Every item, page by page, with ``kind``/``apiVersion`` filled in (lists omit them per item)."""
        items: list[JSON] = []
        token: str | None = None
        while True:
            try:
                response = await call(*args, limit=PAGE_SIZE, _continue=token, _preload_content=False,
                                      **selectors)
                async with response:
                    if response.status != 200:
                        raise await KubeApiError.from_response(response)
                    body = orjson.loads(await response.read())
            except (KubeApiError, aiohttp.ClientError, TimeoutError) as exc:
                raise ClusterReadError(f"cannot list {what}: {exc}") from exc
            kind = str(body.get("kind", "")).removesuffix("List")
            for item in body.get("items") or ():
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", body.get("apiVersion"))
                items.append(item)
            token = (body.get("metadata") or {}).get("continue") or None
            if token is None:
                return items


def controller_ref(obj: JSON) -> JSON | None:
    """The owner reference marked ``controller: true``, if any."""
    return next((ref for ref in obj.get("metadata", {}).get("ownerReferences") or () if ref.get("controller")), None)


def _key(data: dict[str, str], key: str, namespace: str, name: str) -> str:
    if key not in data:
        raise ConfigError(f"configmap {namespace}/{name}", f"missing key {key!r}")
    return data[key]


@asynccontextmanager
async def cluster_reader(kubeconfig: str | None) -> AsyncIterator[ClusterReader]:
    """A reader over a client from ``kubeconfig`` (None: in-cluster, else the default kubeconfig); closed after."""
    try:
        api_client = await load_client(kubeconfig)
    except Exception as exc:  # noqa: BLE001 - the config loaders raise many types for one cause: no usable config
        raise ClusterReadError(f"cannot load the kubeconfig: {exc}") from exc
    try:
        yield ClusterReader(api_client)
    finally:
        await api_client.close()


async def read_revision_texts(kubeconfig: str | None, namespace: str, revision: str) -> Texts:
    """``(config, values, mesh)`` of ``revision`` from ``istio-sidecar-injector[-<rev>]`` and ``istio[-<rev>]``
    (for ``kube-inject``/``check``, whose errors are all ConfigErrors)."""
    try:
        async with cluster_reader(kubeconfig) as reader:
            return await reader.revision_texts(namespace, revision)
    except ClusterReadError as exc:
        raise ConfigError("--kubeconfig", str(exc)) from exc

