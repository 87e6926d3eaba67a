"""The pod the user wrote, recovered from a running injected pod: the input a fresh admission would see.

Istio's own re-injection (``workers.strip``) keeps volumes, pull secrets and the old proxy's env, so that
injecting twice is idempotent; it therefore cannot tell whether an injection is stale. Here everything the status
annotation names is removed, and what the injection rewrote in the user's own parts is put back from the records
the proxy carries: app probes (``ISTIO_KUBE_APP_PROBERS``), scrape annotations (``ISTIO_PROMETHEUS_ANNOTATIONS``)
and customised injected containers (``proxy.istio.io/overrides``).

Limits: labels and annotations the templates add (``istio.io/rev``, canonical-name labels, CNI traffic
annotations) cannot be told from the user's own and stay; the templates read most of them back as they are.
"""
from __future__ import annotations

from typing import Any

from workers.post.probes import restore_app_probes
from workers.post.prometheus import user_scrape_annotations
from workers.strip import (OVERRIDES_ANNOTATION, STATUS_ANNOTATION, STATUS_LISTS, parse_status, reinsert_overrides,
                           strip_pod)


def un_inject(pod: dict[str, Any], status_port: int) -> dict[str, Any]:
    """``pod`` without its injection; ``pod`` itself when it has no (parseable) status annotation.

    The result shares untouched subtrees with ``pod``: treat both as read-only.
    """
    status = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
    if not isinstance(status, str) or parse_status(status) is None:
        return pod
    user = reinsert_overrides(strip_pod(restore_app_probes(pod), status_port, STATUS_LISTS))
    annotations = user["metadata"]["annotations"]  # a fresh dict made by strip_pod
    annotations.pop(OVERRIDES_ANNOTATION, None)
    annotations.update(user_scrape_annotations(pod))
    return user
