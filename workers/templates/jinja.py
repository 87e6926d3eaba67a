"""The Jinja2 environment every injection template runs in, and compiling a template set once for fast renders.

Go text/template conventions hold in our own Jinja templates too:
- ``{{ x }}`` prints like Go: ``15020.0`` -> ``15020``, ``true``, ``map[a:1]``; a nil or missing value prints
  ``<no value>`` (what Go's template engine prints for a nil interface / missing map key).
- Helpers keep Go's argument order. As filters the piped value goes *last*, as in a Go pipeline:
  ``{{ x | toLower | quote }}`` is ``quote(toLower(x))``. Where Jinja has a built-in filter of the same name
  (``default``, ``indent``, ``join``, ``trim``, ``first``...) the filter stays Jinja's, so Jinja authors get what Jinja documents;
  the Go helper of that name is still there as a global (``default("d", x)``).
- Missing data is lenient (``ChainableUndefined``): ``Values.a.b.c`` on a missing ``a`` is undefined and falsy.

Compiling is the expensive step (about 0.7 s for Istio's chart), so it happens once, in the config sandbox
(``workers.sandbox``); ``CompiledTemplates.export`` turns the result into marshalled code objects that every render
worker loads with ``load_compiled`` in about a millisecond. ``**`` and ``*`` are intercepted by the sandbox
environment: Jinja would otherwise fold ``{{ 7 ** 100000000 }}`` or ``{{ 'a' * 10**9 }}`` while compiling. At render
time their result size is checked before it is built, as is that of ``+``, ``%`` and ``~``
(``workers.templates.sizes``).
"""
from __future__ import annotations

import importlib
import marshal
from types import CodeType
from typing import Any, Callable, Mapping

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workers.templates.errors import TemplateError, TemplateLimitError
from workers.templates.funcs import FUNCS
from workers.templates.gofmt import format_value
from workers.templates.sizes import check_list, check_string, joined

__all__ = ["CompiledTemplates", "compile_templates", "load_compiled", "make_environment"]

_RUNTIME_MODULE = "workers.templates.gotemplate.runtime"
_NO_VALUE = "<no value>"
MAX_POWER_BITS = 100_000
"""Largest integer ``**`` may build (about 30,000 digits; Python refuses to print more than 4,300 anyway)."""


def _finalize(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None or isinstance(value, jinja2.Undefined):
        return _NO_VALUE
    return format_value(value)


def _as_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja passes the piped value first; Go pipelines pass it last."""
    def piped(value: Any, *args: Any) -> Any:
        return func(*args, value)
    piped.__name__ = func.__name__
    piped.__doc__ = func.__doc__
    return piped


def _runtime_globals() -> Mapping[str, Any]:
    """The Go-semantics helpers of the template translator, when that module is installed."""
    try:
        runtime = importlib.import_module(_RUNTIME_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (_RUNTIME_MODULE, "workers.templates.gotemplate"):
            return {}
        raise
    globals_ = getattr(runtime, "GLOBALS", None)
    return globals_ if isinstance(globals_, Mapping) else {}


class _CodeGenerator(CodeGenerator):
    """Compiles ``a ~ b``, ``a + b`` and ``a % b`` to calls of the environment's size-checked versions. Not through
    the sandbox's ``intercepted_binops``: its ``call_binop`` would triple the cost of every ``+`` of two numbers."""

    def visit_Add(self, node: nodes.Add, frame: Frame) -> None:
        self._checked("environment.checked_add", node, frame)

    def visit_Mod(self, node: nodes.Mod, frame: Frame) -> None:
        self._checked("environment.checked_format", node, frame)

    def _checked(self, function: str, node: nodes.BinExpr, frame: Frame) -> None:
        self.write(f"{function}(")
        self.visit(node.left, frame)
        self.write(", ")
        self.visit(node.right, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            super().visit_Concat(node, frame)
            return
        self.write("environment.concat_strings((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with calls of our own helpers (the function map and the translator's runtime) taken directly.

    Every call in a sandboxed template goes through ``call``: a safety check, then ``Context.call``'s checks for
    context-passing markers. A rendered sidecar makes hundreds of calls, nearly all to these helpers, which are
    safe by construction and take no context; their checks cost as much as the helpers themselves. Anything else
    (a method reached through data, a context-passing helper) still gets the sandbox's full treatment.

    ``*`` and ``**`` are intercepted: never folded at compile time, size-checked before they build at render time;
    ``+``, ``%`` and ``~`` are size-checked too (``_CodeGenerator``).
    """

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    direct: frozenset[int] = frozenset()
    """``id``s of the helpers called directly; they are held by ``globals`` for the environment's lifetime."""

    def trust_helpers(self) -> None:
        self.direct = frozenset(
            id(helper) for helper in self.globals.values()
            if callable(helper) and self.is_safe_callable(helper) and getattr(helper, "jinja_pass_arg", None) is None
            and getattr(getattr(helper, "__call__", None), "jinja_pass_arg", None) is None)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if id(__obj) not in __self.direct:
            return super().call(__context, __obj, *args, **kwargs)
        if kwargs:  # what Jinja adds for context-passing callables, and drops for the others
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:  # as Context.call
            return __self.undefined("value was undefined because a callable raised a StopIteration exception")

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        else:
            _check_repeat(left, right)
        return super().call_binop(context, operator, left, right)

    @staticmethod
    def checked_add(left: Any, right: Any) -> Any:
        """``a + b``, refused when it would join two strings or lists past the size bounds."""
        if type(left) is type(right) and isinstance(left, (str, list, tuple)):
            _check_built(left, len(left) + len(right), "'+'")
        return left + right

    @staticmethod
    def checked_format(left: Any, right: Any) -> Any:
        """``a % b``; for a string, refused when its arguments' text alone would be past the size bound (a width
        can still pad: the per-render memory allowance of the worker stops that)."""
        if type(left) is str:
            _check_format(left, right)
        return left % right

    @staticmethod
    def concat_strings(values: tuple[Any, ...]) -> str:
        """``a ~ b ~ ...``: what Jinja's concatenation returns, once its length is known to be within bounds."""
        return joined("", [value if type(value) is str else str(value) for value in values], "'~'")


def _check_power(base: Any, exponent: Any) -> None:
    if type(base) is int and type(exponent) is int and exponent > 0 and abs(base) > 1:
        if (abs(base) - 1).bit_length() * exponent > MAX_POWER_BITS:
            raise TemplateLimitError("", None, None, f"{base} ** {exponent} is too large: templates may build "
                                                     f"integers of up to {MAX_POWER_BITS} bits")


def _check_repeat(left: Any, right: Any) -> None:
    sequence, count = (left, right) if type(right) is int else (right, left)
    if type(count) is int and isinstance(sequence, (str, list, tuple)):
        _check_built(sequence, len(sequence) * count, "'*'")


def _check_format(template: str, values: Any) -> None:
    arguments = values if type(values) is tuple else values.values() if isinstance(values, dict) else (values,)
    check_string(len(template) + sum(len(value) for value in arguments if type(value) is str), "'%'")


def _check_built(sample: str | list[Any] | tuple[Any, ...], size: int, operation: str) -> None:
    if isinstance(sample, str):
        check_string(size, operation)
    else:
        check_list(size, operation)


def make_environment() -> ImmutableSandboxedEnvironment:
    """A sandboxed environment with the function map as globals and filters, and Go-style printing."""
    env = _Environment(
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_finalize,
        undefined=jinja2.ChainableUndefined,
        extensions=["jinja2.ext.loopcontrols"],  # Go's {{break}} / {{continue}}
        auto_reload=False,
    )
    env.globals.update(FUNCS)
    env.globals.update(_runtime_globals())  # the translator's helpers win over a same-named function
    env.filters.update({name: _as_filter(func) for name, func in FUNCS.items() if name not in env.filters})
    env.trust_helpers()
    return env


class _CodeLoader(jinja2.BaseLoader):
    """Serves compiled templates so they can include one another without compiling anything at render time.

    Each code object carries a unique filename, so runtime tracebacks map back to a template name and line."""

    def __init__(self, codes: Mapping[str, CodeType]) -> None:
        self.codes = dict(codes)

    def load(self, environment: jinja2.Environment, name: str,
             globals: Any = None) -> jinja2.Template:  # noqa: A002 - Jinja's parameter name
        code = self.codes.get(name)
        if code is None:
            raise jinja2.TemplateNotFound(name)
        return environment.template_class.from_code(environment, code, environment.make_globals(globals),
                                                    lambda: True)


def _filename(name: str) -> str:
    return f"<template {name}>"


class CompiledTemplates:
    """A set of templates compiled once; ``render`` only runs the compiled code."""

    def __init__(self, codes: Mapping[str, CodeType]) -> None:
        env = make_environment()
        env.loader = _CodeLoader(codes)
        self._codes = dict(codes)
        self._templates = {name: env.get_template(name) for name in codes}
        self._by_filename = {_filename(name): name for name in self._templates}
        # Jinja merges a template's globals (a ChainMap, iterated in Python) into every render's context and copies
        # their names into a set; a plain dict and a frozenset made once do both at C speed.
        self._globals = {name: dict(template.globals) for name, template in self._templates.items()}
        self._global_names = {name: frozenset(globals_) for name, globals_ in self._globals.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._templates)

    def export(self) -> bytes:
        """The compiled code, marshalled, for ``load_compiled`` in a process running this same interpreter."""
        return marshal.dumps(self._codes)

    def render(self, name: str, data: Mapping[str, Any]) -> str:
        """Render one template; any failure becomes a TemplateError naming template and line."""
        template = self._templates.get(name)
        if template is None:
            raise TemplateError(name, None, None, "no such template")
        try:
            context = new_context(template.environment, template.name, template.blocks,
                                  {**self._globals[name], **data}, shared=True, globals=self._global_names[name])
            try:
                return template.environment.concat(template.root_render_func(context))  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - as Template.render: rewrite the traceback to template lines
                template.environment.handle_exception()
        except TemplateError as exc:
            if exc.line is not None:
                raise
            where, line = self._position(exc, name)
            raise type(exc)(exc.template or where, line, exc.column, exc.message) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.name or name, exc.lineno, None, exc.message or str(exc)) from exc
        except MemoryError as exc:  # not a template error: the render worker reports it with its memory bound
            where, line = self._position(exc, name)
            raise MemoryError(str(TemplateError(where, line, None, "an allocation failed"))) from exc
        except Exception as exc:  # noqa: BLE001 - every runtime failure is reported the same way
            where, line = self._position(exc, name)
            raise TemplateError(where, line, None, _describe(exc)) from exc

    def _position(self, exc: BaseException, fallback: str) -> tuple[str, int | None]:
        """Innermost template frame of the (Jinja-rewritten) traceback."""
        where, line = fallback, None
        tb = exc.__traceback__
        while tb is not None:
            name = self._by_filename.get(tb.tb_frame.f_code.co_filename)
            if name is not None:
                where, line = name, tb.tb_lineno
            tb = tb.tb_next
        return where, line


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, jinja2.UndefinedError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _translate(name: str, source: str) -> str:
    from workers.templates.gotemplate import translate
    return translate(name, source)


def compile_templates(sources: Mapping[str, str], language: str) -> CompiledTemplates:
    """Compile every template now (``language`` ``"go"`` translates Go text/template first, ``"jinja2"`` as is)."""
    if language == "go":
        sources = {name: _translate(name, src) for name, src in sources.items()}
    elif language != "jinja2":
        raise ValueError(f"unknown template language {language!r} (expected 'go' or 'jinja2')")
    env = make_environment()
    codes = {}
    for name, source in sources.items():
        try:
            codes[name] = env.compile(source, name, _filename(name))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.name or name, exc.lineno, None, exc.message or str(exc)) from exc
    return CompiledTemplates(codes)


def load_compiled(exported: bytes) -> CompiledTemplates:
    """Templates from ``CompiledTemplates.export`` (no parsing, no compiling: the code objects run as they are)."""
    return CompiledTemplates(marshal.loads(exported))
