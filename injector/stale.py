"""``GET /debug/stale`` on the monitoring port: the audit of ``injector audit``, run by the server on request.

The inputs come from what the server already holds (the pod cache of ``--watch-pods``, the namespace and node
facts of its informers, the revision registry); the audit itself is CPU work over every injected pod, so it runs
in a process of its own at low priority, never in the event loop or the render workers. That process starts on
the first request and is kept for the next ones, so templates compile once per revision there. One audit runs at
a time; concurrent requests share it, and a result younger than ``min_interval`` is answered again, so a client
polling in a loop costs at most one audit per interval. Each audit also sets the gauge
``sidecar_injector_stale_pods{status,revision}`` that ``/metrics`` exports.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from injector.audit import AuditInputs, audit_serialized
from injector.cluster_facts import KubeClusterFacts
from injector.sources.kube_pods import PodCache

log = logging.getLogger(__name__)

AUDIT_NICENESS = 10


@dataclass(frozen=True)
class StaleSettings:
    """``serve --kube --watch-pods``: where the pods and cluster facts come from."""

    pods: PodCache
    cluster: KubeClusterFacts
    min_interval: float = 5.0


def _lower_priority() -> None:
    """Audit process initializer: admissions come first on a shared machine."""
    try:
        os.nice(AUDIT_NICENESS)
    except OSError:
        pass


@dataclass
class StaleAuditor:
    """Runs audits for the monitoring app: single-flight, rate-limited, in a lazily started process."""

    settings: StaleSettings
    _executor: ProcessPoolExecutor | None = None
    _running: asyncio.Task[dict[str, Any]] | None = None
    _last: dict[str, Any] | None = None
    _last_at: float = field(default=0.0)

    async def report(self, inputs: AuditInputs) -> dict[str, Any]:
        """The latest audit, computing a new one unless one younger than ``min_interval`` exists."""
        loop = asyncio.get_running_loop()
        if self._last is not None and loop.time() - self._last_at < self.settings.min_interval:
            return self._last
        if self._running is None:
            self._running = asyncio.create_task(self._compute(inputs))
            self._running.add_done_callback(self._finished)
        return await asyncio.shield(self._running)

    async def _compute(self, inputs: AuditInputs) -> dict[str, Any]:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"),
                                                 initializer=_lower_priority)
        blobs = self.settings.pods.blobs()
        started = time.monotonic()
        report = await asyncio.get_running_loop().run_in_executor(self._executor, audit_serialized, blobs, inputs)
        report["pods_cached"] = len(blobs)
        report["computed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        report["seconds"] = round(time.monotonic() - started, 3)
        return report

    def _finished(self, task: asyncio.Task[dict[str, Any]]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._last, self._last_at = task.result(), asyncio.get_running_loop().time()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


STALE_AUDITOR = web.AppKey("stale_auditor", StaleAuditor)


def add_stale_route(app: web.Application, settings: StaleSettings | None) -> None:
    """``/debug/stale`` on the monitoring app; without ``--watch-pods`` it explains how to turn it on."""
    app.router.add_get("/debug/stale", handle_stale)
    if settings is not None:
        app[STALE_AUDITOR] = StaleAuditor(settings)

        async def close(app: web.Application) -> None:
            app[STALE_AUDITOR].close()

        app.on_cleanup.append(close)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body, option=orjson.OPT_INDENT_2), status=status,
                        content_type="application/json")


async def handle_stale(request: web.Request) -> web.Response:
    from injector.app import SERVICES

    auditor = request.app.get(STALE_AUDITOR)
    if auditor is None:
        return _json({"error": "pod cache off: start the server with --kube --watch-pods"}, 404)
    if not auditor.settings.pods.synced:
        return _json({"error": "pod cache not synced yet"}, 503)
    services = request.app[SERVICES]
    registry = services.registry
    served = {revision: registry.get(revision) for revision in registry.revisions()}
    rejected = {revision: status["last_error"] for revision, status in registry.describe()["revisions"].items()
                if not status["served"] and status["last_error"]}
    facts = auditor.settings.cluster
    inputs = AuditInputs(served, facts.snapshot(), registry.tags(), rejected=rejected)
    try:
        report = await auditor.report(inputs)
    except Exception as exc:  # noqa: BLE001 - a failed audit is one error answer, never a crashed endpoint
        log.exception("stale-pod audit failed")
        return _json({"error": f"audit failed: {exc}"}, 500)
    services.metrics.stale_audited((row["status"], row["revision"], row["pods"]) for row in report["by_status"])
    return _json(report)
