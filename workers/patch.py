"""RFC 6902 JSON Patch from the admitted pod to the injected pod (§7), built by walking both trees once.

Maps are diffed per key, lists by trimming the equal head and tail and pairing the rest by position (a pair
of containers with different names is replaced whole), so the patch stays small and never costs n^2.
Operation values share objects with ``final``; serialise them before mutating it.
"""
from __future__ import annotations

from typing import Any

import orjson


def create_patch(original: dict, final: dict) -> list[dict]:
    """Operations turning ``original`` into ``final``; ``[]`` when they are equal."""
    ops: list[dict] = []
    _diff("", original, final, ops)
    return ops


def dumps_patch(ops: list[dict]) -> bytes:
    """The patch as JSON bytes for the admission response."""
    return orjson.dumps(ops)


def escape(token: str) -> str:
    """JSON Pointer escaping of one reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def _kind(value: Any) -> type:
    if isinstance(value, bool):
        return bool
    if isinstance(value, (int, float)):
        return float
    if isinstance(value, dict):
        return dict
    if isinstance(value, list):
        return list
    return type(value)


def equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` never equals ``1``."""
    kind = _kind(a)
    if kind is not _kind(b):
        return False
    if kind is dict:
        return len(a) == len(b) and all(k in b and equal(v, b[k]) for k, v in a.items())
    if kind is list:
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return a == b


def _diff(path: str, a: Any, b: Any, ops: list[dict]) -> None:
    kind = _kind(a)
    if kind is not _kind(b):
        ops.append({"op": "replace", "path": path, "value": b})
    elif kind is dict:
        for key in a:
            if key not in b:
                ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
        for key, value in b.items():
            child = f"{path}/{escape(key)}"
            if key in a:
                _diff(child, a[key], value, ops)
            else:
                ops.append({"op": "add", "path": child, "value": value})
    elif kind is list:
        _diff_list(path, a, b, ops)
    elif a != b:
        ops.append({"op": "replace", "path": path, "value": b})


def _diff_list(path: str, a: list, b: list, ops: list[dict]) -> None:
    shortest = min(len(a), len(b))
    head = 0
    while head < shortest and equal(a[head], b[head]):
        head += 1
    tail = 0
    while tail < shortest - head and equal(a[-1 - tail], b[-1 - tail]):
        tail += 1
    old, new = a[head:len(a) - tail], b[head:len(b) - tail]
    for offset, (x, y) in enumerate(zip(old, new)):
        child = f"{path}/{head + offset}"
        if isinstance(x, dict) and isinstance(y, dict) and x.get("name") != y.get("name"):
            ops.append({"op": "replace", "path": child, "value": y})
        else:
            _diff(child, x, y, ops)
    paired = min(len(old), len(new))
    for index in range(head + len(old) - 1, head + paired - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{index}"})
    for index in range(head + paired, head + len(new)):
        ops.append({"op": "add", "path": f"{path}/{index}", "value": new[index - head]})
