"""The config flags shared by ``kube-inject``, ``check`` and ``serve``, and the snapshot they describe.

Each of ``--injectConfigFile``, ``--valuesFile`` and ``--meshConfigFile`` independently replaces that part of the
embedded default, so the tool runs with no files and no cluster.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from workers.config.errors import ConfigError
from workers.config.model import InjectorConfig, config_from_mapping, load_config_mapping
from workers.config.snapshot import RevisionConfig, build_revision_config, load_injector_config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--injectConfigFile", dest="inject_config_file", metavar="PATH",
                        help="injector config (the `config` key of istio-sidecar-injector); default: embedded")
    parser.add_argument("--valuesFile", dest="values_file", metavar="PATH",
                        help="values (the `values` key of istio-sidecar-injector); default: embedded")
    parser.add_argument("--meshConfigFile", dest="mesh_config_file", metavar="PATH",
                        help="mesh config (the `mesh` key of the istio ConfigMap); default: embedded")
    parser.add_argument("--cluster-facts", dest="cluster_facts", metavar="PATH",
                        help="YAML with nodes, namespaces and feature_flags, standing in for a cluster")
    parser.add_argument("--revision", "-r", default="", help="revision recorded in the status annotation")


def read_text(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigError(path, f"cannot read {what}: {exc.strerror or exc}") from exc


def kube_inject_config(text: str | None) -> InjectorConfig:
    """istioctl semantics: only ``templates`` count; a file without templates is one raw ``sidecar`` template."""
    if text is None:
        full = load_injector_config(None)
        return InjectorConfig(policy="enabled", templates=full.templates, template_language=full.template_language)
    raw = load_config_mapping(text, source="injectConfigFile")
    if raw.get("templates"):
        full = config_from_mapping(raw)
        return InjectorConfig(policy="enabled", templates=full.templates, template_language=full.template_language)
    return config_from_mapping({"policy": "enabled", "templates": {"sidecar": text}})


def revision_config_from_args(args: argparse.Namespace, *, kube_inject: bool) -> RevisionConfig:
    """Build (and validate, compiling templates) the snapshot the flags describe. Raises ConfigError."""
    config_text = read_text(args.inject_config_file, "injector config")
    config = kube_inject_config(config_text) if kube_inject else load_injector_config(config_text)
    return build_revision_config(
        config_text, read_text(args.values_file, "values"), read_text(args.mesh_config_file, "mesh config"),
        revision=args.revision or "default", config=config,
        source="files" if args.inject_config_file else "embedded default",
    )
