"""The ``config`` key of Istio's ``istio-sidecar-injector`` ConfigMap, parsed and validated once.

Unknown keys are ignored, as Istio does (including the chart's ``template:`` tripwire). One key of our own,
``templateLanguage`` (``go`` or ``jinja2``), says how ``templates`` are written; Istio ignores it, so Istio's own
ConfigMaps (Go templates) work untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from workers.config.errors import ConfigError, load_yaml_mapping
from workers.config.frozen import FrozenDict

TEMPLATE_LANGUAGES = ("go", "jinja2")
DEFAULT_TEMPLATES = ("sidecar",)


@dataclass(frozen=True)
class InjectorConfig:
    """Immutable injector config. Selectors stay as Kubernetes LabelSelector dicts (read-only use)."""

    policy: str = "enabled"
    always_inject_selector: tuple[dict[str, Any], ...] = ()
    never_inject_selector: tuple[dict[str, Any], ...] = ()
    injected_annotations: Mapping[str, str] = field(default_factory=FrozenDict)
    default_templates: tuple[str, ...] = DEFAULT_TEMPLATES
    templates: Mapping[str, str] = field(default_factory=FrozenDict)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=FrozenDict)
    template_language: str = "go"


def _selectors(raw: Any, key: str) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise ConfigError(key, "must be a list of label selectors (mappings)")
    return tuple(raw)


def _string_map(raw: Any, key: str) -> Mapping[str, str]:
    if raw is None:
        return FrozenDict({})
    if not isinstance(raw, dict):
        raise ConfigError(key, "must be a mapping of strings")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if not isinstance(v, str):
            raise ConfigError(f"{key}.{k}", f"must be a string, got {type(v).__name__}")
        out[str(k)] = v
    return FrozenDict(out)


def _string_list(raw: Any, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ConfigError(key, "must be a list of strings")
    return tuple(raw)


def _aliases(raw: Any) -> Mapping[str, tuple[str, ...]]:
    if raw is None:
        return FrozenDict({})
    if not isinstance(raw, dict):
        raise ConfigError("aliases", "must be a mapping of name to list of template names")
    return FrozenDict({str(k): _string_list(v, f"aliases.{k}") for k, v in raw.items()})


def config_from_mapping(raw: Mapping[str, Any], *, extra_templates: Mapping[str, str] | None = None) -> InjectorConfig:
    """Validate an already-parsed config mapping. ``extra_templates`` fill names the mapping does not define."""
    policy = raw.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise ConfigError("policy", f"must be a string, got {type(policy).__name__}")
    language = raw.get("templateLanguage", "go")
    if language not in TEMPLATE_LANGUAGES:
        raise ConfigError("templateLanguage", f"must be one of {', '.join(TEMPLATE_LANGUAGES)}, got {language!r}")
    templates = dict(extra_templates or {})
    templates.update(_string_map(raw.get("templates"), "templates"))
    return InjectorConfig(
        policy=policy or "",
        always_inject_selector=_selectors(raw.get("alwaysInjectSelector"), "alwaysInjectSelector"),
        never_inject_selector=_selectors(raw.get("neverInjectSelector"), "neverInjectSelector"),
        injected_annotations=_string_map(raw.get("injectedAnnotations"), "injectedAnnotations"),
        default_templates=_string_list(raw.get("defaultTemplates"), "defaultTemplates") or DEFAULT_TEMPLATES,
        templates=FrozenDict(templates),
        aliases=_aliases(raw.get("aliases")),
        template_language=language,
    )


def load_config_mapping(text: str, *, source: str = "config") -> dict[str, Any]:
    """Parse the YAML text of a config; an empty document is an empty config."""
    return load_yaml_mapping(text, source=source, problem="failed to unmarshal injection template")


def parse_injector_config(text: str, *, source: str = "config") -> InjectorConfig:
    """Parse and validate the ``config`` key text."""
    return config_from_mapping(load_config_mapping(text, source=source))
