"""Where ``injector diff`` and ``injector audit`` take revision configs from, besides the cluster.

``--config-dir DIR`` is read exactly as ``serve --config-dir`` reads it (:func:`injector.sources.files.revision_layout`:
the files ``config``/``values``/``mesh`` for one revision, or one subdirectory per revision), and ``--to-config DIR``
holds a candidate change of some of those files, not applied anywhere yet.
"""
from __future__ import annotations

from pathlib import Path

from injector.revision_loader import Texts
from injector.sources.files import ConfigFiles, revision_layout
from workers.config.errors import ConfigError
from workers.config.snapshot import RevisionConfig, build_revision_config

DEFAULT_REVISION = "default"


def directory_revisions(directory: Path) -> dict[str, Texts]:
    """Every revision of a ``--config-dir`` layout with its texts (None: that file is absent, embedded default)."""
    if not directory.is_dir():
        raise ConfigError(str(directory), "not a directory")
    try:
        return {revision: files.read() for revision, files in revision_layout(directory, DEFAULT_REVISION).items()}
    except OSError as exc:
        raise ConfigError(str(directory), f"cannot read: {exc}") from exc


def pick(revisions: dict[str, Texts], revision: str, where: str) -> Texts:
    """One revision of a layout; an unknown name is an error listing the known ones."""
    if revision not in revisions:
        raise ConfigError(where, f"no revision {revision!r} (found: {', '.join(sorted(revisions)) or 'none'})")
    return revisions[revision]


def with_candidate(base: Texts, directory: Path) -> Texts:
    """``base`` with each part the candidate directory holds replaced by that file."""
    if not directory.is_dir():
        raise ConfigError(str(directory), "not a directory")
    files = ConfigFiles.from_directory(directory)
    if not files.any_present():
        raise ConfigError(str(directory), "holds none of the files config, values, mesh")
    try:
        candidate = files.read()
    except OSError as exc:
        raise ConfigError(str(directory), f"cannot read: {exc}") from exc
    config, values, mesh = (new if new is not None else old for new, old in zip(candidate, base))
    return config, values, mesh


def build(revision: str, texts: Texts, source: str) -> RevisionConfig:
    """Parse, validate and compile, as the server does before serving; raises ConfigError naming the revision."""
    try:
        return build_revision_config(*texts, revision=revision, source=source)
    except ConfigError as exc:
        raise ConfigError(f"revision {revision} ({source})", str(exc)) from exc
