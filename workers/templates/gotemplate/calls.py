"""Calling a template function the way Go's ``text/template`` does (``evalCall``/``evalArg``/``validateType``).

Decided at translation time from the function's Go signature and each argument's static type:
- the number of arguments (a wrong count fails when the call runs, as in Go);
- a literal argument is converted to the parameter's type (``3`` becomes an int64 for an int64 parameter) or is
  Go's error (``expected integer; found "3"``);
- another argument of a known static type either matches the parameter, or is Go's "wrong type for value" error;
  of an unknown type (``.Values.x``, results of ``interface {}`` functions) it is checked when the call runs;
- a value passed to an ``interface {}`` parameter keeps its Go type: where our data represents it by a plain
  Python value (a ``map[string]string`` field is a dict), it is wrapped so ``typeOf``/``%T``/type checks see Go's.
"""
from __future__ import annotations

from typing import Any

from workers.templates.funcs.registry import GoSignature
from workers.templates.gofmt import format_value, quote as go_quote
from workers.templates.govalues import int_types

from . import names as N

_INTERFACE = "interface {}"
def wrapped(typ: N.GoType) -> bool:
    """Whether a value of this static type is a plain Python value standing for another Go type (a typed map,
    slice or struct of the template data, a sized integer), which must carry its type into ``interface {}``."""
    if typ.kind in ("map", "slice"):
        return True  # typed ones carry their type; all carry it when nil
    return typ.kind == "struct" or (typ.kind == "int" and typ.name in int_types and typ.name != "int")
# Go's canBeNil: nil may be passed for these parameter types.
_NILABLE_PREFIXES = ("map[", "[]", "*", "func(", "chan ")
_PROTO_MESSAGES = frozenset({"*v1alpha1.ProxyConfig", "*v1alpha1.MeshConfig", "*durationpb.Duration"})


class Arg:
    """One argument as the emitter sees it: its Jinja code, static type, and the literal value if it is one.
    ``field_code`` is set for a field chain of unknown type: the same chain reporting a nil map value as NIL_IFACE
    (a typed parameter rejects it, Go's ``interface {}`` nil)."""

    __slots__ = ("code", "typ", "literal", "is_literal", "field_code")

    def __init__(self, code: str, typ: N.GoType, literal: Any = None, is_literal: bool = False,
                 field_code: str | None = None) -> None:
        self.code = code
        self.typ = typ
        self.literal = literal
        self.is_literal = is_literal
        self.field_code = field_code


def fail_code(message: str) -> str:
    from .emitter import literal
    return f"go_fail({literal(message)})"


def _nilable(param: str) -> bool:
    return param == _INTERFACE or param.startswith(_NILABLE_PREFIXES) or param == "protoreflect.ProtoMessage"


def _describe_literal(value: Any) -> str:
    """How Go's error messages show a constant."""
    return go_quote(value) if isinstance(value, str) else format_value(value)


def literal_arg(value: Any, param: str) -> str:
    """Jinja code for a constant argument converted to ``param`` (Go's evalArg on literal nodes)."""
    from .emitter import literal
    if value is None:
        return "none" if _nilable(param) else fail_code(f"cannot assign nil to {param}")
    text = _describe_literal(value)
    if param == _INTERFACE:
        if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < 1 << 63:
            return fail_code(f"{text} overflows int")
        return literal(value)
    if param == "string":
        return literal(value) if isinstance(value, str) else fail_code(f"expected string; found {text}")
    if param == "bool":
        return literal(value) if isinstance(value, bool) else fail_code(f"expected bool; found {text}")
    if param in int_types:
        _, bits, signed = int_types[param]
        number = value if isinstance(value, int) and not isinstance(value, bool) else \
            int(value) if isinstance(value, float) and value.is_integer() else None
        if number is None or not -(1 << 63) <= number < 1 << 64 or (signed and number >= 1 << 63):
            return fail_code(f"expected integer; found {text}")
        if not signed and number < 0:
            return fail_code(f"expected unsigned integer; found {text}")
        if param == "int":
            return literal(number)
        return f"go_typed({literal(number)}, {literal(param)})"
    if param == "float64":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return literal(float(value))
        return fail_code(f"expected float; found {text}")
    return fail_code(f"can't handle {text} for arg of type {param}")


def value_arg(arg: Arg, param: str) -> str:
    """Jinja code for a computed argument passed to ``param`` (Go's validateType)."""
    from .emitter import literal
    typ = arg.typ
    if param == _INTERFACE:
        return f"go_typed({arg.code}, {literal(typ.name)})" if wrapped(typ) else arg.code
    if typ.kind in ("any", "opaque"):
        code = arg.field_code if arg.field_code is not None and _nilable(param) else arg.code
        if typ.kind == "opaque":  # a part of the typed template data we do not model: whatever its Go type is
            return f"go_arg({code}, {literal(param)}, False)"
        return f"go_arg({code}, {literal(param)})"
    if typ.name == param:
        return arg.code
    if param == "protoreflect.ProtoMessage" and typ.name in _PROTO_MESSAGES:
        return arg.code
    if typ.pointer and typ.elem is not None and typ.elem.name == param:
        return f"go_deref({arg.code}, {literal(param)})"
    return fail_code(f"wrong type for value; expected {param}; got {typ.name}")


def convert(arg: Arg, param: str) -> str:
    return literal_arg(arg.literal, param) if arg.is_literal else value_arg(arg, param)


def call(name: str, sig: GoSignature, args: list[Arg], final: Arg | None, code_name: str) -> tuple[str, N.GoType]:
    """The Jinja expression calling ``code_name`` (the function's global) like Go calls ``name``."""
    nargs = len(args) + (1 if final is not None else 0)
    fixed = len(sig.params) - (1 if sig.variadic else 0)
    if sig.variadic and nargs < fixed:
        return fail_code(f"wrong number of args for {name}: want at least {fixed} got {len(args)}"), N.ANY
    if not sig.variadic and nargs != len(sig.params):
        return fail_code(f"wrong number of args for {name}: want {len(sig.params)} got {nargs}"), N.ANY
    codes = [convert(a, sig.param(i, nargs) or _INTERFACE) for i, a in enumerate(args)]
    if final is not None:
        codes.append(value_arg(final, sig.param(nargs - 1, nargs) or _INTERFACE))
    return f"{code_name}({', '.join(codes)})", N.type_named(sig.result)
