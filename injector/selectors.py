"""Kubernetes LabelSelector matching, with Kubernetes' validation of selectors.

Istio converts each configured selector with ``metav1.LabelSelectorAsSelector``; an invalid one is logged and
skipped, and an empty one is skipped too (it would otherwise match everything).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class InvalidSelector(ValueError):
    """A selector Kubernetes would refuse to convert."""


def _valid_key(key: Any) -> bool:
    if not isinstance(key, str) or not key:
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return False
    return bool(_NAME.match(name)) and len(name) <= 63


def _valid_value(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(_VALUE.match(value))


def _check_requirement(expr: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not _valid_key(key):
        raise InvalidSelector(f"invalid label key {key!r}")
    if operator in ("In", "NotIn"):
        if not values:
            raise InvalidSelector(f"operator {operator} needs values")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            raise InvalidSelector(f"operator {operator} takes no values")
    else:
        raise InvalidSelector(f"unknown operator {operator!r}")
    if not all(_valid_value(v) for v in values):
        raise InvalidSelector(f"invalid label value in {values!r}")
    return key, operator, tuple(values)


def is_empty(selector: Mapping[str, Any]) -> bool:
    """An empty selector: Istio skips it rather than letting it match everything."""
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether labels satisfy the selector; raises InvalidSelector for a selector Kubernetes rejects."""
    match_labels = selector.get("matchLabels") or {}
    for key, value in match_labels.items():
        if not _valid_key(key) or not _valid_value(value):
            raise InvalidSelector(f"invalid matchLabels entry {key!r}: {value!r}")
    requirements = [_check_requirement(e) for e in selector.get("matchExpressions") or []]
    for key, value in match_labels.items():
        if labels.get(key) != value:
            return False
    for key, operator, values in requirements:
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
