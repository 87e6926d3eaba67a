"""sprig's remaining families: defaults and flow control, the process environment, DNS, and URLs (Go's
``net/url`` parsing and printing rules)."""
from __future__ import annotations

import os
import random
import socket
from typing import Any

from workers.templates.errors import TemplateError

from .convert import go_empty, strval
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


@go("func(interface {}, ...interface {}) interface {}", "default")
def default(d: Any, *given: Any) -> Any:
    """``given`` unless it is missing or empty (nil, false, 0, ``""``, empty map/list), else ``d``."""
    if not given or go_empty(given[0]):
        return d
    return given[0]


@go("func(interface {}) bool", "empty")
def empty(v: Any) -> bool:
    return go_empty(v)


@go("func(...interface {}) interface {}", "coalesce")
def coalesce(*values: Any) -> Any:
    return next((v for v in values if not go_empty(v)), None)


@go("func(...interface {}) bool", "all")
def all_(*values: Any) -> bool:
    return all(not go_empty(v) for v in values)


@go("func(...interface {}) bool", "any")
def any_(*values: Any) -> bool:
    return any(not go_empty(v) for v in values)


@go("func(interface {}, interface {}, bool) interface {}", "ternary")
def ternary(if_true: Any, if_false: Any, condition: bool) -> Any:
    return if_true if condition else if_false


@go("func(string) (string, error)", "fail")
def fail(message: str) -> str:
    """Stop rendering with the template author's message (the template name and line are added by the caller)."""
    raise TemplateError("", None, None, f"error calling fail: {strval(message)}")


@go("func(string) string", "env")
def env(key: str) -> str:
    """sprig's ``env`` (Istio's two-argument ``env`` replaces it in Istio's map)."""
    return os.environ.get(key, "")


def _special_var(c: str) -> bool:
    return c in "*#$@!?-0123456789"


def _alnum(c: str) -> bool:
    return c == "_" or ("0" <= c <= "9") or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _shell_name(s: str) -> tuple[str, int]:
    """Go's ``getShellName``: (name, characters consumed) after a ``$``."""
    if s[0] == "{":
        if len(s) > 2 and _special_var(s[1]) and s[2] == "}":
            return s[1], 3
        close = s.find("}", 1)
        if close == 1:
            return "", 2
        if close < 0:
            return "", 1
        return s[1:close], close + 1
    if _special_var(s[0]):
        return s[0], 1
    i = 0
    while i < len(s) and _alnum(s[i]):
        i += 1
    return s[:i], i


@go("func(string) string", "expandenv")
def expandenv(s: str) -> str:
    """``os.ExpandEnv``: ``$VAR`` and ``${VAR}`` replaced by the environment (unset is empty)."""
    out: list[str] = []
    i = j = 0
    changed = False
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            changed = True
            out.append(s[i:j])
            name, width = _shell_name(s[j + 1:])
            if name == "" and width > 0:
                pass
            elif name == "":
                out.append("$")
            else:
                out.append(os.environ.get(name, ""))
            j += width
            i = j + 1
        j += 1
    if not changed:
        return s
    return "".join(out) + s[i:]


@go("func(string) string", "getHostByName")
def get_host_by_name(name: str) -> str:
    """One address of the name, chosen at random; an unresolvable name is Go's index panic."""
    try:
        addrs = sorted({info[4][0] for info in socket.getaddrinfo(name, None)})
    except (OSError, UnicodeError):
        addrs = []
    if not addrs:
        raise IndexError("runtime error: index out of range [0] with length 0")
    return random.choice(addrs)


# ---- URLs ------------------------------------------------------------------------------------------------------

class UrlError(ValueError):
    pass


_HEX = "0123456789ABCDEF"


def _should_escape(c: int, mode: str) -> bool:
    """Go's ``shouldEscape`` for the modes urlParse/urlJoin use."""
    ch = chr(c)
    if ch.isascii() and ch.isalnum():
        return False
    if mode == "host" and ch in "!$&'()*+,;=:[]<>\"":
        return False
    if ch in "-_.~":
        return False
    if ch in "$&+,/:;=?@":
        return {"path": ch == "?", "user": ch in "@/?:", "fragment": False}[mode]
    if mode == "fragment" and ch in "!()*":
        return False
    return True


def _escape(s: str, mode: str) -> str:
    out = []
    for b in s.encode("utf-8", "surrogateescape"):
        if _should_escape(b, mode):
            out.append("%" + _HEX[b >> 4] + _HEX[b & 15])
        else:
            out.append(chr(b))
    return "".join(out)


def _unescape(s: str, mode: str) -> str:
    data = s.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x25:  # '%'
            hexpart = data[i + 1:i + 3]
            if len(hexpart) < 2 or not all(chr(h) in "0123456789abcdefABCDEF" for h in hexpart):
                raise UrlError(f"invalid URL escape {data[i:i + 3].decode(errors='replace')!r}")
            out.append(int(hexpart, 16))
            i += 3
            continue
        if mode == "host" and c < 0x80 and _should_escape(c, "host"):
            raise UrlError(f"invalid character {chr(c)!r} in host name")
        out.append(c)
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _scheme(raw: str) -> tuple[str, str]:
    for i, c in enumerate(raw):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                raise UrlError("missing protocol scheme")
            return raw[:i], raw[i + 1:]
        return "", raw
    return "", raw


def _parse_host(host: str) -> str:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise UrlError("missing ']' in host")
        port = host[close + 1:]
        if port and (port[0] != ":" or not all(c.isdigit() for c in port[1:])):
            raise UrlError(f"invalid port {port!r} after host")
        return host[:close + 1] + port
    colon = host.rfind(":")
    if colon >= 0:
        port = host[colon:]
        if not all(c.isascii() and c.isdigit() for c in port[1:]):
            raise UrlError(f"invalid port {port!r} after host")
    return _unescape(host, "host")


class _Url:
    def __init__(self) -> None:
        self.scheme = self.opaque = self.host = self.path = self.raw_query = self.fragment = ""
        self.user: tuple[str, str | None] | None = None
        self.force_query = False


def parse_url(raw: str) -> _Url:
    """``url.Parse``."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise UrlError("net/url: invalid control character in URL")
    raw, _, frag = raw.partition("#")
    url = _Url()
    url.fragment = _unescape(frag, "fragment")
    if raw == "*":
        url.path = "*"
        return url
    scheme, rest = _scheme(raw)
    url.scheme = scheme.lower()
    if rest.endswith("?") and rest.count("?") == 1:
        url.force_query, rest = True, rest[:-1]
    else:
        rest, _, url.raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if url.scheme:
            url.opaque = rest
            return url
        if ":" in rest.partition("/")[0]:
            raise UrlError("first path segment in URL cannot contain colon")
    if (url.scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        at = authority.rfind("@")
        url.host = _parse_host(authority[at + 1:] if at >= 0 else authority)
        if at >= 0:
            info = authority[:at]
            name, colon, password = info.partition(":")
            url.user = (_unescape(name, "user"), _unescape(password, "user") if colon else None)
    url.path = _unescape(rest, "path")
    return url


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    colon = host.rfind(":")
    return host[:colon] if colon >= 0 and "]" not in host[colon:] else host


def _user_text(user: tuple[str, str | None]) -> str:
    name, password = user
    text = _escape(name, "user")
    return text + (":" + _escape(password, "user") if password is not None else "")


@go("func(string) map[string]interface {}", "urlParse")
def url_parse(v: str) -> dict[str, Any]:
    try:
        url = parse_url(v)
    except UrlError as exc:
        raise UrlError(f"unable to parse url: parse {v!r}: {exc}") from None
    return {"scheme": url.scheme, "host": url.host, "hostname": _hostname(url.host), "path": url.path,
            "query": url.raw_query, "opaque": url.opaque, "fragment": url.fragment,
            "userinfo": _user_text(url.user) if url.user else ""}


def _string_field(d: dict[str, Any] | None, key: str) -> str:
    value = (d or {}).get(key, "")
    if key in (d or {}) and not isinstance(value, str):
        raise TypeError(f"unable to parse {key} key, must be of type string, but {type(value).__name__} found")
    return value if isinstance(value, str) else strval(value)


@go("func(map[string]interface {}) string", "urlJoin")
def url_join(d: dict[str, Any] | None) -> str:
    """``url.URL{...}.String()`` of the dict's parts."""
    scheme, host, path = _string_field(d, "scheme"), _string_field(d, "host"), _string_field(d, "path")
    query, opaque, fragment = _string_field(d, "query"), _string_field(d, "opaque"), _string_field(d, "fragment")
    userinfo = _string_field(d, "userinfo")
    user = None
    if userinfo:
        user = parse_url(f"proto://{userinfo}@host").user
    out = []
    if scheme:
        out.append(scheme + ":")
    if opaque:
        out.append(opaque)
    else:
        if scheme or host or user:
            if host or path or user:
                out.append("//")
            if user:
                out.append(_user_text(user) + "@")
            if host:
                out.append(_escape(host, "host"))
        escaped_path = _escape(path, "path")
        if escaped_path and escaped_path[0] != "/" and host:
            out.append("/")
        if not out and ":" in escaped_path.partition("/")[0]:
            out.append("./")
        out.append(escaped_path)
    if query:
        out.append("?" + query)
    if fragment:
        out.append("#" + _escape(fragment, "fragment"))
    return "".join(out)


__all__ = ["SPRIG"]
