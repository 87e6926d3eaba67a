"""sprig's path functions: Go's ``path`` package (``filepath`` is the same on Linux, where istiod runs)."""
from __future__ import annotations

from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go


def clean(p: str) -> str:
    """``path.Clean``: the shortest equivalent path (``.``/``..`` resolved lexically, slashes collapsed)."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    parts: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    text = "/".join(parts)
    if rooted:
        return "/" + text
    return text or "."


def base(p: str) -> str:
    """``path.Base``: the last element; trailing slashes ignored; ``""`` is ``.``, all slashes ``/``."""
    if p == "":
        return "."
    p = p.rstrip("/")
    if p == "":
        return "/"
    return p[p.rfind("/") + 1:]


def dirname(p: str) -> str:
    """``path.Dir``: everything but the last element, cleaned."""
    return clean(p[:p.rfind("/") + 1])


def ext(p: str) -> str:
    """``path.Ext``: the suffix from the last dot of the last element."""
    for i in range(len(p) - 1, -1, -1):
        if p[i] == "/":
            break
        if p[i] == ".":
            return p[i:]
    return ""


def is_abs(p: str) -> bool:
    return p.startswith("/")


for _prefix in ("", "os"):
    def _name(n: str, prefix: str = _prefix) -> str:
        return prefix + n[0].upper() + n[1:] if prefix else n
    SPRIG.add(_name("base"), "func(string) string", base)
    SPRIG.add(_name("clean"), "func(string) string", clean)
    SPRIG.add(_name("ext"), "func(string) string", ext)
    SPRIG.add(_name("isAbs"), "func(string) bool", is_abs)
    SPRIG.add(_name("dir"), "func(string) string", dirname)

__all__ = ["SPRIG", "base", "clean", "dirname", "ext", "is_abs"]
