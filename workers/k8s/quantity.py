"""``resource.Quantity`` JSON round trip: the canonical text Kubernetes prints for a parsed quantity.

Go parses a quantity into an exact decimal, remembers its format family (DecimalSI, BinarySI, DecimalExponent),
rounds anything finer than 1n up, and prints the largest suffix that leaves an integer mantissa. When the input
is already in that form Go keeps the original text, which this module mirrors (it matters for ``+1``).
"""
from __future__ import annotations

import math
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
_MAX_FRACTION_DIGITS = 4000  # exact binary arithmetic stays below Python's int/str conversion limit
_CACHED_TEXT = 64
_MAX_INT_BITS = 10_000  # str() of a larger int trips Python's conversion limit (YAML integers are unbounded)

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
    """(base, exponent, format) of a suffix. Go parses an exponent as int64 and keeps its low 32 bits."""
    exp = _DECIMAL_SUFFIXES.get(suffix)
    if exp is not None:
        return 10, exp, _DECIMAL_SI
    exp = _BINARY_SUFFIXES.get(suffix)
    if exp is not None:
        return 2, exp, _BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[0] in "+-" else digits
        if 0 < len(body) <= 19 and all(c in _DIGITS for c in body) and -(1 << 63) <= int(digits) <= _INT64_MAX:
            return 10, (int(digits) + (1 << 31)) % (1 << 32) - (1 << 31), _DECIMAL_EXPONENT
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


def _increment(digits: str) -> str:
    """A decimal digit string plus one, without int() (inputs may exceed Python's int/str conversion limit)."""
    stripped = digits.rstrip("9")
    nines = len(digits) - len(stripped)
    if not stripped:
        return "1" + "0" * nines
    return stripped[:-1] + str(int(stripped[-1]) + 1) + "0" * nines


def _print_decimal(digits: str, scale: int, fmt: str) -> str:
    """``digits`` x 10**``scale`` (non-zero, no leading zeros) rounded up to whole nanos, printed as Go prints it:
    the exponent a multiple of 3, an SI suffix (none beyond E, a Kubernetes quirk) or ``eN``.

    Works on the digit string, never on 10**scale: an exponent can be as large as 2**31 and Go handles it cheaply.
    """
    if scale < -9:
        cut = -9 - scale  # digits finer than 1n
        kept, rest = (digits[:-cut], digits[-cut:]) if cut < len(digits) else ("0", digits)
        digits = _increment(kept) if rest.strip("0") else kept
        digits = digits.lstrip("0") or "0"
        scale = -9
    stripped = digits.rstrip("0")
    scale += len(digits) - len(stripped)
    shift = scale % 3
    digits, scale = stripped + "0" * shift, scale - shift
    if fmt == _DECIMAL_EXPONENT:
        return digits + (f"e{scale}" if scale else "")
    return digits + _DECIMAL_BY_EXP.get(scale, "")


def _canonical_binary(num: str, denom: str, power: int) -> str:
    """A BinarySI amount (``power`` <= 60): capped at the int64 maximum, rounded up to nanos; whole multiples of
    1024 keep a binary suffix, anything else prints in decimal."""
    if len(num) > 19:  # at least 1e19 before the suffix: above the cap whatever the fraction
        nanos = _INT64_MAX * _NANO
    elif len(denom) > _MAX_FRACTION_DIGITS:
        raise QuantityError(f"quantity has more than {_MAX_FRACTION_DIGITS} fraction digits")
    else:
        magnitude = Fraction(int(num + denom), 10 ** len(denom)) * (1 << power)
        if magnitude == 0:
            return "0"
        nanos = min(-(-magnitude.numerator * _NANO // magnitude.denominator), _INT64_MAX * _NANO)
    if nanos >= 1024 * _NANO and nanos % _NANO == 0:
        mantissa, exponent = _remove_factors(nanos // _NANO, 1024)
        return f"{mantissa}{_BINARY_BY_POWER[exponent]}"
    return _print_decimal(str(nanos), -9, _BINARY_SI)


def _canonical_text(text: str) -> str:
    if not text:
        raise QuantityError(_FORMAT_WRONG)
    if text == "0":
        return text
    positive, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    if _keeps_text(num, denom, base, exponent):
        return text
    if base == 2:
        magnitude = _canonical_binary(num, denom, exponent)
    else:
        digits = (num + denom).lstrip("0")
        magnitude = _print_decimal(digits, exponent - len(denom), fmt) if digits else "0"
    return magnitude if positive or magnitude == "0" else "-" + magnitude


_canonical_short = lru_cache(maxsize=4096)(_canonical_text)


def _canonical(text: str) -> str:
    """Cached for the short texts pods repeat; a long one (hostile, or one of a kind) must not pin memory."""
    return _canonical_short(text) if len(text) <= _CACHED_TEXT else _canonical_text(text)


def canonical(value: str | int | float) -> str:
    """The string Kubernetes serialises for a quantity given as JSON string or number; raises QuantityError."""
    if isinstance(value, bool):
        raise QuantityError(f"quantity must be a string or number, not {value!r}")
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:
            raise QuantityError("quantity has too many digits")
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"quantity must be a finite number, not {value!r}")
        text = format_float(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise QuantityError(f"quantity must be a string or number, not {type(value).__name__}")
    return _canonical(text)


def parse_quantity(text: str) -> str:
    """Go's ``resource.ParseQuantity`` on the exact text (no trimming, unlike JSON decoding): canonical form or
    QuantityError. Annotation validation needs this stricter entry point, as Istio calls ParseQuantity directly."""
    return _canonical(text)
