"""Documented expected failures of the conformance runs, each with its reason.

A listed case is run as a strict xfail: if it starts passing, the test fails until it is removed from this list,
so the list can only shrink honestly. Keys: case name from cases.yaml.
"""
from __future__ import annotations

KUBE_INJECT_ISTIO_TEMPLATES: dict[str, str] = {}
WEBHOOK_ISTIO_TEMPLATES: dict[str, str] = {}
KUBE_INJECT_EMBEDDED_JINJA: dict[str, str] = {}
