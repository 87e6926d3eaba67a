"""YAML documents from config and annotations, loaded with go-yaml's guard against alias bombs.

PyYAML shares one object for every use of an anchor, so ten anchors of ten aliases each ("billion laughs") build in
microseconds, and whatever walks the result later (merging, copying, printing) expands them to 10**9 nodes. Istio's
YAML library refuses such a document ("document contains excessive aliasing") and so do we, with the same rule:
once the expanded document has more than 1,000 nodes, the share that came from alias expansion may be at most 99%
up to 400,000 nodes, falling linearly to 10% at 4,000,000. An anchor that contains itself is refused too.
"""
from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


class ExcessiveAliasing(yaml.YAMLError):
    """The document expands far beyond its size through aliases, or an anchor refers to itself."""


def _allowed_alias_ratio(expanded: int) -> float:
    if expanded <= _RATIO_LOW:
        return 0.99
    if expanded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (expanded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_aliasing(root: Node) -> None:
    """Raise ExcessiveAliasing for a node graph go-yaml would refuse. Linear in the distinct nodes."""
    expanded: dict[int, int] = {}  # node id -> node count once every alias below it is expanded
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise ExcessiveAliasing("anchor value contains itself")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in expanded)
    total, distinct = expanded[id(root)], len(expanded)
    if total > 1000 and (total - distinct) / total > _allowed_alias_ratio(total):
        raise ExcessiveAliasing(f"document contains excessive aliasing ({distinct} nodes expand to {total})")


def load(text: str) -> Any:
    """``yaml.load(text, Loader=yaml.CSafeLoader)`` for one document, after ``check_aliasing``."""
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_aliasing(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
