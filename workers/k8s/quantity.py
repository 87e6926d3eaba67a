"""``resource.Quantity`` JSON round trip: the canonical text Kubernetes prints for a parsed quantity.

Go parses a quantity into an exact decimal, remembers its format family (DecimalSI, BinarySI, DecimalExponent),
rounds anything finer than 1n up, and prints the largest suffix that leaves an integer mantissa. When the input
is already in that form Go keeps the original text, which this module mirrors (it matters for ``+1``).
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from workers.serialize.gojson import format_float

__all__ = ["QuantityError", "canonical", "parse_quantity"]


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity (Go: ErrFormatWrong, ErrSuffix or ErrNumeric)."""


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_BY_POWER = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_MAX_INT64_FACTORS = 18
_INT64_MAX = (1 << 63) - 1
_NANO = 10**9

_DECIMAL_SI, _BINARY_SI, _DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"
_FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _split(text: str) -> tuple[bool, str, str, str]:
    """Sign, numerator (leading zeros stripped), denominator and suffix, as Go's parseQuantityString cuts them."""
    end = len(text)
    pos = 0
    positive = True
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(f"{_FORMAT_WRONG}: {text!r}")
    return positive, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix."""
    exp = _DECIMAL_SUFFIXES.get(suffix)
    if exp is not None:
        return 10, exp, _DECIMAL_SI
    exp = _BINARY_SUFFIXES.get(suffix)
    if exp is not None:
        return 2, exp, _BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[0] in "+-" else digits
        if body and all(c in _DIGITS for c in body) and -(1 << 63) <= int(digits) <= _INT64_MAX:
            return 10, int(digits), _DECIMAL_EXPONENT
    raise QuantityError(f"unable to parse quantity's suffix: {suffix!r}")


def _keeps_text(num: str, denom: str, base: int, exponent: int) -> bool:
    """Go's fast path that stores the input string verbatim because it is already canonical."""
    if base == 2:
        if denom or 15 - len(num) - int(exponent * 3 / 10) - 1 < 0:
            return False
        value = int(num)
        return (value << exponent) <= _INT64_MAX and value & 7 != 0
    if _MAX_INT64_FACTORS - len(num) - len(denom) < 0:
        return False
    scale = exponent - len(denom)
    shifted = num + denom
    return scale >= -9 and scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def _remove_factors(value: int, factor: int) -> tuple[int, int]:
    times = 0
    while value % factor == 0:
        value //= factor
        times += 1
    return value, times


@lru_cache(maxsize=4096)
def _canonical_text(text: str) -> str:
    if not text:
        raise QuantityError(_FORMAT_WRONG)
    if text == "0":
        return text
    positive, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    if _keeps_text(num, denom, base, exponent):
        return text

    magnitude = Fraction(int(num + denom), 10 ** len(denom))
    magnitude *= Fraction(10) ** exponent if base == 10 else 1 << exponent
    if magnitude == 0:
        return "0"
    # Non-zero values round up (away from zero) to whole nanos.
    nanos = -(-magnitude.numerator * _NANO // magnitude.denominator)
    if fmt == _BINARY_SI and nanos > _INT64_MAX * _NANO:
        nanos = _INT64_MAX * _NANO
    sign = "" if positive else "-"

    if fmt == _BINARY_SI and nanos >= 1024 * _NANO and nanos % _NANO == 0:
        mantissa, power = _remove_factors(nanos // _NANO, 1024)
        return f"{sign}{mantissa}{_BINARY_BY_POWER[power]}"

    mantissa, exp = _remove_factors(nanos, 10)
    exp -= 9
    shift = exp % 3
    mantissa *= 10**shift
    exp -= shift
    if fmt == _DECIMAL_EXPONENT:
        return f"{sign}{mantissa}" + (f"e{exp}" if exp else "")
    # Go prints no suffix at all for exponents beyond E (a Kubernetes quirk, reproduced).
    return f"{sign}{mantissa}{_DECIMAL_BY_EXP.get(exp, '')}"


def canonical(value: str | int | float) -> str:
    """The string Kubernetes serialises for a quantity given as JSON string or number; raises QuantityError."""
    if isinstance(value, bool):
        raise QuantityError(f"quantity must be a string or number, not {value!r}")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = format_float(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise QuantityError(f"quantity must be a string or number, not {type(value).__name__}")
    return _canonical_text(text)


def parse_quantity(text: str) -> str:
    """Go's ``resource.ParseQuantity`` on the exact text (no trimming, unlike JSON decoding): canonical form or
    QuantityError. Annotation validation needs this stricter entry point, as Istio calls ParseQuantity directly."""
    return _canonical_text(text)
