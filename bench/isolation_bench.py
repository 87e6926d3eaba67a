"""Revision isolation: a healthy revision under steady load while other revisions are attacked, in one run.

    python bench/isolation_bench.py [--rate 30] [--duration 20] [--attack-rate 10] [--workers 2]
                                    [--attacks loops,range,memory,printf,compile] [--serve-flag=--render-budget=0.5]
                                    [--server-tree DIR] [--baseline-tree DIR] [--json]

``injector serve --config-dir`` with three revisions: ``healthy`` (the embedded default templates), ``hostile``
(Jinja2) and ``hostile-go`` (Go templates) from ``tests/server/hostile_configs.py``: working configs whose sidecar
template misbehaves for pods annotated ``attack: <kind>`` (a config that misbehaved for every pod would be rejected
by vetting and never serve). For each attack, on a fresh server (so what the scheduler learnt of one attack does not
meet the next), the load generator (bench/loadgen.py, its own process) sends ``--rate`` distinct pods per second to
``/rev/healthy/inject`` for ``--duration`` seconds alone, then again under the attack: attack pods created at
``--attack-rate`` per second (open loop like the healthy load: a refused request must not make the attacker faster,
or the benchmark measures a flood of the front end, ``bench/overload_bench.py``'s subject, instead of the sharing of
the render workers), or, for ``compile``, a new hostile config for ``hostile`` every half second (each one vetted
and rejected). ``?timeout=10s`` everywhere. Reported for the healthy revision, per phase: p50/p99 latency and the
fraction answered with an injected pod; for the attack: how its requests (or config changes) were answered; and
how many render workers were replaced and the largest peak RSS (VmHWM) of the server's live child processes (render
workers, zygote) so far. Attacks: ``loops`` (nested Jinja loops of 10^10), ``range`` (Go
``range 1000000000``), ``memory`` / ``printf`` (a string doubled 40 times, Jinja / Go), ``repeat`` (Jinja string
multiplication to 1.2*10^9 characters), ``width`` (Go ``printf "%0999999999d"``), ``padding`` (Jinja ``center`` to
3*10^8 characters), ``hoard`` (Jinja: 400 MB in strings of 10^7 characters), ``bignum`` (Jinja squarings),
``compile`` (hostile config changes). ``--server-tree DIR`` runs the server from another source tree
(``git archive <commit> | tar -x -C DIR``), e.g. a release without the render bounds, for comparison;
``--baseline-tree DIR`` runs every attack on that tree first and then on the server tree, interleaved in one run.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.overload_bench import Generator, kind_of, percentile  # noqa: E402
from tests.server.conftest import metric, serve_workdir  # noqa: E402
from tests.server.hostile_configs import GO_ATTACKS, JINJA_ATTACKS, attack_config, hostile_changes  # noqa: E402
from tests.server.procfs import descendants, largest_peak_resident_bytes  # noqa: E402
from tests.server.revisions_support import write_revision  # noqa: E402
from tests.server.serve_process import free_port, start_serve, wait_ready  # noqa: E402

ATTACKED_REVISION = {"loops": "hostile", "memory": "hostile", "bignum": "hostile", "repeat": "hostile",
                     "padding": "hostile", "hoard": "hostile", "range": "hostile-go", "printf": "hostile-go",
                     "width": "hostile-go", "compile": "hostile"}


def summary(records: list[list[Any]]) -> dict[str, Any]:
    done = [r for r in records if r[2]]
    latencies = [r[2] - r[1] for r in done]
    kinds = collections.Counter(kind_of(r[3], r[4]) for r in records)
    return {"requests": len(records),
            "injected_fraction": round(kinds["injected"] / len(records), 4) if records else None,
            "p50_ms": round(percentile(latencies, .5) * 1000, 1),
            "p99_ms": round(percentile(latencies, .99) * 1000, 1),
            "answers": dict(kinds.most_common())}


class Server:
    """The server's own counters, read from /metrics between phases."""

    def __init__(self, base: str, ca: str) -> None:
        self._base = base
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            ssl=ssl.create_default_context(cafile=ca)))

    async def counter(self, name: str) -> float:
        async with self._session.get(f"{self._base}/metrics") as response:
            return metric(await response.text(), name)

    async def close(self) -> None:
        await self._session.close()


async def compile_attack(revisions: Path, duration: float, server: Server) -> dict[str, Any]:
    """A new hostile config for ``hostile`` every half second; how many the server rejected."""
    failures = 'sidecar_injector_config_reload_failures_total{revision="hostile"}'
    before = await server.counter(failures)
    changes = hostile_changes("hostile-change")
    written = 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        name, text = changes[written % len(changes)]
        write_revision(revisions, "hostile", text.replace("hostile-change", f"hostile-change-{written}"))
        written += 1
        await asyncio.sleep(0.5)
    await asyncio.sleep(2.0)  # the last change is judged
    return {"changes_written": written, "changes_rejected": int(await server.counter(failures) - before)}


async def phase(kind: str, healthy: dict[str, Any], attack: dict[str, Any], revisions: Path, server: Server,
                generator: Generator) -> tuple[dict[str, Any], dict[str, Any] | None, float]:
    """Healthy load alone (``kind`` "alone") or under one attack; returns both summaries and worker restarts."""
    restarts = "sidecar_injector_pool_worker_restarts_total"
    before = await server.counter(restarts)
    if kind == "alone":
        records, attacked = (await generator.run(healthy))["records"], None
    elif kind == "compile":
        load, attacked = await asyncio.gather(generator.run(healthy),
                                              compile_attack(revisions, healthy["duration"], server))
        records = load["records"]
    else:
        url = attack["url"].replace("{revision}", ATTACKED_REVISION[kind])
        load, hostile = await asyncio.gather(generator.run(healthy), generator.run(
            {**attack, "url": url, "annotations": {"attack": kind}}))
        records, attacked = load["records"], summary(hostile["records"])
    return summary(records), attacked, await server.counter(restarts) - before


async def main(args: argparse.Namespace) -> dict[str, Any]:
    kinds = [kind for kind in args.attacks.split(",") if kind]
    unknown = set(kinds) - set(ATTACKED_REVISION)
    if unknown:
        raise SystemExit(f"unknown attacks {sorted(unknown)}; known: {', '.join(ATTACKED_REVISION)}")
    trees = [args.baseline_tree, args.server_tree] if args.baseline_tree else [args.server_tree]
    phases: list[dict[str, Any]] = []
    for kind in kinds:
        for tree in trees:
            phases += [{**entry, "tree": str(tree or "this tree")} for entry in await attack_pair(kind, args, tree)]
    return {"workers": args.workers, "rate_per_s": args.rate, "duration_s": args.duration,
            "attack_rate_per_s": args.attack_rate, "serve_flags": args.serve_flag,
            "server_tree": str(args.server_tree or "this tree"),
            "baseline_tree": str(args.baseline_tree) if args.baseline_tree else None, "phases": phases}


async def attack_pair(kind: str, args: argparse.Namespace, tree: Path | None) -> list[dict[str, Any]]:
    """A fresh server (so what the scheduler learnt of one attack does not meet the next) for the healthy load
    alone, then under the attack."""
    with serve_workdir("isolation-bench-") as work:
        revisions = work / "revisions"
        write_revision(revisions, "hostile", attack_config("hostile-1", JINJA_ATTACKS), values="{}\n")
        write_revision(revisions, "hostile-go", attack_config("hostile-go-1", GO_ATTACKS, language="go"),
                       values="{}\n")
        (revisions / "healthy").mkdir()
        (revisions / "healthy" / "mesh").write_text("{}\n")  # mesh defaults; config and values embedded
        port = free_port()
        process = await start_serve(port, "--tls-cert-file", str(work / "tls" / "tls.crt"), "--tls-key-file",
                                    str(work / "tls" / "tls.key"), "--config-dir", str(revisions),
                                    "--workers", str(args.workers), "--log-level", "error",
                                    "--watch-interval", "0.1", *args.serve_flag, tree=tree,
                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        base = f"https://127.0.0.1:{port}"
        ca = str(work / "tls" / "ca.crt")
        server = Server(base, ca)
        phases: list[dict[str, Any]] = []
        try:
            await wait_ready(f"{base}/readyz", process, ssl_context=ssl.create_default_context(cafile=ca))
            healthy = {"pod": "standard", "ca": ca, "mode": "open", "rate": args.rate,
                       "duration": args.duration, "url": f"{base}/rev/healthy/inject?timeout=10s",
                       "reply_timeout": 15.0}
            generator = Generator(None, work)  # bench/loadgen.py
            await generator.run({**healthy, "duration": 3.0})  # warm-up
            attack = {"pod": "standard", "ca": ca, "mode": "open", "rate": args.attack_rate,
                      "duration": args.duration + 2.0, "url": f"{base}/rev/{{revision}}/inject?timeout=10s",
                      "reply_timeout": 15.0}
            for name in ("alone", kind):
                healthy_summary, attacked, restarts = await phase(name, healthy, attack, revisions, server,
                                                                  generator)
                peak = largest_peak_resident_bytes(descendants(process.pid))
                phases.append({"phase": name, "healthy": healthy_summary, "attack": attacked,
                               "worker_restarts": restarts, "peak_child_rss_mib": peak // (1 << 20)})
        finally:
            await server.close()
            process.terminate()
            await process.wait()
    return phases


def report(result: dict[str, Any]) -> str:
    lines = [f"healthy revision at {result['rate_per_s']}/s for {result['duration_s']} s per phase, "
             f"{result['workers']} workers, attacks at {result['attack_rate_per_s']}/s, server from "
             f"{result['server_tree']} {' '.join(result['serve_flags'])}"
             + (f", baseline from {result['baseline_tree']}" if result["baseline_tree"] else "")]
    for entry in result["phases"]:
        r = entry["healthy"]
        tree = "" if result["baseline_tree"] is None else (
            "baseline " if entry["tree"] == result["baseline_tree"] else "ours     ")
        lines.append(f"  {tree}{entry['phase']:<8} healthy p50 {r['p50_ms']:>8} ms  p99 {r['p99_ms']:>8} ms  injected "
                     f"{r['injected_fraction']} of {r['requests']}  restarts {entry['worker_restarts']:g}  peak "
                     f"worker RSS {entry['peak_child_rss_mib']} MiB"
                     + ("" if r["answers"].keys() <= {"injected"} else f"  {r['answers']}"))
        if entry["attack"] is not None:
            lines.append(f"           attack: {entry['attack'].get('answers', entry['attack'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--rate", type=float, default=30.0, help="healthy requests per second (default 30)")
    cli.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    cli.add_argument("--attack-rate", type=float, default=10.0,
                     help="hostile requests per second (default 10)")
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--attacks", default="loops", help=f"comma list of {', '.join(ATTACKED_REVISION)} "
                                                        "(default loops)")
    cli.add_argument("--serve-flag", action="append", default=[], help="one more flag for injector serve")
    cli.add_argument("--server-tree", type=Path, help="run the server from this source tree (an older commit "
                                                      "exported with git archive) to compare")
    cli.add_argument("--baseline-tree", type=Path, help="run every attack on this source tree too, before the "
                                                        "server tree, in the same run")
    cli.add_argument("--json", action="store_true")
    arguments = cli.parse_args()
    outcome = asyncio.run(main(arguments))
    print(json.dumps(outcome, indent=2) if arguments.json else report(outcome))
