"""The one exception type for configuration a user supplied (ConfigMaps, files, annotations of config kind)."""
from __future__ import annotations


class ConfigError(ValueError):
    """Invalid injector configuration. The message names the key (or file) and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
