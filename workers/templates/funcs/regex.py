"""sprig's regular expression functions with Go ``regexp`` semantics, on RE2.

Go's regexp is RE2 (same syntax, leftmost-first matching, linear time, so a hostile pattern cannot make a render
backtrack for ever). What Python's ``re`` conventions would change is written here the Go way: successive matches
(an empty match right after a match is skipped), ``$1``/``${name}`` replacement templates, ``Split`` and
``QuoteMeta``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Iterator

import re2

from workers.templates.govalues import StrList, from_go_bytes, go_bytes, nil_slice

from .gochars import is_digit, is_letter
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


class RegexError(ValueError):
    """A pattern Go's ``regexp.Compile`` rejects."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    return options


_OPTIONS = _options()


@lru_cache(maxsize=256)
def compile_regex(pattern: str | bytes) -> Any:
    """The compiled pattern (cached); RegexError when it is not valid Go/RE2 syntax."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"error parsing regexp: {message}") from None


def _has_raw_bytes(s: str) -> bool:
    return not s.isascii() and any("\udc80" <= c <= "\udcff" for c in s)


def _subject(pattern: str, s: str) -> tuple[Any, str | bytes]:
    """The compiled pattern and the text to search: a string normally; Go's bytes when the string carries bytes
    that are not UTF-8 (RE2 then runs on the bytes, as Go's regexp does)."""
    if _has_raw_bytes(s) or _has_raw_bytes(pattern):
        return compile_regex(go_bytes(pattern)), go_bytes(s)
    return compile_regex(pattern), s


def _text(piece: str | bytes | None) -> str:
    if piece is None:
        return ""
    return from_go_bytes(piece) if isinstance(piece, bytes) else piece


def _matches(rx: Any, s: str | bytes, n: int) -> Iterator[Any]:
    """Go's ``allMatches``: up to ``n`` (all if negative) successive matches; an empty match adjacent to the
    previous match is skipped, and the search moves on by one character after an empty match."""
    pos, count, prev_end = 0, 0, -1
    while (n < 0 or count < n) and pos <= len(s):
        m = rx.search(s, pos)
        if m is None:
            break
        accept = True
        if m.end() == pos:  # an empty match at pos
            accept = m.start() != prev_end
            pos += 1
        else:
            pos = m.end()
        prev_end = m.end()
        if accept:
            count += 1
            yield m


@go("func(string, string) bool", "regexMatch")
def regex_match(pattern: str, s: str) -> bool:
    """A match anywhere; an invalid pattern is false."""
    try:
        rx, subject = _subject(pattern, s)
    except RegexError:
        return False
    return rx.search(subject) is not None


@go("func(string, string) (bool, error)", "mustRegexMatch")
def must_regex_match(pattern: str, s: str) -> bool:
    rx, subject = _subject(pattern, s)
    return rx.search(subject) is not None


@go("func(string, string, int) []string", "regexFindAll")
@go("func(string, string, int) ([]string, error)", "mustRegexFindAll")
def regex_find_all(pattern: str, s: str, n: int) -> StrList:
    """Up to ``n`` matches (all if negative); none is a nil list."""
    rx, subject = _subject(pattern, s)
    if n == 0:
        return nil_slice(StrList)
    found = [_text(m.group()) for m in _matches(rx, subject, n)]
    return StrList(found) if found else nil_slice(StrList)


@go("func(string, string) string", "regexFind")
@go("func(string, string) (string, error)", "mustRegexFind")
def regex_find(pattern: str, s: str) -> str:
    rx, subject = _subject(pattern, s)
    m = rx.search(subject)
    return _text(m.group()) if m else ""


def _extract(template: str) -> tuple[str, int, str] | None:
    """Go's ``extract``: (name, number or -1, rest) of a ``$name``/``${name}`` reference, None if malformed."""
    if not template:
        return None
    brace = template[0] == "{"
    body = template[1:] if brace else template
    i = 0
    while i < len(body) and (is_letter(body[i]) or is_digit(body[i]) or body[i] == "_"):
        i += 1
    if i == 0:
        return None
    name = body[:i]
    if brace:
        if i >= len(body) or body[i] != "}":
            return None
        i += 1
    num = -1
    if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1) and len(name) <= 8:
        num = int(name)
    return name, num, body[i:]


def _expand(rx: Any, template: str, m: Any) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; unknown groups are empty."""
    out: list[str] = []
    while template:
        before, sep, after = template.partition("$")
        if not sep:
            break
        out.append(before)
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        ref = _extract(template)
        if ref is None:
            out.append("$")
            continue
        name, num, template = ref
        index = num if num >= 0 else rx.groupindex.get(name, -1)
        if 0 <= index <= rx.groups and m.group(index) is not None:
            out.append(_text(m.group(index)))
    out.append(template)
    return "".join(out)


def _replace_all(rx: Any, s: str | bytes, replacement: Callable[[Any], str]) -> str:
    """Go's ``replaceAll``: no replacement for an empty match right after a previous match."""
    out: list[str] = []
    last_end, pos = 0, 0
    while pos <= len(s):
        m = rx.search(s, pos)
        if m is None:
            break
        start, end = m.span()
        out.append(_text(s[last_end:start]))
        if end > last_end or start == 0:
            out.append(replacement(m))
        last_end = end
        if pos + 1 > end:
            pos += 1
        else:
            pos = end
    out.append(_text(s[last_end:]))
    return "".join(out)


@go("func(string, string, string) string", "regexReplaceAll")
@go("func(string, string, string) (string, error)", "mustRegexReplaceAll")
def regex_replace_all(pattern: str, s: str, repl: str) -> str:
    rx, subject = _subject(pattern, s)
    return _replace_all(rx, subject, lambda m: _expand(rx, repl, m))


@go("func(string, string, string) string", "regexReplaceAllLiteral")
@go("func(string, string, string) (string, error)", "mustRegexReplaceAllLiteral")
def regex_replace_all_literal(pattern: str, s: str, repl: str) -> str:
    rx, subject = _subject(pattern, s)
    return _replace_all(rx, subject, lambda m: repl)


@go("func(string, string, int) []string", "regexSplit")
@go("func(string, string, int) ([]string, error)", "mustRegexSplit")
def regex_split(pattern: str, s: str, n: int) -> StrList:
    """Go's ``Regexp.Split``: at most ``n`` pieces (all if negative); n == 0 is a nil list."""
    rx, subject = _subject(pattern, s)
    if n == 0:
        return nil_slice(StrList)
    if pattern and s == "":
        return StrList([""])
    pieces: list[str] = []
    beg = end = 0
    for m in _matches(rx, subject, n):
        if n > 0 and len(pieces) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            pieces.append(_text(subject[beg:end]))
        beg = m.end()
    if end != len(subject):
        pieces.append(_text(subject[beg:]))
    return StrList(pieces)


_META = frozenset("\\.+*?()|[]{}^$")


@go("func(string) string", "regexQuoteMeta")
def regex_quote_meta(s: str) -> str:
    """Go's ``QuoteMeta``: a backslash before each of ``\\.+*?()|[]{}^$``."""
    return "".join("\\" + c if c in _META else c for c in s)


__all__ = ["SPRIG", "RegexError", "compile_regex"]
