"""The ``injector`` command: one entry point, one module per subcommand.

Subcommand modules are imported lazily so that ``injector kube-inject`` does not pay for aiohttp and uvloop.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "kube-inject": ("injector.cmd_kubeinject", "inject sidecars into Kubernetes manifests (like istioctl kube-inject)"),
    "check": ("injector.cmd_check", "explain whether a pod would be injected, and why"),
    "diff": ("injector.cmd_diff", "show how each workload's injected pod changes from one revision to another"),
    "audit": ("injector.cmd_audit", "find running pods whose injection is stale, grouped by workload"),
    "serve": ("injector.cmd_serve", "run the admission webhook server"),
    "certs": ("injector.cmd_certs", "generate a CA and a serving certificate"),
}


def build_parser() -> argparse.ArgumentParser:
    """Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``."""
    parser = argparse.ArgumentParser(prog="injector", description="Istio-compatible sidecar injector")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
