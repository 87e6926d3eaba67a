"""YAML text exactly as ``sigs.k8s.io/yaml.Marshal`` (Go JSON, then go-yaml v2) prints it.

sigs.k8s.io/yaml re-reads the Go JSON with go-yaml v2 and marshals the generic result, so every mapping is
key-sorted in go-yaml's "natural" order, integral numbers are ints and other numbers float64 printed with
``%g``. The printer below replays go-yaml's emitter (indentation, scalar style choice, folding at 80 columns)
with fast paths for the common short single-line scalars.
"""
from __future__ import annotations

import re
from functools import cmp_to_key
from typing import Any

from workers.serialize.gojson import format_g

__all__ = ["dumps", "natural_sorted"]

_BEST_WIDTH = 80
_INDENT = 2
_MAX_SIMPLE_KEY = 128

# ---------------------------------------------------------------------------------------------------------------
# Would a plain scalar resolve to something other than a string (go-yaml v2 resolve + isBase60Float)?

_RESOLVE_WORDS = frozenset(
    "y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF ~ null Null NULL "
    ".nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF".split()
)
_DIGITS = "[0-9](?:_?[0-9])*"
# strconv.ParseFloat on a string starting with '.': a Go decimal float literal.
_DOT_FLOAT = re.compile(rf"\.{_DIGITS}(?:[eE][-+]?{_DIGITS})?\Z")
# go-yaml's yamlStyleFloat, applied after underscores were removed.
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_PREFIXED_INT = re.compile(r"([-+]?)0(?:([xX])([0-9a-fA-F]+)|([oO])([0-7]+)|([bB])([01]+))\Z")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_DATE = r"[0-9]{4}-([0-9]{1,2})-([0-9]{1,2})"
_CLOCK = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?"
# The layouts go-yaml v2 tries with time.Parse: RFC 3339 with short fields (T or t), space-separated, date only.
_TIMESTAMPS = (
    re.compile(rf"{_DATE}\Z"),
    re.compile(rf"{_DATE}[Tt]{_CLOCK}(?:Z|[-+][0-9]{{2}}:[0-9]{{2}})\Z"),
    re.compile(rf"{_DATE} {_CLOCK}\Z"),
)
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1


def _is_timestamp(text: str) -> bool:
    for layout in _TIMESTAMPS:
        m = layout.match(text)
        if m is None:
            continue
        month, day = int(m[1]), int(m[2])
        if not (1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month]):
            return False
        year = int(text[:4])
        if month == 2 and day == 29 and (year % 4 or (year % 100 == 0 and year % 400)):
            return False
        return m.lastindex == 2 or (int(m[3]) < 24 and int(m[4]) < 60 and int(m[5]) < 60)
    return False


def _is_go_int(plain: str) -> bool:
    """strconv.ParseInt(plain, 0, 64) or ParseUint(plain, 0, 64) for the prefixed (hex/octal/binary) forms."""
    m = _PREFIXED_INT.match(plain)
    if m is None:
        return False
    base, digits = (16, m[3]) if m[2] else (8, m[5]) if m[4] else (2, m[7])
    value = int(digits, base)
    if m[1] == "-":
        return -value >= _INT64_MIN
    return value <= (_INT64_MAX if m[1] else _UINT64_MAX)


def _needs_quotes(s: str) -> bool:
    """True when plain ``s`` would read back as a non-string (go-yaml v2 resolve) or a base-60 float."""
    if not s or s in _RESOLVE_WORDS:
        return True
    c = s[0]
    if c == ".":
        return _DOT_FLOAT.match(s) is not None
    if not (c in "+-" or "0" <= c <= "9"):
        return False
    if ":" in s and _BASE60.match(s):
        return True
    if "-" in s and _is_timestamp(s):
        return True
    plain = s.replace("_", "") if "_" in s else s
    if _YAML_FLOAT.match(plain):
        # Decimal ints always parse as a float here; only overflowing float text stays a string.
        return float(plain) not in (float("inf"), float("-inf"))
    return _is_go_int(plain)


# ---------------------------------------------------------------------------------------------------------------
# Scalar analysis (yaml_emitter_analyze_scalar), block context only.

_BREAKS = "\n\r\x85\u2028\u2029"
_SPECIAL = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
_BREAK = re.compile("[\n\r\x85\u2028\u2029]")
_BREAK_SPACE = re.compile("[\n\r\x85\u2028\u2029] ")
_SPACE_BREAK = re.compile(" [\n\r\x85\u2028\u2029]")
_BLOCK_INDICATOR = re.compile(
    "\\A(?:[#,\\[\\]{}&*!|>'\"%@`]|[?:-](?:[ \t]|\\Z)|---|\\.\\.\\.)|:(?:[ \t]|\\Z)|[ \t\n\r\x85\u2028\u2029\x00]#"
)
_SAFE_PLAIN = re.compile(r"[A-Za-z0-9_/=+][A-Za-z0-9_./=+\-@$()]*\Z")

_PLAIN, _SINGLE, _DOUBLE, _LITERAL = range(4)


def _scalar_style(s: str, wanted: int, simple_key: bool) -> int:
    """go-yaml's analyze + select_scalar_style for a non-empty string, returning the style actually written."""
    special = _SPECIAL.search(s) is not None
    breaks = _BREAK.search(s) is not None
    if simple_key and breaks:
        return _DOUBLE
    edge_space = s[0] == " " or s[-1] == " "
    edge_break = s[0] in _BREAKS or s[-1] in _BREAKS
    break_space = breaks and _BREAK_SPACE.search(s) is not None
    space_break = breaks and _SPACE_BREAK.search(s) is not None
    style = wanted
    if style == _PLAIN:
        if special or breaks or edge_space or edge_break or break_space or _BLOCK_INDICATOR.search(s):
            style = _SINGLE
    if style == _SINGLE and (special or break_space or space_break):
        style = _DOUBLE
    if style == _LITERAL and (special or space_break or s[-1] == " " or simple_key):
        style = _DOUBLE
    return style


# ---------------------------------------------------------------------------------------------------------------
# Key order (go-yaml v2 sorter.go keyList.Less for two strings).


def _key_less(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    for i in range(n):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdecimal():
            an = an * 10 + ord(a[ai]) - 48
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdecimal():
            bn = bn * 10 + ord(b[bi]) - 48
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _key_cmp(a: str, b: str) -> int:
    if _key_less(a, b):
        return -1
    return 1 if _key_less(b, a) else 0


_NATURAL = cmp_to_key(_key_cmp)
_ORDER_CACHE: dict[tuple[str, ...], list[str]] = {}
_ORDER_CACHE_MAX = 8192


def natural_sorted(keys: Any) -> list[str]:
    """Keys in go-yaml v2 map order; results are cached per key set (pods repeat the same structs endlessly)."""
    probe = tuple(keys)
    hit = _ORDER_CACHE.get(probe)
    if hit is None:
        hit = sorted(probe, key=_NATURAL)
        if len(_ORDER_CACHE) >= _ORDER_CACHE_MAX:
            _ORDER_CACHE.clear()
        _ORDER_CACHE[probe] = hit
    return hit


_PLAIN_KEYS: dict[str, bool] = {}


def _is_plain_key(key: str) -> bool:
    """Does this mapping key print as itself, unquoted? Cached: pods repeat the same few hundred keys."""
    hit = _PLAIN_KEYS.get(key)
    if hit is None:
        if not isinstance(key, str):
            raise TypeError(f"yaml: mapping key {key!r} is not a string")
        hit = (
            len(key.encode()) <= _MAX_SIMPLE_KEY
            and not _needs_quotes(key)
            and (_SAFE_PLAIN.match(key) is not None or _scalar_style(key, _PLAIN, True) == _PLAIN)
        )
        if len(_PLAIN_KEYS) >= _ORDER_CACHE_MAX:
            _PLAIN_KEYS.clear()
        _PLAIN_KEYS[key] = hit
    return hit


# ---------------------------------------------------------------------------------------------------------------
# Numbers as they come back out of the JSON -> go-yaml round trip.


_GO_SPECIAL_FLOATS = {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}


def _format_g(x: float) -> str:
    """go-yaml's float text: Go ``%g`` with YAML spellings for infinities and NaN."""
    text = format_g(x)
    return _GO_SPECIAL_FLOATS.get(text, text)


def _number(x: Any) -> str:
    if type(x) is float:
        if x.is_integer() and abs(x) < 1e21:
            return _number(int(x))
        return _format_g(x)
    if _INT64_MIN <= x <= _UINT64_MAX:
        return str(x)
    return _format_g(float(x))


# ---------------------------------------------------------------------------------------------------------------
# The emitter: go-yaml's block-context state (column, whitespace, indention, indent) replayed over Python data.


class _Emitter:
    __slots__ = ("out", "column", "whitespace", "indention", "indent")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.indent = -1

    def write_indent(self) -> None:
        indent = self.indent if self.indent > 0 else 0
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.out.append("\n")
            self.column = 0
        if self.column < indent:
            self.out.append(" " * (indent - self.column))
            self.column = indent
        self.whitespace = True
        self.indention = True

    def indicator(self, text: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) -> None:
        if need_whitespace and not self.whitespace:
            self.out.append(" ")
            self.column += 1
        self.out.append(text)
        self.column += len(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    # -- nodes --------------------------------------------------------------------------------------------------

    def node(self, value: Any, mapping_context: bool = False) -> None:
        if isinstance(value, str):
            self.string(value, False)
        elif isinstance(value, dict):
            self.mapping(value)
        elif isinstance(value, (list, tuple)):
            self.sequence(value, mapping_context)
        elif value is None:
            self.atom("null")
        elif value is True:
            self.atom("true")
        elif value is False:
            self.atom("false")
        elif isinstance(value, (int, float)):
            self.atom(_number(value))
        else:
            raise TypeError(f"yaml: cannot marshal type {type(value).__name__}")

    def mapping(self, value: dict) -> None:
        if not value:
            self.indicator("{", True, True, False)
            self.indicator("}", False, False, False)
            return
        saved = self.indent
        self.indent = 0 if saved < 0 else saved + _INDENT
        out = self.out
        for key in natural_sorted(value):
            self.write_indent()
            if _is_plain_key(key):
                out.append(key)
                out.append(":")
                self.column += len(key) + 1
                self.whitespace = self.indention = False
            elif not _BREAK.search(key) and len(key.encode()) <= _MAX_SIMPLE_KEY:
                self.string(key, True)
                self.indicator(":", False, False, False)
            else:
                self.indicator("?", True, False, True)
                self.string(key, False)
                self.write_indent()
                self.indicator(":", True, False, True)
            self.node(value[key], True)
        self.indent = saved

    def sequence(self, value: list | tuple, mapping_context: bool) -> None:
        if not value:
            self.indicator("[", True, True, False)
            self.indicator("]", False, False, False)
            return
        saved = self.indent
        if saved < 0:
            self.indent = 0
        elif not (mapping_context and not self.indention):
            self.indent = saved + _INDENT
        for item in value:
            self.write_indent()
            self.indicator("-", True, False, True)
            self.node(item)
        self.indent = saved

    # -- scalars ------------------------------------------------------------------------------------------------

    def atom(self, text: str) -> None:
        """A plain scalar that never needs folding (numbers, booleans, null)."""
        if not self.whitespace:
            self.out.append(" ")
            self.column += 1
        self.out.append(text)
        self.column += len(text)
        self.whitespace = False
        self.indention = False

    def string(self, s: str, simple_key: bool) -> None:
        if "\n" in s:
            wanted = _LITERAL
        elif _needs_quotes(s):
            wanted = _DOUBLE
        else:
            wanted = _PLAIN
        if wanted == _DOUBLE or (wanted == _PLAIN and _SAFE_PLAIN.match(s)):
            style = wanted
        else:
            style = _scalar_style(s, wanted, simple_key)
        saved = self.indent
        self.indent = _INDENT if saved < 0 else saved + _INDENT
        allow_breaks = not simple_key
        if style == _PLAIN:
            self.plain(s, allow_breaks)
        elif style == _SINGLE:
            self.single_quoted(s, allow_breaks)
        elif style == _DOUBLE:
            self.double_quoted(s, allow_breaks)
        else:
            self.literal(s)
        self.indent = saved

    def _fits(self, s: str, allow_breaks: bool) -> bool:
        """No space of ``s`` can start past column 80, so go-yaml's folding cannot trigger."""
        return not allow_breaks or self.column + len(s) <= _BEST_WIDTH + 1 or " " not in s

    def plain(self, s: str, allow_breaks: bool) -> None:
        if not self.whitespace:
            self.out.append(" ")
            self.column += 1
        if self._fits(s, allow_breaks):
            self.out.append(s)
            self.column += len(s)
        else:
            self._folded_run(s, single=False)
        self.whitespace = False
        self.indention = False

    def single_quoted(self, s: str, allow_breaks: bool) -> None:
        self.indicator("'", True, False, False)
        if self._fits(s, allow_breaks) and not _BREAK.search(s):
            text = s.replace("'", "''")
            self.out.append(text)
            self.column += len(text)
        else:
            self._folded_run(s, single=True, allow_breaks=allow_breaks)
        self.indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def _folded_run(self, s: str, single: bool, allow_breaks: bool = True) -> None:
        """go-yaml's plain/single-quoted writer loop: fold at a lone space past column 80, keep line breaks."""
        out = self.out
        spaces = breaks = False
        n = len(s)
        for i, ch in enumerate(s):
            if ch == " ":
                nxt_space = i + 1 < n and s[i + 1] == " "
                foldable = not spaces and self.column > _BEST_WIDTH and not nxt_space
                if single:
                    foldable = foldable and 0 < i < n - 1
                if allow_breaks and foldable:
                    self.write_indent()
                else:
                    out.append(" ")
                    self.column += 1
                spaces = True
            elif ch in _BREAKS:
                if not breaks and ch == "\n":
                    out.append("\n")
                out.append(ch)
                self.column = 0
                self.indention = True
                breaks = True
            else:
                if breaks:
                    self.write_indent()
                if single and ch == "'":
                    out.append("'")
                    self.column += 1
                out.append(ch)
                self.column += 1
                self.indention = False
                spaces = breaks = False

    def double_quoted(self, s: str, allow_breaks: bool) -> None:
        self.indicator('"', True, False, False)
        out = self.out
        spaces = False
        n = len(s)
        for i, ch in enumerate(s):
            esc = _ESCAPE.get(ch)
            if esc is None and (ch in _BREAKS or ch in '"\\' or _SPECIAL.match(ch)):
                esc = _escape(ch)
            if esc is not None:
                out.append(esc)
                self.column += len(esc)
                spaces = False
            elif ch == " ":
                if allow_breaks and not spaces and self.column > _BEST_WIDTH and 0 < i < n - 1:
                    self.write_indent()
                    if s[i + 1] == " ":
                        out.append("\\")
                        self.column += 1
                else:
                    out.append(" ")
                    self.column += 1
                spaces = True
            else:
                out.append(ch)
                self.column += 1
                spaces = False
        self.indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def literal(self, s: str) -> None:
        self.indicator("|", True, False, False)
        if s[0] == " " or s[0] in _BREAKS:
            self.indicator(str(_INDENT), False, False, False)
        last = s[-1]
        if last not in _BREAKS:
            self.indicator("-", False, False, False)
        elif len(s) == 1 or s[-2] in _BREAKS:
            self.indicator("+", False, False, False)
        self.out.append("\n")
        self.column = 0
        self.indention = True
        self.whitespace = True
        breaks = True
        out = self.out
        start = 0
        # Whole lines at a time: each non-empty line is indented, break characters reset the column.
        for m in _BREAK.finditer(s):
            end = m.start()
            if end > start:
                if breaks:
                    self.write_indent()
                out.append(s[start:end])
                self.column += end - start
                self.indention = False
            ch = m.group()
            out.append(ch)
            self.column = 0
            self.indention = True
            breaks = True
            start = m.end()
        if start < len(s):
            self.write_indent()
            out.append(s[start:])
            self.column += len(s) - start
            self.indention = False


_ESCAPE = {
    "\x00": "\\0", "\x07": "\\a", "\x08": "\\b", "\t": "\\t", "\n": "\\n", "\x0b": "\\v", "\x0c": "\\f",
    "\r": "\\r", "\x1b": "\\e", '"': '\\"', "\\": "\\\\", "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P",
}


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def dumps(obj: Any) -> str:
    """``sigs.k8s.io/yaml.Marshal`` text of a JSON-like value (one document, ending in a newline)."""
    emitter = _Emitter()
    emitter.node(obj)
    emitter.indent = -1
    emitter.write_indent()
    return "".join(emitter.out)
