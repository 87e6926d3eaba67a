"""Python stand-ins for the Go types that template functions return, so results keep their Go type.

Plain Python values stand for the common Go types: ``None`` nil, ``bool``, ``int`` Go ``int``, ``float`` ``float64``,
``str`` ``string``, ``dict`` ``map[string]interface {}``, ``list`` ``[]interface {}``. Where a function (or a typed
field of the template data) has another Go type, the value is one of the subclasses below: it behaves like its
Python base everywhere, and ``go_type_name``/``go_kind`` report the Go type, which is what ``printf "%T"``,
``typeOf``, ``kindOf``, argument type checks and JSON output depend on.

Go strings are bytes: a string function that cuts inside a multi-byte character gives invalid UTF-8. We carry such
bytes as surrogate escapes (``bytes.decode("utf-8", "surrogateescape")``), so ``go_bytes`` gives Go's exact bytes.
"""
from __future__ import annotations

from typing import Any

__all__ = ["GoInt", "GoStruct", "Int8", "Int16", "Int32", "Int64", "Uint", "Uint8", "Uint16", "Uint32", "Uint64", "IntList",
           "ListOfLists", "StrList", "StrMap", "go_bytes", "from_go_bytes", "go_kind", "go_type_name", "int_types", "is_nil", "nil_map", "nil_slice", "typed_class", "typed_nil",
           "wrap_int"]


class GoInt(int):
    """An integer of a sized Go type (plain ``int`` is Go's ``int``); arithmetic gives plain ints."""

    __slots__ = ()
    go_type = "int"
    bits = 64
    signed = True

    __str__ = int.__repr__

    def __repr__(self) -> str:
        return f"{self.go_type}({int(self)})"


def _int_type(name: str, bits: int, signed: bool) -> type[GoInt]:
    return type(name.capitalize(), (GoInt,), {"__slots__": (), "go_type": name, "bits": bits, "signed": signed})


Int8 = _int_type("int8", 8, True)
Int16 = _int_type("int16", 16, True)
Int32 = _int_type("int32", 32, True)
Int64 = _int_type("int64", 64, True)
Uint = _int_type("uint", 64, False)
Uint8 = _int_type("uint8", 8, False)
Uint16 = _int_type("uint16", 16, False)
Uint32 = _int_type("uint32", 32, False)
Uint64 = _int_type("uint64", 64, False)

#: Go integer type name -> (Python class, bits, signed); ``int`` is plain Python ``int``.
int_types: dict[str, tuple[type, int, bool]] = {
    "int": (int, 64, True),
    **{cls.go_type: (cls, cls.bits, cls.signed) for cls in (Int8, Int16, Int32, Int64, Uint, Uint8, Uint16, Uint32,
                                                             Uint64)},
}


def wrap_int(value: int, go_type: str = "int64") -> int:
    """``value`` converted to a Go integer type with two's-complement wrap-around, as Go arithmetic does."""
    cls, bits, signed = int_types[go_type]
    value &= (1 << bits) - 1
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value if cls is int else cls(value)


class StrMap(dict):
    """``map[string]string``."""

    __slots__ = ()
    go_type = "map[string]string"


class StrList(list):
    """``[]string``."""

    __slots__ = ()
    go_type = "[]string"


class IntList(list):
    """``[]int``."""

    __slots__ = ()
    go_type = "[]int"


class ListOfLists(list):
    """``[][]interface {}``."""

    __slots__ = ()
    go_type = "[][]interface {}"


class GoStruct:
    """A Go struct value a function returns (e.g. sprig's certificate): fields in declaration order."""

    __slots__ = ()
    go_type = "struct {}"
    go_kind = "struct"
    go_fields: tuple[str, ...] = ()

    def field_values(self) -> list[Any]:
        return [getattr(self, name) for name in self.go_fields]

    def go_json(self) -> dict[str, Any]:
        """What encoding/json prints: exported fields by name, in declaration order."""
        from workers.serialize.gojson import OrderedStruct
        return OrderedStruct((name, getattr(self, name)) for name in self.go_fields)


_TYPED_CLASSES: dict[str, type] = {}


def typed_class(go_type: str) -> type:
    """A dict/list subclass standing for a value of a typed Go map, slice or struct from the template data
    (``map[string]string``, ``[]v1.ContainerPort``, ``v1.ObjectMeta``, ``*v1alpha1.ProxyConfig``), so that once it
    is passed through ``interface {}`` it still says what Go type it is."""
    cls = _TYPED_CLASSES.get(go_type)
    if cls is None:
        if go_type == StrMap.go_type:
            cls = StrMap
        elif go_type == StrList.go_type:
            cls = StrList
        elif go_type.startswith("[]"):
            cls = type("GoSlice", (list,), {"__slots__": (), "go_type": go_type})
        else:
            kind = "map" if go_type.startswith("map[") else "ptr" if go_type.startswith("*") else "struct"
            cls = type("GoStructValue" if kind != "map" else "GoMap", (dict,),
                       {"__slots__": (), "go_type": go_type, "go_kind": kind})
        _TYPED_CLASSES[go_type] = cls
    return cls


def typed_nil(go_type: str) -> Any:
    """A nil value of a typed map or slice (empty, ``null`` in JSON); nil pointers stay None."""
    if go_type.startswith(("[]", "map[")):
        return nil_slice(typed_class(go_type))
    return None


_NIL_CLASSES: dict[type, type] = {}


def nil_slice(cls: type = list) -> Any:
    """A nil slice (or map) of the list (dict) type ``cls`` (``list`` is ``[]interface {}``): empty and printed
    ``[]`` (``map[]``) like an empty one, but ``null`` in JSON, as Go marshals nil."""
    nil_cls = _NIL_CLASSES.get(cls)
    if nil_cls is None:
        nil_cls = type("Nil" + cls.__name__.capitalize(), (cls,), {
            "__slots__": (), "go_type": getattr(cls, "go_type", "[]interface {}"), "go_json": lambda self: None})
        _NIL_CLASSES[cls] = nil_cls
    return nil_cls()


class _NilMap(dict):
    __slots__ = ()
    go_type = "map[string]interface {}"

    def go_json(self) -> None:
        return None


def nil_map() -> dict:
    """A nil ``map[string]interface {}``: empty and printed ``map[]``, but ``null`` in JSON."""
    return _NilMap()


def is_nil(v: Any) -> bool:
    """Go's ``isNil``: untyped nil, or a nil map or slice of any type."""
    return v is None or type(v) is _NilMap or type(v) in _NIL_CLASSES.values()


_PLAIN_NAMES = {bool: "bool", int: "int", float: "float64", str: "string", dict: "map[string]interface {}",
                list: "[]interface {}", tuple: "[]interface {}"}
_PLAIN_KINDS = {bool: "bool", int: "int", float: "float64", str: "string", dict: "map", list: "slice",
                tuple: "slice"}


def go_type_name(v: Any) -> str:
    """What Go's ``%T`` prints for the value's Go counterpart (``<nil>`` for nil)."""
    if v is None:
        return "<nil>"
    name = _PLAIN_NAMES.get(type(v))
    if name is not None:
        return name
    name = getattr(type(v), "go_type", None)
    if name is not None:
        return name
    for base, base_name in _PLAIN_NAMES.items():
        if isinstance(v, base):
            return base_name
    return type(v).__name__


def go_kind(v: Any) -> str:
    """``reflect.Value.Kind().String()`` of the value (``invalid`` for nil)."""
    if v is None:
        return "invalid"
    kind = _PLAIN_KINDS.get(type(v))
    if kind is not None:
        return kind
    kind = getattr(type(v), "go_kind", None)
    if kind is not None:
        return kind
    if isinstance(v, GoInt):
        return v.go_type
    for base, base_kind in _PLAIN_KINDS.items():
        if isinstance(v, base):
            return base_kind
    return "struct"


def go_bytes(s: str) -> bytes:
    """The Go bytes of a string (surrogate escapes stand for bytes that are not UTF-8)."""
    return s.encode("utf-8", "surrogateescape")


def from_go_bytes(b: bytes) -> str:
    """A Go byte string as Python text, invalid UTF-8 kept as surrogate escapes."""
    return b.decode("utf-8", "surrogateescape")
