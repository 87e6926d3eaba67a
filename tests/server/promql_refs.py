"""Which metrics and labels a PromQL expression reads, for checking dashboards and alerts against /metrics.

Not a PromQL parser (promtool checks the syntax in the e2e tier): it finds vector selectors (``name{l="v"}``) and
grouping clauses (``by (...)``, ``on (...)``) in the small subset of PromQL our dashboard and rules use.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

FUNCTIONS_AND_KEYWORDS = frozenset({
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "absent", "by",
    "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "label_values", "vector", "clamp_min", "clamp_max",
})
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

_GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*(\()?")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*\"(?:[^\"\\]|\\.)*\"")


@dataclass
class References:
    """Metric name -> label names its selectors match on, and the labels grouping clauses use."""

    selectors: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def references(expr: str) -> References:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    found = References()
    for match in _GROUPING.finditer(expr):
        found.grouping.update(label.strip() for label in match.group(2).split(",") if label.strip())
    expr = _GROUPING.sub(" ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range durations
    for match in _SELECTOR.finditer(expr):
        name, matchers, call = match.groups()
        if call or name in FUNCTIONS_AND_KEYWORDS:
            continue
        labels = {m.group(1) for m in _MATCHER.finditer(matchers or "")}
        found.selectors.setdefault(name, set()).update(labels)
    return found
