"""The one exception type for configuration a user supplied (ConfigMaps, files, annotations of config kind)."""
from __future__ import annotations

from typing import Any

import yaml

from workers import yamlguard


class ConfigError(ValueError):
    """Invalid injector configuration. The message names the key (or file) and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def load_yaml_mapping(text: str | None, *, source: str, problem: str) -> dict[str, Any]:
    """YAML text that must hold a mapping; empty text or an empty document is an empty mapping.

    ``problem`` prefixes the parser's message (Istio's own wording where it has one, e.g. "failed to unmarshal
    injection template"), and ``source`` names the key or file in the ConfigError.
    """
    if not text or not text.strip():
        return {}
    try:
        raw = yamlguard.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"{problem}: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(source, "must be a YAML mapping")
    return raw
