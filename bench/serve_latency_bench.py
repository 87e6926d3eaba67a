"""Sequential end-to-end latency of a served admission (one client, keep-alive TLS), per load-test pod class.

    python bench/serve_latency_bench.py [--requests N] [--workers W]

Starts ``injector serve`` (embedded default config) with a fresh certificate, sends N AdmissionReviews of each class
from loadtest/pods.py one at a time, and prints p50/p90/p99 in milliseconds. One request in flight at a time,
so this is the service time of one admission, not a throughput figure (that is the locust run's job).
"""
from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest import pods  # noqa: E402
from tests.server.conftest import run_certs  # noqa: E402
from tests.server.serve_process import free_port, start_serve, wait_ready  # noqa: E402


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def measure(requests: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assert run_certs("--dns-name", "127.0.0.1", "--out-dir", tmp) == 0
        port, monitoring = free_port(), free_port()
        process = await start_serve(port, "--tls-cert-file", f"{tmp}/tls.crt", "--tls-key-file", f"{tmp}/tls.key",
                                    "--monitoring-port", str(monitoring), "--workers", str(workers),
                                    "--log-level", "warning")
        try:
            await wait_ready(f"http://127.0.0.1:{monitoring}/readyz", process)
            context = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
            classes = {"same-deployment": lambda: pods.deployment_pod("checkout", "5d8f7c9b4"),
                       "distinct": pods.distinct_pod, "large-2000-env": pods.large_pod}
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=1)) as session:
                for name, make in classes.items():
                    samples = []
                    for index in range(requests + 10):
                        body = pods.admission_review(make(), "shop")
                        start = time.perf_counter()
                        async with session.post(f"https://127.0.0.1:{port}/inject?timeout=10s", data=body,
                                                headers={"Content-Type": "application/json"}) as response:
                            assert response.status == 200 and b'"allowed":true' in await response.read()
                        if index >= 10:  # warm-up: first renders, connection set-up
                            samples.append((time.perf_counter() - start) * 1000)
                    print(f"{name:<16} p50 {_percentile(samples, .5):6.1f}  p90 {_percentile(samples, .9):6.1f}  "
                          f"p99 {_percentile(samples, .99):6.1f} ms")
        finally:
            process.terminate()
            await process.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
