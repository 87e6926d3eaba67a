"""Make a patch computed between typed pods applicable to the raw pod the API server sent.

The pipeline diffs the typed original (Go's view: unknown fields dropped, non-omitempty fields present) against
the typed result, as Istio does, so fields we do not model are never touched. The API server applies the patch to
its own JSON, which may lack members the typed view has (an older server omitting a field, a hand-written
AdmissionReview). Walking the operations over the raw pod (copy on write: the raw pod itself is never changed), an
operation under a missing member becomes one ``add`` of the whole member taken from the result, a ``replace`` of a
missing member becomes ``add``, and a ``remove`` of a missing member is dropped.
"""
from __future__ import annotations

from typing import Any

_MISSING = object()


def _token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _get(node: Any, token: str) -> Any:
    """The member, or _MISSING; a JSON null counts as missing, as it does for the API server."""
    if isinstance(node, dict):
        value = node.get(_token(token))
        return _MISSING if value is None else value
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return _MISSING


def _owned(node: Any, owned: dict[int, Any]) -> Any:
    """``node`` if this rebase made it, else a shallow copy that it now owns (the raw pod is never changed)."""
    if id(node) in owned:
        return node
    copy = dict(node) if isinstance(node, dict) else list(node)
    owned[id(copy)] = copy  # kept alive here, so no other object can take its id meanwhile
    return copy


def _apply(doc: Any, op: dict[str, Any], owned: dict[int, Any]) -> Any:
    """Apply one add/replace/remove; returns the new document. Copy on write: the containers on the op's path
    are copied once, everything else (and every op value) is shared."""
    tokens = op["path"].split("/")[1:]
    doc = parent = _owned(doc, owned)
    for token in tokens[:-1]:
        child = _get(parent, token)
        mine = _owned(child, owned)
        if mine is not child:
            if isinstance(parent, dict):
                parent[_token(token)] = mine
            else:
                parent[int(token)] = mine
        parent = mine
    last = tokens[-1]
    if op["op"] == "remove":
        if isinstance(parent, dict):
            parent.pop(_token(last), None)
        else:
            del parent[int(last)]
        return doc
    value = op["value"]
    if isinstance(parent, dict):
        parent[_token(last)] = value
    elif op["op"] == "replace":
        parent[int(last)] = value
    elif last == "-":
        parent.append(value)
    else:
        parent.insert(int(last), value)
    return doc


def _value_at(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        doc = _get(doc, token)
    return doc


def rebase_patch(ops: list[dict[str, Any]], raw: Any, final: Any) -> list[dict[str, Any]]:
    """Rewrite ``ops`` (valid against the typed original) so that, applied to ``raw``, they yield ``final``."""
    doc = raw
    owned: dict[int, Any] = {}
    out: list[dict[str, Any]] = []
    for op in ops:
        tokens = op["path"].split("/")[1:]
        node, depth = doc, 0
        for depth, token in enumerate(tokens):
            child = _get(node, token)
            if child is _MISSING:
                break
            node = child
        else:
            depth = len(tokens)
        if depth >= len(tokens) - 1:
            if depth == len(tokens) - 1 and isinstance(node, dict):
                if op["op"] == "remove":
                    continue
                op = {"op": "add", "path": op["path"], "value": op["value"]}
        else:
            anchor_tokens = tokens[: depth + 1]
            value = _value_at(final, anchor_tokens)
            if value is _MISSING:
                continue
            op = {"op": "add", "path": "/" + "/".join(anchor_tokens), "value": value}
        doc = _apply(doc, op, owned)
        out.append(op)
    return out
