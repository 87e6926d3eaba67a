"""sprig's arithmetic: int64 functions (cast conversions, Go's wrap-around and truncating division), float
functions computed in exact decimals like shopspring/decimal, rounding, and integer ranges."""
from __future__ import annotations

import math
import secrets
from fractions import Fraction
from typing import Any

from workers.templates.gofmt import format_value
from workers.templates.govalues import Int64, IntList, wrap_int
from workers.templates.sizes import check_list

from .convert import clamp_int64, decimal_int, to_float64, to_int, to_int64
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go

_MIN_INT64 = -(1 << 63)


def _i64(v: int) -> Int64:
    return Int64(wrap_int(v))


@go("func(interface {}) int64", "add1")
def add1(i: Any) -> Int64:
    return _i64(to_int64(i) + 1)


@go("func(...interface {}) int64", "add")
def add(*values: Any) -> Int64:
    return _i64(sum(to_int64(v) for v in values))


@go("func(interface {}, interface {}) int64", "sub")
def sub(a: Any, b: Any) -> Int64:
    return _i64(to_int64(a) - to_int64(b))


def _go_div(a: int, b: int) -> int:
    """Go's truncating integer division; dividing by zero is a runtime panic."""
    if b == 0:
        raise ZeroDivisionError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


@go("func(interface {}, interface {}) int64", "div")
def div(a: Any, b: Any) -> Int64:
    return _i64(_go_div(to_int64(a), to_int64(b)))


@go("func(interface {}, interface {}) int64", "mod")
def mod(a: Any, b: Any) -> Int64:
    x, y = to_int64(a), to_int64(b)
    return _i64(x - _go_div(x, y) * y)


@go("func(interface {}, ...interface {}) int64", "mul")
def mul(a: Any, *rest: Any) -> Int64:
    value = to_int64(a)
    for b in rest:
        value = wrap_int(value * to_int64(b))
    return _i64(value)


@go("func(int, int) int", "randInt")
def rand_int(low: int, high: int) -> int:
    """``rand.Intn(high-low) + low``; Go panics unless high > low."""
    if high - low <= 0:
        raise ValueError("invalid argument to Intn")
    return low + secrets.randbelow(high - low)


@go("func(interface {}, ...interface {}) int64", "biggest", "max")
def biggest(a: Any, *rest: Any) -> Int64:
    return _i64(max([to_int64(a), *(to_int64(b) for b in rest)]))


@go("func(interface {}, ...interface {}) int64", "min")
def smallest(a: Any, *rest: Any) -> Int64:
    return _i64(min([to_int64(a), *(to_int64(b) for b in rest)]))


def _go_max(a: float, b: float) -> float:
    """``math.Max``: NaN wins, +0 beats -0."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) > 0 else b
    return max(a, b)


def _go_min(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) < 0 else b
    return min(a, b)


@go("func(interface {}, ...interface {}) float64", "maxf")
def maxf(a: Any, *rest: Any) -> float:
    value = to_float64(a)
    for b in rest:
        value = _go_max(value, to_float64(b))
    return value


@go("func(interface {}, ...interface {}) float64", "minf")
def minf(a: Any, *rest: Any) -> float:
    value = to_float64(a)
    for b in rest:
        value = _go_min(value, to_float64(b))
    return value


# ---- decimal float arithmetic (shopspring/decimal) ------------------------------------------------------------

def _decimal(v: Any) -> Fraction:
    """``decimal.NewFromFloat(toFloat64(v))``: the shortest decimal that reads back as the float, exactly."""
    f = to_float64(v)
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"Cannot create a Decimal from {format_value(f)}")
    return Fraction(repr(f)) if f != 0 else Fraction(0)


def _div_round(a: Fraction, b: Fraction) -> Fraction:
    """``Decimal.Div``: the quotient rounded half away from zero to 16 decimal places."""
    if b == 0:
        raise ZeroDivisionError("decimal division by 0")
    scaled = a / b * 10 ** 16
    q = math.floor(abs(scaled) + Fraction(1, 2))
    return Fraction(q if scaled >= 0 else -q, 10 ** 16)


def _decimal_op(a: Any, rest: tuple, op: Any) -> float:
    value = _decimal(a)
    for x in rest:
        value = op(value, _decimal(x))
    return float(value)


@go("func(interface {}) float64", "add1f")
def add1f(i: Any) -> float:
    return _decimal_op(i, (1,), lambda x, y: x + y)


@go("func(...interface {}) float64", "addf")
def addf(*values: Any) -> float:
    return _decimal_op(0.0, values, lambda x, y: x + y)


@go("func(interface {}, ...interface {}) float64", "subf")
def subf(a: Any, *rest: Any) -> float:
    return _decimal_op(a, rest, lambda x, y: x - y)


@go("func(interface {}, ...interface {}) float64", "mulf")
def mulf(a: Any, *rest: Any) -> float:
    return _decimal_op(a, rest, lambda x, y: x * y)


@go("func(interface {}, ...interface {}) float64", "divf")
def divf(a: Any, *rest: Any) -> float:
    return _decimal_op(a, rest, _div_round)


@go("func(interface {}) float64", "ceil")
def ceil(a: Any) -> float:
    f = to_float64(a)
    return f if math.isinf(f) or math.isnan(f) else math.copysign(float(math.ceil(f)), f) if f != 0 else f


@go("func(interface {}) float64", "floor")
def floor(a: Any) -> float:
    f = to_float64(a)
    return f if math.isinf(f) or math.isnan(f) else math.copysign(float(math.floor(f)), f) if f != 0 else f


@go("func(interface {}, int, ...float64) float64", "round")
def round_(a: Any, places: int, *round_on: float) -> float:
    """sprig ``round``: scale by 10**places, round up when the fraction is at least ``round_on`` (0.5)."""
    threshold = round_on[0] if round_on else 0.5
    value = to_float64(a)
    pow_ = math.pow(10, float(places)) if places < 400 else math.inf
    digit = pow_ * value
    frac = math.nan if math.isinf(digit) or math.isnan(digit) else math.modf(digit)[0]
    rounded = ceil(digit) if frac >= threshold else floor(digit)
    return go_fdiv(rounded, pow_)


def go_fdiv(a: float, b: float) -> float:
    """IEEE division as Go does it: x/0 is +-Inf, 0/0 is NaN (Python raises)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


@go("func(interface {}) int64", "toDecimal")
def to_decimal(v: Any) -> Int64:
    """Octal text (``%v`` of the value) to a number; anything unparsable is 0."""
    text = format_value(v)
    sign = text[:1] if text[:1] in ("+", "-") else ""
    body = text[len(sign):]
    if not body or not all(c in "01234567" for c in body):
        return Int64(0)
    value = int(body, 8) * (-1 if sign == "-" else 1)
    if not _MIN_INT64 <= value < 1 << 63:
        return Int64(0)
    return Int64(value)


@go("func(string) int", "atoi")
def atoi(s: str) -> int:
    """``strconv.Atoi`` with its error ignored: decimal only, optional sign; a syntax error is 0, a value out of
    range the nearest int64 (what Atoi returns with its range error)."""
    body = s[1:] if s[:1] in "+-" else s
    if not body or not body.isascii() or not body.isdigit():
        return 0
    return clamp_int64(decimal_int(s))


@go("func(interface {}) int64", "int64")
def int64_(v: Any) -> Int64:
    return Int64(to_int64(v))


@go("func(interface {}) int", "int")
def int_(v: Any) -> int:
    return to_int(v)


@go("func(interface {}) float64", "float64")
def float64_(v: Any) -> float:
    return to_float64(v)


_MAX_WRAPPED_ITEMS = 1 << 20
"""Items untilStep may add after its counter wrapped around the int64 range (see until_step)."""


def until_step(start: int, stop: int, step: int) -> IntList:
    """sprig ``untilStep``: Go's ``for i := start; i < stop; i += step`` (``i > stop`` counting down; an empty list
    when the step goes the wrong way). Go's ``i += step`` wraps around past the int64 range and the loop goes on, so
    a run that overflows continues lap after lap, as Go's does, for at most _MAX_WRAPPED_ITEMS more items: Go may
    then loop until it runs out of memory (``untilStep 0 9223372036854775807 4611686018427387904`` never ends), which
    here is an error instead of a loop without end."""
    if (step >= 0) if stop < start else (step <= 0):
        return IntList()
    values = range(start, stop, step)
    check_list(len(values), "until/untilStep/seq")
    out, wrapped = IntList(values), 0
    while values and wrap_int(values[-1] + step) != values[-1] + step:
        values = range(wrap_int(values[-1] + step), stop, step)
        wrapped += len(values)
        if wrapped > _MAX_WRAPPED_ITEMS:
            raise ValueError(f"untilStep {start} {stop} {step}: the counter wraps around int64 and the sequence "
                             "does not end (Go loops until it runs out of memory)")
        out.extend(values)
    return out


@go("func(int) []int", "until")
def until(count: int) -> IntList:
    return until_step(0, count, -1 if count < 0 else 1)


@go("func(int, int, int) []int", "untilStep")
def until_step_(start: int, stop: int, step: int) -> IntList:
    return until_step(start, stop, step)


@go("func(...int) string", "seq")
def seq(*params: int) -> str:
    """``seq end`` (from 1), ``seq start end``, ``seq start step end``: the integers, space-separated."""
    if len(params) in (1, 2):
        start, end = (1, params[0]) if len(params) == 1 else params
        step = -1 if end < start else 1
        return " ".join(map(str, until_step(start, wrap_int(end + step), step)))
    if len(params) == 3:
        start, step, end = params
        increment = 1
        if end < start:
            increment = -1
            if step > 0:
                return ""
        return " ".join(map(str, until_step(start, wrap_int(end + increment), step)))  # Go's int wraps
    return ""


__all__ = ["SPRIG", "go_fdiv", "until_step"]
