"""Small, picklable facts about one injection request.

The event loop knows things the worker cannot cheaply learn (the namespace object from an informer, node kubelet
versions, the URL path of the webhook call). It condenses them into a ``RequestFacts`` that travels with the raw pod
bytes to a worker process, so the worker stays pure and never talks to Kubernetes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """Everything besides the pod and the revision config that shapes one injection."""

    namespace: str = ""
    """Admission request namespace; fills an empty ``metadata.namespace``."""
    revision: str = "default"
    """Revision recorded in the status annotation and given to templates as ``.Revision``."""
    path_env: dict[str, str] = field(default_factory=dict)
    """Proxy environment parsed from the webhook URL path (``cluster``/``net``/... pairs, §1.5)."""
    native_sidecars: bool = False
    """Whether native sidecars are on for this pod (ENABLE_NATIVE_SIDECARS and node kubelet versions, §6.4)."""
    proxy_uid: int | None = None
    """OpenShift proxy UID from the namespace's uid-range annotation; None means Istio's 1337."""
    proxy_gid: int | None = None
    compliance_policy: str = ""
    platform: str = ""
    webhook: bool = True
    """True for admission (full config: policy, injectedAnnotations); False for kube-inject semantics."""

    def identity(self) -> tuple[Any, ...]:
        """A hashable stand-in, equal for equal facts (``path_env`` as its items, in order): the front end's patch
        cache keys every admission by it, and pickling the facts instead cost several times more."""
        return (self.namespace, self.revision, tuple(self.path_env.items()), self.native_sidecars, self.proxy_uid,
                self.proxy_gid, self.compliance_policy, self.platform, self.webhook)
