"""Go ``fmt`` printing (``Sprint``, ``Sprintln``, ``Sprintf``, ``%v``, ``strconv.Quote``) for our data model.

Templates print values through these so the output is byte-identical to Go's: Values numbers are float64 in Go
(``15020`` not ``15020.0``, ``1e+06`` not ``1000000.0``), nil is ``<nil>``, maps print as ``map[k:v]`` with sorted
keys. Python types stand for Go types: ``None`` nil, ``bool``, ``int``, ``float`` float64, ``str``, ``dict``
``map[string]interface {}``, ``list`` ``[]interface {}``.
"""
from __future__ import annotations

import math
import re
import struct
import unicodedata
from typing import Any

from workers.serialize.gojson import format_g, shortest_digits
from workers.templates.govalues import GoStruct, go_bytes, go_type_name
from workers.templates.sizes import check_string, joined

__all__ = ["format_float_verb", "format_value", "go_type_name", "quote", "quote_rune", "sprint", "sprintf", "sprintln"]

_PLAIN_ASCII = re.compile(r'[ !#-\[\]-~]*\Z')  # printable ASCII except '"' and '\\': quoted as is
_SIMPLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                   '"': '\\"', "\\": "\\\\"}


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
        elif 0xDC80 <= r <= 0xDCFF:  # a byte that is not UTF-8 (carried as a surrogate escape): Go prints \xNN
            out.append(f"\\x{r - 0xDC00:02x}")
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
    if isinstance(v, GoStruct):
        return "{" + " ".join(format_value(f) for f in v.field_values()) + "}"
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
    return joined("", parts, "print")


def sprintln(*args: Any) -> str:
    """Go ``fmt.Sprintln``: operands always space-separated, newline appended."""
    parts = [format_value(a) for a in args]
    check_string(sum(map(len, parts)) + max(len(parts), 1), "println")  # the spaces and the newline
    return " ".join(parts) + "\n"


class _Spec:
    """Flags, width and precision of one directive (Go's ``fmt.fmtFlags`` plus ``wid``/``prec``)."""

    __slots__ = ("minus", "plus", "sharp", "space", "zero", "sharp_v", "plus_v", "width", "prec")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = self.sharp_v = self.plus_v = False
        self.width: int | None = None
        self.prec: int | None = None


def _padding(spec: _Spec, n: int) -> str:
    if n <= 0:
        return ""
    return ("0" if spec.zero and not spec.minus else " ") * n


def _pad(spec: _Spec, body: str) -> str:
    """Go's ``fmt.pad``: width counts runes; zero padding only to the left, and only when the caller allows it."""
    if not spec.width:
        return body
    fill = _padding(spec, spec.width - len(body))
    return body + fill if spec.minus else fill + body


def _pad_spaces(spec: _Spec, body: str) -> str:
    """``pad`` with the zero flag ignored (strings with precision, %c, %U, Inf/NaN, integers)."""
    zero, spec.zero = spec.zero, False
    try:
        return _pad(spec, body)
    finally:
        spec.zero = zero


def _fmt_integer(v: int, signed: bool, base: int, verb: str, spec: _Spec, upper: bool = False) -> str:
    negative = signed and v < 0
    u = -v if negative else v
    prec = 0
    if spec.prec is not None:
        prec = spec.prec
        if prec == 0 and u == 0:
            return _padding(_Spec(), spec.width or 0)  # padding with spaces only
    elif spec.zero and not spec.minus and spec.width is not None:
        prec = spec.width
        if negative or spec.plus or spec.space:
            prec -= 1
    digits = {10: "{:d}", 16: "{:x}", 8: "{:o}", 2: "{:b}"}[base].format(u)
    if upper:
        digits = digits.upper()
    if len(digits) < prec:
        digits = "0" * (prec - len(digits)) + digits
    if spec.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if upper else "0x") + digits
    if verb == "O":
        digits = "0o" + digits
    if negative:
        digits = "-" + digits
    elif spec.plus:
        digits = "+" + digits
    elif spec.space:
        digits = " " + digits
    return _pad_spaces(spec, digits)


def _rune(v: int) -> str:
    return chr(v) if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else "\ufffd"


def quote_rune(r: str, ascii_only: bool = False) -> str:
    """Go ``strconv.QuoteRune``: a single-quoted Go rune literal."""
    if r == "'":
        return "'\\''"
    if r == '"':
        return "'\"'"
    return "'" + quote(r, ascii_only)[1:-1] + "'"


def _fmt_unicode(v: int, spec: _Spec) -> str:
    u = v & 0xFFFFFFFFFFFFFFFF
    prec = spec.prec if spec.prec is not None and spec.prec > 4 else 4
    text = "U+" + f"{u:X}".rjust(prec, "0")
    if spec.sharp and u <= 0x10FFFF and _is_go_print(_rune(u)) and not 0xD800 <= u <= 0xDFFF:
        text += " '" + chr(u) + "'"
    return _pad_spaces(spec, text)


def _is_go_print(c: str) -> bool:
    return c == " " or (c.isprintable() and unicodedata.category(c)[0] != "Z")


def _fmt_int_verb(v: int, verb: str, spec: _Spec, arg: Any) -> str:
    go_type = go_type_name(arg)
    signed = not go_type.startswith("uint")
    if not signed:
        v &= 0xFFFFFFFFFFFFFFFF
    if verb == "v":
        if spec.sharp_v and not signed:
            sharp, spec.sharp = spec.sharp, True
            try:
                return _fmt_integer(v, False, 16, "x", spec)
            finally:
                spec.sharp = sharp
        return _fmt_integer(v, signed, 10, verb, spec)
    if verb == "d":
        return _fmt_integer(v, signed, 10, verb, spec)
    if verb == "b":
        return _fmt_integer(v, signed, 2, verb, spec)
    if verb in "oO":
        return _fmt_integer(v, signed, 8, verb, spec)
    if verb == "x":
        return _fmt_integer(v, signed, 16, verb, spec)
    if verb == "X":
        return _fmt_integer(v, signed, 16, verb, spec, upper=True)
    if verb == "c":
        return _pad(spec, _rune(v))
    if verb == "q":
        return _pad(spec, quote_rune(_rune(v), ascii_only=spec.plus))
    if verb == "U":
        return _fmt_unicode(v, spec)
    return _bad_verb(verb, arg, spec)


def _hex_float(v: float, prec: int, upper: bool) -> str:
    """``strconv.FormatFloat(v, 'x', prec, 64)``: ``0x1.8p+01``; ``prec`` -1 is the shortest exact form."""
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    v = abs(v)
    if v == 0:
        mant, exp = 0, 0
    else:
        m, e = math.frexp(v)  # v = m * 2**e, 0.5 <= m < 1
        mant = int(m * (1 << 53))  # 53 significant bits, leading bit set
        exp = e - 1
    frac = mant & ((1 << 52) - 1)
    lead = mant >> 52
    if prec < 0:
        digits = f"{frac:013x}".rstrip("0")
    elif prec >= 13:
        digits = f"{frac:013x}" + "0" * (prec - 13)
    else:
        shift = 52 - 4 * prec
        kept = frac >> shift
        rest = frac & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and kept & 1):
            kept += 1
        if kept >> (4 * prec):  # rounded up into the leading digit
            lead += 1
            kept = 0
            if lead == 2:
                lead, exp = 1, exp + 1
        digits = f"{kept:0{prec}x}" if prec else ""
    text = f"0x{lead}" + ("." + digits if digits else "") + ("p+" if exp >= 0 else "p-") + f"{abs(exp):02d}"
    return sign + (text.upper() if upper else text)


def _binary_float(v: float) -> str:
    """``strconv.FormatFloat(v, 'b', -1, 64)``: decimal mantissa and binary exponent (``4503599627370496p-52``)."""
    bits = struct.unpack("<Q", struct.pack("<d", v))[0]
    sign = "-" if bits >> 63 else ""
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp = 1
    else:
        mant |= 1 << 52
    exp -= 1075
    return f"{sign}{mant}p{'+' if exp >= 0 else '-'}{abs(exp)}"


def format_float_verb(v: float, verb: str, prec: int) -> str:
    """``strconv.FormatFloat(v, verb, prec, 64)`` for verbs e E f g G x X b (prec -1: shortest)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if verb in "xX":
        return _hex_float(v, prec, verb == "X")
    if verb == "b":
        return _binary_float(v)
    if prec < 0:
        if verb in "gG":
            text = format_g(v)
            return text.upper() if verb == "G" else text
        digits, dp = shortest_digits(v)
        sign = "-" if math.copysign(1.0, v) < 0 else ""
        if verb == "f":
            if digits == "0":
                return sign + "0"
            if dp <= 0:
                return sign + "0." + "0" * -dp + digits
            if dp >= len(digits):
                return sign + digits + "0" * (dp - len(digits))
            return sign + digits[:dp] + "." + digits[dp:]
        exp = dp - 1 if digits != "0" else 0
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}{'e' if verb == 'e' else 'E'}{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if verb in "gG":
        text = f"{v:.{max(prec, 1)}{verb.lower()}}"
        return text.upper() if verb == "G" else text
    return f"{v:.{prec}{verb}}"


def _fmt_float(v: float, verb: str, spec: _Spec, arg: Any) -> str:
    if verb == "v":
        fverb, prec = "g", -1
    elif verb in "bgGxX":
        fverb, prec = verb, -1
    elif verb in "feE":
        fverb, prec = verb, 6
    elif verb == "F":
        fverb, prec = "f", 6
    else:
        return _bad_verb(verb, arg, spec)
    if spec.prec is not None:
        prec = spec.prec
    num = format_float_verb(v, fverb, prec)
    num = num if num[0] in "+-" else "+" + num
    if spec.space and num[0] == "+" and not spec.plus:
        num = " " + num[1:]
    if num[1] in "IN":
        if num[1] == "N" and not spec.space and not spec.plus:
            num = num[1:]
        return _pad_spaces(spec, num)
    if spec.sharp and fverb != "b":
        num = _sharp_float(num, fverb, prec)
    if spec.plus or num[0] != "+":
        if spec.zero and not spec.minus and spec.width is not None and spec.width > len(num):
            return num[0] + "0" * (spec.width - len(num)) + num[1:]
        return _pad(spec, num)
    return _pad(spec, num[1:])


def _sharp_float(num: str, verb: str, prec: int) -> str:
    """The ``#`` flag: always a decimal point, trailing zeros kept up to the precision for %g/%x."""
    digits = 0
    if verb in "vgGx":
        digits = 6 if prec == -1 else prec
    tail = ""
    has_point = False
    saw_nonzero = False
    body = [num[0]]
    i = 1
    while i < len(num):
        c = num[i]
        if c == ".":
            has_point = True
        elif c in "pP" or (c in "eE" and verb not in "xX"):
            tail = num[i:]
            break
        else:
            if c != "0":
                saw_nonzero = True
            if saw_nonzero:
                digits -= 1
        body.append(c)
        i += 1
    text = "".join(body)
    if not has_point:
        if len(text) == 2 and text[1] == "0":
            digits -= 1
        text += "."
    if digits > 0:
        text += "0" * digits
    return text + tail


def _truncate(s: str, spec: _Spec) -> str:
    return s[:spec.prec] if spec.prec is not None else s


def _fmt_hex_string(s: str, spec: _Spec, upper: bool) -> str:
    data = go_bytes(s)
    if spec.prec is not None:
        data = data[:spec.prec]
    if not data:
        return _padding(spec, spec.width or 0) if spec.width else ""
    prefix = "0X" if upper else "0x"
    hexes = [f"{b:02X}" if upper else f"{b:02x}" for b in data]
    if spec.space:
        text = " ".join((prefix + h) if spec.sharp else h for h in hexes)
    else:
        text = (prefix if spec.sharp else "") + "".join(hexes)
    if spec.width and spec.width > len(text):
        fill = " " * (spec.width - len(text)) if spec.minus or not spec.zero else "0" * (spec.width - len(text))
        return text + fill if spec.minus else fill + text
    return text


def _fmt_q(s: str, spec: _Spec) -> str:
    s = _truncate(s, spec)
    if spec.sharp and _can_backquote(s):
        return _pad(spec, "`" + s + "`")
    return _pad(spec, quote(s, ascii_only=spec.plus))


def _can_backquote(s: str) -> bool:
    return all(c == "\t" or (c >= " " and c not in "`\x7f\ufeff" and not 0xD800 <= ord(c) <= 0xDFFF) for c in s)


def _fmt_string(s: str, verb: str, spec: _Spec, arg: Any) -> str:
    if verb == "v":
        return _fmt_q(s, spec) if spec.sharp_v else _pad(spec, _truncate(s, spec))
    if verb == "s":
        return _pad(spec, _truncate(s, spec))
    if verb in "xX":
        return _fmt_hex_string(s, spec, verb == "X")
    if verb == "q":
        return _fmt_q(s, spec)
    return _bad_verb(verb, arg, spec)


def _bad_verb(verb: str, arg: Any, spec: _Spec | None = None) -> str:
    """``%!verb(type=value)``; Go prints the value with the directive's flags, width and precision still set."""
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(arg)}={_print_arg(arg, 'v', spec or _Spec())})"


def _print_arg(arg: Any, verb: str, spec: _Spec, depth: int = 0) -> str:
    """Go's ``printArg``/``printValue``: one operand under one verb, composites element-wise."""
    if arg is None:
        if depth > 0:  # a nil interface inside a map or slice
            return "interface {}(nil)" if spec.sharp_v else "<nil>"
        return _pad(spec, "<nil>") if verb in "Tv" else _bad_verb(verb, None, spec)
    if verb == "T":
        return _pad(spec, go_type_name(arg))
    if isinstance(arg, str):
        return _fmt_string(arg, verb, spec, arg)
    if isinstance(arg, bool):
        return _pad(spec, "true" if arg else "false") if verb in "tv" else _bad_verb(verb, arg, spec)
    if isinstance(arg, int):
        return _fmt_int_verb(arg, verb, spec, arg)
    if isinstance(arg, float):
        return _fmt_float(arg, verb, spec, arg)
    if isinstance(arg, dict):
        items = [f"{_print_arg(k, verb, spec, depth + 1)}:{_print_arg(arg[k], verb, spec, depth + 1)}"
                 for k in sorted(arg)]
        if spec.sharp_v:
            return go_type_name(arg) + "{" + ", ".join(items) + "}"
        return "map[" + " ".join(items) + "]"
    if isinstance(arg, (list, tuple)):
        items = [_print_arg(e, verb, spec, depth + 1) for e in arg]
        if spec.sharp_v:
            return go_type_name(arg) + "{" + ", ".join(items) + "}"
        return "[" + " ".join(items) + "]"
    if isinstance(arg, GoStruct):
        if spec.sharp_v or spec.plus_v:
            fields = [f"{name}:{_print_arg(value, verb, spec, depth + 1)}"
                      for name, value in zip(arg.go_fields, arg.field_values())]
            return (go_type_name(arg) + "{" + ", ".join(fields) + "}") if spec.sharp_v else \
                "{" + " ".join(fields) + "}"
        return "{" + " ".join(_print_arg(f, verb, spec, depth + 1) for f in arg.field_values()) + "}"
    if verb in "vsxXq":  # a Stringer (time.Time, semver.Version): its String() under the verb
        return _fmt_string(str(arg), verb, spec, arg)
    return _bad_verb(verb, arg, spec)


def _parse_num(fmt: str, i: int, end: int) -> tuple[int | None, int]:
    """Go's ``parsenum``: a decimal number at ``fmt[i:end]`` (None if absent or absurdly large)."""
    num, start = 0, i
    while i < end and "0" <= fmt[i] <= "9":
        if num > 1_000_000:
            return None, end
        num = num * 10 + ord(fmt[i]) - 48
        i += 1
    return (num if i > start else None), i


def _int_from_arg(args: tuple, argi: int) -> tuple[int | None, int]:
    """A ``*`` width/precision operand: an integer within +-1e6, else None (``%!(BADWIDTH)``)."""
    if argi >= len(args):
        return None, argi
    a = args[argi]
    if isinstance(a, int) and not isinstance(a, bool) and -1_000_000 <= a <= 1_000_000:
        return int(a), argi + 1
    return None, argi + 1


class _Cursor:
    """Argument position of one Sprintf (explicit ``[n]`` indexes move it)."""

    def __init__(self, nargs: int) -> None:
        self.argi = 0
        self.nargs = nargs
        self.reordered = False
        self.good = True

    def arg_number(self, fmt: str, i: int) -> tuple[int, bool]:
        """Go's ``argNumber``: an explicit ``[n]`` at ``fmt[i]`` moves the cursor; returns (new i, found)."""
        if i >= len(fmt) or fmt[i] != "[":
            return i, False
        self.reordered = True
        index, width, ok = _parse_arg_number(fmt[i:])
        if ok and 0 <= index < self.nargs:
            self.argi = index
            return i + width, True
        self.good = False
        return i + width, ok


def _parse_arg_number(s: str) -> tuple[int, int, bool]:
    """Go's ``parseArgNumber``: (zero-based index, length consumed, ok) of a leading ``[n]``."""
    if len(s) < 3:
        return 0, 1, False
    close = s.find("]", 1)
    if close < 0:
        return 0, 1, False
    num, j = _parse_num(s, 1, close)
    if num is None or j != close:
        return 0, close + 1, False
    return num - 1, close + 1, True


def sprintf(fmt: str, *args: Any) -> str:
    """Go ``fmt.Sprintf``: every verb, flag, width, precision, ``*`` and ``[n]`` argument index of Go's fmt on our
    values, with Go's in-band errors (``%!d(string=x)``, ``%!s(MISSING)``, ``%!(NOVERB)``, ``%!(EXTRA ...)``)."""
    out: list[str] = []
    cur = _Cursor(len(args))
    i, end = 0, len(fmt)
    while i < end:
        cur.good = True
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < end and fmt[i] in "#0+- ":
            c = fmt[i]
            if c == "#":
                spec.sharp = True
            elif c == "0":
                spec.zero = True
            elif c == "+":
                spec.plus = True
            elif c == "-":
                spec.minus = True
            else:
                spec.space = True
            i += 1
        i, after_index = cur.arg_number(fmt, i)
        if i < end and fmt[i] == "*":
            i += 1
            spec.width, cur.argi = _int_from_arg(args, cur.argi)
            if spec.width is None:
                out.append("%!(BADWIDTH)")
            elif spec.width < 0:
                spec.width, spec.minus, spec.zero = -spec.width, True, False
            after_index = False
        else:
            spec.width, i = _parse_num(fmt, i, end)
            if after_index and spec.width is not None:
                cur.good = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:
                cur.good = False
            i, after_index = cur.arg_number(fmt, i)
            if i < end and fmt[i] == "*":
                i += 1
                spec.prec, cur.argi = _int_from_arg(args, cur.argi)
                if spec.prec is not None and spec.prec < 0:
                    spec.prec = None
                if spec.prec is None:
                    out.append("%!(BADPREC)")
                after_index = False
            else:
                spec.prec, i = _parse_num(fmt, i, end)
                if spec.prec is None:
                    spec.prec = 0
        if not after_index:
            i, after_index = cur.arg_number(fmt, i)
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if spec.minus:
            spec.zero = False
        if verb == "%":
            out.append("%")
        elif not cur.good:
            out.append(f"%!{verb}(BADINDEX)")
        elif cur.argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                spec.sharp_v, spec.sharp = spec.sharp, False
                spec.plus_v, spec.plus = spec.plus, False
            out.append(_print_arg(args[cur.argi], verb, spec))
            cur.argi += 1
    if not cur.reordered and cur.argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type_name(a)}={_print_arg(a, 'v', _Spec())}"
                          for a in args[cur.argi:])
        out.append(f"%!(EXTRA {extra})")
    return joined("", out, "printf")
