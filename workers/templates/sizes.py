"""How large a value one template operation may build, checked before the operation builds it.

A render worker's address-space limit stops any single allocation that does not fit, but a value grown step by
step (a string doubled forty times with ``~`` or ``printf "%s%s"``) only meets that limit after the worker has
copied and touched hundreds of megabytes: about half a second of a worker, at ~460 MB resident, while other
revisions wait for it. So the operations that can multiply a value's size (concatenation, repetition, printf,
sprig's ``repeat``/``until``/``seq``/``join``/``cat``/``replace``/``indent``) compute the size of their result
first and refuse past these bounds with a TemplateLimitError naming the operation; a doubling attack then stops
after a few milliseconds and a few tens of megabytes. Within the bounds they behave exactly as Go or Jinja do.
"""
from __future__ import annotations

from workers.templates.errors import TemplateLimitError

MAX_STRING_CHARS = 16 * 1024 * 1024
"""Longest string one operation may build: several times the largest object the Kubernetes API server accepts
(3 MiB request bodies) and the largest patch this injector returns, so no real template needs more."""
MAX_LIST_ITEMS = 1_000_000
"""Longest list one operation may build (each item of ``until`` is an int object of its own: ~36 MB here)."""


def check_string(chars: int, operation: str) -> None:
    """Refuse building a string of ``chars`` characters when that is past the bound."""
    if chars > MAX_STRING_CHARS:
        raise TemplateLimitError("", None, None, f"{operation} would build a string of {chars} characters: "
                                                 f"templates may build strings of up to {MAX_STRING_CHARS}")


def joined(sep: str, parts: list[str], operation: str) -> str:
    """``sep.join(parts)``, once the length of the result is known to be within the bound."""
    check_string(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), operation)
    return sep.join(parts)


def check_list(items: int, operation: str) -> None:
    """Refuse building a list of ``items`` items when that is past the bound."""
    if items > MAX_LIST_ITEMS:
        raise TemplateLimitError("", None, None, f"{operation} would build a list of {items} items: "
                                                 f"templates may build lists of up to {MAX_LIST_ITEMS}")
