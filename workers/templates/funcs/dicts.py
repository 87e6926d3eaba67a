"""sprig's dict functions on ``map[string]interface {}`` (plain dicts), including mergo's merge rules.

Like Go's maps, dicts are references: ``set``, ``unset`` and ``merge`` change the map they are given (and
``merge`` the nested maps inside it), which a template can observe.
"""
from __future__ import annotations

from typing import Any

from workers.templates.govalues import GoInt, StrList, go_kind, go_type_name, nil_map

from .convert import go_empty, strval
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


@go("func(...interface {}) map[string]interface {}", "dict")
def go_dict(*v: Any) -> dict[str, Any]:
    """Pairs into a map, keys stringified; a trailing key maps to ``""``."""
    return {strval(v[i]): (v[i + 1] if i + 1 < len(v) else "") for i in range(0, len(v), 2)}


@go("func(map[string]interface {}, string) interface {}", "get")
def get(d: dict[str, Any] | None, key: str) -> Any:
    return (d or {}).get(key, "")


def _nil_map_write() -> None:
    raise TypeError("assignment to entry in nil map")


@go("func(map[string]interface {}, string, interface {}) map[string]interface {}", "set")
def go_set(d: dict[str, Any] | None, key: str, value: Any) -> dict[str, Any]:
    if d is None:
        _nil_map_write()
    d[key] = value
    return d


@go("func(map[string]interface {}, string) map[string]interface {}", "unset")
def unset(d: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if d is not None:
        d.pop(key, None)
    return d


@go("func(map[string]interface {}, string) bool", "hasKey")
def has_key(d: dict[str, Any] | None, key: str) -> bool:
    return d is not None and key in d


@go("func(string, ...map[string]interface {}) []interface {}", "pluck")
def pluck(key: str, *dicts: dict[str, Any] | None) -> list[Any]:
    return [d[key] for d in dicts if d is not None and key in d]


@go("func(...map[string]interface {}) []string", "keys")
def keys(*dicts: dict[str, Any] | None) -> StrList:
    """All keys (Go's order is random; ours is insertion order)."""
    return StrList(k for d in dicts if d for k in d)


@go("func(map[string]interface {}, ...string) map[string]interface {}", "pick")
def pick(d: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    d = d or {}
    return {k: d[k] for k in names if k in d}


@go("func(map[string]interface {}) []interface {}", "values")
def values(d: dict[str, Any] | None) -> list[Any]:
    """All values (Go's order is random; ours is insertion order)."""
    return list((d or {}).values())


# ---- mergo -----------------------------------------------------------------------------------------------------

def _merge_into(dst: dict[str, Any], src: dict[str, Any], overwrite: bool) -> None:
    """mergo ``deepMerge`` of two ``map[string]interface {}``: nested maps merged in place, slices and scalars
    taken from ``src`` when ``dst`` lacks them, has an empty value, or ``overwrite`` is set."""
    for key, s in list(src.items()):
        present = key in dst
        d = dst.get(key)
        if s is None:
            if overwrite:
                dst[key] = None
            continue
        kind = go_kind(s)
        if kind in ("map", "struct", "ptr"):
            if isinstance(s, dict) and isinstance(d, dict):
                _merge_into(d, s, overwrite)
        elif kind == "slice":
            if not present or d is None:
                slot = type(s)() if type(s) is not tuple else []
            else:
                slot = d
            if overwrite or not dst:
                slot = s
            dst[key] = slot
        if present and not go_empty(d):
            if kind == "slice":
                continue
            if kind == "map" and go_kind(d) == "map":
                continue
        if overwrite or not present or go_empty(d):
            dst[key] = s


def _merge(dst: dict[str, Any] | None, srcs: tuple, overwrite: bool) -> dict[str, Any]:
    for src in srcs:
        if dst is None:
            if src is None:
                continue
            dst = {}
        if src is not None:
            _merge_into(dst, src, overwrite)
    return nil_map() if dst is None else dst


@go("func(map[string]interface {}, ...map[string]interface {}) interface {}", "merge")
@go("func(map[string]interface {}, ...map[string]interface {}) (interface {}, error)", "mustMerge")
def merge(dst: dict[str, Any] | None, *srcs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Later maps fill what ``dst`` lacks (``dst`` is changed and returned)."""
    return _merge(dst, srcs, overwrite=False)


@go("func(map[string]interface {}, ...map[string]interface {}) interface {}", "mergeOverwrite")
@go("func(map[string]interface {}, ...map[string]interface {}) (interface {}, error)", "mustMergeOverwrite")
def merge_overwrite(dst: dict[str, Any] | None, *srcs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Later maps win (``dst`` is changed and returned)."""
    return _merge(dst, srcs, overwrite=True)


def _deep_copy(v: Any) -> Any:
    if isinstance(v, dict):
        return type(v)((k, _deep_copy(x)) for k, x in v.items())
    if isinstance(v, list):
        return type(v)(_deep_copy(x) for x in v)
    return v


@go("func(interface {}) interface {}", "deepCopy")
@go("func(interface {}) (interface {}, error)", "mustDeepCopy")
def deep_copy(v: Any) -> Any:
    """copystructure's ``Copy``: containers copied recursively, their types kept; nil has no type to copy."""
    if v is None:
        raise TypeError("reflect: call of reflect.Value.Type on zero Value")
    return _deep_copy(v)


def _as_plain_map(v: Any) -> dict[str, Any]:
    """A type assertion to ``map[string]interface {}``: anything else panics."""
    if type(v) is not dict:
        raise TypeError(f"interface conversion: interface {{}} is {_type_text(v)}, not map[string]interface {{}}")
    return v


def _type_text(v: Any) -> str:
    return "nil" if v is None else go_type_name(v)


@go("func(...interface {}) (interface {}, error)", "dig")
def dig(*ps: Any) -> Any:
    """``dig "a" "b" default dict``: the nested value, or the default when a key is missing."""
    if len(ps) < 3:
        raise ValueError("dig needs at least three arguments")
    d = _as_plain_map(ps[-1])
    default = ps[-2]
    path = ps[:-2]
    for k in path:
        if not isinstance(k, str) or isinstance(k, GoInt):
            raise TypeError(f"interface conversion: interface {{}} is {_type_text(k)}, not string")
    for i, k in enumerate(path):
        if k not in d:
            return default
        step = d[k]
        if i == len(path) - 1:
            return step
        d = _as_plain_map(step)
    return default


__all__ = ["SPRIG"]
