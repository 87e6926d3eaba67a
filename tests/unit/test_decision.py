"""Istio's inject/skip table (../shared/conformance/istio-inject-required) plus the rules it does not cover."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from injector.decision import should_inject
from workers.config.model import config_from_mapping

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TABLE = SHARED / "conformance" / "istio-inject-required" / "cases.yaml"


def _rows() -> list[dict]:
    if not TABLE.exists():
        return []
    return yaml.safe_load(TABLE.read_text())


@pytest.mark.skipif(not TABLE.exists(), reason=f"Istio decision table not found at {TABLE}")
@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["name"])
def test_istio_inject_required_table(row: dict) -> None:
    config = config_from_mapping(row["config"])
    decision = should_inject(row["pod"], config, row["pod"]["metadata"].get("namespace", ""))
    assert decision.inject is row["want"], decision


def pod(labels=None, annotations=None, namespace="ns", host_network=False) -> dict:
    meta = {"name": "p", "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"hostNetwork": True} if host_network else {}}


ENABLED = config_from_mapping({"policy": "enabled"})
DISABLED = config_from_mapping({"policy": "disabled"})


@pytest.mark.parametrize("ns", ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"])
def test_ignored_namespaces_skip_even_when_forced(ns: str) -> None:
    decision = should_inject(pod(annotations={"sidecar.istio.io/inject": "true"}, namespace=ns), ENABLED)
    assert (decision.inject, decision.code) == (False, "ignored-namespace")


def test_request_namespace_used_when_pod_has_none() -> None:
    assert not should_inject(pod(namespace=""), ENABLED, "kube-system").inject
    assert should_inject(pod(namespace=""), ENABLED, "apps").inject


def test_empty_label_beats_annotation() -> None:
    decision = should_inject(pod(labels={"sidecar.istio.io/inject": ""},
                                 annotations={"sidecar.istio.io/inject": "true"}), DISABLED)
    assert (decision.inject, decision.code) == (False, "policy-disabled")


def test_missing_policy_never_injects() -> None:
    config = config_from_mapping({})
    decision = should_inject(pod(annotations={"sidecar.istio.io/inject": "true"}), config)
    assert (decision.inject, decision.code) == (False, "policy-invalid")


def test_empty_and_invalid_selectors_are_skipped() -> None:
    config = config_from_mapping({"policy": "enabled", "neverInjectSelector": [
        {}, {"matchExpressions": [{"key": "a", "operator": "Bogus"}]},
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
    ]})
    assert should_inject(pod(labels={"a": "b"}), config).code == "policy-enabled"


@pytest.mark.parametrize("expr,labels,matches", [
    ({"key": "env", "operator": "In", "values": ["prod"]}, {"env": "prod"}, True),
    ({"key": "env", "operator": "In", "values": ["prod"]}, {}, False),
    ({"key": "env", "operator": "NotIn", "values": ["prod"]}, {}, True),
    ({"key": "env", "operator": "NotIn", "values": ["prod"]}, {"env": "prod"}, False),
    ({"key": "env", "operator": "DoesNotExist"}, {}, True),
    ({"key": "env", "operator": "DoesNotExist"}, {"env": ""}, False),
    ({"key": "env", "operator": "Exists"}, {"env": ""}, True),
])
def test_selector_operators(expr: dict, labels: dict, matches: bool) -> None:
    config = config_from_mapping({"policy": "enabled", "neverInjectSelector": [{"matchExpressions": [expr]}]})
    assert should_inject(pod(labels=labels), config).inject is not matches


def test_never_beats_always() -> None:
    sel = [{"matchLabels": {"a": "b"}}]
    config = config_from_mapping({"policy": "disabled", "neverInjectSelector": sel, "alwaysInjectSelector": sel})
    assert should_inject(pod(labels={"a": "b"}), config).code == "never-inject-selector"


def test_host_network_reason() -> None:
    decision = should_inject(pod(host_network=True, annotations={"sidecar.istio.io/inject": "true"}), ENABLED)
    assert (decision.inject, decision.code) == (False, "host-network")
