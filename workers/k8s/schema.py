"""The Go JSON round trip (decode into the typed struct, encode again) as precompiled per-type decoders.

``schema_data.SCHEMA`` lists, per Go struct, the JSON fields in declaration order. Semantics reproduced: unknown
fields dropped, case-insensitive field match, ``null`` = zero value, ``omitempty`` drops zero scalars/nil
pointers/empty slices and maps but never structs, ``omitzero`` drops zero structs, numbers and booleans become
text in string fields (sigs.k8s.io/yaml), and quantities print canonically.

Normalisation runs several times per pod on the admission path, so at import the schema is turned into Python
source, one function per struct/slice/map kind, specialised for well-formed input (``_Compiler``). The
interpretive ``_Struct.decode`` is the reference: the generated code falls back to it for maps with case-folded
or unknown keys, and ``decoder`` re-runs it on any error so the message is the one Go reports. Every call returns
fresh containers (callers mutate the result).
"""
from __future__ import annotations

from datetime import datetime, timezone
from itertools import chain
from typing import Any, Callable

from workers.k8s.quantity import QuantityError, canonical
from workers.k8s.schema_data import SCHEMA
from workers.serialize.gojson import OrderedStruct, format_g

__all__ = ["SchemaError", "decoder", "json_type_name"]

Decoder = Callable[[Any], Any]


class SchemaError(ValueError):
    """The value does not fit the Go type (Go's ``json: cannot unmarshal ...``)."""


class _KindError(Exception):
    """A leaf decoder rejected a value; the enclosing struct turns it into a SchemaError naming the field."""


def json_type_name(value: Any) -> str:
    """What Go's ``json: cannot unmarshal X into ...`` calls the JSON value that did not fit (never null: a null
    always decodes, to the zero value)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# -- leaf kinds --------------------------------------------------------------------------------------------------


def _string(value: Any) -> str:
    cls = type(value)
    if cls is str:
        return value
    if value is None:
        return ""
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        # sigs.k8s.io/yaml formats a YAML float for a string field with FormatFloat(f, 'g', -1, 32).
        return format_g(value, 32)
    raise _KindError(value, "string")


def _integer(value: Any) -> int:
    cls = type(value)
    if cls is int:
        return value
    if value is None:
        return 0
    if cls is float and value.is_integer():
        return int(value)
    raise _KindError(value, "integer")


def _boolean(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is bool:
        return value
    raise _KindError(value, "bool")


def _number(value: Any) -> int | float:
    if value is None:
        return 0
    if type(value) in (int, float):
        return value
    raise _KindError(value, "float64")


def _quantity(value: Any) -> str:
    if value is None:
        return "0"
    try:
        return canonical(value)
    except QuantityError as exc:
        raise _KindError(value, f"Quantity ({exc})") from None


def _int_or_string(value: Any) -> int | str:
    cls = type(value)
    if cls is str or cls is int:
        return value
    if value is None:
        return 0
    if cls is float and value.is_integer():
        return int(value)
    raise _KindError(value, "IntOrString")


def _time(value: Any) -> str | None:
    """metav1.Time: RFC 3339 in UTC with whole seconds; the zero time prints as null."""
    if value is None:
        return None
    if type(value) is not str:
        raise _KindError(value, "Time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _KindError(value, "Time (RFC 3339)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw(value: Any) -> Any:
    return value


_LEAVES: dict[str, Decoder] = {
    "s": _string, "i": _integer, "b": _boolean, "f": _number, "q": _quantity, "ios": _int_or_string, "t": _time,
    "any": _raw,
}
# Leaves whose decoder returns a value of this exact type unchanged: generated code tests the type inline.
_INLINE_TYPES = {"s": "str", "i": "int", "b": "bool"}
# Go types that are structs: omitempty never drops them.
_STRUCT_LEAVES = frozenset({"q", "ios", "t"})


# -- the general algorithm ---------------------------------------------------------------------------------------

_OMIT_NEVER, _OMIT_FALSY, _OMIT_NIL, _OMIT_ZERO = range(4)
Field = tuple[str, str, int, bool]  # json name, kind code, omit rule, always printed


class _Struct:
    """One Go struct decoded the way Go does it: keys in input order, exact then case-folded field match.

    This is the reference semantics. Linked to the interpretive decoders it reports the error Go reports (the
    first in input order); linked to the generated decoders it is the fallback for maps whose keys are not all
    exact field names.
    """

    __slots__ = ("name", "fields", "folded", "required")

    def __init__(self, name: str) -> None:
        self.name = name.split(".", 1)[1]
        self.fields: dict[str, tuple[int, str, Decoder, int, Any]] = {}
        self.folded: dict[str, tuple[int, str, Decoder, int, Any]] = {}
        self.required: tuple[tuple[int, str, Decoder], ...] = ()

    def link(self, order: list[Field], decoders: dict[str, Decoder]) -> None:
        required = []
        for pos, (field, code, omit, is_required) in enumerate(order):
            spec = (pos, field, decoders[code], omit, None)
            self.fields[field] = spec
            self.folded.setdefault(field.lower(), spec)
            if is_required:
                required.append((pos, field, decoders[code]))
        self.required = tuple(required)

    def link_zeros(self) -> None:
        """The zero values omitzero compares with, once every struct of the schema is linked."""
        for field, spec in list(self.fields.items()):
            if spec[3] == _OMIT_ZERO:
                self.fields[field] = self.folded[field.lower()] = (*spec[:4], spec[2](None))

    def decode(self, value: Any) -> OrderedStruct:
        if value is None:
            value = {}
        elif not isinstance(value, dict):
            raise _KindError(value, self.name)
        fields = self.fields
        found: dict[int, tuple[str, Any]] = {}
        for key, item in value.items():
            spec = fields.get(key)
            if spec is None:
                spec = self.folded.get(key.lower()) if type(key) is str else None
                if spec is None or spec[0] in found:
                    continue
            pos, name, dec, omit, zero = spec
            try:
                out = dec(item)
            except _KindError as exc:
                got, want = exc.args
                raise SchemaError(f"json: cannot unmarshal {json_type_name(got)} into Go struct field "
                                  f"{self.name}.{name} of type {want}") from None
            if omit == _OMIT_FALSY:
                if not out:
                    found.pop(pos, None)
                    continue
            elif omit == _OMIT_NIL:
                if out is None:
                    found.pop(pos, None)
                    continue
            elif omit == _OMIT_ZERO and out == zero:
                found.pop(pos, None)
                continue
            found[pos] = (name, out)
        for pos, name, dec in self.required:
            if pos not in found:
                found[pos] = (name, dec(None))  # a null decodes to the zero value, like an absent field
        result = OrderedStruct()
        for pos in sorted(found):
            name, out = found[pos]
            result[name] = out
        return result


def _flatten(name: str) -> list[tuple[str, str, str]]:
    """(json name, flag, kind) in Go order with embedded structs inlined; direct fields shadow embedded ones."""
    direct = {spec.split(":", 1)[0].rstrip("?!") for spec in SCHEMA[name].split() if not spec.startswith("^")}
    out: list[tuple[str, str, str]] = []
    for spec in SCHEMA[name].split():
        if spec.startswith("^"):
            out.extend(f for f in _flatten(spec[1:]) if f[0] not in direct)
            continue
        field, code = spec.split(":", 1)
        flag = field[-1] if field[-1] in "?!" else ""
        out.append((field.rstrip("?!"), flag, code))
    return out


def _fields(name: str) -> list[Field]:
    out = []
    for field, flag, code in _flatten(name):
        if flag == "!":
            omit = _OMIT_ZERO
        elif flag == "?" and code not in _STRUCT_LEAVES and code not in SCHEMA:  # omitempty never drops structs
            omit = _OMIT_NIL if code.startswith("*") else _OMIT_FALSY
        else:
            omit = _OMIT_NEVER
        out.append((field, code, omit, omit == _OMIT_NEVER))
    return out


_FIELDS = {name: _fields(name) for name in SCHEMA}


def _pointer(inner: Decoder) -> Decoder:
    def decode(value: Any) -> Any:
        return None if value is None else inner(value)

    return decode


def _slice(inner: Decoder) -> Decoder:
    def decode(value: Any) -> list | None:
        if value is None:
            return None
        if type(value) is not list:
            raise _KindError(value, "array")
        return [inner(item) for item in value]

    return decode


def _map(inner: Decoder) -> Decoder:
    def decode(value: Any) -> dict | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _KindError(value, "map")
        return {k if type(k) is str else _string(k): inner(v) for k, v in value.items()}

    return decode


def _link(structs: dict[str, _Struct], decoders: dict[str, Decoder]) -> None:
    for name, struct in structs.items():
        struct.link(_FIELDS[name], decoders)
    for struct in structs.values():
        struct.link_zeros()


def _interpretive() -> dict[str, Decoder]:
    """Decoders of every kind code from closures and ``_Struct.decode`` alone (structs by schema name)."""
    structs = {name: _Struct(name) for name in SCHEMA}
    decoders: dict[str, Decoder] = {**_LEAVES, **{name: struct.decode for name, struct in structs.items()}}

    def kind(code: str) -> Decoder:
        dec = decoders.get(code)
        if dec is None:
            wrap, inner = (_pointer, code[1:]) if code[0] == "*" else ({"[]": _slice, "{}": _map}[code[:2]], code[2:])
            dec = decoders[code] = wrap(kind(inner))
        return dec

    for fields in _FIELDS.values():
        for _, code, *_ in fields:
            kind(code)
    _link(structs, decoders)
    return decoders


# -- code generation ---------------------------------------------------------------------------------------------


class _Compiler:
    """Generates one Python function per struct, slice, map and pointer kind of the schema.

    Interpreting field tables (a lookup, a decoder call and omit bookkeeping per key, then sorting) cost most of
    the normalisation time. The generated code reads each field by name in Go order with the string/int/bool
    checks inlined and handles the common input only: maps whose keys are all exact field names (other maps go
    to ``_Struct.decode``) and values of the right types (a wrong one raises; ``decoder`` then decodes again
    with the interpretive decoders so the error is the one Go reports).
    """

    def __init__(self) -> None:
        self.structs = {name: _Struct(name) for name in SCHEMA}
        self.env: dict[str, Any] = {
            "OrderedStruct": OrderedStruct, "_KindError": _KindError, "_chain": chain.from_iterable,
            "_MAP_TYPES": frozenset({dict, OrderedStruct}), **{dec.__name__: dec for dec in _LEAVES.values()},
        }
        self.names: dict[str, str] = {code: dec.__name__ for code, dec in _LEAVES.items()}
        self.source: list[str] = []
        self.zeros: list[tuple[str, str]] = []  # (global name, kind code) of the omitzero comparison values

    def compile(self) -> dict[str, Decoder]:
        """Decoder of every kind code, structs by their schema name."""
        for name in self.structs:
            self.ref(name)
        exec(compile("\n".join(self.source), f"<{__name__} generated>", "exec"), self.env)  # noqa: S102
        decoders = {code: self.env[fn] for code, fn in self.names.items()}
        for global_name, code in self.zeros:
            self.env[global_name] = decoders[code](None)
        _link(self.structs, decoders)
        return decoders

    def ref(self, code: str) -> str:
        """Name of the generated (or leaf) decoder of ``code``, generating it on first use."""
        fn = self.names.get(code)
        if fn is None:
            fn = self.names[code] = "_" + code.replace("*", "ptr_").replace("[]", "list_").replace(
                "{}", "map_").replace(".", "_")
            if code.startswith("*"):
                self._pointer(fn, code[1:])
            elif code.startswith("[]"):
                self._slice(fn, code[2:])
            elif code.startswith("{}"):
                self._map(fn, code[2:])
            else:
                self._struct(fn, code)
        return fn

    def _convert(self, code: str, var: str) -> str:
        """Expression decoding ``var`` as ``code`` (inline type test for string/int/bool leaves)."""
        fn = self.ref(code)
        inline = _INLINE_TYPES.get(code)
        return f"({var} if type({var}) is {inline} else {fn}({var}))" if inline else f"{fn}({var})"

    def _pointer(self, fn: str, inner: str) -> None:
        self.source.append(f"def {fn}(value):\n    return None if value is None else {self.ref(inner)}(value)\n")

    def _slice(self, fn: str, inner: str) -> None:
        lines = [
            f"def {fn}(value):",
            "    if type(value) is not list:",
            "        if value is None:",
            "            return None",
            "        raise _KindError(value, 'array')",
        ]
        if inner in self.structs:
            # One C-speed pass checks every item at once: all maps holding only exact field names.
            item = self.ref(inner)
            lines += [
                f"    if set(map(type, value)) <= _MAP_TYPES and {item}_known.issuperset(_chain(value)):",
                f"        return [{item}_fields(x) for x in value]",
            ]
        lines.append(f"    return [{self._convert(inner, 'x')} for x in value]")
        self.source.append("\n".join(lines) + "\n")

    def _map(self, fn: str, inner: str) -> None:
        self.source.append(
            f"def {fn}(value):\n"
            f"    if value is None:\n"
            f"        return None\n"
            f"    if not isinstance(value, dict):\n"
            f"        raise _KindError(value, 'map')\n"
            f"    return {{{self._convert('s', 'k')}: {self._convert(inner, 'v')} for k, v in value.items()}}\n"
        )

    def _struct(self, fn: str, name: str) -> None:
        """``fn`` checks the input and runs ``fn_fields``, which reads the fields of a map with exact keys.

        ``left`` counts the keys not read yet: once it is zero and no always-printed field follows, the rest
        (all absent) is skipped, which matters for wide structs such as ``Volume`` with one source set.
        """
        fields = _FIELDS[name]
        self.env[f"{fn}_slow"] = self.structs[name].decode
        self.env[f"{fn}_known"] = frozenset(field for field, *_ in fields)
        last_required = max((i for i, (*_, required) in enumerate(fields) if required), default=-1)
        count = last_required < len(fields) - 1
        body: list[str] = []
        for index, (field, code, omit, _) in enumerate(fields):
            self.ref(code)  # _Struct.decode decodes each field with its own kind's decoder
            key = repr(field)
            present = ["    left -= 1"] if count else []
            if last_required < index < len(fields) - 1:
                present += ["    if not left:", "        return out"]
            if omit == _OMIT_NEVER:
                body += [f"v = get({key})", *(["if v is not None:", *present] if count else []),
                         f"out[{key}] = {self._convert(code, 'v')}"]
                if count and index == last_required:
                    body += ["if not left:", "    return out"]
            elif omit == _OMIT_FALSY:
                body += [f"v = get({key})", "if v is not None:", f"    v = {self._convert(code, 'v')}",
                         "    if v:", f"        out[{key}] = v", *present]
            elif omit == _OMIT_NIL:  # a pointer's target never decodes a non-null value to None
                body += [f"v = get({key})", "if v is not None:", f"    out[{key}] = {self._convert(code[1:], 'v')}",
                         *present]
            else:  # omitzero: a null decodes to the zero value, so only non-null values are looked at
                self.zeros.append((f"{fn}_zero{index}", code))
                body += [f"v = get({key})", "if v is not None:", f"    v = {self._convert(code, 'v')}",
                         f"    if v != {fn}_zero{index}:", f"        out[{key}] = v", *present]
        self.source.append("\n".join([
            f"def {fn}(value):",
            "    if type(value) is not dict:",
            "        if value is None:",
            "            value = {}",
            "        elif not isinstance(value, dict):",
            f"            raise _KindError(value, {self.structs[name].name!r})",
            f"    if not value.keys() <= {fn}_known:",
            f"        return {fn}_slow(value)",
            f"    return {fn}_fields(value)",
            "",
            f"def {fn}_fields(value):",
            "    get = value.get",
            "    out = OrderedStruct()",
            *(["    left = len(value)"] if count else []),
            *(f"    {line}" for line in body),
            "    return out",
        ]) + "\n")


_GENERATED = _Compiler().compile()
_INTERPRETED = _interpretive()


def decoder(type_name: str) -> Callable[[Any], OrderedStruct]:
    """The normaliser of one Go struct (``"core.Pod"``); raises SchemaError on values Go could not decode."""
    fast, exact = _GENERATED[type_name], _INTERPRETED[type_name]
    name = type_name.split(".", 1)[1]

    def decode(value: Any) -> OrderedStruct:
        try:
            return fast(value)
        except (_KindError, SchemaError):
            pass  # the generated code stops at the first error in Go field order; Go reports the first in input order
        try:
            return exact(value)
        except _KindError as exc:
            got = json_type_name(exc.args[0])
            raise SchemaError(f"json: cannot unmarshal {got} into Go value of type {name}") from None

    return decode
