"""Go text/template -> Jinja2 translation, so Istio's injection templates run in our Jinja environment.

``translate(name, source)`` parses with Go's grammar and checks (a parse error or an unknown function is a
``TemplateError`` naming template, line and column) and returns Jinja2 source that needs ``runtime.GLOBALS`` (and
the ``loopcontrols`` extension when the template uses break/continue). Render it with the template data dict as
the context (``template.render(data)``): its keys are the Go field names of the root dot.
"""
from __future__ import annotations

from collections.abc import Collection

from .emitter import BUILTINS, emit
from .parser import parse

__all__ = ["translate"]


def translate(name: str, source: str, functions: Collection[str] | None = None) -> str:
    """Jinja2 source for Go template ``source``; ``functions`` (default: ``funcs.FUNCS``) may be called in it."""
    if functions is None:
        from workers.templates.funcs import FUNCS
        functions = FUNCS.keys()
    return emit(parse(name, source, BUILTINS | set(functions)), functions)
