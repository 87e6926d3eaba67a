"""The ``values`` key: the Helm values given to templates as ``.Values``.

Go decodes them into ``map[string]interface{}``, so every number is a float64; we parse every JSON number as a
Python float so that printing and comparisons (``eq`` of float vs int is an error in Go) behave the same.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from workers import yamlguard
from workers.config.errors import ConfigError


def _floats(data: Any) -> Any:
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, int):
        return float(data)
    if isinstance(data, dict):
        return {str(k): _floats(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_floats(v) for v in data]
    return data


def parse_values(text: str | None, *, source: str = "values") -> dict[str, Any]:
    """Parse values JSON (YAML accepted for hand-written files). Empty text gives empty values."""
    if text is None or not text.strip():
        return {}
    try:
        raw = json.loads(text, parse_int=float)
    except ValueError:
        try:
            raw = _floats(yamlguard.load(text))
        except yaml.YAMLError as exc:
            raise ConfigError(source, f"could not parse configuration values: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(source, "could not parse configuration values: must be a mapping")
    for section in ("global", "sidecarInjectorWebhook", "pilot", "gateways"):
        if section in raw and raw[section] is not None and not isinstance(raw[section], dict):
            raise ConfigError(f"{source}.{section}", f"must be a mapping, got {type(raw[section]).__name__}")
    return raw
