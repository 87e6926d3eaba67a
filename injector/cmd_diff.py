"""``injector diff``: how every workload's injected pod changes between two revisions (or a candidate config).

Exit status 0 when nothing changes, 1 when something does, 2 on errors, so that it can gate CI.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from injector.canary_diff import DiffSide, WorkloadDiff
    from injector.cluster_facts import ClusterFacts
    from injector.revision_loader import Texts

EXIT_SAME, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename",
                        help="manifests to compare (`-` for stdin); without it, the live workloads of the cluster")
    parser.add_argument("--from", dest="from_revision", default="default", metavar="REV",
                        help="revision injecting today (default: default)")
    parser.add_argument("--to", dest="to_revision", metavar="REV", help="revision to compare with (default: --from)")
    parser.add_argument("--to-config", type=Path, metavar="DIR",
                        help="a candidate change of the --to revision: files config, values and/or mesh in DIR "
                             "replace those parts of it")
    parser.add_argument("--config-dir", type=Path, metavar="DIR",
                        help="revision configs laid out as for `serve --config-dir` instead of the cluster's")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="cluster to read workloads and revision ConfigMaps from (default: $KUBECONFIG, "
                             "~/.kube/config or in-cluster); with -f, only the ConfigMaps")
    parser.add_argument("--istioNamespace", "-i", dest="istio_namespace", default="istio-system",
                        help="namespace of the revision ConfigMaps (default istio-system)")
    parser.add_argument("--namespace", "-n", action="append", default=[], dest="namespaces", metavar="NS",
                        help="live workloads of this namespace (repeatable; default: all namespaces); with -f, "
                             "the namespace of documents that name none")
    parser.add_argument("--all-namespaces", "-A", action="store_true", help="live workloads of every namespace")
    parser.add_argument("--cluster-facts", metavar="PATH",
                        help="without a cluster: YAML with nodes, namespaces and feature_flags standing in for it")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.add_argument("--summary-only", action="store_true", help="text output without the unified diffs")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from injector.manifests import ManifestError
    from injector.sources.kube_read import ClusterReadError
    from workers.config.errors import ConfigError

    if args.all_namespaces and args.namespaces:
        print("error: --all-namespaces excludes --namespace", file=sys.stderr)
        return EXIT_ERROR
    to_revision = args.to_revision or args.from_revision
    if to_revision == args.from_revision and args.to_config is None:
        print("error: nothing to compare: give --to REV or --to-config DIR", file=sys.stderr)
        return EXIT_ERROR
    try:
        objects, texts, cluster = asyncio.run(_gather(args, to_revision))
        sides = _sides(args, to_revision, texts)
    except (ConfigError, ManifestError, ClusterReadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    from injector.canary_diff import diff_workloads

    default_namespace = args.namespaces[0] if args.filename and args.namespaces else "default"
    results = diff_workloads(objects, sides, cluster, default_namespace)
    if args.output == "json":
        _print_json(results, sides)
    else:
        _print_text(results, sides, args.summary_only)
    if any(result.error for result in results):
        return EXIT_ERROR
    return EXIT_CHANGED if any(result.changed for result in results) else EXIT_SAME


async def _gather(args: argparse.Namespace,
                  to_revision: str) -> tuple[list[dict[str, Any]], tuple[Texts, Texts], ClusterFacts]:
    """Workloads, both revisions' texts and the cluster facts, each from the file, directory or cluster that the
    flags name. The cluster is contacted only when workloads or ConfigMaps come from it."""
    from injector.cli_revisions import directory_revisions, pick
    from injector.cluster_facts import KubeClusterFacts, load_cluster_facts
    from injector.config_flags import read_text
    from injector.kubeinject import pod_bearing_objects
    from injector.sources.kube_read import cluster_reader
    from workers.k8s.types import normalize_object

    objects: list[dict[str, Any]] = []
    if args.filename:
        text = sys.stdin.read() if args.filename == "-" else read_text(args.filename, "manifests") or ""
        objects = [obj for _, obj in pod_bearing_objects(text)]
    local = load_cluster_facts(args.cluster_facts)
    embedded: Texts = (None, None, None)
    texts = (embedded, embedded)
    if args.config_dir is not None:
        layout = directory_revisions(args.config_dir)
        where = str(args.config_dir)
        texts = (pick(layout, args.from_revision, where), pick(layout, to_revision, where))
    if args.filename and args.kubeconfig is None:
        return objects, texts, local
    async with cluster_reader(args.kubeconfig) as reader:
        if args.config_dir is None:
            texts = (await reader.revision_texts(args.istio_namespace, args.from_revision),
                     await reader.revision_texts(args.istio_namespace, to_revision))
        facts = await reader.facts(nodes=local.flag("ENABLE_NATIVE_SIDECARS") == "auto")
        cluster = KubeClusterFacts(facts, local.feature_flags).snapshot()
        if not args.filename:
            objects = [normalize_object(obj) for obj in await reader.workloads(args.namespaces)]
    return objects, texts, cluster


def _sides(args: argparse.Namespace, to_revision: str, texts: tuple[Texts, Texts]) -> tuple[DiffSide, DiffSide]:
    from injector.canary_diff import DiffSide
    from injector.cli_revisions import build, with_candidate
    from workers.render import Injector

    where = "config-dir" if args.config_dir is not None else "embedded default" \
        if args.filename and args.kubeconfig is None else "cluster"
    to_texts, to_label = texts[1], to_revision
    if args.to_config is not None:
        to_texts, to_label = with_candidate(texts[1], args.to_config), f"{to_revision} + {args.to_config}"
    return (DiffSide(args.from_revision, args.from_revision, Injector(build(args.from_revision, texts[0], where))),
            DiffSide(to_label, to_revision, Injector(build(to_revision, to_texts, where))))


def _print_json(results: list[WorkloadDiff], sides: tuple[DiffSide, DiffSide]) -> None:
    import orjson

    report = {
        "from": sides[0].label, "to": sides[1].label,
        "counts": {"workloads": len(results), "changed": sum(r.changed for r in results),
                   "errors": sum(r.error is not None for r in results)},
        "workloads": [result.as_json() for result in results],
    }
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


def _print_text(results: list[WorkloadDiff], sides: tuple[DiffSide, DiffSide], summary_only: bool) -> None:
    out = sys.stdout
    for result in results:
        if result.error is not None:
            out.write(f"=== {result.title}: error: {result.error}\n")
            continue
        if not result.changed:
            out.write(f"=== {result.title}: no change\n")
            continue
        injected = {(True, True): "", (False, True): " (injected only by the new side)",
                    (True, False): " (not injected by the new side)", (False, False): ""}[result.injected]
        out.write(f"=== {result.title}: {len(result.changes)} change(s){injected}\n")
        for change in result.changes:
            out.write(f"  {change.text()}\n")
        if not summary_only:
            out.write(result.diff)
    changed = sum(r.changed for r in results)
    errors = sum(r.error is not None for r in results)
    out.write(f"\n{changed} of {len(results)} workload(s) change from {sides[0].label} to {sides[1].label}"
              + (f"; {errors} could not be injected" if errors else "") + ".\n")
