"""``injector serve``: the admission webhook over TLS, with optional plain-HTTP probes and metrics.

On SIGTERM/SIGINT the listeners close first, in-flight admissions finish (up to ``--drain-timeout``), then the
render workers stop: a rolling update loses no admission that already reached us.
"""
from __future__ import annotations

import argparse
import functools
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from injector.config_flags import add_config_arguments
from workers.limits import (MIB, SERVER_RESERVE, CompileLimits, RenderLimits, container_memory_limit,
                            worker_memory_for)

if TYPE_CHECKING:
    from injector.app import ServerOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9443, help="TLS port of the webhook (default 9443)")
    parser.add_argument("--address", default="0.0.0.0",
                        help="address of the webhook listener (default 0.0.0.0: all IPv4 interfaces)")
    parser.add_argument("--tls-cert-file", type=Path, required=True, help="serving certificate (PEM); watched")
    parser.add_argument("--tls-key-file", type=Path, required=True, help="its private key (PEM); watched")
    add_config_arguments(parser)
    parser.add_argument("--config-dir", type=Path,
                        help="directory holding files config, values and mesh (mounted ConfigMaps), or one "
                             "subdirectory per revision holding them; watched, and exclusive with the three file flags")
    parser.add_argument("--kube", action="store_true",
                        help="serve every revision from the ConfigMaps istio-sidecar-injector[-<rev>] and "
                             "istio[-<rev>] of --control-namespace, with namespace and node facts from informers")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="with --kube: kubeconfig to use (default: in-cluster service account)")
    parser.add_argument("--control-namespace", default="istio-system",
                        help="with --kube: namespace of the revision ConfigMaps (default istio-system)")
    parser.add_argument("--watch-pods", action="store_true",
                        help="with --kube: cache every pod (trimmed) so that /debug/stale on the monitoring port "
                             "can report stale injections; needs list/watch on pods")
    parser.add_argument("--webhook-config-name", action="append", default=[], dest="webhook_config_names",
                        metavar="NAME", help="keep the caBundle of this MutatingWebhookConfiguration equal to "
                                             "--ca-cert-file (repeatable; talks to the cluster like --kube)")
    parser.add_argument("--webhook-config-selector", metavar="SELECTOR",
                        help="the same for every MutatingWebhookConfiguration matching this label selector")
    parser.add_argument("--ca-cert-file", type=Path, metavar="PATH",
                        help="CA for that caBundle (default: ca.crt beside --tls-cert-file); watched")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="render processes (default: CPU count)")
    parser.add_argument("--monitoring-port", type=int,
                        help="plain-HTTP port for /metrics, /healthz, /readyz and /debug/* (off when not given; "
                             "/debug/* is served nowhere else)")
    parser.add_argument("--monitoring-address",
                        help="address of the monitoring listener (default: --address)")
    parser.add_argument("--max-connections", type=int,
                        help="webhook connections held at once; at the cap the one idle longest is closed "
                             "(default: what the file descriptor limit, raised to its hard limit, leaves after a "
                             "reserve for the monitoring port and the workers; at most 4096)")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds for a TLS handshake, and for a request's headers from its first byte; "
                             "also for a reply the client does not read (default 10)")
    parser.add_argument("--idle-timeout", type=float, default=120.0,
                        help="seconds an idle keep-alive connection is kept; keep it above kube-apiserver's 90s "
                             "idle reuse (default 120)")
    parser.add_argument("--log-format", choices=("json", "text"), default="text")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--max-body-bytes", type=int, default=6 * 1024 * 1024,
                        help="larger admission requests are refused with 413 (default 6 MiB, as Istio)")
    parser.add_argument("--deadline-margin", type=float, default=0.5,
                        help="seconds to answer before the apiserver's ?timeout= runs out (default 0.5)")
    parser.add_argument("--watch-interval", type=float, default=1.0,
                        help="seconds between checks of the config and certificate files (default 1)")
    parser.add_argument("--drain-timeout", type=float, default=30.0,
                        help="on shutdown, how long in-flight admissions may take to finish (default 30)")
    _add_limit_arguments(parser)


def _add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Bounds on what one revision's templates may cost (``workers.limits``): a hostile or broken config must not
    take CPU or memory from the other revisions."""
    render, compile_ = RenderLimits(), CompileLimits()
    parser.add_argument("--render-budget", type=float, default=render.cpu_seconds, metavar="SECONDS",
                        help="CPU time one admission's render may use; beyond it the admission fails with a "
                             f"message (default {render.cpu_seconds:g})")
    parser.add_argument("--render-kill-grace", type=float, default=render.kill_grace, metavar="SECONDS",
                        help="a render worker that used this much more CPU time than the render budget on one "
                             f"admission without stopping is killed and replaced (default {render.kill_grace:g})")
    parser.add_argument("--worker-memory-limit", type=int, metavar="MIB",
                        help="address-space limit of each render worker and of the config sandbox; a render "
                             f"allocating more fails (default {render.memory_bytes // MIB}, or less so that "
                             "--workers + 1 of them and the server fit in the container's memory limit; "
                             "0: unbounded)")
    parser.add_argument("--render-memory", type=int, default=(render.render_memory_bytes or 0) // MIB,
                        metavar="MIB", help="address space one admission's render may add to its render worker; a "
                                            "render needing more fails at once (default "
                                            f"{(render.render_memory_bytes or 0) // MIB}; 0: only "
                                            "--worker-memory-limit bounds it)")
    parser.add_argument("--max-patch-bytes", type=int, default=render.max_patch_bytes,
                        help=f"larger JSON patches fail the admission (default {render.max_patch_bytes // MIB} MiB)")
    parser.add_argument("--compile-budget", type=float, default=compile_.cpu_seconds, metavar="SECONDS",
                        help="CPU time for compiling and trial-rendering a new config in its sandbox (and a "
                             "third of its wall-clock time); beyond it the change is rejected "
                             f"(default {compile_.cpu_seconds:g})")


def _limits_from(args: argparse.Namespace) -> tuple[RenderLimits, CompileLimits]:
    if args.worker_memory_limit is None:
        memory: int | None = _default_worker_memory(args.workers)
    else:
        memory = args.worker_memory_limit * MIB or None
    render = RenderLimits(cpu_seconds=args.render_budget, kill_grace=args.render_kill_grace, memory_bytes=memory,
                          max_patch_bytes=args.max_patch_bytes, render_memory_bytes=args.render_memory * MIB or None)
    return render, CompileLimits(cpu_seconds=args.compile_budget, memory_bytes=memory,
                                 wall_seconds=3 * args.compile_budget, trial_render_seconds=args.render_budget,
                                 trial_render_memory_bytes=render.render_memory_bytes)


def _default_worker_memory(workers: int) -> int:
    import logging

    container = container_memory_limit()
    memory = worker_memory_for(workers, container)
    if container is not None and (workers + 1) * memory + SERVER_RESERVE > container:
        logging.getLogger("injector.serve").warning(
            "the container's memory limit (%d MiB) is too small for %d render workers of %d MiB each: a few "
            "memory-hungry renders at once could get the container killed; lower --workers", container // MIB,
            workers, memory // MIB)
    return memory


def run(args: argparse.Namespace) -> int:
    import uvloop

    from injector import logging_setup

    logging_setup.configure(args.log_format, args.log_level)
    file_flags = (args.inject_config_file, args.values_file, args.mesh_config_file)
    if args.config_dir is not None and any(file_flags):
        raise SystemExit("injector serve: --config-dir excludes --injectConfigFile/--valuesFile/--meshConfigFile")
    if args.kube and (args.config_dir is not None or any(file_flags)):
        raise SystemExit("injector serve: --kube excludes --config-dir and the config file flags")
    if args.kubeconfig and not (args.kube or args.webhook_config_names or args.webhook_config_selector):
        raise SystemExit("injector serve: --kubeconfig needs --kube or --webhook-config-name/-selector")
    if args.watch_pods and not args.kube:
        raise SystemExit("injector serve: --watch-pods needs --kube")
    from workers.pool import start_zygote

    start_zygote()  # its imports run while ours do
    return uvloop.run(_serve(args, _options(args)))


def _options(args: argparse.Namespace) -> "ServerOptions":
    from injector.app import ServerOptions
    from injector.sources.files import ConfigFiles
    from injector.tls import ReloadingTLS

    file_flags = (args.inject_config_file, args.values_file, args.mesh_config_file)
    files = ConfigFiles(*(Path(f) if f else None for f in file_flags))
    cluster: dict[str, Any] = {}
    if args.kube:
        cluster = _kube_options(args)
    elif args.cluster_facts is not None:
        from injector.cluster_facts import load_cluster_facts

        facts = load_cluster_facts(args.cluster_facts)
        cluster = {"facts_for": facts.facts_for, "namespace_labels": facts.namespace_labels}
    render_limits, compile_limits = _limits_from(args)
    return ServerOptions(
        config_files=files, config_dir=args.config_dir, revision=args.revision or "default", workers=args.workers,
        render_limits=render_limits, compile_limits=compile_limits,
        **cluster,
        watch_config=args.config_dir is not None, tls=ReloadingTLS(args.tls_cert_file, args.tls_key_file),
        watch_interval=args.watch_interval, max_body_bytes=args.max_body_bytes,
        deadline_margin=args.deadline_margin, drain_timeout=args.drain_timeout,
    )


def _kube_options(args: argparse.Namespace) -> dict[str, Any]:
    """Informer-fed facts; feature flags still from the environment (and --cluster-facts, whose namespaces and
    nodes are ignored: the cluster's own win). Nodes are watched only for ENABLE_NATIVE_SIDECARS=auto."""
    from injector.cluster_facts import KubeClusterFacts, load_cluster_facts
    from injector.sources.kube_revisions import KubeSettings

    facts = KubeClusterFacts.from_flags(load_cluster_facts(args.cluster_facts).feature_flags)
    options: dict[str, Any] = {"facts_for": facts.facts_for, "namespace_labels": facts.namespace_labels}
    pods = None
    if args.watch_pods:
        from injector.sources.kube_pods import PodCache
        from injector.stale import StaleSettings

        pods = PodCache()
        options["stale"] = StaleSettings(pods, facts)
    return {"kube": KubeSettings(args.kubeconfig, args.control_namespace, facts.live, pods=pods), **options}


async def _serve(args: argparse.Namespace, options: "ServerOptions") -> int:
    import asyncio
    import logging
    import signal

    from aiohttp import web

    from injector.app import SERVICES, create_app, create_monitoring_app, serve_inject_directly, stamp_arrivals
    from injector.listeners import (LINGER, MONITORING_MAX_CONNECTIONS, SHEDDING_WINDOW, ConnectionLimits, GuardedSite,
                                    fd_budget)

    assert options.tls is not None
    log = logging.getLogger("injector.serve")
    webhook_limits = ConnectionLimits(max_connections=args.max_connections or fd_budget(args.workers),
                                      header_timeout=args.header_timeout, idle_timeout=args.idle_timeout,
                                      write_timeout=args.header_timeout)
    app = create_app(options)
    if args.webhook_config_names or args.webhook_config_selector:
        from injector.webhook_ca import cleanup_context

        app.cleanup_ctx.append(cleanup_context(args))  # caBundle sync, after the config lifecycle started
    listeners = [("webhook", app, args.address, args.port, webhook_limits, options.tls.context)]
    if args.monitoring_port is not None:
        monitoring_limits = replace(webhook_limits, max_connections=MONITORING_MAX_CONNECTIONS)
        listeners.append(("monitoring", create_monitoring_app(app), args.monitoring_address or args.address,
                          args.monitoring_port, monitoring_limits, None))
    runners = []
    for name, listener_app, address, port, limits, tls in listeners:
        runner = web.AppRunner(listener_app, access_log=None, shutdown_timeout=args.drain_timeout,
                               keepalive_timeout=limits.idle_timeout, lingering_time=LINGER)
        runners.append(runner)
        await runner.setup()  # the webhook app's lifecycle starts the workers and loads the config
        assert runner.server is not None
        shedding = functools.partial(app[SERVICES].pool.shedding, SHEDDING_WINDOW) if name == "webhook" else None
        site = GuardedSite(runner, address, port, limits=limits, ssl_context=tls, shedding=shedding)
        stamp_arrivals(runner.server, site.arrival)
        if name == "webhook":
            serve_inject_directly(runner.server, app)
        site.refused_event, site.closed_event = app[SERVICES].metrics.watch_listener(
            name, lambda site=site: len(site.connections))
        await site.start()
        log.info("listening", extra={"fields": {"listener": name, "url": site.name,
                                                "max_connections": limits.max_connections}})

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down: draining in-flight admissions")
    for runner in runners:
        await runner.cleanup()
    return 0
