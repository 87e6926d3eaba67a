"""Start-up and new-revision latency with Istio's chart: ``injector serve`` to ``/readyz`` 200, and a revision added
while it runs to its first injected admission.

    flock /tmp/injector-bench.lock python bench/startup_bench.py [--rounds 5] [--workers 2] [--baseline DIR]

Each round starts a fresh ``injector serve --config-dir`` holding one revision with Istio's default config, values
and mesh (from the shared corpus), and measures:
1. ``ready``: from spawning the process to ``/readyz`` answering 200;
2. ``same chart``: a second revision directory with the same templates and other values appears; until
   ``/rev/<it>/inject`` answers with an injected pod (its compiled code is reused, only the trial renders run);
3. ``new chart``: a third revision whose templates differ (one comment line more), so it is compiled from scratch.
The directory is polled every 0.05 s, so up to 0.05 s of 2 and 3 is the poll. ``--baseline DIR`` runs the same
rounds, interleaved, with the server from another source tree (e.g. ``git archive <commit> | tar -x -C DIR``), so
the two are compared on the same machine state.
"""
from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest import pods  # noqa: E402
from tests.server.conftest import serve_workdir  # noqa: E402
from tests.server.revisions_support import ISTIO_CONFIGS, istio_texts, write_revision  # noqa: E402
from tests.server.serve_process import free_port, start_serve, wait_ready  # noqa: E402


async def until_injected(session: aiohttp.ClientSession, url: str, timeout: float = 120.0) -> None:
    """Post distinct pods until one comes back injected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = pods.admission_review(pods.distinct_pod(), "shop")
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            if response.status == 200 and b'"patch"' in await response.read():
                return
        await asyncio.sleep(0.02)
    raise SystemExit(f"{url} never injected within {timeout:g}s")


def new_chart(config: str) -> str:
    """The same config with one more comment in the sidecar template: a template set never compiled before."""
    marker = "  sidecar: |\n"
    assert marker in config, "Istio's config has a sidecar template"
    return config.replace(marker, marker + "    {{- /* next chart */ -}}\n", 1)


async def one_round(tree: Path | None, workers: int, texts: tuple[str, str, str]) -> dict[str, float]:
    config, values, mesh = texts
    with serve_workdir("startup-bench-") as work:
        revisions = work / "revisions"
        write_revision(revisions, "stable", config, values=values, mesh=mesh)
        port, monitoring = free_port(), free_port()
        started = time.monotonic()
        process = await start_serve(port, "--tls-cert-file", str(work / "tls" / "tls.crt"), "--tls-key-file",
                                    str(work / "tls" / "tls.key"), "--config-dir", str(revisions),
                                    "--workers", str(workers), "--monitoring-port", str(monitoring),
                                    "--watch-interval", "0.05", "--log-level", "error", tree=tree,
                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await wait_ready(f"http://127.0.0.1:{monitoring}/readyz", process)
            figures = {"ready": time.monotonic() - started}
            context = ssl.create_default_context(cafile=str(work / "tls" / "ca.crt"))
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
                await until_injected(session, f"https://127.0.0.1:{port}/rev/stable/inject?timeout=10s")
                other_values = values.replace("{", '{"benchMark": 1, ', 1)
                changes = (("same chart", "canary", config), ("new chart", "next", new_chart(config)))
                for name, revision, text in changes:
                    started = time.monotonic()
                    write_revision(revisions, revision, text, values=other_values, mesh=mesh)
                    await until_injected(session, f"https://127.0.0.1:{port}/rev/{revision}/inject?timeout=10s")
                    figures[name] = time.monotonic() - started
        finally:
            process.terminate()
            await process.wait()
    return figures


async def main(args: argparse.Namespace) -> None:
    texts = istio_texts()
    if texts is None:
        raise SystemExit(f"Istio's default configs are not in {ISTIO_CONFIGS}")
    trees: dict[str, Path | None] = {"this tree": None}
    if args.baseline:
        trees["baseline"] = Path(args.baseline).resolve()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            results[name].append(await one_round(tree, args.workers, texts))
    print(f"Istio's default chart, {args.workers} workers, median (min-max) of {args.rounds} rounds, seconds")
    for name, rounds in results.items():
        cells = []
        for figure in ("ready", "same chart", "new chart"):
            values = [r[figure] for r in rounds]
            cells.append(f"{figure} {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"  {name:<10} " + "   ".join(cells))


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--rounds", type=int, default=5)
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--baseline", help="source tree of the server to compare with (PYTHONPATH)")
    asyncio.run(main(cli.parse_args()))
