"""sprig's string functions. Go strings are bytes: length, truncation and substrings count bytes (a cut inside a
multi-byte character keeps Go's bytes as surrogate escapes), and goutils' helpers that walk bytes as runes
(``initials``, ``nospace``) keep that quirk too."""
from __future__ import annotations

import random
import secrets
import string
from typing import Any

from workers.templates.gofmt import format_value, quote as go_quote
from workers.templates.govalues import StrList, StrMap, from_go_bytes, go_bytes
from workers.templates.sizes import check_string, joined

from .convert import strval
from .gochars import (go_lower, go_title_rune, go_upper, is_connector, is_digit, is_letter, is_lower, is_number,
                      is_punct, is_space, is_title, is_upper, lower_rune, trim_space, upper_rune)
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


@go("func() string", "hello")
def hello() -> str:
    return "Hello!"


@go("func(string) string", "trim")
def trim(s: str) -> str:
    return trim_space(s)


@go("func(string) string", "upper")
def upper(s: str) -> str:
    return go_upper(s)


@go("func(string) string", "lower")
def lower(s: str) -> str:
    return go_lower(s)


def _is_title_separator(c: str) -> bool:
    """``strings.Title``'s word boundary rule."""
    if c <= "\x7f":
        return not (c.isalnum() or c == "_")
    if is_letter(c) or is_digit(c):
        return False
    return is_space(c)


@go("func(string) string", "title")
def title(s: str) -> str:
    """``strings.Title``: the first letter of each word in title case."""
    out, prev = [], " "
    for c in s:
        out.append(go_title_rune(c) if _is_title_separator(prev) else c)
        prev = c
    return "".join(out)


@go("func(string) string", "untitle")
def untitle(s: str) -> str:
    """goutils ``Uncapitalize``: the first letter of each whitespace-separated word lower-cased."""
    out, next_lower = [], True
    for c in s:
        if is_space(c):
            next_lower = True
            out.append(c)
        elif next_lower:
            out.append(lower_rune(c))
            next_lower = False
        else:
            out.append(c)
    return "".join(out)


@go("func(string) string", "swapcase")
def swapcase(s: str) -> str:
    """goutils ``SwapCase``: upper/title to lower, lower to title after whitespace or at the start, else upper."""
    out, whitespace = [], True
    for c in s:
        if is_upper(c) or is_title(c):
            out.append(lower_rune(c))
            whitespace = False
        elif is_lower(c):
            out.append(go_title_rune(c) if whitespace else upper_rune(c))
            whitespace = False
        else:
            whitespace = is_space(c)
            out.append(c)
    return "".join(out)


@go("func(int, string) string", "trunc")
def trunc(c: int, s: str) -> str:
    """Byte prefix of length ``c`` (a negative ``c`` keeps the last ``-c`` bytes)."""
    data = go_bytes(s)
    if c < 0 and len(data) + c > 0:
        return from_go_bytes(data[len(data) + c:])
    if c >= 0 and len(data) > c:
        return from_go_bytes(data[:c])
    return s


def _slice_bytes(data: bytes, start: int | None, end: int | None) -> str:
    """Go's ``s[start:end]``: out-of-range bounds panic (the template then fails)."""
    lo = 0 if start is None else start
    hi = len(data) if end is None else end
    if not 0 <= lo <= hi <= len(data):
        raise IndexError(f"slice bounds out of range [{lo}:{hi}] with length {len(data)}")
    return from_go_bytes(data[lo:hi])


@go("func(int, int, string) string", "substr")
def substr(start: int, end: int, s: str) -> str:
    """Bytes ``start..end``; a negative start means from 0, a negative or too large end means to the end."""
    data = go_bytes(s)
    if start < 0:
        return _slice_bytes(data, None, end)
    if end < 0 or end > len(data):
        return _slice_bytes(data, start, None)
    return _slice_bytes(data, start, end)


@go("func(int, string) string", "repeat")
def repeat(count: int, s: str) -> str:
    """``strings.Repeat``; a negative count is Go's panic."""
    if count < 0:
        raise ValueError("strings: negative Repeat count")
    check_string(len(s) * count, "repeat")
    return s * count


@go("func(string, string) string", "trimall", "trimAll")
def trim_all(cutset: str, s: str) -> str:
    """``strings.Trim(s, cutset)``."""
    return s.strip(cutset) if cutset else s


@go("func(string, string) string", "trimSuffix")
def trim_suffix(suffix: str, s: str) -> str:
    return s.removesuffix(suffix)


@go("func(string, string) string", "trimPrefix")
def trim_prefix(prefix: str, s: str) -> str:
    return s.removeprefix(prefix)


def _latin1_runes(data: bytes) -> str:
    """Bytes written back one rune per byte (goutils walks strings byte by byte)."""
    return "".join(chr(b) for b in data)


@go("func(string) string", "nospace")
def nospace(s: str) -> str:
    """goutils ``DeleteWhiteSpace``: drops the bytes that are whitespace when read as runes."""
    data = go_bytes(s)
    kept = bytes(b for b in data if not is_space(chr(b)))
    return s if len(kept) == len(data) else _latin1_runes(kept)


@go("func(string) string", "initials")
def initials(s: str) -> str:
    """goutils ``Initials``: the first byte of every whitespace-separated word."""
    out, gap = [], True
    for b in go_bytes(s):
        if is_space(chr(b)):
            gap = True
        elif gap:
            out.append(chr(b))
            gap = False
    return "".join(out)


def _abbreviate(data: bytes, offset: int, width: int) -> bytes:
    """goutils ``AbbreviateFull`` (errors give ``""``), on bytes."""
    if not data:
        return b""
    if width < 4:
        return b""
    if len(data) <= width:
        return data
    offset = min(offset, len(data))
    if len(data) - offset < width - 3:
        offset = len(data) - (width - 3)
    if offset <= 4:
        return data[:width - 3] + b"..."
    if width < 7:
        return b""
    if offset + width - 3 < len(data):
        return b"..." + _abbreviate(data[offset:], 0, width - 3)
    return b"..." + data[len(data) - (width - 3):]


@go("func(int, string) string", "abbrev")
def abbrev(width: int, s: str) -> str:
    if width < 4:
        return s
    return from_go_bytes(_abbreviate(go_bytes(s), 0, width))


@go("func(int, int, string) string", "abbrevboth")
def abbrevboth(left: int, right: int, s: str) -> str:
    if right < 4 or (left > 0 and right < 7):
        return s
    return from_go_bytes(_abbreviate(go_bytes(s), left, right))


def _wrap(s: str, width: int, newline: str, wrap_long: bool) -> str:
    """goutils ``WrapCustom`` on bytes: break at the last space within ``width``; long words kept or cut."""
    data = go_bytes(s)
    if not data:
        return ""
    nl = go_bytes(newline or "\n")
    width = max(width, 1)
    out = bytearray()
    offset = 0
    while len(data) - offset > width:
        if data[offset] == 0x20:
            offset += 1
            continue
        space = data.rfind(b" ", offset, width + offset + 1)
        if space >= offset:
            out += data[offset:space] + nl
            offset = space + 1
        elif wrap_long:
            out += data[offset:offset + width] + nl
            offset += width
        else:
            nxt = data.find(b" ", width + offset)
            if nxt < 0:
                out += data[offset:]
                offset = len(data)
            else:
                out += data[offset:nxt] + nl
                offset = nxt + 1
    out += data[offset:]
    return from_go_bytes(bytes(out))


@go("func(int, string) string", "wrap")
def wrap(width: int, s: str) -> str:
    return _wrap(s, width, "", False)


@go("func(int, string, string) string", "wrapWith")
def wrap_with(width: int, sep: str, s: str) -> str:
    return _wrap(s, width, sep, True)


@go("func(string, string) bool", "hasPrefix")
def has_prefix(prefix: str, s: str) -> bool:
    return s.startswith(prefix)


@go("func(string, string) bool", "hasSuffix")
def has_suffix(suffix: str, s: str) -> bool:
    return s.endswith(suffix)


@go("func(...interface {}) string", "quote")
def quote(*args: Any) -> str:
    """Each non-nil argument stringified and Go-quoted, space-joined."""
    return " ".join(go_quote(strval(a)) for a in args if a is not None)


@go("func(...interface {}) string", "squote")
def squote(*args: Any) -> str:
    """Each non-nil argument in single quotes (``%v``), space-joined."""
    return " ".join(f"'{format_value(a)}'" for a in args if a is not None)


@go("func(...interface {}) string", "cat")
def cat(*args: Any) -> str:
    """Non-nil arguments printed with ``%v``, space-joined."""
    return joined(" ", [format_value(a) for a in args if a is not None], "cat")


@go("func(int, string) string", "indent")
def indent(spaces: int, s: str) -> str:
    """sprig's ``indent``: every line indented (Istio's ``indent`` replaces it in Istio's map)."""
    check_string(len(s) + (s.count("\n") + 1) * max(spaces, 0), "indent")
    pad = repeat(spaces, " ")
    return pad + s.replace("\n", "\n" + pad)


@go("func(int, string) string", "nindent")
def nindent(spaces: int, s: str) -> str:
    """A newline, then every line indented."""
    return "\n" + indent(spaces, s)


@go("func(string, string, string) string", "replace")
def replace(old: str, new: str, src: str) -> str:
    """``strings.Replace(src, old, new, -1)``; an empty ``old`` inserts ``new`` around every rune."""
    if old == "":
        check_string(len(src) + (len(src) + 1) * len(new), "replace")
        return new + new.join(src) + new if src else new
    if len(new) > len(old):
        check_string(len(src) + src.count(old) * (len(new) - len(old)), "replace")
    return src.replace(old, new)


@go("func(string, string, int) string", "plural")
def plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


@go("func(interface {}) string", "toString")
def to_string(v: Any) -> str:
    return strval(v)


@go("func(string, string) bool", "contains")
def contains(substr: str, s: str) -> bool:
    return substr in s


def go_split(s: str, sep: str, n: int = -1) -> list[str]:
    """``strings.SplitN`` (n < 0: all); an empty separator splits into runes."""
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if 0 < n < len(chars):
            chars = chars[:n - 1] + ["".join(chars[n - 1:])]
        return chars
    return s.split(sep) if n < 0 else s.split(sep, n - 1)


@go("func(string, string) map[string]string", "split")
def split(sep: str, s: str) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(go_split(s, sep)))


@go("func(string, int, string) map[string]string", "splitn")
def splitn(sep: str, n: int, s: str) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(go_split(s, sep, n)))


@go("func(string, string) []string", "splitList")
def split_list(sep: str, s: str) -> StrList:
    return StrList(go_split(s, sep))


def strslice(v: Any) -> StrList:
    """sprig's ``strslice``: a []string as is, lists stringified without nils, nil empty, scalars one item."""
    if isinstance(v, StrList):
        return v
    if isinstance(v, (list, tuple)):
        return StrList(strval(x) for x in v if x is not None)
    if v is None:
        return StrList()
    return StrList([strval(v)])


@go("func(interface {}) []string", "toStrings")
def to_strings(v: Any) -> StrList:
    return strslice(v)


@go("func(string, interface {}) string", "join")
def join(sep: str, v: Any) -> str:
    return joined(sep, strslice(v), "join")


@go("func(interface {}) []string", "sortAlpha")
def sort_alpha(v: Any) -> StrList:
    """Sorted (bytewise) strings of a list; anything else becomes a one-item list."""
    if isinstance(v, (list, tuple)):
        return StrList(sorted(strslice(v), key=go_bytes))
    return StrList([strval(v)])


# ---- xstrings case conversions ---------------------------------------------------------------------------------

def _is_alphabet(c: str) -> bool:
    """xstrings ``isAlphabet``: letters except the CJK ideograph blocks."""
    if not is_letter(c):
        return False
    o = ord(c)
    if o < 0x3400:
        return True
    return not (0x4E00 <= o <= 0x9FCC or 0x3400 <= o <= 0x4D85 or 0x20000 <= o <= 0x2B81D)


_INVALID, _NUMBER, _UPPER, _ALPHA, _CONNECTOR, _PUNCT, _OTHER = range(7)


def _next_word(s: str) -> tuple[int, str, str]:
    """xstrings ``nextWord``: (word type, word, rest)."""
    if not s:
        return _INVALID, "", ""
    c = s[0]
    i = 1
    if is_connector(c):
        while i < len(s) and is_connector(s[i]):
            i += 1
        return _CONNECTOR, s[:i], s[i:]
    if is_punct(c):
        while i < len(s) and is_punct(s[i]):
            i += 1
        return _PUNCT, s[:i], s[i:]
    if is_upper(c):
        if i < len(s):
            if is_upper(s[i]):
                while i < len(s) and is_upper(s[i]):
                    i += 1
                if i < len(s) and _is_alphabet(s[i]):
                    i -= 1
            elif _is_alphabet(s[i]):
                while i < len(s) and _is_alphabet(s[i]) and not is_upper(s[i]):
                    i += 1
        return _UPPER, s[:i], s[i:]
    if _is_alphabet(c):
        while i < len(s) and _is_alphabet(s[i]) and not is_upper(s[i]):
            i += 1
        return _ALPHA, s[:i], s[i:]
    if is_number(c):
        while i < len(s) and is_number(s[i]):
            i += 1
        return _NUMBER, s[:i], s[i:]
    while i < len(s) and not (is_connector(s[i]) or _is_alphabet(s[i]) or is_number(s[i])
                              or is_punct(s[i])):
        i += 1
    return _OTHER, s[:i], s[i:]


def _lower_word(out: list[str], wt: int, word: str, connector: str) -> None:
    if wt not in (_UPPER, _CONNECTOR):
        out.append(word)
        return
    for c in word:
        out.append(connector if is_connector(c) else lower_rune(c) if is_upper(c) else c)


def _separated(s: str, connector: str) -> str:
    """xstrings ``camelCaseToLowerCase``: words lower-cased and joined by ``connector``."""
    if not s:
        return ""
    out: list[str] = []
    wt, word, rest = _next_word(s)
    while rest:
        if wt != _CONNECTOR:
            _lower_word(out, wt, word, connector)
        prev, last = wt, word
        wt, word, rest = _next_word(rest)
        if prev == _NUMBER:
            while wt in (_ALPHA, _NUMBER):
                _lower_word(out, wt, word, connector)
                wt, word, rest = _next_word(rest)
            if wt not in (_INVALID, _PUNCT, _CONNECTOR):
                out.append(connector)
        elif prev == _CONNECTOR:
            _lower_word(out, prev, last, connector)
        elif prev == _PUNCT:
            pass
        else:
            if wt != _NUMBER:
                if wt not in (_CONNECTOR, _PUNCT):
                    out.append(connector)
                continue
            if not rest:
                continue
            last = word
            wt, word, rest = _next_word(rest)
            if wt != _ALPHA:
                _lower_word(out, _NUMBER, last, connector)
                if wt not in (_CONNECTOR, _PUNCT):
                    out.append(connector)
                continue
            out.append(connector)
            _lower_word(out, _NUMBER, last, connector)
            while wt in (_ALPHA, _NUMBER):
                _lower_word(out, wt, word, connector)
                wt, word, rest = _next_word(rest)
            if wt not in (_INVALID, _CONNECTOR, _PUNCT):
                out.append(connector)
    _lower_word(out, wt, word, connector)
    return "".join(out)


@go("func(string) string", "snakecase")
def snakecase(s: str) -> str:
    return _separated(s, "_")


@go("func(string) string", "kebabcase")
def kebabcase(s: str) -> str:
    return _separated(s, "-")


@go("func(string) string", "camelcase")
def camelcase(s: str) -> str:
    """xstrings ``ToPascalCase``: connectors dropped, each word capitalised, runs of capitals kept as one word."""
    if not s:
        return ""
    out: list[str] = []
    chars = list(s)
    i = 0
    first_upper = False
    r0 = ""
    while i < len(chars):
        r0 = chars[i]
        i += 1
        if not is_connector(r0):
            first_upper = is_upper(r0)
            r0 = upper_rune(r0)
            break
        out.append(r0)
    else:
        return "".join(out)
    if i >= len(chars):
        out.append(r0)
        return "".join(out)
    while i < len(chars):
        r1, r0 = r0, chars[i]
        i += 1
        if is_connector(r0) and is_connector(r1):
            out.append(r1)
            continue
        if is_connector(r1):
            first_upper = is_upper(r0)
            r0 = upper_rune(r0)
        else:
            if first_upper:
                if is_upper(r0):
                    r0 = lower_rune(r0)
                else:
                    first_upper = False
            out.append(r1)
    out.append(r0)
    return "".join(out)


# ---- random strings (checked for shape only: Go draws from crypto/rand) -------------------------------------

_LETTERS = string.ascii_letters
_ALNUM = string.ascii_letters + string.digits
_ASCII = "".join(chr(c) for c in range(32, 127))


_MAX_RUNES = 1 << 46
"""goutils builds the string in ``make([]rune, count)``, which panics past maxAlloc / 4 bytes (2**48 / 4)."""


def _random(count: int, alphabet: str) -> str:
    """``count`` characters drawn uniformly from ``alphabet`` (crypto-random bytes, those past the largest multiple
    of its length dropped), generated in C: a huge count fails at once, as in Go, instead of looping per character."""
    if count <= 0:
        return ""
    if count > _MAX_RUNES:
        raise ValueError("runtime error: makeslice: len out of range")
    keep = 256 - 256 % len(alphabet)
    table = bytes(ord(alphabet[b % len(alphabet)]) for b in range(256))
    dropped = bytes(range(keep, 256))
    out = bytearray()
    while len(out) < count:
        missing = count - len(out)
        out += secrets.token_bytes(missing + missing // 4 + 16).translate(table, dropped)
    return out[:count].decode("ascii")


@go("func(int) string", "randAlphaNum")
def rand_alpha_num(count: int) -> str:
    return _random(count, _ALNUM)


@go("func(int) string", "randAlpha")
def rand_alpha(count: int) -> str:
    return _random(count, _LETTERS)


@go("func(int) string", "randAscii")
def rand_ascii(count: int) -> str:
    return _random(count, _ASCII)


@go("func(int) string", "randNumeric")
def rand_numeric(count: int) -> str:
    return _random(count, string.digits)


@go("func(string) string", "shuffle")
def shuffle(s: str) -> str:
    chars = list(s)
    random.shuffle(chars)
    return "".join(chars)
