"""``injector kube-inject``: istioctl-compatible manual injection of manifests."""
from __future__ import annotations

import argparse
import sys

from injector.config_flags import add_cluster_config_arguments, add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", required=True, help="input manifests, `-` for stdin")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    add_config_arguments(parser)
    add_cluster_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from injector.cluster_facts import load_cluster_facts
    from injector.config_flags import read_text, revision_config_from_args
    from injector.kubeinject import kube_inject
    from injector.manifests import ManifestError
    from workers.config.errors import ConfigError
    from workers.render import Injector

    try:
        text = sys.stdin.read() if args.filename == "-" else read_text(args.filename, "manifests")
        snapshot = revision_config_from_args(args, kube_inject=True)
        result = kube_inject(text or "", injector=Injector(snapshot), cluster=load_cluster_facts(args.cluster_facts),
                             revision=args.revision)
    except (ConfigError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(result.text)
    else:
        sys.stdout.write(result.text)
    if result.warnings:
        sys.stderr.write("\n" + "".join(result.warnings))
    return 0
