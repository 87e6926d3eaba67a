"""sprig's encodings: base64/base32 (Go's decoders, whose error text is the function's result), JSON in and
out with ``encoding/json``'s rules, and hash sums."""
from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from typing import Any

import orjson

from workers.serialize import gojson
from workers.templates.govalues import from_go_bytes, go_bytes

from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_MAP = {ord(c): i for i, c in enumerate(_B64)}
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_MAP = {ord(c): i for i, c in enumerate(_B32)}


class CorruptInput(ValueError):
    """Go's ``base64.CorruptInputError``: the offset of the first bad input byte."""

    def __init__(self, offset: int, scheme: str) -> None:
        super().__init__(f"illegal {scheme} data at input byte {offset}")


def _b64_quantum(src: bytes, si: int, out: bytearray) -> int:
    """Go's ``decodeQuantum``: decode up to 4 symbols from ``si`` (newlines skipped, padding checked)."""
    dbuf = [0, 0, 0, 0]
    dlen = 4
    j = 0
    trailing: int | None = None
    while j < 4:
        if si == len(src):
            if j == 0:
                return si
            raise CorruptInput(si - j, "base64")
        c = src[si]
        si += 1
        value = _B64_MAP.get(c)
        if value is not None:
            dbuf[j] = value
            j += 1
            continue
        if c in (0x0A, 0x0D):
            continue
        if c != 0x3D:  # '='
            raise CorruptInput(si - 1, "base64")
        if j in (0, 1):
            raise CorruptInput(si - 1, "base64")
        if j == 2:
            while si < len(src) and src[si] in (0x0A, 0x0D):
                si += 1
            if si == len(src):
                raise CorruptInput(len(src), "base64")
            if src[si] != 0x3D:
                raise CorruptInput(si - 1, "base64")
            si += 1
        while si < len(src) and src[si] in (0x0A, 0x0D):
            si += 1
        if si < len(src):
            trailing = si
        dlen = j
        break
    val = dbuf[0] << 18 | dbuf[1] << 12 | dbuf[2] << 6 | dbuf[3]
    out += bytes([(val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF])[:dlen - 1]
    if trailing is not None:
        raise CorruptInput(trailing, "base64")
    return si


def b64_decode(text: str) -> bytes:
    """``base64.StdEncoding.DecodeString``; raises CorruptInput like Go."""
    src = go_bytes(text)
    out = bytearray()
    si = 0
    while si < len(src):
        si = _b64_quantum(src, si, out)
    return bytes(out)


def _b32_decode(text: str) -> bytes:
    """``base32.StdEncoding.DecodeString`` (newlines removed first, as Go does)."""
    src = go_bytes(text).replace(b"\r", b"").replace(b"\n", b"")
    olen = len(src)
    out = bytearray()
    pos = 0
    end = False
    while pos < olen and not end:
        dbuf = [0] * 8
        dlen = 8
        j = 0
        while j < 8:
            if pos == olen:
                raise CorruptInput(olen - (olen - pos) - j, "base32")
            c = src[pos]
            pos += 1
            remaining = olen - pos
            if c == 0x3D and j >= 2 and remaining < 8:
                if remaining + j < 7:
                    raise CorruptInput(olen, "base32")
                for k in range(7 - j):
                    if remaining > k and src[pos + k] != 0x3D:
                        raise CorruptInput(olen - remaining + k - 1, "base32")
                dlen, end = j, True
                if dlen in (1, 3, 6):
                    raise CorruptInput(olen - remaining - 1, "base32")
                break
            value = _B32_MAP.get(c)
            if value is None:
                raise CorruptInput(olen - remaining - 1, "base32")
            dbuf[j] = value
            j += 1
        chunk = [
            (dbuf[0] << 3 | dbuf[1] >> 2) & 0xFF,
            (dbuf[1] << 6 | dbuf[2] << 1 | dbuf[3] >> 4) & 0xFF,
            (dbuf[3] << 4 | dbuf[4] >> 1) & 0xFF,
            (dbuf[4] << 7 | dbuf[5] << 2 | dbuf[6] >> 3) & 0xFF,
            (dbuf[6] << 5 | dbuf[7]) & 0xFF,
        ]
        out += bytes(chunk[:{8: 5, 7: 4, 5: 3, 4: 2, 2: 1}.get(dlen, 0)])
    return bytes(out)


@go("func(string) string", "b64enc")
def b64enc(s: str) -> str:
    import base64
    return base64.b64encode(go_bytes(s)).decode()


@go("func(string) string", "b64dec")
def b64dec(s: str) -> str:
    """Decoded text, or Go's error message as the result."""
    try:
        return from_go_bytes(b64_decode(s))
    except CorruptInput as exc:
        return str(exc)


@go("func(string) string", "b32enc")
def b32enc(s: str) -> str:
    import base64
    return base64.b32encode(go_bytes(s)).decode()


@go("func(string) string", "b32dec")
def b32dec(s: str) -> str:
    try:
        return from_go_bytes(_b32_decode(s))
    except CorruptInput as exc:
        return str(exc)


# ---- JSON ------------------------------------------------------------------------------------------------------

_INVALID_BYTE = re.compile("[\udc80-\udcff]")
"""A byte that is not UTF-8, as our strings hold it (a surrogate escape, see govalues.go_bytes)."""
_ESCAPE, _KEPT, _BAD = "\ufdd0", "\ufdd1", "\ufdd2"
"""Noncharacters that mark, in text handed to the JSON encoder, a byte that is not UTF-8 (escape + bad) and the
escape character itself (escape + kept): a prefix-free code, so any input string comes back unambiguously."""
_TO_MARKS = re.compile("[\ufdd0\udc80-\udcff]")
_FROM_MARKS = re.compile(b"|".join(re.escape((_ESCAPE + mark).encode()) for mark in (_KEPT, _BAD)))


def _map_strings(v: Any, pattern: re.Pattern[str], replacement: Any) -> Any:
    """``v`` with ``pattern.sub(replacement, ...)`` applied to its strings (keys too); ``v`` itself if none match."""
    if isinstance(v, str):
        return pattern.sub(replacement, v) if pattern.search(v) else v
    if isinstance(v, dict):
        return type(v)((_map_strings(k, pattern, replacement), _map_strings(x, pattern, replacement))
                       for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return type(v)(_map_strings(x, pattern, replacement) for x in v)
    return v


def valid_utf8(v: Any, replacement: str) -> Any:
    """``v`` with every byte of its strings (keys too) that is not UTF-8 replaced; ``v`` itself if it has none."""
    return _map_strings(v, _INVALID_BYTE, replacement)


def _marshal(v: Any, escape_html: bool, indent: bool) -> bytes:
    out = orjson.dumps(gojson.prepare(v), option=orjson.OPT_INDENT_2 if indent else None)
    return gojson.escape(out, escape_html)


def _to_mark(match: re.Match[str]) -> str:
    return _ESCAPE + (_KEPT if match.group() == _ESCAPE else _BAD)


def _from_mark(match: re.Match[bytes]) -> bytes:
    return _ESCAPE.encode() if match.group().endswith(_KEPT.encode()) else b"\\ufffd"


def go_json(v: Any, *, escape_html: bool = True, indent: bool = False) -> str:
    """``json.Marshal`` (or ``MarshalIndent(v, "", "  ")``); raises ValueError/TypeError where Go errors. A byte
    that is not UTF-8 is written ``\\ufffd``, as Go writes it (orjson refuses such strings: they are marked with
    noncharacters, which it writes as they are, and the marks are turned into that escape afterwards)."""
    try:
        return _marshal(v, escape_html, indent).decode()
    except orjson.JSONEncodeError:
        marked = _map_strings(gojson.plain(v), _TO_MARKS, _to_mark)
        return _FROM_MARKS.sub(_from_mark, _marshal(marked, escape_html, indent)).decode()


def _json_or_empty(v: Any, **kwargs: Any) -> str:
    try:
        return go_json(v, **kwargs)
    except (TypeError, ValueError):
        return ""


@go("func(interface {}) string", "toJson")
def to_json(v: Any) -> str:
    return _json_or_empty(v)


@go("func(interface {}) (string, error)", "mustToJson")
def must_to_json(v: Any) -> str:
    return go_json(v)


@go("func(interface {}) string", "toPrettyJson")
def to_pretty_json(v: Any) -> str:
    return _json_or_empty(v, indent=True)


@go("func(interface {}) (string, error)", "mustToPrettyJson")
def must_to_pretty_json(v: Any) -> str:
    return go_json(v, indent=True)


@go("func(interface {}) string", "toRawJson")
@go("func(interface {}) (string, error)", "mustToRawJson")
def to_raw_json(v: Any) -> str:
    """Go's Encoder with HTML escaping off (errors panic in ``toRawJson``, so both fail)."""
    return go_json(v, escape_html=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _json_number(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def parse_go_json(s: str) -> Any:
    """``json.Unmarshal`` into ``interface {}``: every number a float64; raises ValueError on bad input."""
    return json.loads(s, parse_int=_json_number, parse_float=_json_number, parse_constant=_reject_constant)


@go("func(string) interface {}", "fromJson")
def from_json(s: str) -> Any:
    try:
        return parse_go_json(s)
    except ValueError:
        return None


@go("func(string) (interface {}, error)", "mustFromJson")
def must_from_json(s: str) -> Any:
    return parse_go_json(s)


# ---- hashes ----------------------------------------------------------------------------------------------------

@go("func(string) string", "sha1sum")
def sha1sum(s: str) -> str:
    return hashlib.sha1(go_bytes(s)).hexdigest()


@go("func(string) string", "sha256sum")
def sha256sum(s: str) -> str:
    return hashlib.sha256(go_bytes(s)).hexdigest()


@go("func(string) string", "sha512sum")
def sha512sum(s: str) -> str:
    return hashlib.sha512(go_bytes(s)).hexdigest()


@go("func(string) string", "adler32sum")
def adler32sum(s: str) -> str:
    return str(zlib.adler32(go_bytes(s)))


__all__ = ["SPRIG", "b64_decode", "go_json", "parse_go_json", "valid_utf8"]
