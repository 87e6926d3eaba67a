"""How template functions are declared: each Python implementation carries its Go signature.

The signature is the ``reflect`` type string Go prints for the function (``func(int, string) string``), so the
oracle tier can compare ours with Go's one by one. The translator reads the parameter types to check and convert
arguments as Go's ``text/template`` does (literals converted to the parameter type, other values type-checked),
and the result type to type the value statically.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["FuncTable", "GoSignature", "parse_signature"]


@dataclass(frozen=True)
class GoSignature:
    """A Go function type: parameter types (the last one without its ``...`` when variadic), first result type,
    and whether a second ``error`` result exists (an error stops the template)."""
    text: str
    params: tuple[str, ...]
    variadic: bool
    result: str
    can_fail: bool

    def param(self, index: int, nargs: int) -> str | None:
        """The Go type argument ``index`` (of ``nargs``) is checked against; None past a non-variadic arity."""
        fixed = len(self.params) - (1 if self.variadic else 0)
        if index < fixed:
            return self.params[index]
        if self.variadic:
            return self.params[-1]
        return None


def _split_types(text: str) -> list[str]:
    """Top-level comma split of a Go type list (none of our types nest commas)."""
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_signature(text: str) -> GoSignature:
    """Parse ``func(a, ...b) (c, error)`` as Go's reflect prints it."""
    if not text.startswith("func(") or ")" not in text:
        raise ValueError(f"not a Go function type: {text!r}")
    close = text.index(")")
    params = _split_types(text[5:close])
    variadic = bool(params) and params[-1].startswith("...")
    if variadic:
        params[-1] = params[-1][3:]
    results_text = text[close + 1:].strip()
    if results_text.startswith("("):
        results = _split_types(results_text[1:-1])
    else:
        results = [results_text] if results_text else []
    can_fail = len(results) == 2 and results[1] == "error"
    return GoSignature(text, tuple(params), variadic, results[0] if results else "", can_fail)


class FuncTable:
    """Functions of one source (sprig or Istio) by template name, with their signatures."""

    def __init__(self) -> None:
        self.funcs: dict[str, Callable[..., Any]] = {}
        self.signatures: dict[str, GoSignature] = {}

    def go(self, signature: str, *names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the function under ``names`` with Go type ``signature``."""
        parsed = parse_signature(signature)

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            for name in names:
                if name in self.funcs:
                    raise ValueError(f"template function {name!r} registered twice")
                self.funcs[name] = func
                self.signatures[name] = parsed
            return func
        return register

    def add(self, name: str, signature: str, func: Callable[..., Any]) -> None:
        """Register an existing callable (e.g. a helper shared by two names)."""
        self.go(signature, name)(func)
