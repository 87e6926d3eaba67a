"""Tokenizer for Go text/template source.

Trim markers are applied here (``{{- `` strips the whitespace before, `` -}}`` the whitespace after), so the
parser sees the final text. Literals are decoded here too, with Go's rules (``strconv.Unquote``, number syntax with
prefixes and underscores), so an int literal stays a Python ``int`` and a float literal a ``float``: Go's ``eq``
tells them apart.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

from workers.templates.errors import TemplateError

LEFT, RIGHT = "{{", "}}"
SPACE = " \t\r\n"
KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
                      "nil", "true", "false"})

# Token kinds
TEXT, LDELIM, RDELIM, FIELD, VARIABLE, IDENT, KEYWORD, STRING, NUMBER, CHAR, PIPE, LPAREN, RPAREN, DECLARE, \
    ASSIGN, COMMA, SPACE_TOK, DOT, EOF = (
        "text", "{{", "}}", "field", "variable", "identifier", "keyword", "string", "number", "char", "|", "(",
        ")", ":=", "=", ",", "space", ".", "EOF")

_NUMBER = re.compile(r"""
    [+-]?(?:
        0[xX](?:_?[0-9a-fA-F])*(?:\.(?:[0-9a-fA-F](?:_?[0-9a-fA-F])*)?)?(?:[pP][+-]?[0-9](?:_?[0-9])*)?
      | 0[bB](?:_?[01])+
      | 0[oO](?:_?[0-7])+
      | (?:[0-9](?:_?[0-9])*)?(?:\.(?:[0-9](?:_?[0-9])*)?)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?
    )i?""", re.X)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: object  # decoded literal, name, or raw text
    line: int
    col: int


class Lexer:
    """Turns one template's source into a token list (``tokens()``)."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.src = source
        self.pos = 0
        self.out: list[Token] = []
        self.paren_depth = 0
        self.newlines = [i for i, c in enumerate(source) if c == "\n"]

    # -- positions ------------------------------------------------------------------------------------------
    def where(self, pos: int) -> tuple[int, int]:
        """1-based line and column of a source offset."""
        before = bisect_left(self.newlines, pos)
        line_start = self.newlines[before - 1] + 1 if before else 0
        return before + 1, pos - line_start + 1

    def error(self, pos: int, message: str) -> TemplateError:
        line, col = self.where(pos)
        return TemplateError(self.name, line, col, message)

    def emit(self, kind: str, value: object, pos: int) -> None:
        line, col = self.where(pos)
        self.out.append(Token(kind, value, line, col))

    # -- text and delimiters --------------------------------------------------------------------------------
    def tokens(self) -> list[Token]:
        src = self.src
        trim_next = False
        while True:
            start = src.find(LEFT, self.pos)
            end = len(src) if start < 0 else start
            text_start = self.pos
            if trim_next:
                while text_start < end and src[text_start] in SPACE:
                    text_start += 1
            text_end = end
            left_trim = start >= 0 and src.startswith("-", start + 2) and start + 3 < len(src) \
                and src[start + 3] in SPACE
            if left_trim:
                while text_end > text_start and src[text_end - 1] in SPACE:
                    text_end -= 1
            if text_end > text_start:
                self.emit(TEXT, src[text_start:text_end], text_start)
            if start < 0:
                self.emit(EOF, None, len(src))
                return self.out
            self.pos = start + (4 if left_trim else 2)
            trim_next = self.action(start)

    def at_right(self) -> tuple[bool, int]:
        """Is a right delimiter (optionally `` -}}``) next? Returns (found, its length)."""
        src, p = self.src, self.pos
        if src.startswith(RIGHT, p):
            return True, 2
        if p + 1 < len(src) and src[p] in SPACE and src[p + 1] == "-" and src.startswith(RIGHT, p + 2):
            return True, 4
        return False, 0

    def action(self, start: int) -> bool:
        """Lex one ``{{ ... }}``; returns whether it ends with a right trim marker."""
        src = self.src
        if src.startswith("/*", self.pos):
            return self.comment(start, self.pos)
        self.emit(LDELIM, None, start)
        self.paren_depth = 0
        while True:
            found, length = self.at_right()
            if found:
                if self.paren_depth:
                    raise self.error(self.pos, "unclosed left paren")
                self.emit(RDELIM, None, self.pos)
                self.pos += length
                return length == 4
            if self.pos >= len(src):
                raise self.error(start, "unclosed action")
            self.inside_action()

    def comment(self, start: int, pos: int) -> bool:
        src = self.src
        close = src.find("*/", pos + 2)
        if close < 0:
            raise self.error(start, "unclosed comment")
        self.pos = close + 2
        found, length = self.at_right()
        if not found:
            raise self.error(start, "comment ends before closing delimiter")
        self.pos += length
        return length == 4

    # -- inside an action -----------------------------------------------------------------------------------
    def inside_action(self) -> None:
        src, p = self.src, self.pos
        c = src[p]
        if c in SPACE:
            q = p + 1
            while q < len(src) and src[q] in SPACE and not src.startswith("-" + RIGHT, q + 1):
                q += 1
            self.emit(SPACE_TOK, None, p)
            self.pos = q
            return
        if c == "=":
            self.emit(ASSIGN, None, p)
            self.pos += 1
        elif c == ":":
            if not src.startswith(":=", p):
                raise self.error(p, "expected :=")
            self.emit(DECLARE, None, p)
            self.pos += 2
        elif c == "|":
            self.emit(PIPE, None, p)
            self.pos += 1
        elif c == ",":
            self.emit(COMMA, None, p)
            self.pos += 1
        elif c == '"':
            self.quoted(p)
        elif c == "`":
            close = src.find("`", p + 1)
            if close < 0:
                raise self.error(p, "unterminated raw quoted string")
            self.emit(STRING, src[p + 1:close].replace("\r", ""), p)
            self.pos = close + 1
        elif c == "'":
            self.char(p)
        elif c == "$":
            q = _alnum_end(src, p + 1)
            self.emit(VARIABLE, src[p:q], p)
            self.pos = q
            self.check_terminator()
        elif c == "." and not (p + 1 < len(src) and src[p + 1].isdigit()):
            q = _alnum_end(src, p + 1)
            if q == p + 1:
                self.emit(DOT, None, p)
            else:
                self.emit(FIELD, src[p + 1:q], p)
            self.pos = q
            self.check_terminator()
        elif c in "+-.0123456789":
            self.number(p)
        elif c == "_" or (_is_ident_char(c) and not c.isdigit() and unicodedata.category(c) != "Nd"):
            word = src[p:_alnum_end(src, p)]
            self.pos = p + len(word)
            self.emit(KEYWORD if word in KEYWORDS else IDENT, word, p)
            self.check_terminator()
        elif c == "(":
            self.paren_depth += 1
            self.emit(LPAREN, None, p)
            self.pos += 1
        elif c == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise self.error(p, "unexpected right paren")
            self.emit(RPAREN, None, p)
            self.pos += 1
        else:
            raise self.error(p, f"unrecognized character in action: {c!r}")

    def check_terminator(self) -> None:
        """Go requires an identifier/field/variable to end at space, punctuation or the delimiter."""
        src, p = self.src, self.pos
        if p >= len(src) or src[p] in SPACE or src[p] in ".,|:)(=" or src.startswith(RIGHT, p):
            return
        raise self.error(p, f"bad character {src[p]!r}")

    def quoted(self, p: int) -> None:
        src = self.src
        q = p + 1
        while True:
            if q >= len(src) or src[q] == "\n":
                raise self.error(p, "unterminated quoted string")
            if src[q] == "\\":
                q += 2
                continue
            if src[q] == '"':
                break
            q += 1
        self.emit(STRING, self.unquote(src[p + 1:q], '"', p), p)
        self.pos = q + 1

    def char(self, p: int) -> None:
        src = self.src
        q = p + 1
        while True:
            if q >= len(src) or src[q] == "\n":
                raise self.error(p, "unterminated character constant")
            if src[q] == "\\":
                q += 2
                continue
            if src[q] == "'":
                break
            q += 1
        text = self.unquote(src[p + 1:q], "'", p)
        if len(text) != 1:
            raise self.error(p, f"malformed character constant: {src[p:q + 1]}")
        self.emit(CHAR, ord(text), p)
        self.pos = q + 1

    def unquote(self, body: str, quote: str, pos: int) -> str:
        """Go ``strconv.Unquote`` of the inside of a quoted string or char literal."""
        out: list[str] = []
        i = 0
        while i < len(body):
            c = body[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            if i + 1 >= len(body):
                raise self.error(pos, "invalid syntax in quoted string")
            e = body[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
            elif e == quote:
                out.append(quote)
                i += 2
            elif e in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[e]
                digits = body[i + 2:i + 2 + width]
                if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise self.error(pos, "invalid syntax in quoted string")
                code = int(digits, 16)
                if e == "x":
                    out.append(bytes([code]).decode("latin-1") if code < 0x80 else
                               bytes([code]).decode("utf-8", "surrogateescape"))
                else:
                    if code > 0x10FFFF or 0xD800 <= code < 0xE000:
                        raise self.error(pos, "invalid syntax in quoted string")
                    out.append(chr(code))
                i += 2 + width
            elif e in "01234567":
                digits = body[i + 1:i + 4]
                if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                    raise self.error(pos, "invalid syntax in quoted string")
                code = int(digits, 8)
                out.append(chr(code) if code < 0x80 else bytes([code]).decode("utf-8", "surrogateescape"))
                i += 4
            else:
                raise self.error(pos, "invalid syntax in quoted string")
        return "".join(out)

    def number(self, p: int) -> None:
        src = self.src
        m = _NUMBER.match(src, p)
        text = m.group() if m else ""
        end = p + len(text)
        if not text.lstrip("+-") or text in ("+", "-", ".") or (end < len(src) and (src[end].isalnum()
                                                                                     or src[end] == "_")):
            raise self.error(p, f"bad number syntax: {src[p:max(end, p + 1)]!r}")
        if text.endswith("i"):
            raise self.error(p, f"complex numbers are not supported: {text!r}")
        value = parse_number(text, lambda: self.error(p, f"bad number syntax: {text!r}"))
        if isinstance(value, int) and not -(1 << 63) <= value < 1 << 64:
            raise self.error(p, f"integer overflow: {text!r}")  # Go keeps no integer constant beyond 64 bits
        self.emit(NUMBER, value, p)
        self.pos = end


def parse_number(text: str, fail) -> int | float:
    """Go's number constant rules: an integer literal is an int, anything with a fraction/exponent a float."""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    try:
        lower = body.lower()
        if lower.startswith("0x"):
            if "p" in lower or "." in lower:
                return sign * float.fromhex(body)
            return sign * int(body, 16)
        if lower.startswith(("0b", "0o")):
            return sign * int(body, 0)
        if "." in body or "e" in lower:
            value = float(body)
            if value == float("inf"):
                raise fail()
            return sign * value
        if len(body) > 1 and body[0] == "0":
            return sign * int(body, 8)
        return sign * int(body)
    except ValueError:
        raise fail() from None


def _is_ident_char(c: str) -> bool:
    """Go's ``isAlphaNumeric``: underscore, Unicode letters (L*) and decimal digits (Nd)."""
    if c.isascii():
        return c.isalnum() or c == "_"
    category = unicodedata.category(c)
    return category[0] == "L" or category == "Nd"


def _alnum_end(src: str, pos: int) -> int:
    """End of the run of identifier characters starting at ``pos``."""
    while pos < len(src) and _is_ident_char(src[pos]):
        pos += 1
    return pos


def lex(name: str, source: str) -> list[Token]:
    """All tokens of ``source`` (ends with EOF); raises TemplateError on a lexical error."""
    return Lexer(name, source).tokens()
