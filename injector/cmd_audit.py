"""``injector audit``: running pods whose sidecar injection is stale, grouped by the workload to restart.

Revisions are the ones ``serve --kube`` serves from the cluster's ConfigMaps (or ``--config-dir``, as
``serve --config-dir`` reads it). Exit status 0 when every pod is current, 1 when something needs a restart,
2 on errors.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from injector.audit import AuditInputs, AuditReport

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
_STATUS_WORDS = {
    "stale": "stale",
    "revision-changed": "labels select another revision",
    "revision-not-served": "injected by a revision no longer served",
    "not-injected": "should be injected but is not",
    "injection-error": "re-injection fails",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="cluster to audit (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
    parser.add_argument("--istioNamespace", "-i", dest="istio_namespace", default="istio-system",
                        help="namespace of the revision ConfigMaps (default istio-system)")
    parser.add_argument("--config-dir", type=Path, metavar="DIR",
                        help="revision configs laid out as for `serve --config-dir` instead of the cluster's")
    parser.add_argument("--namespace", "-n", action="append", default=[], dest="namespaces", metavar="NS",
                        help="audit the pods of this namespace (repeatable; default: all namespaces)")
    parser.add_argument("--all-namespaces", "-A", action="store_true", help="audit every namespace (the default)")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from injector.sources.kube_read import ClusterReadError
    from workers.config.errors import ConfigError

    if args.all_namespaces and args.namespaces:
        print("error: --all-namespaces excludes --namespace", file=sys.stderr)
        return EXIT_ERROR
    try:
        pods, inputs = asyncio.run(_gather(args))
    except (ConfigError, ClusterReadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    from injector.audit import audit

    report = audit(pods, inputs)
    if args.output == "json":
        import orjson

        sys.stdout.write(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(format_text(report))
    return EXIT_FOUND if report.found else EXIT_CLEAN


async def _gather(args: argparse.Namespace) -> tuple[list[dict[str, Any]], AuditInputs]:
    from injector.audit import AuditInputs
    from injector.cli_revisions import build, directory_revisions
    from injector.cluster_facts import KubeClusterFacts, load_cluster_facts
    from injector.sources.kube_read import cluster_reader
    from workers.config.errors import ConfigError

    flags = load_cluster_facts(None)
    async with cluster_reader(args.kubeconfig) as reader:
        if args.config_dir is not None:
            texts, rejected, source = directory_revisions(args.config_dir), {}, str(args.config_dir)
        else:
            (texts, rejected), source = await reader.all_revision_texts(args.istio_namespace), "cluster"
        facts = await reader.facts(nodes=flags.flag("ENABLE_NATIVE_SIDECARS") == "auto")
        pods = await reader.pods(args.namespaces)
        controllers = await reader.controllers(args.namespaces)
    revisions = {}
    for revision, revision_texts in texts.items():
        try:
            revisions[revision] = build(revision, revision_texts, source)
        except ConfigError as exc:  # as the server does: a bad revision is not served, the others are
            rejected[revision] = str(exc)
    return pods, AuditInputs(revisions, KubeClusterFacts(facts, flags.feature_flags).snapshot(),
                             dict(facts.tag_to_revision()), controllers, rejected)


def format_text(report: AuditReport) -> str:
    """Per workload: each finding with its pods, reason and changes, then the command that fixes it."""
    from injector.audit import STATUSES

    lines: list[str] = []
    for workload in report.workloads:
        data = workload.as_json()
        lines.append(f"{data['namespace']}/{data['kind']}/{data['name']}")
        for finding in workload.findings:
            verdict = finding.verdict
            lines.append(f"  {_STATUS_WORDS[verdict.status]} (revision {verdict.revision}): "
                         f"{len(finding.pods)} pod(s): {', '.join(finding.pods)}")
            lines.append(f"    {verdict.reason}")
            lines += [f"    - {change.text()}" for change in verdict.changes]
        lines.append(f"  fix: {data['command']}" + (f"  ({data['note']})" if data["note"] else ""))
        lines.append("")
    counts = report.counts
    found = [f"{counts[status]} {_STATUS_WORDS[status]}" for status in STATUSES if counts[status]]
    lines.append(f"{counts['pods']} pod(s) audited, {counts['injected']} injected, {counts['current']} current"
                 + (f"; {', '.join(found)}." if found else "; nothing to restart.")
                 + f" Revisions served: {', '.join(report.revisions) or 'none'}.")
    return "\n".join(lines) + "\n"
