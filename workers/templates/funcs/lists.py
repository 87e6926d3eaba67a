"""sprig's list functions. A "list" is any Go slice ([]interface {}, []string, []int, ...); anything else (a
string, a map, nil) is an error, as sprig's reflection panics or errors. Results are []interface {} except where
sprig keeps the input's type (``slice``) or returns an element."""
from __future__ import annotations

import math
from typing import Any

from workers.templates.govalues import ListOfLists, go_kind, nil_slice

from .convert import deep_equal, go_empty, to_int
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


def _kind_name(v: Any) -> str:
    """``reflect.TypeOf(v).Kind()``; nil has no type (Go dereferences a nil Type and panics)."""
    if v is None:
        raise TypeError("runtime error: invalid memory address or nil pointer dereference")
    return go_kind(v)


def _items(v: Any, what: str) -> list[Any]:
    """The elements of a slice, or sprig's error for anything else."""
    kind = _kind_name(v)
    if kind != "slice":
        raise TypeError(f"Cannot {what} type {kind}" if what in ("chunk", "compact") else
                        f"Cannot {what} on type {kind}")
    return list(v)


@go("func(...interface {}) []interface {}", "list", "tuple")
def go_list(*v: Any) -> list[Any]:
    return list(v)


@go("func(interface {}, interface {}) []interface {}", "append", "push")
@go("func(interface {}, interface {}) ([]interface {}, error)", "mustAppend", "mustPush")
def push(lst: Any, v: Any) -> list[Any]:
    return [*_items(lst, "push"), v]


@go("func(interface {}, interface {}) []interface {}", "prepend")
@go("func(interface {}, interface {}) ([]interface {}, error)", "mustPrepend")
def prepend(lst: Any, v: Any) -> list[Any]:
    return [v, *_items(lst, "prepend")]


@go("func(int, interface {}) [][]interface {}", "chunk")
@go("func(int, interface {}) ([][]interface {}, error)", "mustChunk")
def chunk(size: int, lst: Any) -> ListOfLists:
    """Split into pieces of ``size``; the count and last length follow sprig's float arithmetic (size <= 0
    makes Go allocate a negative length, which panics)."""
    items = _items(lst, "chunk")
    n = len(items)
    ratio = (n - 1) / size if size else (math.nan if n - 1 == 0 else math.copysign(math.inf, n - 1))
    count = math.floor(ratio) + 1 if math.isfinite(ratio) else None
    if count is None or count < 0:
        raise ValueError("runtime error: makeslice: len out of range")
    out = ListOfLists()
    for i in range(count):
        length = size
        if i == count - 1:
            length = int(math.fmod(n, size)) if size else 0
            if length == 0:
                length = size
        if length < 0:
            raise ValueError("runtime error: makeslice: len out of range")
        piece = items[i * size:i * size + length]
        if len(piece) < length:
            raise IndexError("reflect: slice index out of range")
        out.append(piece)
    return out


@go("func(interface {}) interface {}", "last")
@go("func(interface {}) (interface {}, error)", "mustLast")
def last(lst: Any) -> Any:
    items = _items(lst, "find last")
    return items[-1] if items else None


@go("func(interface {}) interface {}", "first")
@go("func(interface {}) (interface {}, error)", "mustFirst")
def first(lst: Any) -> Any:
    items = _items(lst, "find first")
    return items[0] if items else None


@go("func(interface {}) []interface {}", "rest")
@go("func(interface {}) ([]interface {}, error)", "mustRest")
def rest(lst: Any) -> list[Any]:
    items = _items(lst, "find rest")
    return items[1:] if items else nil_slice()


@go("func(interface {}) []interface {}", "initial")
@go("func(interface {}) ([]interface {}, error)", "mustInitial")
def initial(lst: Any) -> list[Any]:
    items = _items(lst, "find initial")
    return items[:-1] if items else nil_slice()


@go("func(interface {}) []interface {}", "reverse")
@go("func(interface {}) ([]interface {}, error)", "mustReverse")
def reverse(lst: Any) -> list[Any]:
    return _items(lst, "find reverse")[::-1]


@go("func(interface {}) []interface {}", "compact")
@go("func(interface {}) ([]interface {}, error)", "mustCompact")
def compact(lst: Any) -> list[Any]:
    return [x for x in _items(lst, "compact") if not go_empty(x)]


def _contains(haystack: list[Any], needle: Any) -> bool:
    return any(deep_equal(needle, h) for h in haystack)


@go("func(interface {}) []interface {}", "uniq")
@go("func(interface {}) ([]interface {}, error)", "mustUniq")
def uniq(lst: Any) -> list[Any]:
    out: list[Any] = []
    for x in _items(lst, "find uniq"):
        if not _contains(out, x):
            out.append(x)
    return out


@go("func(interface {}, ...interface {}) []interface {}", "without")
@go("func(interface {}, ...interface {}) ([]interface {}, error)", "mustWithout")
def without(lst: Any, *omit: Any) -> list[Any]:
    return [x for x in _items(lst, "find without") if not _contains(list(omit), x)]


@go("func(interface {}, interface {}) bool", "has")
@go("func(interface {}, interface {}) (bool, error)", "mustHas")
def has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return _contains(_items(haystack, "find has"), needle)


@go("func(interface {}, ...interface {}) interface {}", "slice")
@go("func(interface {}, ...interface {}) (interface {}, error)", "mustSlice")
def slice_(lst: Any, *indices: Any) -> Any:
    """Elements ``start..end`` (cast conversions), keeping the slice's type; an empty list gives nil."""
    kind = _kind_name(lst)
    if kind != "slice":
        raise TypeError(f"list should be type of slice or array but {kind}")
    if not lst:
        return None
    start = to_int(indices[0]) if indices else 0
    end = to_int(indices[1]) if len(indices) >= 2 else len(lst)
    if not 0 <= start <= end <= len(lst):
        raise IndexError("reflect.Value.Slice: slice index out of bounds")
    return type(lst)(lst[start:end]) if type(lst) is not tuple else list(lst[start:end])


@go("func(...interface {}) interface {}", "concat")
def concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for lst in lists:
        kind = _kind_name(lst)
        if kind != "slice":
            raise TypeError(f"Cannot concat type {kind} as list")
        out.extend(lst)
    return out if out else nil_slice()


__all__ = ["SPRIG"]
