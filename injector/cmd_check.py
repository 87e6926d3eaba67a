"""``injector check``: would this pod be injected, and why (the webhook's decision, explained)."""
from __future__ import annotations

import argparse
import sys

from injector.config_flags import add_cluster_config_arguments, add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", required=True, help="a Pod manifest (or a workload with a pod "
                                                                 "template), `-` for stdin")
    parser.add_argument("--namespace", "-n", default="", help="namespace of the admission request")
    parser.add_argument("--namespace-labels", default="", metavar="K=V,...",
                        help="labels of the pod's namespace (shown; Istio's webhook selectors act on them)")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    add_config_arguments(parser)
    add_cluster_config_arguments(parser)


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid label {item!r}: want key=value")
        labels[key] = value
    return labels


def run(args: argparse.Namespace) -> int:
    import orjson
    import yaml

    from injector.config_flags import config_texts_from_args, read_text
    from injector.decision import should_inject
    from injector.manifests import get_path, pod_template_location
    from injector.routing import webhook_selects
    from workers.config.errors import ConfigError
    from workers.config.snapshot import load_injector_config

    try:
        text = sys.stdin.read() if args.filename == "-" else read_text(args.filename, "manifest")
        obj = next((doc for doc in yaml.safe_load_all(text or "")
                    if isinstance(doc, dict) and pod_template_location(doc.get("kind", "")) is not None), None)
        if obj is None:
            raise ValueError("no Pod or workload with a pod template found in the input")
        config = load_injector_config(config_texts_from_args(args)[0])
        namespace_labels = _parse_labels(args.namespace_labels)
    except (ConfigError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    location = pod_template_location(obj["kind"])
    assert location is not None
    pod = {"metadata": get_path(obj, location[0]) or {}, "spec": get_path(obj, location[1]) or {}}
    selected, why = webhook_selects(pod.get("metadata", {}).get("labels") or {}, namespace_labels,
                                    args.revision or "default")
    decision = should_inject(pod, config, args.namespace)
    inject = selected and decision.inject
    reason = decision.reason if selected else why
    if args.output == "json":
        sys.stdout.write(orjson.dumps({"inject": inject, "reason": reason}).decode() + "\n")
    else:
        print(f"{'inject' if inject else 'skip'}: {reason}")
    return 0
