"""Go ``fmt`` printing (``Sprint``, ``Sprintln``, ``Sprintf``, ``%v``, ``strconv.Quote``) for our data model.

Templates print values through these so the output is byte-identical to Go's: Values numbers are float64 in Go
(``15020`` not ``15020.0``, ``1e+06`` not ``1000000.0``), nil is ``<nil>``, maps print as ``map[k:v]`` with sorted
keys. Python types stand for Go types: ``None`` nil, ``bool``, ``int``, ``float`` float64, ``str``, ``dict``
``map[string]interface {}``, ``list`` ``[]interface {}``.
"""
from __future__ import annotations

import math
import re
from typing import Any

from workers.serialize.gojson import format_g

__all__ = ["format_value", "go_type_name", "quote", "sprint", "sprintf", "sprintln"]

_PLAIN_ASCII = re.compile(r'[ !#-\[\]-~]*\Z')  # printable ASCII except '"' and '\\': quoted as is
_SIMPLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                   '"': '\\"', "\\": "\\\\"}


def go_type_name(v: Any) -> str:
    """The Go type name ``reflect.TypeOf(v).String()`` would give for the value's Go counterpart."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return type(v).__name__


def quote(s: str, ascii_only: bool = False) -> str:
    """Go ``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``): a double-quoted Go string literal."""
    if _PLAIN_ASCII.match(s):
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        esc = _SIMPLE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        r = ord(ch)
        if ch.isprintable() and (r < 0x80 or not ascii_only):
            out.append(ch)
        elif r < 0x20 or r == 0x7F:
            out.append(f"\\x{r:02x}")
        elif 0xD800 <= r <= 0xDFFF:  # not a valid rune: Go substitutes U+FFFD
            out.append("\\ufffd")
        elif r < 0x10000:
            out.append(f"\\u{r:04x}")
        else:
            out.append(f"\\U{r:08x}")
    out.append('"')
    return "".join(out)


def _format_float(x: float) -> str:
    """``%v`` of a float64: ``strconv.FormatFloat(x, 'g', -1, 64)``, which keeps the sign of negative zero."""
    if x == 0 and math.copysign(1.0, x) < 0:
        return "-0"
    return format_g(x)


def format_value(v: Any) -> str:
    """Go ``fmt.Sprint`` of one value (the ``%v`` verb)."""
    if isinstance(v, str):
        return v
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _format_float(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{format_value(k)}:{format_value(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(format_value(e) for e in v) + "]"
    return str(v)


def sprint(*args: Any) -> str:
    """Go ``fmt.Sprint``: operands printed with %v, a space between two operands when neither is a string."""
    parts: list[str] = []
    prev_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            parts.append(" ")
        parts.append(format_value(arg))
        prev_string = is_string
    return "".join(parts)


def sprintln(*args: Any) -> str:
    """Go ``fmt.Sprintln``: operands always space-separated, newline appended."""
    return " ".join(format_value(a) for a in args) + "\n"


class _Spec:
    """Flags, width and precision of one directive."""

    __slots__ = ("minus", "plus", "sharp", "space", "zero", "width", "prec")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.prec: int | None = None


def _pad(spec: _Spec, body: str, sign: str = "", zero_ok: bool = True) -> str:
    """Apply width: spaces (left, or right with ``-``) or zeros after the sign (``0`` flag)."""
    width = spec.width
    if width is None or len(sign) + len(body) >= width:
        return sign + body
    fill = width - len(sign) - len(body)
    if spec.minus:
        return sign + body + " " * fill
    if spec.zero and zero_ok:
        return sign + "0" * fill + body
    return " " * fill + sign + body


def _sign(spec: _Spec, negative: bool) -> str:
    if negative:
        return "-"
    if spec.plus:
        return "+"
    return " " if spec.space else ""


def _bad_verb(verb: str, arg: Any, spec: _Spec) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(arg)}={_fmt_arg(arg, 'v', spec)})"


def _fmt_int(v: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(spec, chr(v), zero_ok=False)
    if verb == "q":
        return _pad(spec, "'" + quote(chr(v))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'", zero_ok=False)
    base = {"d": 10, "v": 10, "x": 16, "X": 16, "o": 8, "O": 8, "b": 2}.get(verb)
    if base is None:
        return _bad_verb(verb, v, spec)
    digits = {10: "{:d}", 16: "{:x}", 8: "{:o}", 2: "{:b}"}[base].format(abs(v))
    if verb == "X":
        digits = digits.upper()
    zero_ok = True
    if spec.prec is not None:
        zero_ok = False  # precision sets the minimum digits and disables zero padding
        digits = "" if spec.prec == 0 and v == 0 else digits.rjust(spec.prec, "0")
    prefix = ""
    if verb == "O":
        prefix = "0o"
    elif spec.sharp:
        prefix = {16: "0x" if verb == "x" else "0X", 8: "0", 2: "0b"}.get(base, "")
        if base == 8 and digits.startswith("0"):
            prefix = ""
    return _pad(spec, digits, _sign(spec, v < 0) + prefix, zero_ok)


def _fmt_float(v: float, verb: str, spec: _Spec) -> str:
    if verb not in "vgGeEfF":
        return _bad_verb(verb, v, spec)
    if math.isnan(v):  # Go never zero-pads NaN/Inf; NaN gets a sign only when asked for
        return _pad(spec, "NaN", "+" if spec.plus else (" " if spec.space else ""), zero_ok=False)
    if math.isinf(v):  # while +Inf keeps its '+' unless the space flag replaces it
        sign = "-" if v < 0 else ("+" if spec.plus or not spec.space else " ")
        return _pad(spec, "Inf", sign, zero_ok=False)
    negative = math.copysign(1.0, v) < 0
    a = abs(v)
    prec = spec.prec
    if verb in "vgG" and prec is None:
        body = format_g(a)
        if verb == "G":
            body = body.upper()
    else:
        py = {"v": "g", "F": "f"}.get(verb, verb)
        body = f"{a:.{6 if prec is None else prec}{py}}"
    return _pad(spec, body, _sign(spec, negative))


def _fmt_str(s: str, verb: str, spec: _Spec) -> str:
    if spec.prec is not None and verb in "svq":
        s = s[:spec.prec]
    if verb in "sv":
        return _pad(spec, s)
    if verb == "q":
        if spec.sharp and "`" not in s and all(c == "\t" or (c.isprintable() and c != "\ufeff") for c in s):
            return _pad(spec, "`" + s + "`")
        return _pad(spec, quote(s, ascii_only=spec.plus))
    if verb in "xX":
        data = s.encode()
        if spec.prec is not None:
            data = data[:spec.prec]
        text = data.hex(" ") if spec.space else data.hex()
        if spec.sharp:
            text = " ".join("0x" + h for h in text.split(" ")) if spec.space else "0x" + text
        return _pad(spec, text.upper() if verb == "X" else text)
    return _bad_verb(verb, s, spec)


def _fmt_arg(arg: Any, verb: str, spec: _Spec) -> str:
    """One operand under one verb; composites apply the verb element-wise like Go."""
    if verb == "T":
        return _pad(spec, go_type_name(arg))
    if arg is None:
        return _pad(spec, "<nil>") if verb == "v" else _bad_verb(verb, None, spec)
    if isinstance(arg, str):
        return _fmt_str(arg, verb, spec)
    if isinstance(arg, bool):
        return _pad(spec, "true" if arg else "false") if verb in "tv" else _bad_verb(verb, arg, spec)
    if isinstance(arg, int):
        return _fmt_int(arg, verb, spec)
    if isinstance(arg, float):
        return _fmt_float(arg, verb, spec)
    if isinstance(arg, dict):
        return "map[" + " ".join(f"{_fmt_arg(k, verb, spec)}:{_fmt_arg(arg[k], verb, spec)}" for k in sorted(arg)) + "]"
    if isinstance(arg, (list, tuple)):
        return "[" + " ".join(_fmt_arg(e, verb, spec) for e in arg) + "]"
    return _pad(spec, str(arg))


def _number(fmt: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    return (int(fmt[start:i]) if i > start else None), i


def sprintf(fmt: str, *args: Any) -> str:
    """Go ``fmt.Sprintf``: verbs ``%v %s %d %q %t %f %e %g %x %X %o %b %c %T %%``, flags ``-+# 0``, width and
    precision; Go's in-band errors ``%!d(string=x)``, ``%!s(MISSING)``, ``%!(NOVERB)``, ``%!(EXTRA ...)``."""
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n:
            c = fmt[i]
            if c == "-":
                spec.minus, spec.zero = True, False
            elif c == "+":
                spec.plus = True
            elif c == "#":
                spec.sharp = True
            elif c == " ":
                spec.space = True
            elif c == "0":
                spec.zero = not spec.minus
            else:
                break
            i += 1
        spec.width, i = _number(fmt, i)
        if i < n and fmt[i] == ".":
            prec, i = _number(fmt, i + 1)
            spec.prec = prec or 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
        elif argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_fmt_arg(args[argi], verb, spec))
            argi += 1
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type_name(a)}={format_value(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
