"""Cluster facts an admission needs besides the pod: namespace metadata, node kubelet versions, revision tags.

They are read on every admission, so they are kept pre-digested and answered in O(1): the informers of
:class:`injector.sources.kube.KubeSource` feed the ``on_*`` handlers below, and the request path only reads.
The trims (``trim_*``) are the informers' transforms: the caches keep only the fields listed here, because Nodes carry
image lists and Namespaces can number in the thousands.

Native sidecars (§6.4, ``ENABLE_NATIVE_SIDECARS=auto``): whether one kubelet version passes is
:func:`workers.native.kubelet_supports_native`, the single definition kube-inject also uses; this module only keeps
the answer per Node so that "every Node passes" costs O(1) per admission instead of a scan of all Nodes.
A known ``spec.nodeName`` decides alone; otherwise every Node must pass, and zero Nodes means on. Without a Node
informer (mode not ``auto``) it is off.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from workers.native import kubelet_supports_native

JSON = dict[str, Any]

REV_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"


def trim_namespace(obj: JSON) -> JSON:
    meta = obj["metadata"]
    return {"metadata": {"name": meta["name"], "resourceVersion": meta.get("resourceVersion"),
                         "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}}}


def kubelet_version(node: JSON) -> str:
    """``status.nodeInfo.kubeletVersion``, "" when missing (which then fails the native-sidecar check)."""
    return ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or ""


def trim_node(obj: JSON) -> JSON:
    meta = obj["metadata"]
    return {"metadata": {"name": meta["name"], "resourceVersion": meta.get("resourceVersion")},
            "status": {"nodeInfo": {"kubeletVersion": kubelet_version(obj)}}}


def trim_webhook_config(obj: JSON) -> JSON:
    meta = obj["metadata"]
    return {"metadata": {"name": meta["name"], "resourceVersion": meta.get("resourceVersion"),
                         "labels": meta.get("labels") or {}}}


class KubeFacts:
    """Read-only views for the request path, plus the informer handlers that keep them current."""

    def __init__(self, *, nodes_watched: bool = True) -> None:
        """``nodes_watched=False`` when no Node informer runs (native-sidecar mode forced): auto then answers off."""
        self._nodes_watched = nodes_watched
        self._namespaces: dict[str, JSON] = {}
        self._node_versions: dict[str, str] = {}
        self._failing_nodes: set[str] = set()
        self._tag_webhooks: dict[str, tuple[str, str]] = {}
        self._tags: Mapping[str, str] = MappingProxyType({})

    # ------------------------------------------------------------------------------------------- reads

    @property
    def nodes_watched(self) -> bool:
        return self._nodes_watched

    def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        """Labels of a namespace, or None if the informer has not seen it (yet)."""
        ns = self._namespaces.get(name)
        return MappingProxyType(ns["labels"]) if ns is not None else None

    def namespace_annotations(self, name: str) -> Mapping[str, str] | None:
        """Annotations of a namespace (OpenShift uid/gid ranges, §4.4), or None if unknown."""
        ns = self._namespaces.get(name)
        return MappingProxyType(ns["annotations"]) if ns is not None else None

    def namespaces(self) -> Mapping[str, JSON]:
        """Live view: namespace name -> ``{"labels": ..., "annotations": ...}`` (read-only)."""
        return MappingProxyType(self._namespaces)

    def node_versions(self) -> Mapping[str, str]:
        """Live view: node name -> ``status.nodeInfo.kubeletVersion``."""
        return MappingProxyType(self._node_versions)

    def tag_to_revision(self) -> Mapping[str, str]:
        """Revision tag -> revision, from MutatingWebhookConfigurations labelled ``istio.io/tag`` (§9).

        If several configurations claim one tag, the one with the smallest name wins, so every replica agrees.
        """
        return self._tags

    def native_sidecars_auto(self, node_name: str | None) -> bool:
        """The ``auto`` decision of §6.4 for a pod scheduled on ``node_name`` (None/"" when not yet scheduled)."""
        if not self._nodes_watched:
            return False
        if node_name and node_name in self._node_versions:
            return node_name not in self._failing_nodes
        return not self._failing_nodes

    # ------------------------------------------------------------------------------------------- handlers

    async def on_namespace(self, event_type: str, obj: JSON) -> None:
        meta = obj["metadata"]
        if event_type == "DELETED":
            self._namespaces.pop(meta["name"], None)
        else:
            self._namespaces[meta["name"]] = {"labels": meta.get("labels") or {},
                                              "annotations": meta.get("annotations") or {}}

    async def on_node(self, event_type: str, obj: JSON) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self._node_versions.pop(name, None)
            self._failing_nodes.discard(name)
            return
        version = kubelet_version(obj)
        self._node_versions[name] = version
        if kubelet_supports_native(version):
            self._failing_nodes.discard(name)
        else:
            self._failing_nodes.add(name)

    async def on_tag_webhook(self, event_type: str, obj: JSON) -> None:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        tag, revision = labels.get(TAG_LABEL), labels.get(REV_LABEL)
        if event_type == "DELETED" or not tag or revision is None:
            self._tag_webhooks.pop(meta["name"], None)
        else:
            self._tag_webhooks[meta["name"]] = (tag, revision or "default")
        tags: dict[str, str] = {}
        for _, (tag, revision) in sorted(self._tag_webhooks.items()):
            tags.setdefault(tag, revision)
        self._tags = MappingProxyType(tags)
