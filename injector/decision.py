"""Should this pod get a sidecar, and why: Istio's ``injectRequired``, rule by rule, in Istio's order.

The reason is data (a code plus a human sentence) so that the webhook logs it, ``injector check`` prints it and
tests assert on it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from injector import selectors
from workers.config.model import InjectorConfig

INJECT_KEY = "sidecar.istio.io/inject"
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome plus why. ``code`` is stable (for metrics and tests); ``reason`` is for people."""

    inject: bool
    code: str
    reason: str


def _explicit_choice(metadata: Mapping[str, Any]) -> tuple[bool | None, str]:
    """The label beats the annotation even when empty; only exactly "true"/"false" count."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if INJECT_KEY in labels:
        value, where = labels[INJECT_KEY], "label"
    else:
        value, where = annotations.get(INJECT_KEY, ""), "annotation"
    if value == "true":
        return True, where
    if value == "false":
        return False, where
    if value:
        log.warning("ignoring %s %s=%r: only \"true\" or \"false\" are honoured", where, INJECT_KEY, value)
    return None, where


def _first_match(selector_list: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> int | None:
    for index, selector in enumerate(selector_list):
        if selectors.is_empty(selector):
            continue
        try:
            if selectors.matches(selector, labels):
                return index
        except selectors.InvalidSelector as exc:
            log.warning("skipping invalid label selector %d: %s", index, exc)
    return None


def should_inject(pod: Mapping[str, Any], config: InjectorConfig, namespace: str = "") -> Decision:
    """Istio's decision. ``namespace`` is the admission request's, used when the pod has none."""
    spec = pod.get("spec") or {}
    metadata = pod.get("metadata") or {}
    if spec.get("hostNetwork"):
        return Decision(False, "host-network", "pod uses host networking")
    pod_namespace = metadata.get("namespace") or namespace
    if pod_namespace in IGNORED_NAMESPACES:
        return Decision(False, "ignored-namespace", f"namespace {pod_namespace} is never injected")

    explicit, where = _explicit_choice(metadata)
    code, reason = (f"{where}-{'true' if explicit else 'false'}",
                    f"{where} {INJECT_KEY}={'true' if explicit else 'false'}") if explicit is not None else ("", "")
    labels = metadata.get("labels") or {}
    if explicit is None:
        index = _first_match(config.never_inject_selector, labels)
        if index is not None:
            explicit, code, reason = False, "never-inject-selector", f"pod matches neverInjectSelector[{index}]"
    if explicit is None:
        index = _first_match(config.always_inject_selector, labels)
        if index is not None:
            explicit, code, reason = True, "always-inject-selector", f"pod matches alwaysInjectSelector[{index}]"

    policy = config.policy
    if policy == "enabled":
        if explicit is None:
            return Decision(True, "policy-enabled", "policy is enabled and the pod makes no explicit choice")
        return Decision(explicit, code, reason)
    if policy == "disabled":
        if explicit is None:
            return Decision(False, "policy-disabled", "policy is disabled and the pod does not opt in")
        return Decision(explicit, code, reason)
    log.error("illegal injection policy %r: no pod is injected", policy)
    return Decision(False, "policy-invalid", f"injection policy {policy!r} is neither enabled nor disabled")
