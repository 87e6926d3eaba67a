"""sprig's reflection helpers: Go type and kind names of our values, and ``reflect.DeepEqual``."""
from __future__ import annotations

from typing import Any

from workers.templates.govalues import go_kind, go_type_name

from .convert import deep_equal
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


@go("func(interface {}) string", "typeOf")
def type_of(v: Any) -> str:
    return go_type_name(v)


@go("func(string, interface {}) bool", "typeIs")
def type_is(target: str, v: Any) -> bool:
    return target == go_type_name(v)


@go("func(string, interface {}) bool", "typeIsLike")
def type_is_like(target: str, v: Any) -> bool:
    name = go_type_name(v)
    return target == name or "*" + target == name


@go("func(interface {}) string", "kindOf")
def kind_of(v: Any) -> str:
    return go_kind(v)


@go("func(string, interface {}) bool", "kindIs")
def kind_is(target: str, v: Any) -> bool:
    return target == go_kind(v)


@go("func(interface {}, interface {}) bool", "deepEqual")
def deep_equal_(a: Any, b: Any) -> bool:
    return deep_equal(a, b)


__all__ = ["SPRIG"]
