"""Go conversions the sprig functions are built on: ``strval``, spf13/cast's ``ToInt64``/``ToInt``/``ToFloat64``,
``strconv`` number parsing, sprig's ``empty`` and ``reflect.DeepEqual`` on our value model."""
from __future__ import annotations

import math
import re
from typing import Any

from workers.templates.gofmt import format_value
from workers.templates.govalues import GoStruct, go_type_name, wrap_int

__all__ = ["clamp_int64", "decimal_int", "deep_equal", "float_to_int64", "go_empty", "parse_go_float", "parse_go_int",
           "strval", "to_float64", "to_int", "to_int64"]

_MIN_INT64 = -(1 << 63)
_OUT_OF_RANGE = 10 ** 20
"""Larger than any 64-bit integer (which has at most 20 decimal digits)."""


def decimal_int(text: str) -> int:
    """The value of an optionally signed run of ASCII decimal digits, with values past 64 bits given as
    ±10**20: still out of every Go integer range, without Python's 4300-digit limit on int(text) (a ValueError
    where Go reports a range error) or its quadratic conversion cost."""
    negative = text.startswith("-")
    digits = text.lstrip("+-").lstrip("0")
    value = int(digits or "0") if len(digits) <= 20 else _OUT_OF_RANGE
    return -value if negative else value


def clamp_int64(value: int) -> int:
    """What strconv.ParseInt returns with its range error: the nearest int64."""
    return max(_MIN_INT64, min(value, (1 << 63) - 1))


def strval(v: Any) -> str:
    """sprig's ``strval``: strings as is, Stringers by ``String()``, anything else through ``%v``."""
    return v if isinstance(v, str) else format_value(v)


def float_to_int64(f: float) -> int:
    """Go's ``int64(f)`` on amd64: truncation; NaN and out-of-range values give the minimum int64."""
    if math.isnan(f) or not -9.223372036854776e18 <= f < 9.223372036854776e18:
        return _MIN_INT64
    return int(f)


# Go integer literal syntax accepted by strconv.ParseInt(s, 0, 64): sign, base prefix, underscores between digits.
_GO_INT = re.compile(r"""[+-]?(?:
      0[xX](?:_?[0-9a-fA-F])+
    | 0[bB](?:_?[01])+
    | 0[oO](?:_?[0-7])+
    | 0(?:_?[0-7])*
    | [1-9](?:_?[0-9])*
    )\Z""", re.X)


def parse_go_int(s: str, bits: int = 64) -> int | None:
    """``strconv.ParseInt(s, 0, bits)``; None on a syntax or range error."""
    if not _GO_INT.match(s):
        return None
    negative = s.startswith("-")
    body = s.lstrip("+-").replace("_", "")
    lower = body.lower()
    if lower.startswith(("0x", "0b", "0o")):
        value = int(body[2:], {"x": 16, "b": 2, "o": 8}[lower[1]])
    elif len(body) > 1 and body[0] == "0":
        value = int(body, 8)
    else:
        value = decimal_int(body)
    value = -value if negative else value
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        return None
    return value


_GO_FLOAT = re.compile(r"""[+-]?(?:
      (?:[0-9](?:_?[0-9])*)(?:\.(?:[0-9](?:_?[0-9])*)?)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?
    | \.[0-9](?:_?[0-9])*(?:[eE][+-]?[0-9](?:_?[0-9])*)?
    | 0[xX](?:_?[0-9a-fA-F])*(?:\.(?:[0-9a-fA-F](?:_?[0-9a-fA-F])*)?)?[pP][+-]?[0-9](?:_?[0-9])*
    | (?i:inf|infinity|nan)
    )\Z""", re.X)


def parse_go_float(s: str) -> float | None:
    """``strconv.ParseFloat(s, 64)``: Go float literal syntax plus Inf/Infinity/NaN; None on error (including
    out-of-range values, which Go reports as a range error)."""
    if not _GO_FLOAT.match(s):
        return None
    body = s.replace("_", "")
    lower = body.lower().lstrip("+-")
    if lower.startswith("0x"):
        sign = -1.0 if body.startswith("-") else 1.0
        try:
            value = sign * float.fromhex(body.lstrip("+-"))
        except OverflowError:
            return None
    elif lower in ("inf", "infinity"):
        return -math.inf if body.startswith("-") else math.inf
    elif lower == "nan":
        return math.nan
    else:
        value = float(body)
    if math.isinf(value):
        return None
    return value


def _cast_string_int(s: str) -> int:
    """cast's integer parsing of a string: "" is 0, a decimal tail is cut off, errors give 0."""
    if s == "":
        return 0
    if "." in s:
        m = re.fullmatch(r"([-+]?\d*)(\.\d*)?", s, re.ASCII)
        if m:
            s = m.group(1)
            s = {"-": "-0", "+": "+0", "": "0"}.get(s, s)
    value = parse_go_int(s)
    return 0 if value is None else value


def to_int64(v: Any) -> int:
    """spf13/cast ``ToInt64`` (errors give 0): numbers converted, bools 0/1, nil 0, strings parsed."""
    if v is None or v is False:
        return 0
    if v is True:
        return 1
    if isinstance(v, int):
        return wrap_int(int(v), "int")  # a uint64 above the int64 range wraps, as Go's int64(u) does
    if isinstance(v, float):
        return float_to_int64(v)
    if isinstance(v, str):
        return _cast_string_int(v)
    return 0


to_int = to_int64  # Go's int is 64 bits here; cast.ToInt follows the same rules


def to_float64(v: Any) -> float:
    """spf13/cast ``ToFloat64`` (errors give 0)."""
    if v is None or v is False:
        return 0.0
    if v is True:
        return 1.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        if v == "":
            return 0.0
        value = parse_go_float(v)
        return 0.0 if value is None else value
    return 0.0


def go_empty(v: Any) -> bool:
    """sprig's ``empty``: nil, false, 0, ``""`` and empty maps/lists are empty; structs never are."""
    if v is None or v is False:
        return True
    if v is True:
        return False
    if isinstance(v, (str, list, tuple)):
        return len(v) == 0
    if isinstance(v, dict):  # a struct (from typed template data) is never empty, a pointer to one is not nil
        return len(v) == 0 and getattr(v, "go_kind", "map") == "map"
    if isinstance(v, (int, float)):
        return v == 0
    return False


def deep_equal(a: Any, b: Any) -> bool:
    """``reflect.DeepEqual``: same Go types, then equal contents (NaN is unequal to itself)."""
    if a is None or b is None:
        return a is None and b is None
    if go_type_name(a) != go_type_name(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, GoStruct):
        return all(deep_equal(x, y) for x, y in zip(a.field_values(), b.field_values()))
    return a == b
