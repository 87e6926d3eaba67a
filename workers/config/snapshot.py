"""One revision's complete, validated configuration: an immutable snapshot with a generation number.

A snapshot is built once (parse, apply defaults, compile every template) and then only read. It pickles as its
raw texts plus parsed data plus, once the config sandbox has compiled them, its templates' compiled code
(``compiled_code``), so render workers load a generation in milliseconds instead of compiling it again.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from workers import defaults
from workers.config.errors import ConfigError
from workers.config.mesh import parse_mesh
from workers.config.model import InjectorConfig, config_from_mapping, load_config_mapping
from workers.config.values import parse_values
from workers.templates.errors import TemplateError

if TYPE_CHECKING:
    from workers.templates.jinja import CompiledTemplates


@dataclass(frozen=True)
class RevisionConfig:
    """Config, values and mesh of one revision. ``compiled`` is a per-process cache, never pickled;
    ``compiled_code`` (``CompiledTemplates.export``) travels with the snapshot."""

    revision: str
    generation: int
    config: InjectorConfig
    values: Mapping[str, Any]
    mesh: Mapping[str, Any]
    config_text: str | None = None
    values_text: str | None = None
    mesh_text: str | None = None
    mesh_patch: Mapping[str, Any] | None = None
    source: str = "embedded default"
    compiled_code: bytes | None = field(default=None, compare=False, repr=False)
    compiled: CompiledTemplates | None = field(default=None, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["compiled"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def templates(self) -> CompiledTemplates:
        """Compiled templates: loaded from ``compiled_code`` when it is there, else compiled, on first use."""
        if self.compiled is None:
            object.__setattr__(self, "compiled", _compile(self.config, self.compiled_code))
        return self.compiled  # type: ignore[return-value]

    def with_compiled_code(self) -> RevisionConfig:
        """This snapshot carrying its templates' compiled code (compiled now if it is not yet)."""
        if self.compiled_code is not None:
            return self
        return dataclasses.replace(self, compiled_code=self.templates().export())

    def reusing_code_of(self, other: object) -> RevisionConfig:
        """This snapshot with ``other``'s compiled code when both hold the very same templates, so a change of
        values, mesh or selectors (or a second revision on the same chart) is not compiled again."""
        code = getattr(other, "compiled_code", None)
        if (self.compiled_code is None and code is not None and isinstance(other, RevisionConfig)
                and other.config.template_language == self.config.template_language
                and other.config.templates == self.config.templates):
            return dataclasses.replace(self, compiled_code=code)
        return self


def _compile(config: InjectorConfig, code: bytes | None) -> CompiledTemplates:
    try:
        return _compiled_set(config.template_language, tuple(sorted(config.templates.items())), code)
    except TemplateError as exc:
        raise ConfigError(f"templates.{exc.template}", str(exc)) from exc


@functools.lru_cache(maxsize=16)
def _compiled_set(language: str, sources: tuple[tuple[str, str], ...], code: bytes | None) -> CompiledTemplates:
    """Compiling Istio's templates takes most of a second, and most config changes (values, mesh, selectors) leave
    them untouched: a new generation with the same sources reuses the compiled set. Sharing is safe because
    compiled templates hold no per-config state (render caches live in the Injector of each generation). Failures
    are not cached; the size covers a few revisions' worth of sets. ``code`` is the set compiled elsewhere.

    Imported here, not at the top: the server builds and ships snapshots but never renders, so Jinja and the
    function map (~15 MB) stay out of it (``tests/unit/test_import_boundary.py``)."""
    from workers.templates.jinja import compile_templates, load_compiled

    if code is not None:
        return load_compiled(code)
    return compile_templates(dict(sources), language)


def load_injector_config(config_text: str | None, *, source: str = "config") -> InjectorConfig:
    """Config text -> InjectorConfig; ``None`` means the embedded default (our Jinja2 templates)."""
    if config_text is None:
        raw = load_config_mapping(defaults.default_config_text(), source="embedded config")
        return config_from_mapping(raw, extra_templates=defaults.load_default_sources())
    return config_from_mapping(load_config_mapping(config_text, source=source))


def build_revision_config(config_text: str | None, values_text: str | None, mesh_text: str | None, *,
                          revision: str = "default", generation: int = 0,
                          mesh_patch: Mapping[str, Any] | None = None,
                          config: InjectorConfig | None = None, source: str = "files",
                          compile_now: bool = True) -> RevisionConfig:
    """Parse and validate everything; ``None`` texts take the embedded defaults. Raises ConfigError.

    ``config`` lets a caller pass an already-adjusted InjectorConfig (kube-inject keeps only the templates).
    """
    injector_config = config if config is not None else load_injector_config(config_text)
    values = parse_values(values_text if values_text is not None else defaults.default_values_text())
    mesh = parse_mesh(mesh_text if mesh_text is not None else defaults.default_mesh_text(), mesh_patch)
    snapshot = RevisionConfig(
        revision=revision, generation=generation, config=injector_config, values=values, mesh=mesh,
        config_text=config_text, values_text=values_text, mesh_text=mesh_text, mesh_patch=mesh_patch,
        source=source,
    )
    if compile_now:
        snapshot.templates()
    return snapshot
