"""Parse rendered template YAML fast, with exactly the result of ``yaml.load(text, Loader=yaml.CSafeLoader)``.

libyaml composes the node tree in C; PyYAML's generic constructor then spends most of the parse time in Python
bookkeeping (generators for deep construction, per-object state). Rendered templates are plain block YAML of maps,
lists, strings, ints, bools and nulls, so those are built directly here; anything else (floats, timestamps, merge
keys, explicit or unknown tags) goes through PyYAML's own constructor, so results never differ.
"""
from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Builder:
    """One document's construction; shares objects for aliases (and so survives recursive ones) like PyYAML."""

    def __init__(self, loader: yaml.CSafeLoader) -> None:
        self.loader = loader
        self.built: dict[int, Any] = {}

    def build(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        done = self.built.get(id(node))
        if done is not None:
            return done
        if isinstance(node, MappingNode) and node.tag == _MAP:
            if any(key.tag == _MERGE for key, _ in node.value):
                return self._generic(node)
            mapping: dict[Any, Any] = {}
            self.built[id(node)] = mapping
            for key_node, value_node in node.value:
                key = self.build(key_node)
                try:
                    hash(key)
                except TypeError:
                    return self._generic(node)  # PyYAML raises its own "found unhashable key" error
                mapping[key] = self.build(value_node)
            return mapping
        if isinstance(node, SequenceNode) and node.tag == _SEQ:
            sequence: list[Any] = []
            self.built[id(node)] = sequence
            sequence.extend(self.build(item) for item in node.value)
            return sequence
        return self._generic(node)

    def _scalar(self, node: ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return self.loader.construct_yaml_bool(node)
        if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0"):
            return int(value)
        return self._generic(node)

    def _generic(self, node: Node) -> Any:
        return self.loader.construct_object(node, deep=True)


def load(text: str) -> Any:
    """One YAML document (or None for an empty stream), as ``yaml.load(text, Loader=yaml.CSafeLoader)`` gives."""
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(loader).build(node)
    finally:
        loader.dispose()
