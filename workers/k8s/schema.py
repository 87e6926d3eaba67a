"""The Go JSON round trip (decode into the typed struct, encode again) as precompiled per-type decoders.

``schema_data.SCHEMA`` lists, per Go struct, the JSON fields in declaration order. Semantics reproduced: unknown
fields dropped, case-insensitive field match, ``null`` = zero value, ``omitempty`` drops zero scalars/nil
pointers/empty slices and maps but never structs, ``omitzero`` drops zero structs, integers must fit their
int32/int64 field, and quantities print canonically.

Two decoding modes differ only in their leaves:

- ``strict``: Go's ``encoding/json``, which is how Istio's webhook decodes ``request.object``: a value of the wrong
  JSON type anywhere (``image: true``, ``containerPort: 80.0``, a number in a string field) is an error.
- lenient (the default): ``sigs.k8s.io/yaml``, which kube-inject input and template output go through: numbers and
  booleans become text in string fields and integral floats are integers (YAML ``80.0`` is JSON ``80``).

Errors name the field the way Go does: ``json: cannot unmarshal bool into Go struct field
Container.spec.containers.image of type string`` (innermost struct, then the JSON path from the root).

Normalisation runs several times per pod on the admission path, so at import the schema is turned into Python
source, one function per struct/slice/map kind, specialised for well-formed input (``_Compiler``); the source is
compiled once and instantiated per mode. The interpretive ``_Struct.decode`` is the reference: the generated code
falls back to it for maps with case-folded or unknown keys, and ``decoder`` re-runs it on any error so the message
is the one Go reports.

Decoded structs are instances of a per-struct subclass of ``OrderedStruct`` (``TYPED``), and decoding such a value
returns it as it is: a re-normalised pod shares every part that did not change since it was typed (lists of typed
structs come back as new lists of the same items). So results are shared, never to be changed in place: build new
maps and lists along what you change (copy on write).
"""
from __future__ import annotations

import re
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
    """A decoder rejected a value: ``args`` = (value, Go type wanted[, why]). The enclosing struct names the
    field."""


class _FieldError(Exception):
    """A field did not decode. ``struct`` is the innermost Go struct, ``path`` the JSON field names from the
    outermost struct down (no array indices, as Go); each enclosing struct prepends its field name."""

    def __init__(self, struct: str, field: str, value: Any, want: str, why: str = "") -> None:
        super().__init__(struct, field)
        self.struct = struct
        self.path = [field]
        self.value = value
        self.want = want
        self.why = why

    def message(self) -> str:
        return (f"json: cannot unmarshal {_found(self.value, self.want)} into Go struct field "
                f"{self.struct}.{'.'.join(self.path)} of type {self.want}" + (f": {self.why}" if self.why else ""))


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


def _found(value: Any, want: str) -> str:
    """Go quotes the literal of a number that does not fit an integer type (``number 1e+300``)."""
    name = json_type_name(value)
    if name == "number" and want in ("int32", "int64"):
        return f"number {value}"
    return name


# -- leaf kinds --------------------------------------------------------------------------------------------------

_INT_RANGES = {"i32": (-(1 << 31), (1 << 31) - 1), "i64": (-(1 << 63), (1 << 63) - 1)}
_GO_LEAF_TYPES = {"s": "string", "i32": "int32", "i64": "int64", "b": "bool", "f": "float64",
                  "q": "resource.Quantity", "ios": "intstr.IntOrString", "t": "v1.Time", "any": "interface {}"}


def _string_json(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise _KindError(value, "string")


def _string_yaml(value: Any) -> str:
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


def _integer(code: str, integral_floats: bool) -> Decoder:
    low, high = _INT_RANGES[code]
    go_type = _GO_LEAF_TYPES[code]

    def decode(value: Any) -> int:
        cls = type(value)
        if cls is int:
            if low <= value <= high:
                return value
        elif value is None:
            return 0
        elif cls is float and integral_floats and value.is_integer() and low <= value <= high:
            return int(value)
        raise _KindError(value, go_type)

    return decode


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
        raise _KindError(value, "resource.Quantity", str(exc)) from None


def _int_or_string(integral_floats: bool) -> Decoder:
    """IntOrString: a JSON string, or a number decoded into int32 (Go refuses ``2.0`` and out-of-range numbers)."""
    as_int32 = _integer("i32", integral_floats)

    def decode(value: Any) -> int | str:
        return value if type(value) is str else as_int32(value)

    return decode


# Go's time.Parse(time.RFC3339, ...): 4-digit year, 'T', optional fraction, 'Z' or a numeric offset.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?(Z|[+-]\d\d:\d\d)\Z")


def _time(value: Any) -> str | None:
    """metav1.Time: RFC 3339 in UTC with whole seconds; the zero time prints as null."""
    if value is None:
        return None
    if type(value) is not str:
        raise _KindError(value, "string")
    match = _RFC3339.match(value)
    if match is None:
        raise _KindError(value, "v1.Time", "not an RFC 3339 time")
    text = value if match[1] is None else value[:match.start(1) - 1] + value[match.end(1):]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _KindError(value, "v1.Time", "not an RFC 3339 time") from None
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw(value: Any) -> Any:
    return value


def _leaves(strict: bool) -> dict[str, Decoder]:
    """The leaf decoders of one mode: strict is encoding/json, lenient is sigs.k8s.io/yaml (see module doc)."""
    return {
        "s": _string_json if strict else _string_yaml,
        "i32": _integer("i32", not strict), "i64": _integer("i64", not strict),
        "b": _boolean, "f": _number, "q": _quantity, "ios": _int_or_string(not strict), "t": _time, "any": _raw,
    }


# Go types that are structs: omitempty never drops them.
_STRUCT_LEAVES = frozenset({"q", "ios", "t"})


def _go_type(code: str) -> str:
    """How Go's error names the type of a kind (a pointer is reported as its target, as Go does)."""
    if code in _GO_LEAF_TYPES:
        return _GO_LEAF_TYPES[code]
    if code.startswith("*"):
        return _go_type(code[1:])
    if code.startswith("[]"):
        return "[]" + _go_type(code[2:])
    if code.startswith("{}"):
        return "map[string]" + _go_type(code[2:])
    return "v1." + code.split(".", 1)[1]


# -- typed values ------------------------------------------------------------------------------------------------


def _typed_class(name: str) -> type[OrderedStruct]:
    """The class of decoded values of one Go struct: an ``OrderedStruct`` that says it is already typed.

    Decoding a value of this class returns it unchanged, so a pod re-normalised after a merge or post-processing
    step shares every part that step did not touch (a pod with thousands of env vars is walked once, not at
    every step). This is sound because decoding is idempotent and typed values are never mutated in place.
    """
    cls = type(f"Typed_{name.replace('.', '_')}", (OrderedStruct,), {"__slots__": (), "__module__": __name__})
    globals()[cls.__name__] = cls  # importable by name, so typed values pickle
    return cls


TYPED: dict[str, type[OrderedStruct]] = {name: _typed_class(name) for name in SCHEMA}
"""Go struct name -> class of its decoded values."""


# -- the general algorithm ---------------------------------------------------------------------------------------

_OMIT_NEVER, _OMIT_FALSY, _OMIT_NIL, _OMIT_ZERO = range(4)
Field = tuple[str, str, int, bool]  # json name, kind code, omit rule, always printed


class _Struct:
    """One Go struct decoded the way Go does it: keys in input order, exact then case-folded field match.

    This is the reference semantics. Linked to the interpretive decoders it reports the error Go reports (the
    first in input order); linked to the generated decoders it is the fallback for maps whose keys are not all
    exact field names.
    """

    __slots__ = ("name", "go_type", "fields", "folded", "required", "typed")

    def __init__(self, name: str) -> None:
        self.typed = TYPED[name]
        self.name = name.split(".", 1)[1]
        self.go_type = _go_type(name)
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
        elif type(value) is self.typed:
            return value
        elif not isinstance(value, dict):
            raise _KindError(value, self.go_type)
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
                raise _FieldError(self.name, name, *exc.args) from None
            except _FieldError as exc:
                exc.path.insert(0, name)
                raise
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
        result = self.typed()
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


def _slice(inner: Decoder, go_type: str) -> Decoder:
    def decode(value: Any) -> list | None:
        if value is None:
            return None
        if type(value) is not list:
            raise _KindError(value, go_type)
        return [inner(item) for item in value]

    return decode


def _map(key: Decoder, inner: Decoder, go_type: str) -> Decoder:
    def decode(value: Any) -> dict | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _KindError(value, go_type)
        return {k if type(k) is str else key(k): inner(v) for k, v in value.items()}

    return decode


def _link(structs: dict[str, _Struct], decoders: dict[str, Decoder]) -> None:
    for name, struct in structs.items():
        struct.link(_FIELDS[name], decoders)
    for struct in structs.values():
        struct.link_zeros()


def _interpretive(leaves: dict[str, Decoder]) -> dict[str, Decoder]:
    """Decoders of every kind code from closures and ``_Struct.decode`` alone (structs by schema name)."""
    structs = {name: _Struct(name) for name in SCHEMA}
    decoders: dict[str, Decoder] = {**leaves, **{name: struct.decode for name, struct in structs.items()}}

    def kind(code: str) -> Decoder:
        dec = decoders.get(code)
        if dec is None:
            if code[0] == "*":
                dec = _pointer(kind(code[1:]))
            elif code[:2] == "[]":
                dec = _slice(kind(code[2:]), _go_type(code))
            else:
                dec = _map(leaves["s"], kind(code[2:]), _go_type(code))
            decoders[code] = dec
        return dec

    for fields in _FIELDS.values():
        for _, code, *_ in fields:
            kind(code)
    _link(structs, decoders)
    return decoders


# -- lists of flat string structs --------------------------------------------------------------------------------

_FLAT_MIN = 8
"""Lists shorter than this decode item by item: the set-based checks below only pay off on long lists."""


class _FlatShape:
    """Which maps of one struct decode to a plain copy: only string fields, in Go order, with every always-printed
    field present (an ``EnvVar`` list of thousands of ``{name, value}`` maps is the case that matters)."""

    __slots__ = ("order", "strings", "required", "omits", "typed", "verdicts")

    def __init__(self, name: str) -> None:
        fields = _FIELDS[name]
        self.order = {field: index for index, (field, *_) in enumerate(fields)}
        self.strings = frozenset(field for field, code, *_ in fields if code == "s")
        self.required = frozenset(field for field, *_, required in fields if required)
        self.omits = any(omit == _OMIT_FALSY for _, code, omit, _ in fields if code == "s")
        self.typed = TYPED[name]
        self.verdicts: dict[tuple[Any, ...], bool] = {}

    def accepts(self, keys: tuple[Any, ...]) -> bool:
        verdict = self.verdicts.get(keys)
        if verdict is None:
            present = set(keys)
            verdict = (present <= self.strings and self.required <= present
                       and list(keys) == sorted(keys, key=self.order.__getitem__))
            if len(self.verdicts) < 64:
                self.verdicts[keys] = verdict
        return verdict


def _flat_items(value: list, shape: _FlatShape) -> list | None:
    """The decoded list, when every item is a plain map with the same accepted keys and non-empty string values
    (then decoding changes nothing but the class): checked at C speed, copied at C speed. Else None."""
    if len(value) < _FLAT_MIN:
        return None
    keys = set(map(tuple, value))
    if len(keys) != 1 or not shape.accepts(next(iter(keys))):
        return None
    strings = list(chain.from_iterable(map(dict.values, value)))
    if set(map(type, strings)) != {str} or (shape.omits and "" in strings):  # an empty omitempty string is dropped
        return None
    return list(map(shape.typed, value))


# -- code generation ---------------------------------------------------------------------------------------------


def _leaf_name(code: str) -> str:
    return f"_leaf_{code}"


class _Compiler:
    """Generates one Python function per struct, slice, map and pointer kind of the schema.

    Interpreting field tables (a lookup, a decoder call and omit bookkeeping per key, then sorting) cost most of
    the normalisation time. The generated code reads each field by name in Go order with the string/int/bool
    checks inlined and handles the common input only: maps whose keys are all exact field names (other maps go
    to ``_Struct.decode``) and values of the right types (a wrong one raises; ``decoder`` then decodes again
    with the interpretive decoders so the error is the one Go reports).

    The source does not depend on the mode: the leaf decoders and the fallbacks are globals of the namespace the
    compiled code runs in, so ``instantiate`` makes one set of decoders per mode from one compilation.
    """

    def __init__(self) -> None:
        self.names: dict[str, str] = {code: _leaf_name(code) for code in _GO_LEAF_TYPES}
        self.known: dict[str, frozenset[str]] = {}
        self.source: list[str] = []
        self.zeros: list[tuple[str, str]] = []  # (global name, kind code) of the omitzero comparison values
        for name in SCHEMA:
            self.ref(name)
        # One compile per function: compiling the whole ~300 KB source at once peaks at tens of MB of parser
        # memory that the process keeps (arenas), in the server and in every worker.
        self.code = [compile(source, f"<{__name__} generated>", "exec") for source in self.source]
        self.source.clear()

    def instantiate(self, leaves: dict[str, Decoder]) -> dict[str, Decoder]:
        """Decoder of every kind code, structs by their schema name, with these leaf decoders."""
        structs = {name: _Struct(name) for name in SCHEMA}
        env: dict[str, Any] = {
            "OrderedStruct": OrderedStruct, "_KindError": _KindError, "_chain": chain.from_iterable,
            "_MAP_TYPES": frozenset({dict, OrderedStruct}),
            **{_leaf_name(code): dec for code, dec in leaves.items()},
            **{f"{self.names[name]}_slow": struct.decode for name, struct in structs.items()},
            **{f"{self.names[name]}_known": known for name, known in self.known.items()},
            **{f"{self.names[name]}_T": TYPED[name] for name in SCHEMA},
            **{f"{self.names[name]}_only_T": frozenset({TYPED[name]}) for name in SCHEMA},
            **{f"{self.names[name]}_flat": _FlatShape(name) for name in SCHEMA},
            "_DICT_ONLY": frozenset({dict}), "_flat_items": _flat_items,
        }
        for code in self.code:
            exec(code, env)  # noqa: S102
        decoders = {code: env[fn] for code, fn in self.names.items()}
        for global_name, code in self.zeros:
            env[global_name] = decoders[code](None)
        _link(structs, decoders)
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
                self._slice(fn, code)
            elif code.startswith("{}"):
                self._map(fn, code)
            else:
                self._struct(fn, code)
        return fn

    def _convert(self, code: str, var: str) -> str:
        """Expression decoding ``var`` as ``code``, with the type test of string/bool/integer leaves inlined."""
        fn = self.ref(code)
        if code == "s":
            return f"({var} if type({var}) is str else {fn}({var}))"
        if code == "b":
            return f"({var} if type({var}) is bool else {fn}({var}))"
        if code in _INT_RANGES:
            low, high = _INT_RANGES[code]
            return f"({var} if type({var}) is int and {low} <= {var} <= {high} else {fn}({var}))"
        return f"{fn}({var})"

    def _pointer(self, fn: str, inner: str) -> None:
        self.source.append(f"def {fn}(value):\n    return None if value is None else {self.ref(inner)}(value)\n")

    def _slice(self, fn: str, code: str) -> None:
        inner = code[2:]
        lines = [
            f"def {fn}(value):",
            "    if type(value) is not list:",
            "        if value is None:",
            "            return None",
            f"        raise _KindError(value, {_go_type(code)!r})",
        ]
        if inner in SCHEMA:
            # One C-speed pass checks every item at once: all typed already (a fresh list of the same items),
            # or all maps holding only exact field names.
            item = self.ref(inner)
            lines += [
                "    kinds = set(map(type, value))",
                f"    if kinds == {item}_only_T:",
                "        return list(value)",
                "    if kinds == _DICT_ONLY:",
                f"        flat = _flat_items(value, {item}_flat)",
                "        if flat is not None:",
                "            return flat",
                f"    if kinds <= _MAP_TYPES and {item}_known.issuperset(_chain(value)):",
                f"        return [{item}_fields(x) for x in value]",
            ]
        lines.append(f"    return [{self._convert(inner, 'x')} for x in value]")
        self.source.append("\n".join(lines) + "\n")

    def _map(self, fn: str, code: str) -> None:
        self.source.append(
            f"def {fn}(value):\n"
            f"    if value is None:\n"
            f"        return None\n"
            f"    if not isinstance(value, dict):\n"
            f"        raise _KindError(value, {_go_type(code)!r})\n"
            f"    return {{{self._convert('s', 'k')}: {self._convert(code[2:], 'v')} for k, v in value.items()}}\n"
        )

    def _struct(self, fn: str, name: str) -> None:
        """``fn`` checks the input and runs ``fn_fields``, which reads the fields of a map with exact keys.

        ``left`` counts the keys not read yet: once it is zero and no always-printed field follows, the rest
        (all absent) is skipped, which matters for wide structs such as ``Volume`` with one source set.
        """
        fields = _FIELDS[name]
        self.known[name] = frozenset(field for field, *_ in fields)
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
            f"        if type(value) is {fn}_T:",
            "            return value",
            "        if value is None:",
            "            value = {}",
            "        elif not isinstance(value, dict):",
            f"            raise _KindError(value, {_go_type(name)!r})",
            f"    if not value.keys() <= {fn}_known:",
            f"        return {fn}_slow(value)",
            f"    return {fn}_fields(value)",
            "",
            f"def {fn}_fields(value):",
            "    get = value.get",
            f"    out = {fn}_T()",
            *(["    left = len(value)"] if count else []),
            *(f"    {line}" for line in body),
            "    return out",
        ]) + "\n")


_COMPILER = _Compiler()
_GENERATED = {strict: _COMPILER.instantiate(_leaves(strict)) for strict in (False, True)}
_INTERPRETED = {strict: _interpretive(_leaves(strict)) for strict in (False, True)}


def decoder(type_name: str, *, strict: bool = False) -> Callable[[Any], OrderedStruct]:
    """The normaliser of one Go struct (``"core.Pod"``); raises SchemaError on values Go could not decode.

    ``strict`` decodes like ``encoding/json`` (webhook input); the default like ``sigs.k8s.io/yaml``.
    """
    fast, exact = _GENERATED[strict][type_name], _INTERPRETED[strict][type_name]
    go_type = _go_type(type_name)

    def decode(value: Any) -> OrderedStruct:
        try:
            return fast(value)
        except (_KindError, _FieldError):
            pass  # the generated code stops at the first error in Go field order; Go reports the first in input order
        try:
            return exact(value)
        except _FieldError as exc:
            raise SchemaError(exc.message()) from None
        except _KindError as exc:
            raise SchemaError(f"json: cannot unmarshal {_found(exc.args[0], go_type)} into Go value of type "
                              f"{go_type}") from None  # the value itself is not a JSON object

    return decode
