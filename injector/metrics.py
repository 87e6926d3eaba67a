"""Prometheus metrics under Istio's names, written in the text exposition format (version 0.0.4).

A few counters, gauges and one histogram do not justify a dependency; all updates happen in the event loop, so no
locks are needed. Gauges that mirror live state (queue depth) read it at scrape time through a callback.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable, Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ISTIO_TIME_BUCKETS = (0.1, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values)) + "}" if names else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = labels

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    """Monotonic count, optionally split by labels (values given positionally, in ``labels`` order)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def samples(self) -> Iterable[str]:
        for values, count in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, values)} {_number(count)}"


class Gauge(_Metric):
    """A value that goes up and down; ``read`` (if given) is called at scrape time instead."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}
        self.read: Callable[[], float] | None = None

    def set(self, value: float, *label_values: str) -> None:
        self._values[label_values] = value

    def remove(self, *label_values: str) -> None:
        self._values.pop(label_values, None)

    def samples(self) -> Iterable[str]:
        if self.read is not None:
            yield f"{self.name} {_number(float(self.read()))}"
            return
        for values, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, values)} {_number(value)}"


class Histogram(_Metric):
    """Cumulative buckets, ``_sum`` and ``_count`` (no labels: Istio's histogram has none)."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        super().__init__(name, help_text)
        self._bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def samples(self) -> Iterable[str]:
        running = 0
        for bound, count in zip((*self._bounds, math.inf), self._counts):
            running += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {running}'
        yield f"{self.name}_sum {repr(self._sum)}"
        yield f"{self.name}_count {running}"


@dataclass(frozen=True)
class InjectorMetrics:
    """Every metric the server exports; Istio's five first, then the pool's and the config sources'."""

    requests: Counter
    success: Counter
    skip: Counter
    failure: Counter
    duration: Histogram
    queue_depth: Gauge
    workers_busy: Gauge
    worker_restarts: Counter
    config_generation: Gauge
    config_reloads: Counter
    config_reload_failures: Counter
    tls_reloads: Counter
    tls_reload_failures: Counter

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in vars(self).values():
            lines += metric.header()
            lines += metric.samples()
        return ("\n".join(lines) + "\n").encode()


def create_metrics() -> InjectorMetrics:
    """A fresh set (one per application, so tests do not share counts)."""
    return InjectorMetrics(
        requests=Counter("sidecar_injection_requests_total", "Total number of sidecar injection requests."),
        success=Counter("sidecar_injection_success_total",
                        "Total number of successful sidecar injection requests (any admission reply written)."),
        skip=Counter("sidecar_injection_skip_total", "Total number of skipped sidecar injection requests."),
        failure=Counter("sidecar_injection_failure_total", "Total number of failed sidecar injection requests.",
                        ("type",)),
        duration=Histogram("sidecar_injection_time_seconds", "Total time taken for injection in seconds.",
                           ISTIO_TIME_BUCKETS),
        queue_depth=Gauge("sidecar_injector_pool_queue_depth", "Render jobs waiting for a free worker."),
        workers_busy=Gauge("sidecar_injector_pool_workers_busy", "Render workers running a job."),
        worker_restarts=Counter("sidecar_injector_pool_worker_restarts_total",
                                "Render worker processes that died and were replaced."),
        config_generation=Gauge("sidecar_injector_config_generation",
                                "Generation of the config snapshot serving each revision.", ("revision",)),
        config_reloads=Counter("sidecar_injector_config_reloads_total", "Config snapshots installed.",
                               ("revision",)),
        config_reload_failures=Counter("sidecar_injector_config_reload_failures_total",
                                       "Config changes rejected (the previous snapshot kept serving).",
                                       ("revision",)),
        tls_reloads=Counter("sidecar_injector_tls_reloads_total", "Serving certificates loaded after a change."),
        tls_reload_failures=Counter("sidecar_injector_tls_reload_failures_total",
                                    "Serving certificate changes rejected (the previous one kept serving)."),
    )
