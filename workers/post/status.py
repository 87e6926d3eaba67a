"""Cluster env and pod metadata (§6.5 steps 1 and 5): what the webhook stamps on every injected pod."""
from __future__ import annotations

from typing import Mapping

from workers.post.common import annotations_of, find_sidecar, labels_of
from workers.proxy_env import NETWORK_ENV, NETWORK_LABEL
from workers.serialize.gojson import OrderedStruct, dumps
from workers.strip import STATUS_ANNOTATION


def overwrite_cluster_info(pod: dict, proxy_env: Mapping[str, str]) -> None:
    """In place: the URL/cluster env of the proxy replaces same-named entries and goes last, sorted by name."""
    sidecar = find_sidecar(pod)
    if sidecar is None or not proxy_env:
        return
    kept = [e for e in sidecar.get("env") or () if e.get("name", "") not in proxy_env]
    added = [{"name": k, "value": proxy_env[k]} if proxy_env[k] else {"name": k} for k in sorted(proxy_env)]
    sidecar["env"] = kept + added


def injection_status(template_pod: dict, revision: str) -> str:
    """The ``sidecar.istio.io/status`` JSON naming what the templates injected (null for an empty list)."""
    spec = template_pod.get("spec") or {}

    def names(field: str) -> list[str] | None:
        return [item.get("name", "") for item in spec.get(field) or ()] or None

    return dumps(OrderedStruct(
        initContainers=names("initContainers"),
        containers=names("containers"),
        volumes=names("volumes"),
        imagePullSecrets=names("imagePullSecrets"),
        revision=revision or "default",
    ))


def apply_metadata(pod: dict, template_pod: dict, proxy_env: Mapping[str, str], revision: str,
                   injected_annotations: Mapping[str, str]) -> None:
    """In place: network label, status annotation, then the config's ``injectedAnnotations`` (which win)."""
    if NETWORK_ENV in proxy_env:
        labels_of(pod)[NETWORK_LABEL] = proxy_env[NETWORK_ENV]
    annotations = annotations_of(pod)
    annotations[STATUS_ANNOTATION] = injection_status(template_pod, revision)
    annotations.update(injected_annotations)
