"""Go text/template semantics for translated templates: the helpers the generated Jinja code calls.

Everything here is a plain function over our JSON-shaped data; ``GLOBALS`` is what ``jinja.make_environment``
installs. Errors are ``GoExecError`` with Go's wording; the renderer adds template name and line.
"""
from __future__ import annotations

import json
from functools import cache
from operator import itemgetter
from typing import Any, Callable, Iterable
from urllib.parse import quote_plus

from jinja2 import pass_context
from jinja2.runtime import Context

from workers.templates.gofmt import format_value, go_type_name, sprint, sprintf, sprintln
from workers.templates.govalues import (Uint8, from_go_bytes, go_bytes, go_kind, int_types, is_nil, nil_map, nil_slice,
                                       typed_class, typed_nil, wrap_int)

from .names import DYN, FAIL, FIELD, GETTER, MAPKEY, METHOD, OPAQUE_STEP, json_name


class GoExecError(Exception):
    """A Go template execution error (the message Go would give, without the location)."""


_MISSING = object()  # a missing map entry: Go's invalid reflect.Value
_DOTS = " go dots"  # context.vars key (not an identifier, so templates cannot see it) holding template dots


def go_fail(message: str) -> None:
    raise GoExecError(message)


@pass_context
def go_root(context: Context) -> dict[str, Any]:
    """The data the template was rendered with (the render keywords), i.e. Go's top-level dot."""
    env_globals = context.environment.globals
    return {k: v for k, v in context.get_all().items() if env_globals.get(k, _MISSING) is not v}


@pass_context
def go_template(context: Context, block: str, dot: Any) -> str:
    """``{{template "x" dot}}``: run the block holding the definition with ``dot`` as its dot."""
    stack = context.vars.setdefault(_DOTS, [])
    stack.append(dot)
    try:
        return context.environment.concat(context.blocks[block][0](context))  # type: ignore[attr-defined]
    finally:
        stack.pop()


@pass_context
def go_dot(context: Context) -> Any:
    """The dot a definition was invoked with."""
    return context.vars[_DOTS][-1]


# ---- field chains ----------------------------------------------------------------------------------------------

@cache
def _plan(text: str) -> tuple:
    """Decoded (and cached) JSON instructions the emitter wrote as a constant."""
    return tuple(tuple(step) for step in json.loads(text))


class _NilInterface:
    """A nil read from a ``map[string]interface {}`` field, where Go's argument check tells it from a missing
    key (see ``go_chain``'s ``iface_nil``)."""

    def __repr__(self) -> str:
        return "<nil interface>"


NIL_IFACE = _NilInterface()


def go_chain(recv: Any, steps: str, iface_nil: bool = False) -> Any:
    """Walk ``.A.B.C`` from ``recv``; steps come from ``names.resolve``. A missing map entry silently stays
    missing (Go's invalid value); a present nil inside a map followed by more fields is Go's nil-pointer error.
    With ``iface_nil``, a present nil at the end is NIL_IFACE: Go passes it to a typed parameter as an
    ``interface {}`` (an error) where a missing key is the parameter's zero value."""
    nil_iface = False
    for step in _plan(steps):
        if recv is _MISSING:
            return None
        op = step[0]
        if op == MAPKEY:
            if recv is None:
                if nil_iface:
                    raise GoExecError(f"nil pointer evaluating interface {{}}.{step[1]}")
                recv = _MISSING
                continue
            recv = recv.get(step[1], _MISSING)
            nil_iface = recv is None and step[2]
            continue
        if op == DYN:
            if recv is None:
                if nil_iface:
                    raise GoExecError(f"nil pointer evaluating interface {{}}.{step[1]}")
                recv = _MISSING
                continue
            if not isinstance(recv, dict):
                recv = _method_value(recv, step[1])
                nil_iface = False
                continue
            recv = recv.get(step[1], _MISSING)
            nil_iface = recv is None
            continue
        nil_iface = False
        if op == FIELD:
            key, zero, nil_msg = step[1], step[2], step[3]
            if recv is None:
                if nil_msg:
                    raise GoExecError(f"nil pointer evaluating {nil_msg}")
                recv = zero
            elif key is not None:
                recv = recv.get(key)
                if recv is None:
                    recv = zero
        elif op == GETTER:
            key, zero = step[1], step[2]
            if recv is None:
                recv = zero
            elif key is not None:
                recv = recv.get(key)
                if recv is None:
                    recv = zero
        elif op == OPAQUE_STEP:
            recv = _opaque_field(recv, step[1])
        elif op == METHOD:
            recv = _method_value(recv, step[1])
        elif op == FAIL:
            raise GoExecError(step[1])
    if recv is _MISSING:
        return None
    return NIL_IFACE if iface_nil and nil_iface else recv


def _method_value(recv: Any, go_name: str, *args: Any) -> Any:
    """A method of a value some function returned (``(semver "1.2.3").Major``, ``now.Year``)."""
    if recv is None:
        raise GoExecError(f"nil pointer evaluating interface {{}}.{go_name}")
    if not args and go_name in getattr(recv, "go_fields", ()):  # a field of a returned struct (certificate.Cert)
        return getattr(recv, go_name)
    methods = getattr(recv, "go_methods", None)
    if methods is None or go_name not in methods:
        raise GoExecError(f"can't evaluate field {go_name} in type {go_type_name(recv)}")
    wanted = methods[go_name]
    if len(args) != wanted:
        raise GoExecError(f"wrong number of args for {go_name}: want {wanted} got {len(args)}")
    return getattr(recv, go_name)(*args)


def go_method(recv: Any, go_name: str, *args: Any) -> Any:
    """``(value).Method arg...``: a method call with arguments."""
    return _method_value(recv, go_name, *args)


def _opaque_field(recv: Any, go_name: str) -> Any:
    """A field of a struct the schema does not model: the default JSON naming rule, getters nil-safe."""
    if recv is None:
        return None
    if type(recv) is dict:
        key = json_name(go_name)
        if key in recv:
            return recv[key]
        if go_name.startswith("Get") and len(go_name) > 3:
            return recv.get(json_name(go_name[3:]))
        return None
    if go_name in ("GetValue", "Value", "String"):
        return recv
    raise GoExecError(f"can't evaluate field {go_name} in type {go_type_name(recv)}")


# ---- builtins --------------------------------------------------------------------------------------------------

def _kind(v: Any) -> str | None:
    t = type(v)
    if t is str:
        return "s"
    if t is bool:
        return "b"
    if t is int:
        return "i"
    if t is float:
        return "f"
    if v is None:
        return None
    if isinstance(v, str):
        return "s"
    if isinstance(v, int):
        return "i"  # Go compares all integer types with each other
    if isinstance(v, float):
        return "f"
    return "o"


def _eq_other(a: Any, b: Any) -> bool:
    """Go's ``eq`` of two values that are neither numbers, strings nor bools (nil included)."""
    ka, kb = go_kind(a), go_kind(b)
    if ka != kb and "invalid" not in (ka, kb):
        raise GoExecError(f"error calling eq: non-comparable types {format_value(a)}: {go_type_name(a)}, "
                          f"{go_type_name(b)}: {format_value(b)}")
    if is_nil(a) or is_nil(b):
        return is_nil(a) and is_nil(b)
    if ka == "ptr":  # the same field of the data, or the same object a function returned
        return a == b if isinstance(a, dict) else a is b
    if ka == "struct" and not isinstance(a, dict):  # time.Time; the data's structs hold maps: not comparable
        return bool(a == b)
    raise GoExecError(f"error calling eq: non-comparable type {format_value(b)}: {go_type_name(b)}")


def go_eq(a: Any, *bs: Any) -> bool:
    """Go ``eq``: true if ``a`` equals any of ``bs``; different basic kinds are an error, nil equals only nil."""
    if not bs:
        raise GoExecError("error calling eq: missing argument for comparison")
    ta = type(a)
    if ta is str and len(bs) == 1 and type(bs[0]) is str:
        return a == bs[0]
    ka = _kind(a)
    for b in bs:
        kb = _kind(b)
        if ka in (None, "o") and kb in (None, "o"):
            if _eq_other(a, b):
                return True
        elif ka == kb:
            if a == b:
                return True
        elif ka is not None and kb is not None:
            raise GoExecError("error calling eq: incompatible types for comparison")
    return False


def go_ne(a: Any, b: Any) -> bool:
    try:
        return not go_eq(a, b)
    except GoExecError as exc:
        raise GoExecError(str(exc).replace("calling eq", "calling ne")) from None


def _lt(name: str, a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in (None, "o") or kb in (None, "o"):
        raise GoExecError(f"error calling {name}: invalid type for comparison")
    if ka != kb:
        raise GoExecError(f"error calling {name}: incompatible types for comparison")
    if ka == "b":
        raise GoExecError(f"error calling {name}: invalid type for comparison")
    return a < b


def go_lt(a: Any, b: Any) -> bool:
    return _lt("lt", a, b)


def go_le(a: Any, b: Any) -> bool:
    return _lt("le", a, b) or a == b


def go_gt(a: Any, b: Any) -> bool:
    return not (_lt("gt", a, b) or a == b)


def go_ge(a: Any, b: Any) -> bool:
    return not _lt("ge", a, b)


def go_len(v: Any, nil_ok: bool = False) -> int:
    """Go ``len``; a nil map/slice of a known type has length 0, an untyped nil is an error."""
    if v is None:
        if nil_ok:
            return 0
        raise GoExecError("error calling len: len of nil pointer")
    if isinstance(v, (str, list, tuple, dict)):
        return len(go_bytes(v) if isinstance(v, str) else v)
    raise GoExecError(f"error calling len: len of type {go_type_name(v)}")


def _map_key(key: Any) -> str:
    """Go's ``prepareArg`` of a key for our maps, all keyed by string."""
    if key is None:
        raise GoExecError("error calling index: value is nil; should be of type string")
    if not isinstance(key, str):
        raise GoExecError(f"error calling index: value has type {go_type_name(key)}; should be string")
    return key


def go_index(item: Any, keys: tuple, levels: str) -> Any:
    """Go ``index item k1 k2...``; ``levels[i]`` = (zero value of that level's element, item may be a typed nil
    map). A missing map key gives the element's zero value."""
    plan = _plan(levels)
    if item is None and not plan[0][1]:
        raise GoExecError("error calling index: index of untyped nil")
    for key, (zero, may_be_nil_map) in zip(keys, plan):
        if item is None:
            if not may_be_nil_map:
                raise GoExecError("error calling index: index of nil pointer")
            _map_key(key)  # a nil map checks its key's type too
            item = zero
            continue
        if type(item) is dict:
            item = item.get(_map_key(key), zero)
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):  # any Go integer type indexes
                raise GoExecError(f"error calling index: cannot index slice/array with type {go_type_name(key)}")
            seq = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
            if not 0 <= key < len(seq):
                raise GoExecError(f"error calling index: index out of range: {key}")
            item = Uint8(seq[key]) if isinstance(item, str) else seq[key]
        else:
            raise GoExecError(f"error calling index: can't index item of type {go_type_name(item)}")
    return item


def go_slice(item: Any, *indexes: Any) -> Any:
    """Go ``slice x i j k`` (strings by byte)."""
    if item is None:
        raise GoExecError("error calling slice: slice of untyped nil")
    if len(indexes) > 3:
        raise GoExecError(f"error calling slice: too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise GoExecError("error calling slice: cannot 3-index slice a string")
        seq: Any = go_bytes(item)
    elif isinstance(item, (list, tuple)):
        seq = item
    else:
        raise GoExecError(f"error calling slice: can't slice item of type {go_type_name(item)}")
    bounds = [0, len(seq)]
    for n, i in enumerate(indexes[:2]):
        if not isinstance(i, int) or isinstance(i, bool):
            raise GoExecError(f"error calling slice: cannot index slice/array with type {go_type_name(i)}")
        if not 0 <= i <= len(seq):
            raise GoExecError(f"error calling slice: index out of range: {i}")
        bounds[n] = i
    if bounds[0] > bounds[1]:
        raise GoExecError(f"error calling slice: invalid slice index: {bounds[0]} > {bounds[1]}")
    out = seq[bounds[0]:bounds[1]]
    return from_go_bytes(out) if isinstance(item, str) else list(out)


def go_and(values: tuple, truths: tuple[int, ...]) -> Any:
    """``and`` when an operand is a struct (whose Go truth differs from Python's): first false operand or last."""
    for v, t in zip(values, truths):
        if not _truth(v, t):
            return v
    return values[-1]


def go_or(values: tuple, truths: tuple[int, ...]) -> Any:
    for v, t in zip(values, truths):
        if _truth(v, t):
            return v
    return values[-1]


def _truth(v: Any, how: int) -> bool:
    """0: Python truth (same as Go's for JSON data); 1: a struct value (always true); 2: a pointer (non-nil)."""
    return bool(v) if how == 0 else (how == 1 or v is not None)


def go_range(v: Any) -> Iterable[tuple[Any, Any]]:
    """(key, element) pairs of ``range``: slices in order, maps by sorted key, an int n as 0..n-1."""
    t = type(v)
    if t is list or t is tuple:
        return enumerate(v)
    if t is dict:
        return sorted(v.items(), key=itemgetter(0))
    if v is None:
        return ()
    if isinstance(v, int) and not isinstance(v, bool):
        raise GoExecError(f"can't use {v} to iterate over more than one variable")
    if isinstance(v, (list, dict)):
        return go_range(_plain(v))
    raise GoExecError(f"range can't iterate over {format_value(v)}")


def _plain(v: Any) -> Any:
    """A typed list/map/int (StrList, StrMap, Int64...) as its plain Python value, for iteration."""
    return list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else int(v)


def go_values(v: Any) -> Iterable[Any]:
    """Elements of ``range`` without variables or with one."""
    t = type(v)
    if t is list or t is tuple:
        return v
    if t is dict:
        return [v[k] for k in sorted(v)]
    if v is None:
        return ()
    if t is int:
        return range(v)
    if isinstance(v, (list, dict, int)) and not isinstance(v, bool):
        return go_values(_plain(v))
    raise GoExecError(f"range can't iterate over {format_value(v)}")


def go_nil_text(v: Any, text: str) -> Any:
    """Print a value whose nil Go prints differently from ``<no value>`` (``map[]``, ``[]``, ``<nil>``)."""
    return text if v is None else v


def _eval_args(args: tuple) -> str:
    """What html/js/urlquery escape: one string as is, else Sprint with missing values as ``<no value>``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*("<no value>" if a is None else a for a in args))


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}


def go_html(*args: Any) -> str:
    s = _eval_args(args)
    return "".join(_HTML.get(c, c) for c in s) if any(c in s for c in _HTML) else s


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def go_js(*args: Any) -> str:
    out = []
    for c in _eval_args(args):
        if c in _JS:
            out.append(_JS[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04X}")
        elif c >= "\x80" and not c.isprintable():
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def go_urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args), safe="")


def go_call(fn: Any, *args: Any) -> Any:
    if not callable(fn):
        raise GoExecError(f"error calling call: non-function of type {go_type_name(fn)}")
    return fn(*args)


# ---- function arguments (see calls.py) --------------------------------------------------------------------------

def _wrap_int(v: Any, go_type: str) -> Any:
    return wrap_int(int(v), go_type) if isinstance(v, int) and not isinstance(v, bool) else v


_TYPED: dict[str, Callable[[Any], Any]] = {
    name: (lambda v, name=name: _wrap_int(v, name)) for name in int_types if name != "int"}


def go_typed(v: Any, go_type: str) -> Any:
    """A value of static Go type ``go_type`` represented plainly in our data, given its Go type's class."""
    convert = _TYPED.get(go_type)
    if convert is not None:
        return convert(v)
    if v is None:  # a nil map or slice of a known type still has that type
        return nil_map() if go_type == "map[string]interface {}" else nil_slice() if go_type == "[]interface {}" \
            else typed_nil(go_type)
    t = type(v)
    if go_type in ("map[string]interface {}", "[]interface {}"):
        return v
    return typed_class(go_type)(v) if t is dict or t is list else v


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "bool": lambda v: type(v) is bool,
    "int": lambda v: type(v) is int,
    "float64": lambda v: type(v) is float,
    "map[string]interface {}": lambda v: isinstance(v, dict) and go_type_name(v) == "map[string]interface {}",
    "[]interface {}": lambda v: type(v) is list or (isinstance(v, list) and go_type_name(v) == "[]interface {}"),
    # Other parameters of a typed struct type: a value of the typed data reaches a call of unknown static type
    # through an ``interface {}`` result, which carries its type (go_typed), or as a part of the data we do not
    # model (go_arg's ``plain``); plain maps and lists are Go's map[string]interface {} and []interface {}.
    # Durations are plain strings in our data, so any string may be one.
    "*durationpb.Duration": lambda v: isinstance(v, str),
}


_STRUCT_PARAMS = ("*", "v1.", "[]v1.", "protoreflect.")
"""Parameters taking (lists of) the template data's typed structs."""


def _is_proto_message(go_type: str) -> bool:
    return go_type.startswith(("*v1alpha1.", "*durationpb.", "*wrapperspb.", "*structpb."))


_NILABLE = ("map[", "[]", "*", "protoreflect.")


def go_arg(v: Any, param: str, plain: bool = True) -> Any:
    """Go's ``validateType`` for a value of unknown static type passed to a parameter of type ``param``. ``plain``:
    the value is plain data (Values, function results), not a part of the typed data we do not model (whose
    maps and lists may be any of the structs the parameter takes)."""
    if v is None:
        if param.startswith(_NILABLE):
            return None
        raise GoExecError(f"invalid value; expected {param}")
    if v is NIL_IFACE:
        raise GoExecError(f"wrong type for value; expected {param}; got interface {{}}")
    check = _CHECKS.get(param)
    ok = check(v) if check is not None else go_type_name(v) == param
    if not ok and param.startswith(_STRUCT_PARAMS):
        ok = (not plain and type(v) in (dict, list)) or (
            param == "protoreflect.ProtoMessage" and (isinstance(v, str) or _is_proto_message(go_type_name(v))))
    if not ok:
        raise GoExecError(f"wrong type for value; expected {param}; got {go_type_name(v)}")
    return v


def go_deref(v: Any, param: str) -> Any:
    """A pointer field passed where its element type is expected: Go dereferences it (nil is an error)."""
    if v is None:
        raise GoExecError(f"dereference of nil pointer of type {param}")
    return go_typed(v, param) if param in _TYPED else v


def go_true(v: Any) -> bool:
    """Evaluates its argument (already done by the call) and lets an ``and`` chain go on."""
    return True


def go_range_empty(v: Any) -> bool:
    """Whether ``range`` over ``v`` runs no iteration (its ``{{else}}`` then runs)."""
    if v is None:
        return True
    if isinstance(v, int) and not isinstance(v, bool):
        return v <= 0
    return len(v) == 0


GLOBALS: dict[str, Callable[..., Any]] = {
    "go_fail": go_fail, "go_root": go_root, "go_template": go_template, "go_dot": go_dot, "go_chain": go_chain,
    "go_eq": go_eq, "go_ne": go_ne, "go_lt": go_lt, "go_le": go_le, "go_gt": go_gt, "go_ge": go_ge,
    "go_len": go_len, "go_index": go_index, "go_slice": go_slice, "go_and": go_and, "go_or": go_or,
    "go_range": go_range, "go_values": go_values, "go_nil_text": go_nil_text, "go_print": sprint,
    "go_printf": sprintf, "go_println": sprintln, "go_html": go_html, "go_js": go_js, "go_urlquery": go_urlquery,
    "go_call": go_call, "go_typed": go_typed, "go_arg": go_arg, "go_deref": go_deref, "go_method": go_method,
    "go_range_empty": go_range_empty, "go_true": go_true,
}
