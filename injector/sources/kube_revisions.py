"""Revisions served from the cluster's ConfigMaps (``injector serve --kube``).

:class:`injector.sources.kube.KubeSource` says *that* a revision's texts changed; this module says what that means
for serving: Istio's rule that a missing ``config`` or ``values`` key is an error (§10.1), the snapshot swap through
:class:`injector.revision_loader.RevisionLoader`, and a Kubernetes Event on the ConfigMap when a change is rejected,
so that ``kubectl describe configmap`` explains why the old config is still serving.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes_asyncio import client as k8s

from injector.revision_loader import RevisionLoader
from injector.sources.informer import Backoff
from injector.sources.kube import KubeSource, SourceInfo, load_client
from injector.sources.kube_facts import KubeFacts
from injector.sources.kube_pods import PodCache
from workers.config.errors import ConfigError

REJECTED_REASON = "InvalidInjectorConfig"


@dataclass(frozen=True)
class KubeSettings:
    """How ``serve`` reaches the cluster. ``facts`` is created up front so the request path can hold it before the
    informers that fill it exist."""

    kubeconfig: str | None = None
    """None: in-cluster service account when in a pod, else the default kubeconfig."""
    control_namespace: str = "istio-system"
    facts: KubeFacts = field(default_factory=KubeFacts)
    sync_timeout: float = 60.0
    """Start-up fails if the first list of every resource has not completed by then."""
    backoff: Backoff = Backoff()
    pods: PodCache | None = None
    """``--watch-pods``: keep a pod cache for ``/debug/stale``."""


def describe_source(info: SourceInfo) -> str:
    """ConfigMap names with resourceVersions: enough to tell which edit is (or is not) serving."""
    text = f"configmap {info.namespace}/{info.injector_configmap}@{info.injector_resource_version}"
    if info.mesh_configmap:
        text += f", configmap {info.namespace}/{info.mesh_configmap}@{info.mesh_resource_version}"
    return text


class KubeRevisions:
    """Owns the API client and the informers for as long as the server runs."""

    def __init__(self, api_client: k8s.ApiClient, settings: KubeSettings, loader: RevisionLoader) -> None:
        self._api_client = api_client
        self._loader = loader
        self.source = KubeSource(api_client, on_revision_changed=self._changed, on_revision_deleted=loader.remove,
                                 control_namespace=settings.control_namespace, facts=settings.facts,
                                 backoff=settings.backoff, pods=settings.pods)

    @classmethod
    async def start(cls, settings: KubeSettings, loader: RevisionLoader) -> "KubeRevisions":
        """Connect, start the informers and wait until every revision found has been applied or rejected."""
        api_client = await load_client(settings.kubeconfig)
        revisions = cls(api_client, settings, loader)
        revisions.source.start()
        try:
            await revisions.source.wait_synced(settings.sync_timeout)
        except BaseException:
            await revisions.close()
            raise
        return revisions

    async def close(self) -> None:
        await self.source.stop()
        await self._api_client.close()

    async def _changed(self, revision: str, config: str | None, values: str | None, mesh: str | None,
                       info: SourceInfo) -> None:
        missing = [key for key, text in (("config", config), ("values", values)) if text is None]
        if missing:
            error: Exception | None = ConfigError(f"configmap {info.namespace}/{info.injector_configmap}",
                                                  f"missing key {' and '.join(map(repr, missing))}")
            self._loader.reject(revision, error)
        else:
            error = await self._loader.apply(revision, (config, values, mesh), source=describe_source(info))
        if error is not None:
            await self.source.post_configmap_event(
                info.injector_configmap, reason=REJECTED_REASON,
                message=f"revision {revision}: config rejected, the last good config keeps serving: {error}")
