"""Cluster and network of the proxy (§1.5): URL path, pod label and values, in Istio's order of precedence."""
from __future__ import annotations

from typing import Any, Mapping

NETWORK_LABEL = "topology.istio.io/network"
CLUSTER_ENV = "ISTIO_META_CLUSTER_ID"
NETWORK_ENV = "ISTIO_META_NETWORK"


def proxy_env(path_env: Mapping[str, str], pod_labels: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    """The env map applied to ``istio-proxy``: the URL's pairs, then cluster and network when non-empty.

    Network: pod label, else URL ``net``, else ``values.global.network``. Cluster: URL ``cluster``, else
    ``values.global.multiCluster.clusterName``.
    """
    glob = values.get("global") or {}
    env = dict(path_env)
    network = pod_labels.get(NETWORK_LABEL) or path_env.get(NETWORK_ENV) or glob.get("network") or ""
    cluster = path_env.get(CLUSTER_ENV) or (glob.get("multiCluster") or {}).get("clusterName") or ""
    if network:
        env[NETWORK_ENV] = str(network)
    if cluster:
        env[CLUSTER_ENV] = str(cluster)
    return env
