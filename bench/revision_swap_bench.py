"""Hot swap under load: time from a ConfigMap update to the first admission rendered with it, and failed admissions.

    python bench/revision_swap_bench.py [--updates 20] [--clients 8] [--workers 2] [--istio]

The fake kube-apiserver (tests/fakekube, real HTTP list/watch) runs in this process; ``injector serve --kube`` runs
as a subprocess over real TLS, so the load generator does not share its event loop. ``--clients`` loops post
admissions back to back to ``/inject`` for a pod in a namespace labelled ``istio.io/rev=blue``; meanwhile the
``blue`` revision's config is updated ``--updates`` times. Each config makes the sidecar carry ``MARK=<n>``, so a
reply says which snapshot rendered it. Latency = update written to the fake API -> first reply carrying the new
mark. Failed = any reply that is not HTTP 200 + allowed with a patch, or any connection error.

``--istio`` serves Istio's own default config (Go templates, from the shared conformance corpus beside the checkout)
and updates the mesh ConfigMap's ``defaultConfig.proxyMetadata.MARK`` instead: every update then rebuilds Istio's
full template set.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakekube import FakeKube  # noqa: E402
from tests.server.conftest import pod, review, run_certs  # noqa: E402
from tests.server.revisions_support import ISTIO_CONFIGS, injected, istio_texts, marked_config  # noqa: E402
from tests.server.serve_process import ServeNotReady, free_port, start_serve, wait_ready  # noqa: E402

NS = "istio-system"


class Scenario:
    """How the ``blue`` revision's ConfigMaps look for a given mark, in the jinja2 or the Istio flavour."""

    def __init__(self, istio: bool) -> None:
        self.texts = istio_texts() if istio else None
        if istio and self.texts is None:
            raise SystemExit(f"--istio needs {ISTIO_CONFIGS}")

    def configmaps(self, mark: str) -> list[dict]:
        if self.texts is None:
            return [{"metadata": {"name": "istio-sidecar-injector-blue"},
                     "data": {"config": marked_config(mark), "values": "{}"}}]
        config, values, mesh = self.texts
        mesh_with_mark = mesh.replace("defaultConfig:\n", f"defaultConfig:\n  proxyMetadata:\n    MARK: \"{mark}\"\n",
                                      1)
        return [{"metadata": {"name": "istio-sidecar-injector-blue"}, "data": {"config": config, "values": values}},
                {"metadata": {"name": "istio-blue"}, "data": {"mesh": mesh_with_mark}}]

    def changed(self, mark: str) -> dict:
        """The one ConfigMap an update writes."""
        return self.configmaps(mark)[-1]


class Load:
    """Client loops; records every reply's mark with its arrival time, and every failure."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext, clients: int) -> None:
        self._url = url
        self._ssl = ssl_context
        self._clients = clients
        self.first_seen: dict[str, float] = {}
        self.total = 0
        self.failures: list[str] = []
        self._body = orjson.dumps(review(pod(namespace="apps"), namespace="apps"))

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self._clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._loop(session, stop) for _ in range(self._clients)))

    async def _loop(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        headers = {"Content-Type": "application/json"}
        while not stop.is_set():
            try:
                async with session.post(self._url, data=self._body, headers=headers) as response:
                    body = await response.read()
                    arrived = time.perf_counter()
                    status = response.status
            except aiohttp.ClientError as exc:
                self.failures.append(f"connection: {exc}")
                continue
            self.total += 1
            result = injected(orjson.loads(body)) if status == 200 else None
            if result is None or not result.allowed or result.mark is None:
                self.failures.append(f"status {status}: {body[:200]!r}")
                continue
            self.first_seen.setdefault(result.mark, arrived)


async def main(args: argparse.Namespace) -> dict:
    scenario = Scenario(args.istio)
    workdir = Path(tempfile.mkdtemp(prefix="swap-bench-"))
    with contextlib.redirect_stdout(io.StringIO()):  # it lists the files it wrote; keep stdout pure JSON
        run_certs("--dns-name", "localhost", "--out-dir", str(workdir / "tls"))
    ssl_context = ssl.create_default_context(cafile=str(workdir / "tls" / "ca.crt"))

    kube = FakeKube()
    await kube.start()
    for cm in scenario.configmaps("0"):
        kube.create("configmaps", cm, NS)
    kube.create("namespaces", {"metadata": {"name": "apps", "labels": {"istio.io/rev": "blue"}}})
    port = free_port()
    process = await start_serve(
        port, "--tls-cert-file", str(workdir / "tls" / "tls.crt"), "--tls-key-file", str(workdir / "tls" / "tls.key"),
        "--kube", "--kubeconfig", str(kube.write_kubeconfig(workdir / "kubeconfig")), "--workers", str(args.workers),
        "--log-level", "warning", stdout=asyncio.subprocess.DEVNULL)
    try:
        base = f"https://localhost:{port}"
        try:
            await wait_ready(f"{base}/readyz", process, ssl_context=ssl_context)
        except ServeNotReady as exc:
            raise SystemExit(str(exc)) from None
        load = Load(f"{base}/inject", ssl_context, args.clients)
        stop = asyncio.Event()
        load_task = asyncio.create_task(load.run(stop))
        await asyncio.sleep(args.warmup)
        latencies: list[float] = []
        for n in range(1, args.updates + 1):
            mark = str(n)
            written = time.perf_counter()
            kube.update("configmaps", scenario.changed(mark), NS)
            deadline = written + args.timeout
            while mark not in load.first_seen and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if mark not in load.first_seen:
                raise SystemExit(f"update {n} was not served within {args.timeout}s; marks seen: "
                                 f"{sorted(load.first_seen)}, failures: {load.failures[:2]}")
            latencies.append(load.first_seen[mark] - written)
            await asyncio.sleep(args.gap)
        stop.set()
        await load_task
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await kube.close()
    return {
        "scenario": "istio-default (Go templates, mesh ConfigMap updated)" if args.istio else "jinja2 (config updated)",
        "updates": len(latencies), "clients": args.clients, "workers": args.workers,
        "update_to_first_admission_ms": {"median": round(statistics.median(latencies) * 1000, 1),
                                         "max": round(max(latencies) * 1000, 1),
                                         "min": round(min(latencies) * 1000, 1)},
        "admissions": load.total, "failed_admissions": len(load.failures), "failure_samples": load.failures[:3],
    }


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--updates", type=int, default=20)
    cli.add_argument("--clients", type=int, default=8, help="concurrent admission loops (default 8)")
    cli.add_argument("--workers", type=int, default=2, help="render processes of the injector (default 2)")
    cli.add_argument("--gap", type=float, default=0.3, help="seconds between a swap and the next update")
    cli.add_argument("--warmup", type=float, default=1.0)
    cli.add_argument("--timeout", type=float, default=10.0, help="fail if an update is not served by then")
    cli.add_argument("--istio", action="store_true", help="Istio's default config instead of a small jinja2 one")
    print(json.dumps(asyncio.run(main(cli.parse_args())), indent=2))
