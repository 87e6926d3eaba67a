"""Go's ``unicode`` character classes and simple case mappings, which differ from Python's ``str`` methods
(``isspace`` accepts U+001C..U+001F, ``upper`` applies multi-character mappings such as ``ß`` -> ``SS``)."""
from __future__ import annotations

import unicodedata

__all__ = ["go_lower", "go_title_rune", "go_upper", "is_connector", "is_digit", "is_letter", "is_lower", "is_number", "is_punct",
           "is_space", "is_title", "is_upper", "lower_rune", "trim_space", "upper_rune"]

_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")
_OTHER_SPACE = frozenset("\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029"
                         "\u202f\u205f\u3000")


def is_space(c: str) -> bool:
    """``unicode.IsSpace``."""
    return c in _LATIN1_SPACE or c in _OTHER_SPACE


def is_connector(c: str) -> bool:
    """xstrings' word connector: ``-``, ``_`` or whitespace."""
    return c == "-" or c == "_" or is_space(c)


def _category(c: str) -> str:
    return unicodedata.category(c)


def is_upper(c: str) -> bool:
    return _category(c) == "Lu"


def is_lower(c: str) -> bool:
    return _category(c) == "Ll"


def is_title(c: str) -> bool:
    return _category(c) == "Lt"


def is_letter(c: str) -> bool:
    return _category(c)[0] == "L"


def is_digit(c: str) -> bool:
    return _category(c) == "Nd"


def is_number(c: str) -> bool:
    return _category(c)[0] == "N"


def is_punct(c: str) -> bool:
    return _category(c)[0] == "P"


def upper_rune(c: str) -> str:
    """``unicode.ToUpper``: the simple (one-to-one) mapping; characters without one stay as they are."""
    u = c.upper()
    return u if len(u) == 1 else c


def lower_rune(c: str) -> str:
    """``unicode.ToLower``."""
    if c == "\u0130":
        return "i"
    u = c.lower()
    return u if len(u) == 1 else c


def go_title_rune(c: str) -> str:
    """``unicode.ToTitle``."""
    u = c.title()
    return u if len(u) == 1 else upper_rune(c)


def go_upper(s: str) -> str:
    """``strings.ToUpper``."""
    return s.upper() if s.isascii() else "".join(upper_rune(c) for c in s)


def go_lower(s: str) -> str:
    """``strings.ToLower``."""
    return s.lower() if s.isascii() else "".join(lower_rune(c) for c in s)


def trim_space(s: str) -> str:
    """``strings.TrimSpace``."""
    start, end = 0, len(s)
    while start < end and is_space(s[start]):
        start += 1
    while end > start and is_space(s[end - 1]):
        end -= 1
    return s[start:end]
