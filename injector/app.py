"""The webhook's aiohttp application: routes, the admission flow, and the lifecycle of pool, config and TLS.

The handler stays thin and does no CPU-heavy work: decode (orjson), decide (a few dict lookups), then hand the
raw pod bytes to the render pool under the apiserver's deadline, and encode the reply. Everything that can go
wrong becomes an admission answer with a message, except the HTTP-level faults Istio answers with a status code.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Mapping

import orjson
from aiohttp import hdrs, web

from injector import admission, urlpath
from injector.decision import should_inject
from injector.lazy_review import read_lazily
from injector.logging_setup import warn_limited
from injector.metrics import InjectorMetrics
from injector.patch_cache import PatchCache
from injector.revision_loader import RevisionLoader
from injector.revisions import DEFAULT_REVISION, RevisionRegistry
from injector.routing import resolve_revision
from injector.sources.files import ConfigFiles, FileConfigSource, revision_layout
from injector.tls import ReloadingTLS
from workers.facts import RequestFacts
from workers.limits import CompileLimits, RenderLimits
from workers.pool import DEFAULT_JOB, JobFailed, Overloaded, PoolError, WorkerPool
from workers.sandbox import ConfigSandbox

if TYPE_CHECKING:  # kubernetes-asyncio is imported only when --kube is on
    from injector.sources.kube_revisions import KubeSettings
    from injector.stale import StaleSettings

log = logging.getLogger(__name__)
admission_log = logging.getLogger("injector.admission")

ISTIO_MAX_BODY_BYTES = 6 * 1024 * 1024

FactsFor = Callable[[dict[str, Any], str, str, dict[str, str]], RequestFacts]
"""``facts_for(pod, namespace, revision, path_env)``, as ``ClusterFacts.facts_for``."""


def plain_facts(pod: dict[str, Any], namespace: str, revision: str, path_env: dict[str, str]) -> RequestFacts:
    """Facts when no cluster facts are configured: only what the request itself says."""
    return RequestFacts(namespace=namespace, revision=revision, path_env=path_env)


def no_namespace_labels(namespace: str) -> Mapping[str, str]:
    """Until namespaces come from informers, only pod labels steer revision selection on ``/inject``."""
    return {}


def _default_build(*args: Any, **kwargs: Any) -> Any:
    """Parse and validate config, values and mesh, but leave template compilation to the config sandbox.

    Compiling Istio's templates is ~0.7 s of CPU; done here it would hold the GIL against the event loop, and a
    hostile template could make it take forever. The sandbox compiles it under bounds (see ``install_snapshot``);
    its refusal rejects the change exactly like a parse error, so the last good snapshot keeps serving.
    """
    from workers.config.snapshot import build_revision_config

    return build_revision_config(*args, compile_now=False, **kwargs)


@dataclass(frozen=True)
class ServerOptions:
    """Everything ``create_app`` needs; ``job`` and ``build`` are replaceable so tests control rendering."""

    config_files: ConfigFiles = field(default_factory=lambda: ConfigFiles(required=False))
    config_dir: Path | None = None
    """``--config-dir``: one revision, or one subdirectory per revision; replaces ``config_files``."""
    kube: "KubeSettings | None" = None
    """``--kube``: revisions from the control namespace's ConfigMaps; replaces the file sources."""
    revision: str = DEFAULT_REVISION
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    job: str = DEFAULT_JOB
    build: Callable[..., Any] = _default_build
    facts_for: FactsFor = plain_facts
    namespace_labels: Callable[[str], Mapping[str, str]] = no_namespace_labels
    watch_config: bool = False
    tls: ReloadingTLS | None = None
    watch_interval: float = 1.0
    max_body_bytes: int = ISTIO_MAX_BODY_BYTES
    default_timeout: float = 10.0
    """Used when the apiserver sends no ``?timeout=`` (its own default is 10s)."""
    deadline_margin: float = 0.5
    """Answer this long before the apiserver gives up, to leave time for the reply to travel."""
    hang_grace: float = 5.0
    render_limits: RenderLimits = field(default_factory=RenderLimits)
    """Bounds of one admission's render: CPU budget, worker memory, patch size (``workers.limits``)."""
    compile_limits: CompileLimits = field(default_factory=CompileLimits)
    """Bounds of vetting a new config generation in the config sandbox (its trial renders get the render budget
    given in ``compile_limits.trial_render_seconds``; ``injector serve`` sets both from ``--render-budget``)."""
    drain_timeout: float = 30.0
    stale: "StaleSettings | None" = None
    """``--watch-pods``: ``/debug/stale`` audits the pod cache (monitoring port)."""


@dataclass(frozen=True)
class Services:
    options: ServerOptions
    registry: RevisionRegistry
    pool: WorkerPool
    metrics: InjectorMetrics
    sandbox: ConfigSandbox
    patches: PatchCache = field(default_factory=PatchCache)


SERVICES = web.AppKey("services", Services)
ARRIVED = web.RequestKey("arrived", float)
"""Loop time from which the request's budget counts (see ``stamp_arrivals``)."""


def stamp_arrivals(server: web.Server, arrival: Callable[[web.BaseRequest], float | None] | None = None) -> None:
    """Record in every request when it arrived, as early as the stack can tell.

    aiohttp parses a request's head as the bytes arrive, then creates the request object when the connection's
    task next runs, and starts the handler one more loop iteration later. Under load each iteration can be long,
    so the admission budget counts at the latest from the request factory, not from the handler; ``arrival``
    (``GuardedSite.arrival``) can tell an earlier moment: the request's first byte, or the connection's acceptance
    for a request sent on a connection opened for it (``server`` is ``AppRunner.server`` after ``setup()``;
    requests of a server not stamped count from the handler's start).
    """
    make_request = server.request_factory
    loop = asyncio.get_running_loop()  # the server's; looked up once, not per request (a system call in 3.11)

    def stamped(*args: Any) -> web.BaseRequest:
        request = make_request(*args)
        now = loop.time()
        seen = arrival(request) if arrival is not None else None
        request[ARRIVED] = now if seen is None else min(now, seen)
        return request

    server.request_factory = stamped


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one admission plus what the log line and metrics need."""

    allowed: bool
    outcome: str
    """injected | skipped | denied | http_error (see ``metrics.OUTCOMES``)"""
    reason: str
    """Decision code, or the failure type when denied."""
    message: str | None = None
    patch: bytes | None = None


# ------------------------------------------------------------------------------------------------ HTTP helpers

Answer = tuple[web.Response, str, Verdict]
"""What one inject request produced: the reply, the revision that served it ("" if none) and the verdict."""


def _http_error(request: web.BaseRequest, status: int, message: str, failure: str, *, close: bool = False) -> Answer:
    """Go's ``http.Error``: plain text, nosniff, message plus newline. ``close`` ends the connection after the
    reply (the rest of the request was not read)."""
    warn_limited(admission_log, "request refused", f"refused:{failure}",
                 lambda: {"status": status, "reason": failure, "path": request.path, "remote": request.remote})
    response = web.Response(status=status, text=message + "\n", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})
    if close:
        response.force_close()
    return response, "", Verdict(False, "http_error", failure, message)


def _review_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


async def _read_limited(request: web.BaseRequest, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` (without reading the rest)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(request: web.BaseRequest, limit: int, deadline: float) -> bytes | None:
    """``_read_limited`` by ``deadline`` (loop time; TimeoutError after it). A body already received in full (the
    usual case: the apiserver sends a review at once) is taken as it is, without the timer and the chunk loop."""
    content = request.content
    if content.is_eof():  # nothing left to wait for, so no deadline to keep
        body = content.read_nowait()  # raises the payload's error (bad compression), as reading it would
        return body if len(body) <= limit else None
    async with asyncio.timeout_at(deadline):
        return await _read_limited(request, limit)


TIMEOUT_CACHE_SIZE = 64
"""Distinct query strings whose ``timeout`` is remembered: the apiserver sends one per webhook configuration."""
_TIMEOUTS: dict[tuple[str, float], float] = {}


def _request_timeout(request: web.BaseRequest, default: float) -> float:
    """``urlpath.request_timeout`` of the request's ``?timeout=``, remembered per raw query string: parsing the
    query and the duration cost more than the rest of a refused admission's decision."""
    key = (request.rel_url.raw_query_string, default)
    timeout = _TIMEOUTS.get(key)
    if timeout is None:
        timeout = urlpath.request_timeout(request.query.get("timeout"), default)
        if len(_TIMEOUTS) >= TIMEOUT_CACHE_SIZE:  # clients choose query strings: keep the cache bounded
            del _TIMEOUTS[next(iter(_TIMEOUTS))]
        _TIMEOUTS[key] = timeout
    return timeout


# ------------------------------------------------------------------------------------------------ admission

async def handle_inject(request: web.Request) -> web.StreamResponse:
    """Every /inject route of the router. Istio accepts any method; so do we."""
    return await serve_inject(request, request.app[SERVICES], request.match_info.get("revision"))


def serve_inject_directly(server: web.Server, app: web.Application) -> None:
    """Hand requests for ``/inject`` and ``/inject/...`` straight to ``serve_inject``, the rest to the router.

    For these paths the router's answer is fixed (``handle_inject``, no revision in the path, no middleware, no
    response signal), but finding it per request (the URL index walk, a match-info object, aiohttp's loop lookup,
    a getpid() system call in Python 3.11) cost a few per cent of a refused admission, the common case under
    overload. A request with ``Expect`` takes the router's way (its 100-continue handling), as do ``/rev/...``
    paths. ``server`` is ``AppRunner.server`` after ``setup()``, changed before the site starts (``GuardedSite``
    wraps the handler it finds); without this call every request takes the router's way, with the same answers.
    An application with middlewares or response signals keeps the router for everything: they would be skipped.
    """
    if app.middlewares or app.on_response_prepare:
        return
    route = server.request_handler
    services = app[SERVICES]

    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        path = request.rel_url.path_safe  # what the router matches routes against
        if (path == "/inject" or path.startswith("/inject/")) and hdrs.EXPECT not in request.headers:
            return await serve_inject(request, services, None)
        return await route(request)

    server.request_handler = dispatch


async def serve_inject(request: web.BaseRequest, services: Services, routed: str | None) -> web.StreamResponse:
    """One admission. ``routed``: the revision a ``/rev/<rev>/inject`` path names, else None."""
    loop = asyncio.get_running_loop()  # once per request: in Python 3.11 each call is a getpid() system call
    started = request.get(ARRIVED) or loop.time()
    revision, outcome, reason = "", "http_error", "internal"  # what an unexpected exception counts as
    try:
        response, revision, verdict = await _inject(request, services, routed, loop, started)
        outcome, reason = verdict.outcome, verdict.reason
        return response
    finally:
        label = revision if services.registry.get(revision) is not None else ""
        services.metrics.observe_admission(label, outcome, reason, loop.time() - started)


async def _inject(request: web.BaseRequest, services: Services, routed: str | None,
                  loop: asyncio.AbstractEventLoop, started: float) -> Answer:
    limit = services.options.max_body_bytes
    timeout = _request_timeout(request, services.options.default_timeout)
    try:  # a client sending its body slowly must not hold the connection past the apiserver's own deadline
        body = await _read_body(request, limit, started + timeout)
    except TimeoutError:
        return _http_error(request, 408, f"request body not received within {loop.time() - started:.2f}s",
                           "body_timeout", close=True)
    except web.RequestPayloadError as exc:  # bad Content-Encoding or chunking: the body cannot be read at all
        return _http_error(request, 400, f"cannot read the request body: {exc}", "bad_body", close=True)
    if body is None:
        return _http_error(request, 413, f"Request entity too large: limit is {limit}", "body_too_large")
    if not body:
        return _http_error(request, 400, "no body found", "no_body")
    if request.headers.get("Content-Type") != "application/json":
        return _http_error(request, 415, "invalid Content-Type, want `application/json`", "content_type")
    try:
        review = _decode(body, services.patches.max_entry_bytes)
    except (admission.ReviewError, admission.RequestError) as exc:
        api_version = exc.api_version if isinstance(exc, admission.RequestError) else None
        verdict = Verdict(False, "denied", "decode", str(exc))
        _log_admission(request, None, "", verdict, loop.time() - started)
        return _review_response(admission.encode_response(api_version, "", allowed=False,
                                                          message=str(exc))), "", verdict
    try:
        revision, verdict = await _admit(request, services, routed, review, body, started, timeout)
    except Exception:  # noqa: BLE001 - our bug: the apiserver still gets a review, our log gets the traceback
        log.exception("internal error admitting pod %s (uid %s)", admission.pod_name(review.pod, review.namespace),
                      review.uid)
        revision, verdict = "", Verdict(False, "denied", "internal", "internal error in the sidecar injector")
    _log_admission(request, review, revision, verdict, loop.time() - started)
    return _review_response(admission.encode_response(
        review.api_version, review.uid, allowed=verdict.allowed, message=verdict.message,
        patch=verdict.patch)), revision, verdict


def _decode(body: bytes, lazy_from: int) -> admission.AdmissionRequest:
    """A review at least ``lazy_from`` bytes long (too large for the patch cache to keep its pod) is read only up
    to its pod's spec when its layout allows (``lazy_review``): the worker decodes the pod, once."""
    if len(body) >= lazy_from:
        review = read_lazily(body)
        if review is not None:
            return review
    return admission.decode_review(body)


def _route_revision(routed: str | None, services: Services, pod: dict[str, Any], namespace: str) -> str:
    """``/rev/<rev>/inject`` names it (``routed``); on ``/inject`` the revision Istio's webhook selectors would pick
    for the pod and namespace labels, if we serve it, else our own (``--revision``)."""
    if routed is not None:
        return services.registry.resolve_tag(routed)
    labels = (pod.get("metadata") or {}).get("labels") or {}
    selected = resolve_revision(labels, services.options.namespace_labels(namespace))
    if selected and services.registry.lookup(selected) is not None:
        return services.registry.resolve_tag(selected)
    return services.options.revision


async def _admit(request: web.BaseRequest, services: Services, routed: str | None,
                 review: admission.AdmissionRequest, body: bytes, started: float, timeout: float
                 ) -> tuple[str, Verdict]:
    pod = review.pod
    if not review.is_pod_create:
        return "", Verdict(True, "skipped", "not-pod-create")
    if review.pod_error is not None:
        return "", Verdict(False, "denied", "bad_pod", review.pod_error)
    if pod is None:
        return "", Verdict(False, "denied", "bad_pod", "admission request has no pod object")
    namespace = (pod.get("metadata") or {}).get("namespace") or review.namespace
    revision = _route_revision(routed, services, pod, namespace)
    snapshot = services.registry.get(revision)
    name = admission.pod_name(pod, review.namespace)
    if snapshot is None:
        return revision, Verdict(False, "denied", "unknown_revision",
                                 f"cannot inject pod {name}: revision {revision!r} is not served by this injector")
    decision = should_inject(pod, snapshot.config, namespace)
    if not decision.inject:
        return revision, Verdict(True, "skipped", decision.code)

    path = request.path
    if routed is not None:
        path = urlpath.strip_revision(path, routed)
    facts = services.options.facts_for(pod, namespace, revision, urlpath.inject_envs(path))
    if review.pod_in_review:
        pod_json, cache_key = body, None
    else:
        try:
            pod_json = orjson.dumps(pod)
        except orjson.JSONEncodeError as exc:  # decodes (1,024 levels) but nests too deep to encode (255)
            return revision, Verdict(False, "denied", "bad_pod", f"could not decode pod {name}: nested too deeply "
                                                                 f"({exc})")
        cache_key = services.patches.key(snapshot.generation, facts, pod_json)
        patch = services.patches.get(cache_key)
        if patch is not None:
            return revision, Verdict(True, "injected", decision.code, patch=patch)
    budget = max(timeout - services.options.deadline_margin, 0.0)
    deadline = started + budget
    try:  # queueing is synchronous: a refusal, the common case under overload, needs no timer
        job = services.pool.enqueue(snapshot.generation, pod_json, facts, revision=revision, deadline=deadline,
                                    in_review=review.pod_in_review)
        async with asyncio.timeout_at(deadline):
            patch = await services.pool.result(job)
    except TimeoutError:
        return revision, Verdict(False, "denied", "timeout",
                                 f"injection of pod {name} timed out after {budget:.2f}s "
                                 f"(the apiserver waits {timeout:g}s)")
    except Overloaded as exc:
        services.metrics.count_shed(exc.reason, revision)
        return revision, Verdict(False, "denied", "overloaded", _overload_message(name, revision, budget, exc))
    except JobFailed as exc:
        kind = "injection" if exc.user_error else "internal"
        return revision, Verdict(False, "denied", kind, f"injection of pod {name} failed: {exc}")
    except PoolError as exc:
        return revision, Verdict(False, "denied", "internal", f"injection of pod {name} failed: {exc}")
    services.patches.put(cache_key, patch)
    return revision, Verdict(True, "injected", decision.code, patch=patch)


def _overload_message(name: str, revision: str, budget: float, exc: Overloaded) -> str:
    """Say at once, rather than at the deadline, that this admission cannot be served in time."""
    if exc.reason == "expired":
        why = "its deadline passed while it waited for a render worker"
    elif exc.reason == "overloaded":
        why = f"revision {revision} is overloaded (estimated wait {exc.wait:.2f}s)"
    else:
        why = f"estimated wait {exc.wait:.2f}s plus render {exc.render:.2f}s exceeds its budget of {budget:.2f}s"
    return f"injector overloaded: pod {name} was not injected because {why}; it was not rendered, retry later"


def _log_admission(request: web.BaseRequest, review: admission.AdmissionRequest | None, revision: str,
                   verdict: Verdict, latency: float) -> None:
    """One line per admission: a denial at warning level (rate-limited), anything else at info. Its fields are
    not built for a record that would be dropped (level off, or over the rate limit): a busy server refusing
    thousands a second would build them only to throw them away."""

    def fields() -> dict[str, Any]:
        pod = review.pod if review is not None else None
        metadata = (pod or {}).get("metadata") or {}
        built = {
            "uid": review.uid if review is not None else "",
            "namespace": metadata.get("namespace") or (review.namespace if review is not None else ""),
            "pod": metadata.get("name") or metadata.get("generateName") or "",
            "revision": revision,
            "reason": verdict.reason,
            "outcome": verdict.outcome,
            "latency_ms": round(latency * 1000, 3),
            "path": request.path,
        }
        if verdict.message is not None:
            built["message"] = verdict.message
        return built

    if verdict.outcome == "denied":  # a flood of bad requests must not flood the log
        warn_limited(admission_log, "admission", f"denied:{verdict.reason}", fields)
    elif admission_log.isEnabledFor(logging.INFO):
        admission_log.info("admission", extra={"fields": fields()})


# ------------------------------------------------------------------------------------------------ probes, metrics

async def handle_healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def _is_ready(services: Services) -> bool:
    """Some revision is served and every served revision's generation is compiled in every render worker (a
    replacement counts once it has loaded). A rejected change leaves the previous generation serving, so it does
    not make the server unready. Any revision, not ``--revision``: a cluster may run only canaries."""
    served = [services.registry.get(revision) for revision in services.registry.revisions()]
    return bool(served) and all(services.pool.serves(snapshot.generation) for snapshot in served)


async def handle_readyz(request: web.Request) -> web.Response:
    if _is_ready(request.app[SERVICES]):
        return web.Response(text="ready\n")
    return web.Response(status=503, text="not ready\n")


async def handle_debug_revisions(request: web.Request) -> web.Response:
    """Each revision and tag: generation, source, load time, template names, last rejected change."""
    body = orjson.dumps(request.app[SERVICES].registry.describe(), option=orjson.OPT_INDENT_2)
    return web.Response(body=body, content_type="application/json")


async def handle_metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[SERVICES].metrics.exposition(request.headers.get("Accept"))
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type  # carries its own charset and version parameters
    return response


# ------------------------------------------------------------------------------------------------ lifecycle

async def install_snapshot(services: Services, snapshot: Any, source: str = "") -> None:
    """Make a built snapshot serve its revision: vetted in the config sandbox first (compiled and trial-rendered
    under bounds; a serving revision with the same templates lends its compiled code), then loaded by the workers,
    then swapped into the registry, so no request ever names a generation the workers lack and no worker ever
    loads a config that failed vetting. Every config source (files, informers) goes through here."""
    registry = services.registry
    snapshot = await services.sandbox.prepare(snapshot, (registry.get(r) for r in registry.revisions()))
    await services.pool.load(snapshot, snapshot.generation)
    registry.set(snapshot.revision, snapshot, source=source)


def _track_changes(services: Services) -> None:
    metrics = services.metrics

    def on_change(revision: str, old: Any | None, new: Any | None) -> None:
        if old is not None:
            services.pool.retire(old.generation)
            services.patches.forget(old.generation)
        if new is None:
            metrics.revision_removed(revision)
            services.pool.forget_revision(revision)
        else:
            metrics.revision_installed(revision, new.generation)

    services.registry.add_listener(on_change)


def _config_error(services: Services) -> Callable[[str, Exception], None]:
    def on_error(revision: str, exc: Exception) -> None:
        services.metrics.revision_rejected(revision)
        log.error("rejected new config for revision %s, the previous one keeps serving: %s", revision, exc)

    return on_error


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    options = services.options
    await services.pool.start()
    tasks: list[asyncio.Task[None]] = []
    closers: list[Callable[[], Any]] = []
    try:
        loader = RevisionLoader(services.registry, build=options.build,
                                install=functools.partial(install_snapshot, services),
                                on_error=_config_error(services))
        if options.kube is not None:
            from injector.sources.kube_revisions import KubeRevisions

            kube = await KubeRevisions.start(options.kube, loader)
            closers.append(kube.close)
            services.registry.use_tag_source(kube.source.facts.tag_to_revision)
        else:
            source = FileConfigSource(_file_layout(options), loader)
            await source.load()
            if options.watch_config:
                tasks.append(asyncio.create_task(source.watch(options.watch_interval)))
        if options.tls is not None:
            metrics = services.metrics
            tasks.append(asyncio.create_task(options.tls.watch(
                interval=options.watch_interval,
                on_result=lambda ok: (metrics.tls_reloads if ok else metrics.tls_reload_failures).inc())))
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for close in closers:
            await close()
        await services.pool.close(options.drain_timeout)


def _file_layout(options: ServerOptions) -> Callable[[], dict[str, ConfigFiles]]:
    if options.config_dir is not None:
        return functools.partial(revision_layout, options.config_dir, options.revision)
    return lambda: {options.revision: options.config_files}


def create_app(options: ServerOptions) -> web.Application:
    """The TLS-port application: /inject routes plus probes and metrics."""
    metrics = InjectorMetrics()
    pool = WorkerPool(options.workers, job=options.job,
                      hang_grace=options.hang_grace, on_restart=metrics.worker_restarts.inc,
                      limits=options.render_limits)
    sandbox = ConfigSandbox(options.job, limits=options.compile_limits)
    services = Services(options, RevisionRegistry(), pool, metrics, sandbox)
    metrics.watch(queue_depth=lambda: pool.queue_depth, busy=lambda: pool.busy, worker_pids=lambda: pool.pids,
                  ready=lambda: _is_ready(services), revision_queue_depths=pool.queue_depths)
    _track_changes(services)

    app = web.Application()
    app[SERVICES] = services
    for path in ("/inject", "/inject/{tail:.*}", "/rev/{revision}/inject", "/rev/{revision}/inject/{tail:.*}"):
        app.router.add_route("*", path, handle_inject)
    _add_probes(app)
    app.cleanup_ctx.append(_lifecycle)
    return app


DEBUG_ROUTES: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    "/debug/revisions": handle_debug_revisions,
}
"""``/debug/*``: internal state for operators, served on the monitoring listener only (never the webhook port,
which the apiserver and so every network path to it can reach). Add a debug endpoint here."""


def create_monitoring_app(main_app: web.Application) -> web.Application:
    """Plain-HTTP probes, metrics and the debug routes, sharing the main application's state (no /inject)."""
    from injector.stale import add_stale_route

    app = web.Application()
    app[SERVICES] = main_app[SERVICES]
    _add_probes(app)
    for path, handler in DEBUG_ROUTES.items():
        app.router.add_get(path, handler)
    add_stale_route(app, app[SERVICES].options.stale)  # /debug/stale, with the pod cache's auditor when on
    return app


def _add_probes(app: web.Application) -> None:
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    app.router.add_get("/metrics", handle_metrics)
