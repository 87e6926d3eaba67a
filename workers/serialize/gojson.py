"""Go ``encoding/json.Marshal`` output for JSON-like Python data.

Go sorts map keys but prints struct fields in declaration order, escapes ``<``, ``>``, ``&``, U+2028 and U+2029,
and prints float64 without a trailing ``.0``. orjson does the heavy lifting; a single pre-pass orders the dicts,
turns floats into pre-formatted fragments, and the HTML escapes are applied to the finished bytes (those
characters can only occur inside strings, so a byte replace is exact).
"""
from __future__ import annotations

import math
import struct
from typing import Any

import orjson

__all__ = ["OrderedStruct", "dumps", "dumps_bytes", "escape", "format_float", "format_g", "plain", "prepare", "shortest_digits"]


class OrderedStruct(dict):
    """A dict standing for a Go struct: serialised in insertion (field) order instead of sorted."""

    __slots__ = ()


_Fragment = orjson.Fragment
_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
)
_LINE_ESCAPES = (
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
_ESCAPES = _HTML_ESCAPES + _LINE_ESCAPES


_F32 = struct.Struct("<f")


def _to_float32(x: float) -> float:
    """Go's ``float32(x)``: the nearest float32, infinity beyond its range (struct refuses those)."""
    try:
        return _F32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _float32_text(x: float) -> str:
    """Shortest decimal text that reads back as the same float32 (Go's FormatFloat bitSize 32 digit choice)."""
    x32 = _to_float32(x)
    for precision in range(9):
        text = f"{x32:.{precision}e}"
        if _to_float32(float(text)) == x32:
            return text
    return repr(x32)


def shortest_digits(x: float, bits: int = 64) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(x)`` and the decimal point position (value = 0.DIGITS * 10**dp).

    Python's ``repr`` and Go's ``strconv`` both produce the shortest round-tripping digits, so either printer can
    be rebuilt from these; ``bits=32`` rounds to float32 first, as Go's FormatFloat(x, _, -1, 32) does.
    """
    text = repr(abs(x)) if bits == 64 else _float32_text(abs(x))
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    dp = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    stripped = stripped.rstrip("0")
    if not stripped:
        return "0", 1
    return stripped, dp


def _positional(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def format_float(x: float) -> str:
    """Go ``encoding/json`` text of a float64: positional in [1e-6, 1e21), else ``1e+21``/``1e-7`` style."""
    if x.is_integer() and abs(x) < 1e21:
        return "-0" if x == 0 and math.copysign(1.0, x) < 0 else str(int(x))
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"json: unsupported value: {x!r}")
    digits, dp = shortest_digits(x)
    sign = "-" if x < 0 else ""
    if 1e-6 <= abs(x) < 1e21:
        return sign + _positional(digits, dp)
    exp = dp - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    # Go prints at least two exponent digits, then trims a leading zero of a negative exponent (e-07 -> e-7).
    exp_text = f"+{exp:02d}" if exp >= 0 else f"-{-exp}"
    return f"{sign}{mant}e{exp_text}"


def format_g(x: float, bits: int = 64) -> str:
    """Go ``strconv.FormatFloat(x, 'g', -1, bits)`` (what ``%v`` prints): exponent form below 1e-4 or from 1e6 on."""
    if bits == 32:
        x = _to_float32(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    digits, dp = shortest_digits(x, bits)
    sign = "-" if x < 0 else ""
    exp = dp - 1
    # With the shortest precision Go decides on a fixed precision of 6, not on the digit count.
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return sign + _positional(digits, dp)


_LEAVES = frozenset({str, int, bool, type(None)})


def _prepare(obj: Any) -> Any:
    """Copy ``obj`` into the shape orjson prints like Go: dict order fixed, floats pre-formatted.

    Leaves that orjson already prints like Go are tested inline, saving a call per string.
    """
    leaves = _LEAVES
    cls = type(obj)
    if cls is OrderedStruct or cls.__base__ is OrderedStruct:  # typed pod values subclass it (k8s/schema.py)
        return {k: v if type(v) in leaves else _prepare(v) for k, v in obj.items()}
    if cls is dict:
        return {k: obj[k] if type(obj[k]) in leaves else _prepare(obj[k]) for k in sorted(obj)}
    if cls is list:
        return [v if type(v) in leaves else _prepare(v) for v in obj]
    if cls is float:
        return _Fragment(format_float(obj))
    if cls in leaves:
        return obj
    hook = getattr(obj, "go_json", None)
    if hook is not None:  # template function results of other Go types (time.Time, sprig's certificate, ...)
        return _prepare(hook())
    if isinstance(obj, dict):
        return {k: _prepare(obj[k]) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [_prepare(v) for v in obj]
    if isinstance(obj, (str, int)):
        return obj
    raise TypeError(f"json: unsupported type: {cls.__name__}")


def plain(obj: Any) -> Any:
    """The JSON-shaped data ``obj`` marshals to (Go types with their own JSON form converted, typed containers as
    plain dicts/lists, floats kept): what sigs.k8s.io/yaml sees after its JSON round trip."""
    hook = getattr(obj, "go_json", None)
    if hook is not None:
        return plain(hook())
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, bool) or obj is None or type(obj) in (str, int, float):
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    raise TypeError(f"json: unsupported type: {type(obj).__name__}")


def prepare(obj: Any) -> Any:
    """``obj`` in the shape orjson prints like Go (see ``dumps_bytes``), for callers that need other orjson
    options (indentation)."""
    return _prepare(obj)


def escape(out: bytes, escape_html: bool = True) -> bytes:
    """Go's string escapes on finished JSON bytes: U+2028/U+2029 always, ``<``, ``>``, ``&`` unless turned off
    (``Encoder.SetEscapeHTML(false)``)."""
    for raw, esc in (_ESCAPES if escape_html else _LINE_ESCAPES):
        if raw in out:
            out = out.replace(raw, esc)
    return out


def dumps_bytes(obj: Any) -> bytes:
    """Go ``json.Marshal(obj)`` as bytes."""
    out = orjson.dumps(_prepare(obj))
    for raw, esc in _ESCAPES:
        if raw in out:
            out = out.replace(raw, esc)
    return out


def dumps(obj: Any) -> str:
    """Go ``json.Marshal(obj)`` as text."""
    return dumps_bytes(obj).decode()
