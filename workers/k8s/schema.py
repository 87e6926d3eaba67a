"""The Go JSON round trip (decode into the typed struct, encode again) as precompiled per-type decoders.

``schema_data.SCHEMA`` lists, per Go struct, the JSON fields in declaration order. At import each struct is
compiled into dict lookups and one decoder closure per field kind, so normalising a pod costs one pass over the
keys that are actually present. Semantics reproduced: unknown fields dropped, case-insensitive field match,
``null`` = zero value, ``omitempty`` drops zero scalars/nil pointers/empty slices and maps but never structs,
``omitzero`` drops zero structs, numbers and booleans become text in string fields (sigs.k8s.io/yaml), and
quantities print canonically.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from workers.k8s.quantity import QuantityError, canonical
from workers.k8s.schema_data import SCHEMA
from workers.serialize.gojson import OrderedStruct, format_g

__all__ = ["SchemaError", "decoder"]

Decoder = Callable[[Any], Any]


class SchemaError(ValueError):
    """The value does not fit the Go type (Go's ``json: cannot unmarshal ...``)."""


class _KindError(Exception):
    """A leaf decoder rejected a value; the enclosing struct turns it into a SchemaError naming the field."""


def _type_name(value: Any) -> str:
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


# -- structs -----------------------------------------------------------------------------------------------------

_OMIT_NEVER, _OMIT_FALSY, _OMIT_NIL, _OMIT_ZERO = range(4)


class _Struct:
    """One Go struct: its fields in Go order, looked up by JSON name (exact and case-folded).

    ``decode`` is the general algorithm. The generated fast decoder (see ``_Compiler``) calls it only for inputs
    it does not specialise: keys that are not exact field names, or a leaf value of the wrong type (so the error
    names the field).
    """

    __slots__ = ("name", "order", "fields", "folded", "required")

    def __init__(self, name: str, order: list[tuple[str, str, int, bool]]) -> None:
        self.name = name
        self.order = order  # (json name, kind code, omit rule, is required) in Go order
        self.fields: dict[str, tuple[int, str, Decoder, int, Any]] = {}
        self.folded: dict[str, tuple[int, str, Decoder, int, Any]] = {}
        self.required: tuple[tuple[int, str, Decoder], ...] = ()

    def link(self, decoders: dict[str, Decoder]) -> None:
        """Fill the lookup tables once every kind has a decoder (omitzero needs the zero value of its kind)."""
        required = []
        for pos, (field, code, omit, is_required) in enumerate(self.order):
            dec = decoders[code]
            spec = (pos, field, dec, omit, dec(None) if omit == _OMIT_ZERO else None)
            self.fields[field] = spec
            self.folded.setdefault(field.lower(), spec)
            if is_required:
                required.append((pos, field, dec))
        self.required = tuple(required)

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
                raise SchemaError(
                    f"json: cannot unmarshal {_type_name(got)} into Go struct field {self.name}.{name} of type {want}"
                ) from None
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


def _is_go_struct(code: str) -> bool:
    return code in _STRUCT_LEAVES or code in SCHEMA


def _omit_rule(flag: str, code: str) -> int:
    if flag == "!":
        return _OMIT_ZERO
    if flag == "?" and not _is_go_struct(code):
        return _OMIT_NIL if code.startswith("*") else _OMIT_FALSY
    return _OMIT_NEVER


# -- code generation ---------------------------------------------------------------------------------------------


class _Compiler:
    """Generates one Python function per struct, slice, map and pointer kind of the schema.

    Per-field interpretation (table lookups, a decoder call per leaf, sorting found fields) cost most of the
    normalisation time; the generated code reads each field of a struct by name in Go order with the leaf type
    checks inlined, so a pod with many env vars or containers is decoded at close to the cost of building it.
    """

    def __init__(self) -> None:
        self.structs = {name: _Struct(name.split(".", 1)[1], self._fields(name)) for name in SCHEMA}
        self.env: dict[str, Any] = {"OrderedStruct": OrderedStruct, "_KindError": _KindError, **{
            dec.__name__: dec for dec in _LEAVES.values()}}
        self.names: dict[str, str] = {code: dec.__name__ for code, dec in _LEAVES.items()}
        self.source: list[str] = []
        self.zeros: list[tuple[str, str]] = []  # (global name, kind code) of the omitzero comparison values

    @staticmethod
    def _fields(name: str) -> list[tuple[str, str, int, bool]]:
        order = []
        for field, flag, code in _flatten(name):
            omit = _omit_rule(flag, code)
            order.append((field, code, omit, omit == _OMIT_NEVER))
        return order

    def compile(self) -> dict[str, Decoder]:
        """Decoder of every kind code, structs by their schema name."""
        for name in self.structs:
            self.ref(name)
        exec(compile("\n".join(self.source), f"<{__name__} generated>", "exec"), self.env)  # noqa: S102
        decoders = {code: self.env[fn] for code, fn in self.names.items()}
        for global_name, code in self.zeros:
            self.env[global_name] = decoders[code](None)
        for struct in self.structs.values():
            struct.link(decoders)
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
        self.source.append(
            f"def {fn}(value):\n"
            f"    if type(value) is not list:\n"
            f"        if value is None:\n"
            f"            return None\n"
            f"        raise _KindError(value, 'array')\n"
            f"    return [{self._convert(inner, 'x')} for x in value]\n"
        )

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
        struct = self.structs[name]
        self.env[f"{fn}_slow"] = struct.decode
        self.env[f"{fn}_known"] = frozenset(field for field, *_ in struct.order)
        body: list[str] = []
        for index, (field, code, omit, _) in enumerate(struct.order):
            self.ref(code)  # the general algorithm decodes each field with its own kind's decoder
            key = repr(field)
            if omit == _OMIT_NEVER:
                body += [f"v = get({key})", f"out[{key}] = {self._convert(code, 'v')}"]
            elif omit == _OMIT_FALSY:
                body += [f"v = get({key})", "if v is not None:", f"    v = {self._convert(code, 'v')}",
                         "    if v:", f"        out[{key}] = v"]
            elif omit == _OMIT_NIL:  # a pointer's target never decodes a non-null value to None
                body += [f"v = get({key})", "if v is not None:", f"    out[{key}] = {self._convert(code[1:], 'v')}"]
            else:
                self.zeros.append((f"{fn}_zero{index}", code))
                body += [f"v = get({key})", f"v = {self._convert(code, 'v')}", f"if v != {fn}_zero{index}:",
                         f"    out[{key}] = v"]
        lines = [
            f"def {fn}(value):",
            "    if type(value) is not dict:",
            "        if value is None:",
            "            value = {}",
            "        elif not isinstance(value, dict):",
            f"            raise _KindError(value, {struct.name!r})",
            f"    if not value.keys() <= {fn}_known:",
            f"        return {fn}_slow(value)",
            "    get = value.get",
            "    out = OrderedStruct()",
            "    try:",
            *(f"        {line}" for line in body or ["pass"]),
            "    except _KindError:",
            f"        return {fn}_slow(value)  # reports the field",
            "    return out",
        ]
        self.source.append("\n".join(lines) + "\n")


_COMPILER = _Compiler()
_DECODERS = _COMPILER.compile()


def decoder(type_name: str) -> Callable[[Any], OrderedStruct]:
    """The normaliser of one Go struct (``"core.Pod"``); raises SchemaError on values Go could not decode."""
    decode = _DECODERS[type_name]
    name = type_name.split(".", 1)[1]

    def checked(value: Any) -> OrderedStruct:
        try:
            return decode(value)
        except _KindError as exc:
            got = _type_name(exc.args[0])
            raise SchemaError(f"json: cannot unmarshal {got} into Go value of type {name}") from None

    return checked
