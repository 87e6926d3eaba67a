"""Kubernetes as the source of revision configs and cluster facts (§9, §10.1), one process for many revisions.

Four informers (see :mod:`injector.sources.informer`):

* ConfigMaps in the control namespace. ``istio-sidecar-injector[-<rev>]`` (keys ``config``, ``values``) makes a
  revision exist; ``istio[-<rev>]`` (key ``mesh``) adds its mesh config. The revision of a ConfigMap is its
  ``istio.io/rev`` label, else its name suffix, else ``default``. Names of the form ``istio-<x>`` are crowded in
  istio-system (``istio-ca-root-cert``, leader-election maps), so such a ConfigMap counts as mesh config only if it
  has a ``mesh`` key; an injector ConfigMap counts even with keys missing, so that the consumer can reject it loudly.
* Namespaces, Nodes, and MutatingWebhookConfigurations labelled ``istio.io/tag``, digested by
  :class:`injector.sources.kube_facts.KubeFacts`. The Node informer is skipped when native sidecars are not ``auto``.
* Opt-in, Pods of every namespace, trimmed (:mod:`injector.sources.kube_pods`), for ``/debug/stale``.

Revisions are reconciled from the ConfigMap cache after every ConfigMap event, and a callback fires only when a
revision's texts actually change: an annotation edit or a re-list that finds nothing new costs no rebuild, and the
informer's list semantics (cache updated before handlers run) make a whole re-list appear as one change per revision.

Least privilege follows: get/list/watch on configmaps in the control namespace, list/watch on namespaces, nodes and
mutatingwebhookconfigurations, create on events in the control namespace; list/watch on pods with ``--watch-pods``.
"""
from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Literal

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from injector.sources.informer import JSON, Backoff, Informer, KubeApiError
from injector.sources.kube_facts import (
    REV_LABEL,
    TAG_LABEL,
    KubeFacts,
    trim_namespace,
    trim_node,
    trim_webhook_config,
)
from injector.sources.kube_pods import PodCache, trim_pod

log = logging.getLogger(__name__)

INJECTOR_CONFIGMAP = "istio-sidecar-injector"
MESH_CONFIGMAP = "istio"
DEFAULT_REVISION = "default"

ConfigKind = Literal["injector-config", "mesh"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where a revision's texts came from: for logs, metrics and Events about a rejected config."""

    namespace: str
    injector_configmap: str
    injector_resource_version: str
    mesh_configmap: str | None = None
    mesh_resource_version: str | None = None


RevisionChanged = Callable[[str, str | None, str | None, str | None, SourceInfo], Awaitable[None]]
"""``on_revision_changed(revision, config_text, values_text, mesh_text, source_info)``; a text is None when its key
(or, for mesh, its ConfigMap) is missing."""
RevisionDeleted = Callable[[str], Awaitable[None]]


def revision_of_configmap(cm: JSON) -> tuple[str, ConfigKind] | None:
    """Which revision and which kind of config a ConfigMap holds, or None if it is none of ours."""
    meta = cm["metadata"]
    name: str = meta["name"]
    if name == INJECTOR_CONFIGMAP or name.startswith(INJECTOR_CONFIGMAP + "-"):
        kind: ConfigKind = "injector-config"
        suffix = name[len(INJECTOR_CONFIGMAP) + 1:]
    elif (name == MESH_CONFIGMAP or name.startswith(MESH_CONFIGMAP + "-")) and "mesh" in (cm.get("data") or {}):
        kind = "mesh"
        suffix = name[len(MESH_CONFIGMAP) + 1:]
    else:
        return None
    label = (meta.get("labels") or {}).get(REV_LABEL)
    return (label or suffix or DEFAULT_REVISION), kind


def canonical_configmap_name(revision: str, kind: ConfigKind) -> str:
    """The name Istio's chart gives this revision's ConfigMap; it wins when several claim the same revision."""
    base = INJECTOR_CONFIGMAP if kind == "injector-config" else MESH_CONFIGMAP
    return base if revision == DEFAULT_REVISION else f"{base}-{revision}"


def select_configmaps(configmaps: Iterable[JSON]) -> dict[tuple[str, ConfigKind], JSON]:
    """One ConfigMap per (revision, kind): the canonically named one, else the smallest name (deterministic, so
    every replica serves the same config)."""
    chosen: dict[tuple[str, ConfigKind], JSON] = {}
    for cm in configmaps:
        slot = revision_of_configmap(cm)
        if slot is None:
            continue
        current = chosen.get(slot)
        if current is None or _preference(cm, slot) < _preference(current, slot):
            chosen[slot] = cm
    return chosen


def _preference(cm: JSON, slot: tuple[str, ConfigKind]) -> tuple[bool, str]:
    name = cm["metadata"]["name"]
    return name != canonical_configmap_name(*slot), name


async def load_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """An API client from ``kubeconfig``; with None, the pod's service account when running in a pod, else the
    default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``), as kubectl does.

    Called once at start-up; the in-cluster loader reads its files in a thread. The kubeconfig loader reads its
    small file inline, which is acceptable only because nothing is being served yet. The caller closes the client.
    """
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = k8s.Configuration()
        await asyncio.to_thread(k8s_config.load_incluster_config, client_configuration=configuration)
        return k8s.ApiClient(configuration)
    # persist_config=False: a token refresh must never rewrite the user's kubeconfig.
    return await k8s_config.new_client_from_config(config_file=kubeconfig, persist_config=False)


class KubeSource:
    """Informers for revision ConfigMaps and cluster facts; start, wait for sync, then read ``facts``."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        on_revision_changed: RevisionChanged,
        on_revision_deleted: RevisionDeleted,
        control_namespace: str = "istio-system",
        watch_nodes: bool = True,
        watch_timeout: float = 300.0,
        backoff: Backoff = Backoff(),
        component: str = "sidecar-injector",
        facts: KubeFacts | None = None,
        pods: PodCache | None = None,
    ) -> None:
        """``watch_nodes`` is False unless ``ENABLE_NATIVE_SIDECARS=auto`` (Istio has no Node informer otherwise);
        ``component`` names us as the source of posted Events. ``facts`` lets the caller hand the request path a
        KubeFacts before the client exists; its ``nodes_watched`` then decides about the Node informer. ``pods``
        (opt-in) gets a pod informer of its own, which readiness does not wait for: listing every pod of a large
        cluster must not delay serving admissions."""
        self.control_namespace = control_namespace
        self.facts = facts if facts is not None else KubeFacts(nodes_watched=watch_nodes)
        self._on_revision_changed = on_revision_changed
        self._on_revision_deleted = on_revision_deleted
        self._component = component
        self._core = k8s.CoreV1Api(api_client)
        self._emitted: dict[str, tuple[str | None, str | None, str | None]] = {}
        common: dict[str, Any] = {"watch_timeout": watch_timeout, "backoff": backoff}
        self._configmaps = Informer(
            functools.partial(self._core.list_namespaced_config_map, control_namespace),
            name=f"configmaps/{control_namespace}", on_event=self._on_configmap, **common)
        self._informers = [
            self._configmaps,
            Informer(self._core.list_namespace, name="namespaces", on_event=self.facts.on_namespace,
                     transform=trim_namespace, **common),
            Informer(k8s.AdmissionregistrationV1Api(api_client).list_mutating_webhook_configuration,
                     name="revision-tags", label_selector=TAG_LABEL, on_event=self.facts.on_tag_webhook,
                     transform=trim_webhook_config, **common),
        ]
        if self.facts.nodes_watched:
            self._informers.append(Informer(self._core.list_node, name="nodes", on_event=self.facts.on_node,
                                            transform=trim_node, **common))
        self._background: list[Informer] = []
        if pods is not None:
            self._background.append(Informer(self._core.list_pod_for_all_namespaces, name="pods", transform=trim_pod,
                                             **common))
            pods.attach(self._background[-1])

    def start(self) -> None:
        for informer in (*self._informers, *self._background):
            informer.start()

    async def wait_synced(self, timeout: float | None = None) -> None:
        """The readiness barrier: every informer has listed once and every first revision callback has returned."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(informer.wait_synced() for informer in self._informers))

    @property
    def synced(self) -> bool:
        """For ``/readyz``: true once :meth:`wait_synced` would return at once."""
        return all(informer.synced for informer in self._informers)

    async def stop(self) -> None:
        await asyncio.gather(*(informer.stop() for informer in (*self._informers, *self._background)))

    def revisions(self) -> frozenset[str]:
        """Revisions whose injector ConfigMap currently exists (as last reported through the callbacks)."""
        return frozenset(self._emitted)

    async def post_configmap_event(self, configmap: str, *, reason: str, message: str,
                                   event_type: str = "Warning") -> bool:
        """Record a core/v1 Event on a control-namespace ConfigMap (e.g. a rejected config), so that
        ``kubectl describe configmap`` shows why the injector ignored it. Best effort: failures are logged and
        reported as False, never raised, because an Event must not break the config path."""
        cm = self._configmaps.get(f"{self.control_namespace}/{configmap}")
        meta = cm["metadata"] if cm is not None else {}
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        involved = {"kind": "ConfigMap", "apiVersion": "v1", "namespace": self.control_namespace, "name": configmap}
        involved.update({k: meta[k] for k in ("uid", "resourceVersion") if meta.get(k)})
        body = {
            "metadata": {"generateName": f"{configmap}.", "namespace": self.control_namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": event_type,
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": socket.gethostname(),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            response = await self._core.create_namespaced_event(self.control_namespace, body,
                                                                _preload_content=False, _request_timeout=10)
            async with response:
                if response.status >= 300:
                    raise await KubeApiError.from_response(response)
        except (aiohttp.ClientError, TimeoutError, KubeApiError) as err:
            log.warning("could not post event %s on configmap %s/%s: %s", reason, self.control_namespace,
                        configmap, err)
            return False
        return True

    # ------------------------------------------------------------------------------------------- revisions

    async def _on_configmap(self, event_type: str, obj: JSON) -> None:
        await self._reconcile()

    async def _reconcile(self) -> None:
        """Bring the consumer's revisions in line with the ConfigMap cache; only differences are reported."""
        chosen = select_configmaps(self._configmaps.cache.values())
        current: dict[str, tuple[tuple[str | None, str | None, str | None], SourceInfo]] = {}
        for (revision, kind), cm in chosen.items():
            if kind != "injector-config":
                continue
            data = cm.get("data") or {}
            mesh_cm = chosen.get((revision, "mesh"))
            mesh_meta = mesh_cm["metadata"] if mesh_cm is not None else {}
            texts = (data.get("config"), data.get("values"),
                     (mesh_cm.get("data") or {}).get("mesh") if mesh_cm is not None else None)
            info = SourceInfo(self.control_namespace, cm["metadata"]["name"], cm["metadata"]["resourceVersion"],
                              mesh_meta.get("name"), mesh_meta.get("resourceVersion"))
            current[revision] = (texts, info)
        for revision in sorted(current):
            texts, info = current[revision]
            if self._emitted.get(revision) != texts:
                self._emitted[revision] = texts
                log.info("revision %s: config from %s", revision, info)
                await self._notify(self._on_revision_changed(revision, *texts, info), revision)
        for revision in sorted(set(self._emitted) - set(current)):
            del self._emitted[revision]
            log.info("revision %s: injector configmap deleted", revision)
            await self._notify(self._on_revision_deleted(revision), revision)

    @staticmethod
    async def _notify(callback: Awaitable[None], revision: str) -> None:
        """Await one consumer callback; a failure is logged so that the other revisions are still reported."""
        try:
            await callback
        except Exception:  # noqa: BLE001 - a consumer bug for one revision must not starve the others
            log.exception("revision %s: consumer callback failed", revision)
