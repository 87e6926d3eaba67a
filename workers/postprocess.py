"""Everything Istio does to the merged pod after rendering (§6.3, §6.5), as one call.

The driver copies what the steps change (see ``thaw``) and runs the in-place steps of ``workers.post`` on it in
Istio's order; everything else stays shared with the input, so a large pod is not copied.
``apply_prometheus_merge`` is the Prometheus step alone, on a copy.
"""
from __future__ import annotations

from typing import Mapping

from workers.merge import copy_json
from workers.post import prometheus, probes, reorder, status
from workers.post.common import annotations_of, labels_of
from workers.post.overrides import adjust_init_container_user, reapply_overwritten_containers
from workers.post.reorder import hold_application, move_native_sidecar

__all__ = [
    "post_process", "reapply_overwritten_containers", "adjust_init_container_user", "move_native_sidecar",
    "apply_prometheus_merge", "hold_application",
]


def apply_prometheus_merge(pod: dict, mesh: dict) -> dict:
    """``prometheus.prometheus_merge`` on a copy: ``pod`` is not modified."""
    out = copy_json(pod)
    prometheus.prometheus_merge(out, mesh)
    return out


def thaw(pod: dict) -> dict:
    """A copy of the parts of ``pod`` the post-processing steps assign to, sharing everything below them.

    The steps assign to the pod, its metadata, labels and annotations, its spec, the container lists, and the keys
    of each container (``env``, probes, ``lifecycle``, which ``probes`` copies before changing); they never
    change a value in place below that. Copying these few maps and lists instead of the whole pod keeps
    the unchanged app containers (and their env lists) shared with the typed original.
    """
    out = dict(pod)
    metadata = out["metadata"] = dict(pod.get("metadata") or {})
    for field in ("labels", "annotations"):
        if metadata.get(field) is not None:
            metadata[field] = dict(metadata[field])
    if pod.get("spec") is not None:
        spec = out["spec"] = dict(pod["spec"])
        for field in ("containers", "initContainers"):
            if spec.get(field) is not None:
                spec[field] = [dict(c) if isinstance(c, dict) else c for c in spec[field]]
    return out


def post_process(pod: dict, *, original: dict, template_pod: dict, mesh: dict, values: dict, revision: str,
                 path_env: Mapping[str, str], injected_annotations: Mapping[str, str], proxy_config: dict) -> dict:
    """The final pod: user container overrides (§6.3) then ``postProcessPod`` (§6.5) in Istio's order.

    ``pod`` is the merged pod (templates over the un-stripped original); ``original`` the pod as received;
    ``template_pod`` the merge of the template outputs alone; ``path_env`` the proxy env map of §1.5 (URL pairs
    plus cluster/network); ``proxy_config`` the effective ProxyConfig (interception mode, hold). Raises
    ``InjectionError`` for bad overrides JSON or Prometheus annotations. Inputs are not modified.
    """
    # Thawed twice: reapplying user containers re-types the pod, which shares typed parts again.
    pod = thaw(reapply_overwritten_containers(thaw(pod), original, template_pod, proxy_config))
    annotations_of(pod)
    labels_of(pod)
    status.overwrite_cluster_info(pod, path_env)
    prometheus.prometheus_merge(pod, mesh)
    prometheus.secure_port(pod)
    probes.apply_rewrite(pod, mesh, values)
    status.apply_metadata(pod, template_pod, path_env, revision, injected_annotations)
    reorder.reorder(pod, hold_application(proxy_config, values))
    return pod
