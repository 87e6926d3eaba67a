"""The config flags shared by ``kube-inject``, ``check`` and ``serve``, and the snapshot they describe.

Each of ``--injectConfigFile``, ``--valuesFile`` and ``--meshConfigFile`` independently replaces that part of the
embedded default, so the tool runs with no files and no cluster.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from workers.config.errors import ConfigError

if TYPE_CHECKING:  # the snapshot module pulls in Jinja2; subcommands that only parse flags should not pay for it
    from workers.config.model import InjectorConfig
    from workers.config.snapshot import RevisionConfig


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


def add_cluster_config_arguments(parser: argparse.ArgumentParser) -> None:
    """istioctl's way to take the config from a cluster; each file flag still replaces its part."""
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="read the revision's ConfigMaps (istio-sidecar-injector[-<rev>], istio[-<rev>]) "
                             "from this cluster instead of using the embedded defaults")
    parser.add_argument("--istioNamespace", "-i", dest="istio_namespace", default="istio-system",
                        help="namespace of those ConfigMaps (default istio-system)")


def config_texts_from_args(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """``(config, values, mesh)`` texts: file flags first, then the cluster (with ``--kubeconfig``) for the parts
    no file gives, else None (the embedded default). Raises ConfigError."""
    texts = (read_text(args.inject_config_file, "injector config"), read_text(args.values_file, "values"),
             read_text(args.mesh_config_file, "mesh config"))
    if getattr(args, "kubeconfig", None) and None in texts:
        import asyncio

        from injector.sources.kube_read import read_revision_texts

        cluster = asyncio.run(read_revision_texts(args.kubeconfig, args.istio_namespace, args.revision))
        config, values, mesh = (own if own is not None else theirs for own, theirs in zip(texts, cluster))
        return config, values, mesh
    return texts


def read_text(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigError(path, f"cannot read {what}: {exc.strerror or exc}") from exc


def kube_inject_config(text: str | None) -> InjectorConfig:
    """istioctl semantics: only ``templates`` count; a file without templates is one raw ``sidecar`` template."""
    from workers.config.model import InjectorConfig, config_from_mapping, load_config_mapping
    from workers.config.snapshot import load_injector_config

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
    from workers.config.snapshot import build_revision_config, load_injector_config

    config_text, values_text, mesh_text = config_texts_from_args(args)
    config = kube_inject_config(config_text) if kube_inject else load_injector_config(config_text)
    return build_revision_config(
        config_text, values_text, mesh_text, revision=args.revision or "default", config=config,
        source="cluster" if getattr(args, "kubeconfig", None) else "files" if args.inject_config_file
        else "embedded default",
    )
