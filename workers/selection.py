"""Which templates run for a pod (§3.2): the ``inject.istio.io/templates`` annotation or the config's defaults,
each name replaced by its alias list (one level). Duplicates run again, as in Istio, but at most
``MAX_TEMPLATE_RUNS`` in all: the annotation is the pod author's, and each run is a render and a merge."""
from __future__ import annotations

from typing import Collection, Mapping, Sequence

from workers.errors import InjectionError

TEMPLATES_ANNOTATION = "inject.istio.io/templates"
MAX_TEMPLATE_RUNS = 64


def select_templates(annotations: Mapping[str, str], default_templates: Sequence[str],
                     aliases: Mapping[str, Sequence[str]], available: Collection[str]) -> list[str]:
    """Resolve the template names to run, or fail naming the unknown template and the known ones."""
    requested = annotations.get(TEMPLATES_ANNOTATION)
    names = [n.strip() for n in requested.split(",")] if requested is not None else list(default_templates)
    resolved: list[str] = []
    for name in names:
        resolved.extend(aliases.get(name, (name,)))
        if len(resolved) > MAX_TEMPLATE_RUNS:
            raise InjectionError(f"{TEMPLATES_ANNOTATION} selects more than {MAX_TEMPLATE_RUNS} templates to run")
    for name in resolved:
        if name not in available:
            raise InjectionError(f'requested template "{name}" not found; have {", ".join(sorted(available))}')
    return resolved
