"""Go text/template -> Jinja2 translation, so Istio's injection templates run in our Jinja environment.

``translate(name, source)`` parses with Go's grammar and checks (a parse error or an unknown function is a
``TemplateError`` naming template, line and column) and returns Jinja2 source that needs ``runtime.GLOBALS`` (and
the ``loopcontrols`` extension when the template uses break/continue). Render it with the template data dict as
the context (``template.render(data)``): its keys are the Go field names of the root dot.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

from workers.templates.funcs.registry import GoSignature

from .emitter import BUILTINS, emit
from .parser import parse

__all__ = ["translate"]


def translate(name: str, source: str, functions: Collection[str] | Mapping[str, GoSignature] | None = None) -> str:
    """Jinja2 source for Go template ``source``; ``functions`` (default: the function map's signatures) may be
    called in it. With signatures, arguments are checked and converted as Go does."""
    if functions is None:
        from workers.templates.funcs import SIGNATURES
        functions = SIGNATURES
    return emit(parse(name, source, BUILTINS | set(functions)), functions)
