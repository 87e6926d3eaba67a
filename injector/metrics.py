"""Every Prometheus metric the server exports, declared in one place, on prometheus-client.

Istio's five injection metrics keep their names, buckets and (lack of) labels, so dashboards written for istiod's
injector keep working; ``sidecar_injection_failure_total`` carries the ``type`` label this injector always had. Our
own ``sidecar_injector_*`` metrics add what operating one process for several revisions needs, with a ``revision``
label where the revision is known (cardinality = revisions served, never a client-chosen name). Each application
gets its own ``CollectorRegistry`` (tests build many apps in one process), holding the standard process, platform
and GC collectors too.

To add a metric: declare it in ``InjectorMetrics.__init__`` with ``registry=registry`` and use the attribute.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterable, Mapping

from prometheus_client import (CollectorRegistry, Counter, GCCollector, Gauge, Histogram, PlatformCollector,
                               ProcessCollector, disable_created_metrics)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

# Istio's Go exporter writes no ``<name>_created`` series; without them every counter and histogram costs one
# series less and the exposition matches istiod's. The switch is process-wide and read when a metric is created.
disable_created_metrics()

ISTIO_TIME_BUCKETS = (0.1, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
ADMISSION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
"""Istio's buckets start at 100 ms, far above a normal admission here; these resolve milliseconds for quantiles
and reach the apiserver's maximum webhook timeout (30 s) for the "p99 near the timeout" alert."""

OUTCOMES = ("injected", "skipped", "denied", "http_error")
"""``http_error``: answered with an HTTP error status instead of an AdmissionReview (body, size, content type)."""


class InjectorMetrics:
    """The registry of one application and every metric in it."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

        # Istio's (pkg/kube/inject/monitoring.go): every request; any AdmissionReview written (skips and
        # allowed:false included); decision said no; each failure, by type; time of every request.
        self.requests = Counter("sidecar_injection_requests_total", "Total number of sidecar injection requests.",
                                registry=registry)
        self.success = Counter("sidecar_injection_success_total",
                               "Total number of successful sidecar injection requests (any admission reply "
                               "written).", registry=registry)
        self.skip = Counter("sidecar_injection_skip_total", "Total number of skipped sidecar injection requests.",
                            registry=registry)
        self.failure = Counter("sidecar_injection_failure_total",
                               "Total number of failed sidecar injection requests.", ["type"], registry=registry)
        self.duration = Histogram("sidecar_injection_time_seconds", "Total time taken for injection in seconds.",
                                  buckets=ISTIO_TIME_BUCKETS, registry=registry)

        # Per revision ("" when none was chosen: a malformed review, an HTTP error, a revision not served).
        self.admissions = Counter("sidecar_injector_admissions_total",
                                  "Requests on the inject paths by revision and outcome "
                                  "(injected, skipped, denied, http_error).", ["revision", "outcome"],
                                  registry=registry)
        self.admission_duration = Histogram("sidecar_injector_admission_duration_seconds",
                                            "Time from request to reply on the inject paths, by revision.",
                                            ["revision"], buckets=ADMISSION_BUCKETS, registry=registry)

        # Render pool (gauges read live state at scrape time: see ``watch``).
        self.queue_depth = Gauge("sidecar_injector_pool_queue_depth", "Render jobs waiting for a free worker.",
                                 registry=registry)
        self.workers_busy = Gauge("sidecar_injector_pool_workers_busy", "Render workers running a job.",
                                  registry=registry)
        self.shed = Counter("sidecar_injector_shed_total",
                            "Admissions refused unrendered because they could not finish before their deadline "
                            "(reason: deadline = estimated on arrival, overloaded = standing queue, expired = "
                            "turned hopeless while queued).", ["reason", "revision"], registry=registry)
        self.worker_restarts = Counter("sidecar_injector_pool_worker_restarts_total",
                                       "Render worker processes that died and were replaced.", registry=registry)
        self.workers_memory = Gauge("sidecar_injector_pool_workers_resident_memory_bytes",
                                    "Resident memory of all live render workers together (process_* covers only "
                                    "the front-end process).", registry=registry)
        self.ready = Gauge("sidecar_injector_ready",
                           "1 when /readyz answers ready (a revision loaded, every worker holds it), else 0.",
                           registry=registry)

        # Config sources.
        self.config_generation = Gauge("sidecar_injector_config_generation",
                                       "Generation of the config snapshot serving each revision.", ["revision"],
                                       registry=registry)
        self.config_reloads = Counter("sidecar_injector_config_reloads_total", "Config snapshots installed.",
                                      ["revision"], registry=registry)
        self.config_reload_failures = Counter("sidecar_injector_config_reload_failures_total",
                                              "Config changes rejected (the previous snapshot kept serving).",
                                              ["revision"], registry=registry)
        self.config_rejected = Gauge("sidecar_injector_config_rejected",
                                     "1 while the latest change of a revision's config is rejected and the "
                                     "previous snapshot serves, 0 once a good one is installed.", ["revision"],
                                     registry=registry)
        self.tls_reloads = Counter("sidecar_injector_tls_reloads_total",
                                   "Serving certificates loaded after a change.", registry=registry)
        self.tls_reload_failures = Counter("sidecar_injector_tls_reload_failures_total",
                                           "Serving certificate changes rejected (the previous one kept serving).",
                                           registry=registry)

        # Stale injections found by the last ``/debug/stale`` audit (``--watch-pods``), recomputed as a whole.
        self.stale_pods = Gauge("sidecar_injector_stale_pods",
                                "Pods found by the last /debug/stale audit, by finding (stale, revision-changed, "
                                "revision-not-served, not-injected, injection-error) and revision.",
                                ["status", "revision"], registry=registry)

        # Listeners (injector/listeners.py), by listener ("webhook", "monitoring").
        self.connections_open = Gauge("sidecar_injector_connections_open",
                                      "Open client connections, TLS handshakes included.", ["listener"],
                                      registry=registry)
        self.connections_refused = Counter("sidecar_injector_connections_refused_total",
                                           "Connections refused: limit (at the cap with nothing idle to evict), "
                                           "fd_limit (accept failed for lack of descriptors or memory), tls "
                                           "(handshake failed or too slow), overloaded (closed before its "
                                           "handshake while admissions were shed and the event loop ran "
                                           "behind).", ["listener", "reason"],
                                           registry=registry)
        self.connections_closed = Counter("sidecar_injector_connections_closed_total",
                                          "Connections closed by the server: header_timeout (request headers too "
                                          "slow), write_timeout (reply not read), evicted (waited longest for a "
                                          "request when the cap was reached).", ["listener", "reason"],
                                          registry=registry)

        self._admission_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._failure_children: dict[tuple[str, ...], Counter] = {}
        self._shed_children: dict[tuple[str, ...], Counter] = {}

    # ------------------------------------------------------------------------------------------ updates

    def observe_admission(self, revision: str, outcome: str, failure_type: str, seconds: float) -> None:
        """One request on an inject path, in Istio's counting (``failure_type`` is ignored unless the outcome is
        ``denied`` or ``http_error``). Labelled children are cached: ``labels()`` costs more than the update."""
        self.requests.inc()
        self.duration.observe(seconds)
        if outcome == "http_error":
            self._failure(failure_type).inc()
        else:
            self.success.inc()
            if outcome == "skipped":
                self.skip.inc()
            elif outcome == "denied":
                self._failure(failure_type).inc()
        children = self._admission_children.get((revision, outcome))
        if children is None:
            children = self._admission_children[(revision, outcome)] = (
                self.admissions.labels(revision, outcome), self.admission_duration.labels(revision))
        children[0].inc()
        children[1].observe(seconds)

    def _failure(self, failure_type: str) -> Counter:
        return _child(self._failure_children, self.failure, failure_type)

    def count_shed(self, reason: str, revision: str) -> None:
        """One admission refused unrendered (``shed``); its child is cached like ``observe_admission``'s."""
        _child(self._shed_children, self.shed, reason, revision).inc()

    def revision_installed(self, revision: str, generation: int) -> None:
        self.config_generation.labels(revision).set(generation)
        self.config_reloads.labels(revision).inc()
        self.config_rejected.labels(revision).set(0)

    def revision_rejected(self, revision: str) -> None:
        self.config_reload_failures.labels(revision).inc()
        self.config_rejected.labels(revision).set(1)

    def revision_removed(self, revision: str) -> None:
        for gauge in (self.config_generation, self.config_rejected):
            with contextlib.suppress(KeyError):
                gauge.remove(revision)

    def stale_audited(self, pods_by_status: Iterable[tuple[str, str, int]]) -> None:
        """The result of one audit: ``(status, revision, pods)`` rows replace the previous ones."""
        self.stale_pods.clear()
        for status, revision, pods in pods_by_status:
            self.stale_pods.labels(status, revision).set(pods)

    def watch(self, *, queue_depth: Callable[[], float], busy: Callable[[], float],
              worker_pids: Callable[[], Iterable[int]], ready: Callable[[], bool],
              revision_queue_depths: Callable[[], Mapping[str, int]]) -> None:
        """Gauges that mirror live state are read when scraped, so the hot path never updates them."""
        self.registry.register(_RevisionGauge("sidecar_injector_revision_queue_depth",
                                              "Render jobs waiting for a free worker, per revision.",
                                              revision_queue_depths))
        self.queue_depth.set_function(queue_depth)
        self.workers_busy.set_function(busy)
        self.workers_memory.set_function(lambda: resident_memory_bytes(worker_pids()))
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)

    def watch_listener(self, listener: str, open_connections: Callable[[], float]
                       ) -> tuple[Callable[[str], None], Callable[[str], None]]:
        """Read a listener's open connections at scrape time; returns its ``refused(reason)`` and
        ``closed(reason)`` counters."""
        self.connections_open.labels(listener).set_function(open_connections)
        return (lambda reason: self.connections_refused.labels(listener, reason).inc(),
                lambda reason: self.connections_closed.labels(listener, reason).inc())

    # ------------------------------------------------------------------------------------------ exposition

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The body and Content-Type for a scrape: OpenMetrics when the ``Accept`` header asks for it, else the
        text format 0.0.4."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


def _child(cache: dict[tuple[str, ...], Counter], metric: Counter, *labels: str) -> Counter:
    """``metric.labels(*labels)``, looked up once per label set: ``labels()`` validates and hashes its arguments
    under a lock on every call, which the hot path of a refused admission does not need to repeat."""
    child = cache.get(labels)
    if child is None:
        child = cache[labels] = metric.labels(*labels)
    return child


class _RevisionGauge:
    """A gauge per revision read at scrape time (``Gauge.set_function`` has no labels)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], Mapping[str, int]]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=["revision"])
        for revision, value in sorted(self._read().items()):
            family.add_metric([revision], value)
        yield family


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory_bytes(pids: Iterable[int]) -> float:
    """Sum of the resident set sizes of ``pids`` from ``/proc/<pid>/statm``; a vanished process counts 0 (it
    may exit between listing and reading); 0 where there is no ``/proc``."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return float(total * _PAGE_SIZE)
