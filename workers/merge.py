"""Strategic merge patch apply on the Pod schema (§6.2).

Istio merges every rendered template and every user-customised container with Kubernetes'
``strategicpatch.StrategicMergeMapPatch`` (options: merge parallel lists, ignore unmatched nulls). The merged
list order decides container, volume and env order in the output, so the algorithm here follows the
apimachinery one step for step, with dict indexes instead of its linear scans to stay linear per list.

All functions are pure and copy on write: a map or list is copied (shallowly) only where the patch changes it,
so the result shares every untouched subtree with ``original`` and ``patch``. Merging one sidecar into a pod
with thousands of env vars then costs what the patch costs. Callers must not mutate the result in place
(normalise or copy it first); every caller in ``workers`` normalises it, which builds fresh objects.
"""
from __future__ import annotations

from typing import AbstractSet, Any, NamedTuple

import orjson

from workers.errors import InjectionError

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList"
_SET_ORDER = "$setElementOrder"


class Field(NamedTuple):
    """Patch metadata of one struct field: merge strategy, merge key and the schema below it."""

    merge: bool
    key: str
    child: dict[str, Field]


_PLAIN = Field(False, "", {})


def _keyed(key: str, child: dict[str, Field] | None = None) -> Field:
    return Field(True, key, child or {})


def _struct(child: dict[str, Field]) -> Field:
    return Field(False, "", child)


_CONTAINER = {
    "ports": _keyed("containerPort"),
    "env": _keyed("name"),
    "volumeMounts": _keyed("mountPath"),
    "volumeDevices": _keyed("devicePath"),
}
_POD_SPEC = {
    "volumes": _keyed("name"),
    "initContainers": _keyed("name", _CONTAINER),
    "containers": _keyed("name", _CONTAINER),
    "ephemeralContainers": _keyed("name", _CONTAINER),
    "imagePullSecrets": _keyed("name"),
    "hostAliases": _keyed("ip"),
    "topologySpreadConstraints": _keyed("topologyKey"),
    "schedulingGates": _keyed("name"),
    "resourceClaims": _keyed("name"),
}
_OBJECT_META = {"ownerReferences": _keyed("uid"), "finalizers": Field(True, "", {})}
_POD_STATUS = {
    "conditions": _keyed("type"),
    "hostIPs": _keyed("ip"),
    "podIPs": _keyed("ip"),
    "resourceClaimStatuses": _keyed("name"),
}
POD_SCHEMA: dict[str, Field] = {
    "metadata": _struct(_OBJECT_META),
    "spec": _struct(_POD_SPEC),
    "status": _struct(_POD_STATUS),
}
"""Fields of ``corev1.Pod`` (k8s.io/api v0.36) carrying a patch strategy; every other list is atomic."""


def copy_json(value: Any) -> Any:
    """Deep copy of JSON data (much faster than ``copy.deepcopy``)."""
    return orjson.loads(orjson.dumps(value))


def strategic_merge(original: dict | None, patch: dict | None, schema: dict[str, Field] = POD_SCHEMA) -> dict:
    """Return ``original`` with the strategic merge ``patch`` applied.

    Neither input is modified; the result shares unchanged subtrees with both (and is ``original`` itself when
    ``patch`` is None), so it must not be mutated in place.
    """
    if original is None:
        original = {}
    if patch is None:
        return original
    return _merge_map(original, patch, schema)


def apply_container(pod: dict, container: dict) -> dict:
    """Merge one typed container onto the pod's ``containers`` (webhook.go ``applyContainer``)."""
    return strategic_merge(pod, {"spec": {"containers": [container]}})


def apply_init_container(pod: dict, container: dict) -> dict:
    """Merge one typed container onto ``initContainers``; the empty ``containers`` leaves the app list alone."""
    return strategic_merge(pod, {"spec": {"containers": [], "initContainers": [container]}})


# ---------------------------------------------------------------------------------------------------- maps


def _merge_map(original: dict | None, patch: dict, schema: dict[str, Field]) -> dict:
    """A new map: ``original`` (not modified) with ``patch`` merged in."""
    if _DIRECTIVE in patch:
        return _map_directive(patch[_DIRECTIVE], patch)
    original = {} if original is None else dict(original)
    _apply_retain_keys(original, patch)
    consumed = _merge_set_element_order(original, patch, schema)
    for key, value in patch.items():
        if key in consumed:
            continue
        delete_list = False
        if key.startswith(_DELETE_FROM_PRIMITIVE):
            key = _extract_key(key, _DELETE_FROM_PRIMITIVE)
            delete_list = True
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _kind(original[key]) != _kind(value):
            if not delete_list:
                _take(original, key, value)
            continue
        field = schema.get(key, _PLAIN)
        if isinstance(value, dict):
            original[key] = _merge_map(original[key], value, field.child)
        elif isinstance(value, list):
            original[key] = _merge_list_field(original[key], value, field, delete_list)
        else:
            original[key] = value
    return original


def _take(original: dict, key: str, value: Any) -> None:
    """Use a patch value that has nothing to merge with: nulls and directive maps inside it are dropped."""
    cleaned, keep = _clean(value)
    if keep:
        original[key] = cleaned
    else:
        original.pop(key, None)


def _map_directive(directive: Any, patch: dict) -> dict:
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "delete":
        return {}
    raise InjectionError(f"unknown patch type: {directive} in map: {patch}")


def _apply_retain_keys(original: dict, patch: dict) -> None:
    """Drop the keys of ``original`` (a copy) that ``$retainKeys`` does not list."""
    if _RETAIN_KEYS not in patch:
        return
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list):
        raise InjectionError("invalid patch format of retainKeys")
    allowed = {item for item in retain if isinstance(item, str)}
    for key, value in patch.items():
        if value is None or key == _RETAIN_KEYS or key.startswith((_DELETE_FROM_PRIMITIVE, _SET_ORDER)):
            continue
        if key not in allowed:
            raise InjectionError("invalid patch format of retainKeys")
    for key in [k for k in original if k not in allowed]:
        del original[key]


def _clean(value: Any) -> tuple[Any, bool]:
    """Kubernetes ``discardNullValuesFromPatch`` then ``removeDirectives``; False = drop the value itself."""
    return _remove_directives(value, discard_nulls=True)


def _remove_directives(value: Any, discard_nulls: bool = False) -> tuple[Any, bool]:
    """A value that has no original counterpart without ``$patch`` maps (and optionally null map entries);
    False = drop the value itself.

    Subtrees whose JSON text shows neither (one C call decides) are returned as they are, so only the paths
    to a null or a directive are rebuilt and the input is never modified.
    """
    if not isinstance(value, (dict, list)) or not _may_hold_directives(value, discard_nulls):
        return value, True
    if isinstance(value, list):
        out_list = []
        for item in value:
            cleaned, keep = _remove_directives(item, discard_nulls)
            if keep:
                out_list.append(cleaned)
        return out_list, True
    if discard_nulls:
        value = {k: v for k, v in value.items() if v is not None}
    if _DIRECTIVE in value:
        return None, False
    out = {}
    for key, item in value.items():
        cleaned, keep = _remove_directives(item, discard_nulls)
        if keep:
            out[key] = cleaned
    return out, True


def _may_hold_directives(value: dict | list, nulls: bool) -> bool:
    """False when the JSON text shows no ``$patch`` key (and, with ``nulls``, no null map entry)."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:  # not plain JSON (e.g. non-string keys from YAML): walk it
        return True
    return b'"$patch"' in text or (nulls and b'":null' in text)


def _extract_key(key: str, prefix: str) -> str:
    parts = key.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        if prefix == _DELETE_FROM_PRIMITIVE:
            raise InjectionError("invalid patch format of primitive list")
        raise InjectionError("invalid patch format of setElementOrder list")
    return parts[1]


# --------------------------------------------------------------------------------------------------- lists


def _merge_list_field(original: list, patch: list, field: Field, delete_list: bool) -> list:
    if field.merge or delete_list:
        return _merge_slice(original, patch, field, delete_list)
    return patch


def _merge_slice(original: list, patch: list, field: Field, delete_list: bool) -> list:
    if not original and not patch:
        return original
    is_map = _element_kind(original, patch) == "map"
    key = field.key
    if not is_map:
        if delete_list:
            doomed = {_hashable(v) for v in patch}
            return [v for v in original if _hashable(v) not in doomed]
        merged = _dedupe(original + patch)
    else:
        if not key:
            raise InjectionError("cannot merge lists without merge key")
        original, patch = _special_elements(original, patch, key)
        merged = _merge_keyed(original, patch, key, field.child)
    patch_items, server_only = _partition(merged, patch, key)
    return _normalize_order(patch_items, server_only, patch, original, key)


def _special_elements(original: list, patch: list, key: str) -> tuple[list, list]:
    """Apply ``$patch: delete`` items and detect ``$patch: replace``; returns (original, plain patch items)."""
    plain: list = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise _no_merge_key(item, key)
            doomed = _hashable(item[key])
            original = [o for o in original if not (key in o and _hashable(o[key]) == doomed)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise InjectionError("merging lists cannot yet be specified in the patch")
        else:
            raise InjectionError(f"unknown patch type: {directive} in map: {item}")
    if replace:
        return plain, []
    return original, plain


def _merge_keyed(original: list, patch: list, key: str, child: dict[str, Field]) -> list:
    """Merge each patch item into the first item with the same key, else append it (unchanged, like Go)."""
    merged = list(original)
    positions: dict[Any, int] = {}
    for i, item in enumerate(merged):
        if key in item:
            positions.setdefault(_hashable(item[key]), i)
    for item in patch:
        if key not in item:
            raise _no_merge_key(item, key)
        value = _hashable(item[key])
        pos = positions.get(value)
        if pos is None:
            positions[value] = len(merged)
            merged.append(item)
        else:
            merged[pos] = _merge_map(merged[pos], item, child)
    return merged


def _partition(merged: list, by: list, key: str) -> tuple[list, list]:
    """Split ``merged`` into items present in ``by`` (patch items) and the rest (server-only items)."""
    if key:
        present = set()
        for item in by:
            if not isinstance(item, dict):
                raise InjectionError("value for key is not a map")
            if key in item:
                present.add(_hashable(item[key]))
        inside, outside = [], []
        for item in merged:
            if not isinstance(item, dict):
                raise InjectionError(f"expected a map, but received {type(item).__name__}")
            if key not in item:
                raise _no_merge_key(item, key)
            (inside if _hashable(item[key]) in present else outside).append(item)
        return inside, outside
    present = {_hashable(v) for v in by}
    inside = [v for v in merged if _hashable(v) in present]
    outside = [v for v in merged if _hashable(v) not in present]
    return inside, outside


def _normalize_order(patch_items: list, server_only: list, patch_order: list, server_order: list, key: str) -> list:
    """Sort patch items by patch order, server-only items by live order, then interleave (§6.2)."""
    patch_items = _sort_by(patch_items, patch_order, key)
    server_only = _sort_by(server_only, server_order, key)
    positions = _first_positions(server_order, key)
    out: list = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        left = positions.get(_order_key(server_only[i], key))
        right = positions.get(_order_key(patch_items[j], key))
        if left is not None and right is not None and left < right:
            out.append(server_only[i])
            i += 1
        else:
            out.append(patch_items[j])
            j += 1
    out.extend(server_only[i:])
    out.extend(patch_items[j:])
    return out


def _sort_by(items: list, order: list, key: str) -> list:
    deleted: list = []
    if key:
        _validate_merge_key(key, items, order)
        deleted = [i for i in items if i.get(_DIRECTIVE) == "delete"]
        if deleted:
            items = [i for i in items if i.get(_DIRECTIVE) != "delete"]
    positions = _first_positions(order, key)
    found = [positions.get(_order_key(i, key)) for i in items]
    if None not in found:
        # Every item is in ``order`` (always true for the merges Istio performs): a stable sort by position.
        items = [items[n] for n in sorted(range(len(items)), key=found.__getitem__)]
    return items + deleted


def _first_positions(order: list, key: str) -> dict[Any, int]:
    positions: dict[Any, int] = {}
    for i, item in enumerate(order):
        positions.setdefault(_order_key(item, key), i)
    return positions


def _order_key(item: Any, key: str) -> Any:
    if key:
        return _hashable(item.get(key)) if isinstance(item, dict) else _hashable(None)
    return _hashable(item)


def _validate_merge_key(key: str, *lists: list) -> None:
    for items in lists:
        for item in items:
            if not isinstance(item, dict):
                raise InjectionError(f"expected a map, but received {type(item).__name__}")
            if key not in item:
                raise _no_merge_key(item, key)


def _dedupe(values: list) -> list:
    seen: set = set()
    out = []
    for v in values:
        h = _hashable(v)
        if h not in seen:
            seen.add(h)
            out.append(v)
    return out


# ---------------------------------------------------------------------------------------- $setElementOrder


_HANDLED_FIRST: frozenset[str] = frozenset({_RETAIN_KEYS})


def _merge_set_element_order(original: dict, patch: dict, schema: dict[str, Field]) -> AbstractSet[str]:
    """Merge and order the lists named by ``$setElementOrder`` directives into ``original`` (a copy).

    Returns the patch keys the main merge loop must skip: the directives, their lists and ``$retainKeys``.
    """
    directives = [k for k in patch if k.startswith(_SET_ORDER)]
    if not directives:
        return _HANDLED_FIRST
    consumed = set(_HANDLED_FIRST)
    for directive in directives:
        consumed.add(directive)
        order = patch[directive]
        if not isinstance(order, list):
            raise InjectionError("invalid patch format of setElementOrder list")
        key = _extract_key(directive, _SET_ORDER)
        field = schema.get(key, _PLAIN)
        in_original, in_patch = key in original, key in patch
        live = original.get(key) if in_original else []
        change = patch.get(key) if in_patch else []
        if not isinstance(live, list) or not isinstance(change, list):
            raise InjectionError("invalid patch format of setElementOrder list")
        _validate_set_order(change, order, field.key)
        if in_original and not in_patch:
            merged = live
        elif in_patch and not in_original:
            merged = _remove_directives(change)[0]
        elif in_original:
            merged = _merge_list_field(live, change, field, False)
        else:
            continue
        patch_items, server_only = _partition(merged, order, field.key)
        _element_kind(live, change)  # only its errors matter: apimachinery checks the element types here too
        original[key] = _normalize_order(patch_items, server_only, order, live, field.key)
        consumed.add(key)
    return consumed


def _validate_set_order(patch_list: list, order: list, key: str) -> None:
    if not order or not patch_list:
        return
    items = [i for i in patch_list if not (isinstance(i, dict) and i.get(_DIRECTIVE) == "delete")] if key else patch_list
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if key:
            if not isinstance(items[p], dict) or not isinstance(order[s], dict):
                raise InjectionError("expected a map in setElementOrder list")
            if key not in items[p] or key not in order[s]:
                raise _no_merge_key(items[p] if key not in items[p] else order[s], key)
            equal = _hashable(items[p][key]) == _hashable(order[s][key])
        else:
            equal = _hashable(items[p]) == _hashable(order[s])
        if equal:
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise InjectionError(f"The order in patch list:\n{patch_list}\n doesn't match {_SET_ORDER} list:\n{order}\n")


# ------------------------------------------------------------------------------------------------ helpers


def _kind(value: Any) -> str:
    """The reflect kind apimachinery compares: an original and a patch value of different kinds are not merged
    (the patch value replaces), and list elements must all share one kind."""
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "number"


def _element_kind(*lists: list) -> str:
    kind = ""
    for items in lists:
        for item in items:
            current = _kind(item)
            if not kind:
                if current in ("list", "nil"):
                    raise InjectionError("lists of lists are not supported")
                kind = current
            elif kind != current:
                raise InjectionError(f"list element types are not identical: {list(lists)}")
    if not kind:
        raise InjectionError("no elements in any of the given slices")
    return kind


def _hashable(value: Any) -> Any:
    """Go ``==`` on decoded JSON scalars: numbers are all float64, bools never equal numbers."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value), value)
    if isinstance(value, (int, float)):
        return (float, float(value))
    raise InjectionError(f"strategic merge: uncomparable merge value {value!r}")


def _no_merge_key(item: Any, key: str) -> InjectionError:
    return InjectionError(f"map: {item} does not contain declared merge key: {key}")
