"""The embedded default configuration: our Jinja2 injection templates, chart values, mesh and injector config.

Used when the injector runs without a cluster (or without Istio's ConfigMaps). The templates are our own Jinja2
versions of Istio's chart templates of the same names and render, for the same template data, the same pod
fragment (checked by ``tests/unit/test_default_templates.py`` against Istio's Go templates).

Files:

* ``<name>.yaml.j2``: one template per name (``sidecar``, ``gateway``, ``grpc-simple``, ``grpc-agent``).
* ``_macros.j2``: macros shared by the templates. It is not a template of its own; :func:`load_default_sources`
  puts it in front of every template source, so each source handed to the compiler is self-contained.
* ``values.json``: the istio-discovery chart's values for a default install (the conformance ``default`` config)
  with a real image hub and tag; numbers are parsed as floats by ``workers.config.values.parse_values``.
* ``mesh.yaml``: the mesh config of a default install (Istio's built-in defaults are applied when parsed).
* ``config.yaml``: injector config (policy, default templates, ``templateLanguage: jinja2``); its templates come
  from the ``.j2`` files, not from the YAML.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = [
    "DEFAULT_TEMPLATE_NAMES",
    "MACROS_FILE",
    "default_config_text",
    "default_mesh_text",
    "default_values_text",
    "load_default_sources",
]

DEFAULT_TEMPLATE_NAMES: tuple[str, ...] = ("sidecar", "gateway", "grpc-simple", "grpc-agent")
MACROS_FILE = "_macros.j2"
_TEMPLATE_SUFFIX = ".yaml.j2"


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _sources() -> tuple[tuple[str, str], ...]:
    macros = _read(MACROS_FILE)
    if not macros.endswith("\n"):
        macros += "\n"
    return tuple((name, macros + _read(name + _TEMPLATE_SUFFIX)) for name in DEFAULT_TEMPLATE_NAMES)


def load_default_sources() -> dict[str, str]:
    """Template name -> Jinja2 source (shared macros included), for ``compile_templates(..., "jinja2")``."""
    return dict(_sources())


def template_file_source(name: str) -> str:
    """The text of one ``.yaml.j2`` file as written (without the shared macros); for tooling and tests."""
    return _read(name + _TEMPLATE_SUFFIX)


def default_values_text() -> str:
    """Chart values (JSON) of a default install."""
    return _read("values.json")


def default_mesh_text() -> str:
    """Mesh config (YAML) of a default install, before Istio's built-in defaults."""
    return _read("mesh.yaml")


def default_config_text() -> str:
    """Injector config (YAML): policy, default templates, template language; templates are added by the loader."""
    return _read("config.yaml")
