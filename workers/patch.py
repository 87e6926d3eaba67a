"""RFC 6902 JSON Patch from the admitted pod to the injected pod (§7), built by walking both trees once.

Maps are diffed per key, lists by trimming the equal head and tail and pairing the rest by position (a pair
of containers with different names is replaced whole), so the patch stays small and never costs n^2.
Operation values share objects with ``final``; serialise them before mutating it.
"""
from __future__ import annotations

from operator import is_
from typing import Any

import orjson

from workers.serialize.gojson import OrderedStruct


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


def _classify(value: Any) -> type:
    if isinstance(value, bool):
        return bool
    if isinstance(value, (int, float)):
        return float
    if isinstance(value, dict):
        return dict
    if isinstance(value, list):
        return list
    return type(value)


_KINDS: dict[type, type] = {bool: bool, int: float, float: float, str: str, type(None): type(None), dict: dict,
                            OrderedStruct: dict, list: list}


def _kind(value: Any) -> type:
    """JSON kind: ``bool`` apart from numbers, ``int`` and ``float`` alike (both are float64 in Go)."""
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _KINDS[type(value)] = _classify(value)  # e.g. the typed struct classes: one lookup from now on
    return kind


def _same_text(a: dict | list, b: dict | list) -> bool:
    try:
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. integers beyond 64 bits: left to the walk
        return False


def equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` never equals ``1``.

    Python's ``==`` runs in C and is False whenever JSON equality is, so only Python-equal values need a second
    look: equal sorted serialisations prove JSON equality; the rest (``1`` vs ``1.0`` somewhere, or a bool
    against a number) is walked.
    """
    if a is b:
        return True
    if a != b:
        return False
    kind = _kind(a)
    if kind is not _kind(b):
        return False
    if kind is dict:
        return (_same_items(a, b) and _same_items(a.values(), b.values())) or _same_text(a, b) or \
            all(equal(v, b[k]) for k, v in a.items())
    if kind is list:
        return _same_items(a, b) or _same_text(a, b) or all(equal(x, y) for x, y in zip(a, b))
    return True


def _same_items(a: Any, b: Any) -> bool:
    """The same objects in the same order (C speed): typed parts shared between the original and the result."""
    return all(map(is_, a, b))


def _diff(path: str, a: Any, b: Any, ops: list[dict]) -> None:
    if equal(a, b):
        return
    kind = _kind(a)
    if kind is not _kind(b) or (kind is not dict and kind is not list):
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
    else:
        _diff_list(path, a, b, ops)


def _equal_run(a: list, b: list, indexes: range) -> int:
    """How many leading ``indexes`` hold equal items in both lists: Python ``==`` per item, then one JSON check."""
    run = 0
    for i in indexes:
        if a[i] != b[i]:
            break
        run += 1
    matched = indexes[:run]
    if equal([a[i] for i in matched], [b[i] for i in matched]):
        return run
    return next((n for n, i in enumerate(matched) if not equal(a[i], b[i])), run)


def _diff_list(path: str, a: list, b: list, ops: list[dict]) -> None:
    shortest = min(len(a), len(b))
    head = _equal_run(a, b, range(shortest))
    tail = _equal_run(a, b, range(-1, -1 - (shortest - head), -1))
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
