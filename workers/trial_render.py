"""Trial renders of a new config generation, in the config sandbox, before any render worker loads it.

Each template is rendered once for a minimal pod under the render budget and the per-render memory allowance. A template that is too slow or too
large for even that pod (over the budget, out of memory, or past a template limit such as ``{{ 7 ** 10**8 }}``)
would fail every admission it is used for, so the generation is rejected and the last good one keeps serving. A
template that merely refuses this pod (a ``fail`` for pods it was not written for, a missing value) is no reason
to reject: Istio does not render templates at load time, and the real pods may suit it.
"""
from __future__ import annotations

from typing import Any, Protocol

import orjson

from workers.budget import BudgetExceeded, cpu_budget
from workers.limits import MIB, memory_headroom
from workers.config.errors import ConfigError
from workers.errors import InjectionError
from workers.facts import RequestFacts
from workers.selection import TEMPLATES_ANNOTATION
from workers.templates.errors import TemplateLimitError


class Renders(Protocol):
    def inject_admission(self, pod_json: bytes, facts: Any) -> bytes: ...


def trial_pod(template: str) -> dict[str, Any]:
    """The smallest pod a webhook sees, asking for one template by name."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "config-trial", "namespace": "default",
                     "annotations": {TEMPLATES_ANNOTATION: template}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }


def trial_render(injector: Renders, templates: tuple[str, ...], revision: str, budget_seconds: float,
                 memory_bytes: int | None = None) -> None:
    """Render every template once for a minimal pod, each under ``budget_seconds`` of CPU and adding at most
    ``memory_bytes`` of address space (None: only the process's limit); raise ConfigError for one that overruns."""
    facts = RequestFacts(namespace="default", revision=revision)
    for name in templates:
        pod_json = orjson.dumps(trial_pod(name))
        try:
            with memory_headroom(memory_bytes), cpu_budget(budget_seconds):  # disarmed before the limit is back
                injector.inject_admission(pod_json, facts)
        except BudgetExceeded:
            raise ConfigError(f"templates.{name}", f"rendering it for a minimal pod used more than "
                                                   f"{budget_seconds:g}s of CPU, the render budget") from None
        except MemoryError as exc:
            allowance = "" if memory_bytes is None else f" ({memory_bytes // MIB} MiB per render)"
            raise ConfigError(f"templates.{name}", f"rendering it for a minimal pod ran out of memory{allowance}: "
                                                   f"{exc or 'an allocation failed'}") from None
        except InjectionError as exc:
            if isinstance(exc.__cause__, TemplateLimitError):  # the same for every pod: it can never render
                raise ConfigError(f"templates.{name}", str(exc.__cause__)) from None
