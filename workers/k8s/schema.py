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


_LEAVES: dict[str, tuple[Decoder, Callable[[], Any]]] = {
    "s": (_string, str),
    "i": (_integer, int),
    "b": (_boolean, bool),
    "f": (_number, int),
    "q": (_quantity, lambda: "0"),
    "ios": (_int_or_string, int),
    "t": (_time, lambda: None),
    "any": (_raw, lambda: None),
}
# Go types that are structs: omitempty never drops them.
_STRUCT_LEAVES = frozenset({"q", "ios", "t"})


# -- composite kinds ---------------------------------------------------------------------------------------------


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


_OMIT_NEVER, _OMIT_FALSY, _OMIT_NIL, _OMIT_ZERO = range(4)


class _Struct:
    """One compiled Go struct: field lookup by JSON name (exact and case-folded) and the always-printed fields."""

    __slots__ = ("name", "fields", "folded", "required", "zero")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, tuple[int, str, Decoder, int, Any]] = {}
        self.folded: dict[str, tuple[int, str, Decoder, int, Any]] = {}
        self.required: tuple[tuple[int, str, Callable[[], Any]], ...] = ()
        self.zero: Any = None

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
        for pos, name, make_zero in self.required:
            if pos not in found:
                found[pos] = (name, make_zero())
        result = OrderedStruct()
        for pos in sorted(found):
            name, out = found[pos]
            result[name] = out
        return result


def _compile() -> dict[str, _Struct]:
    structs = {name: _Struct(name.split(".", 1)[1]) for name in SCHEMA}
    kinds: dict[str, tuple[Decoder, Callable[[], Any], bool]] = {}

    def kind(code: str) -> tuple[Decoder, Callable[[], Any], bool]:
        """Decoder, zero-value factory and 'is a Go struct' for a kind code."""
        hit = kinds.get(code)
        if hit is None:
            if code in _LEAVES:
                dec, zero = _LEAVES[code]
                hit = (dec, zero, code in _STRUCT_LEAVES)
            elif code.startswith("*"):
                hit = (_pointer(kind(code[1:])[0]), lambda: None, False)
            elif code.startswith("[]"):
                hit = (_slice(kind(code[2:])[0]), lambda: None, False)
            elif code.startswith("{}"):
                hit = (_map(kind(code[2:])[0]), lambda: None, False)
            else:
                target = structs[code]
                hit = (target.decode, lambda: target.decode({}), True)
            kinds[code] = hit
        return hit

    def flatten(name: str) -> list[tuple[str, str, str]]:
        """(json name, flag, kind) in Go order with embedded structs inlined; direct fields shadow embedded ones."""
        direct = {spec.split(":", 1)[0].rstrip("?!") for spec in SCHEMA[name].split() if not spec.startswith("^")}
        out: list[tuple[str, str, str]] = []
        for spec in SCHEMA[name].split():
            if spec.startswith("^"):
                out.extend(f for f in flatten(spec[1:]) if f[0] not in direct)
                continue
            field, code = spec.split(":", 1)
            flag = field[-1] if field[-1] in "?!" else ""
            out.append((field.rstrip("?!"), flag, code))
        return out

    for name, struct in structs.items():
        required = []
        for pos, (field, flag, code) in enumerate(flatten(name)):
            dec, make_zero, is_struct = kind(code)
            if flag == "!":
                omit = _OMIT_ZERO
            elif flag == "?" and not is_struct:
                omit = _OMIT_NIL if code.startswith("*") else _OMIT_FALSY
            else:
                omit = _OMIT_NEVER
                required.append((pos, field, make_zero))
            spec = (pos, field, dec, omit, None)
            struct.fields[field] = spec
            struct.folded.setdefault(field.lower(), spec)
        struct.required = tuple(required)
    # Zero values for omitzero comparisons, once every struct can decode.
    for struct in structs.values():
        for field, spec in list(struct.fields.items()):
            if spec[3] == _OMIT_ZERO:
                zero = spec[2](None)
                struct.fields[field] = struct.folded[field.lower()] = (*spec[:4], zero)
    return structs


_STRUCTS = _compile()


def decoder(type_name: str) -> Callable[[Any], OrderedStruct]:
    """The normaliser of one Go struct (``"core.Pod"``); raises SchemaError on values Go could not decode."""
    struct = _STRUCTS[type_name]

    def decode(value: Any) -> OrderedStruct:
        try:
            return struct.decode(value)
        except _KindError as exc:
            got = _type_name(exc.args[0])
            raise SchemaError(f"json: cannot unmarshal {got} into Go value of type {struct.name}") from None

    return decode
