"""Which revision's webhook Kubernetes would call for a pod: Istio's MutatingWebhookConfiguration selectors (§9).

We serve every revision from one process, so ``/inject`` without a revision in its path resolves the revision the
same way the selectors of Istio's per-revision webhooks would have chosen one.
"""
from __future__ import annotations

from typing import Mapping

REV_LABEL = "istio.io/rev"
INJECTION_LABEL = "istio-injection"
INJECT_KEY = "sidecar.istio.io/inject"
DEFAULT_REVISION = "default"


def resolve_revision(pod_labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> str | None:
    """The revision (or tag) whose webhook selects this pod, or None when no Istio webhook would be called.

    Namespace labels beat pod labels: a namespace with ``istio-injection`` or ``istio.io/rev`` decides alone.
    """
    inject = pod_labels.get(INJECT_KEY)
    if INJECTION_LABEL in namespace_labels:
        if namespace_labels[INJECTION_LABEL] == "enabled" and inject != "false":
            return DEFAULT_REVISION
        return None
    if REV_LABEL in namespace_labels:
        return namespace_labels[REV_LABEL] if inject != "false" else None
    if REV_LABEL in pod_labels:
        return pod_labels[REV_LABEL] if inject != "false" else None
    if inject == "true":
        return DEFAULT_REVISION
    return None


def webhook_selects(pod_labels: Mapping[str, str], namespace_labels: Mapping[str, str],
                    revision: str) -> tuple[bool, str]:
    """Whether ``revision``'s webhook would be called for this pod, with the reason in words."""
    chosen = resolve_revision(pod_labels, namespace_labels)
    if chosen is None:
        return False, "no Istio webhook selects this pod (namespace/pod labels do not opt in)"
    if chosen != (revision or DEFAULT_REVISION):
        return False, f"the pod is selected by revision {chosen!r}, not {revision!r}"
    return True, f"selected by revision {chosen!r}"
