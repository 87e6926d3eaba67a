"""The Jinja2 environment every injection template runs in, and compiling a template set once for fast renders.

Go text/template conventions hold in our own Jinja templates too:
- ``{{ x }}`` prints like Go: ``15020.0`` -> ``15020``, ``true``, ``map[a:1]``; a nil or missing value prints
  ``<no value>`` (what Go's template engine prints for a nil interface / missing map key).
- Helpers keep Go's argument order. As filters the piped value goes *last*, as in a Go pipeline:
  ``{{ x | toLower | quote }}`` is ``quote(toLower(x))``. Where Jinja has a built-in filter of the same name
  (``default``, ``indent``, ``join``, ``trim``, ``first``...) the filter stays Jinja's, so Jinja authors get what Jinja documents;
  the Go helper of that name is still there as a global (``default("d", x)``).
- Missing data is lenient (``ChainableUndefined``): ``Values.a.b.c`` on a missing ``a`` is undefined and falsy.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workers.templates.errors import TemplateError
from workers.templates.funcs import FUNCS
from workers.templates.gofmt import format_value

__all__ = ["CompiledTemplates", "compile_templates", "make_environment"]

_RUNTIME_MODULE = "workers.templates.gotemplate.runtime"
_NO_VALUE = "<no value>"


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


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with calls of our own helpers (the function map and the translator's runtime) taken directly.

    Every call in a sandboxed template goes through ``call``: a safety check, then ``Context.call``'s checks for
    context-passing markers. A rendered sidecar makes hundreds of calls, nearly all to these helpers, which are
    safe by construction and take no context; their checks cost as much as the helpers themselves. Anything else
    (a method reached through data, a context-passing helper) still gets the sandbox's full treatment.
    """

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


class _SourceLoader(jinja2.BaseLoader):
    """Serves the (translated) sources so templates can include one another; each gets a unique filename so
    runtime tracebacks can be mapped back to a template name and line."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template not in self.sources:
            raise jinja2.TemplateNotFound(template)
        return self.sources[template], _filename(template), lambda: True


def _filename(name: str) -> str:
    return f"<template {name}>"


class CompiledTemplates:
    """A set of templates compiled once; ``render`` only runs the compiled code."""

    def __init__(self, templates: Mapping[str, jinja2.Template]) -> None:
        self._templates = dict(templates)
        self._by_filename = {_filename(name): name for name in self._templates}
        # Jinja merges a template's globals (a ChainMap, iterated in Python) into every render's context; a plain
        # dict made once merges at C speed.
        self._globals = {name: dict(template.globals) for name, template in self._templates.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._templates)

    def render(self, name: str, data: Mapping[str, Any]) -> str:
        """Render one template; any failure becomes a TemplateError naming template and line."""
        template = self._templates.get(name)
        if template is None:
            raise TemplateError(name, None, None, "no such template")
        try:
            context = template.new_context({**self._globals[name], **data}, shared=True)
            try:
                return template.environment.concat(template.root_render_func(context))  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - as Template.render: rewrite the traceback to template lines
                template.environment.handle_exception()
        except TemplateError as exc:
            if exc.line is not None:
                raise
            where, line = self._position(exc, name)
            raise TemplateError(exc.template or where, line, exc.column, exc.message) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.name or name, exc.lineno, None, exc.message or str(exc)) from exc
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
    env.loader = _SourceLoader(sources)
    compiled = {}
    for name in sources:
        try:
            compiled[name] = env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.name or name, exc.lineno, None, exc.message or str(exc)) from exc
    return CompiledTemplates(compiled)
