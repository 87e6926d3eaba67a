"""Side by side with Istio's own injection webhook: throughput, latency, server CPU and memory, in one run.

    python bench/vs_istio/run.py [--seconds 5] [--rounds 3] [--concurrency 1,8,32] [--workers N]

What it does, in order:
1. builds (once, cached in ``~/.cache/injector-vs-istio``) Istio's real webhook and a Go load generator from the
   Go module proxy (``peers.py``), and renders Istio's default chart ConfigMaps with the pinned module
   (``--config-dir`` uses yours instead: files ``config``, ``values``, ``mesh``);
2. starts ``injector serve`` and Istio's webhook on that one config directory with one certificate, both pinned to
   the same CPU set (``--server-cpus``; the load generator runs on the others);
3. checks that both patches turn every sample request of every scenario into the same pod (stops otherwise);
4. runs interleaved rounds: per round, scenario and concurrency, each server in turn (the order alternates) gets
   the load generator for ``--seconds`` with byte-identical requests; server CPU is the whole process tree's,
   from /proc, before and after; requests refused by load shedding are counted apart (their CPU still counts);
5. prints req/s, p50/p99 latency and server CPU per 1,000 admissions for each, ours/Istio ratios, and the memory
   (RSS and PSS per process) after ``--memory-admissions`` admissions of the load test's mix (Istio's server after
   the rounds, ours restarted with ``--memory-workers``).

Run it alone on the machine (``flock /tmp/injector-bench.lock python bench/vs_istio/run.py``): the figures that
travel are the ratios, measured in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.vs_istio import compare, peers, procstat, scenarios, servers  # noqa: E402

#: CPU per admission targets of issue 12, as ours / Istio's in the same run.
TARGETS = {"replicas": 0.10, "distinct": 0.40, "env2000": 0.25}
SEQ_PRECHECK, SEQ_WARMUP = 900_000_000_000, 800_000_000_000


@dataclass
class Tally:
    """One server in one (scenario, concurrency) cell, summed over rounds."""

    completed: int = 0
    shed: int = 0
    """Refused at once by load shedding (ours under overload); not admissions, but their CPU counts."""
    seconds: float = 0.0
    cpu: float = 0.0
    latencies_us: list[float] = field(default_factory=list)

    def add(self, result: dict, cpu: float) -> None:
        self.completed += result["completed"]
        self.shed += result["shed"]
        self.seconds += result["elapsed_seconds"]
        self.cpu += cpu
        self.latencies_us += result["latencies_us"]

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_1k(self) -> float:
        """CPU seconds per 1,000 admissions (= CPU milliseconds per admission)."""
        return self.cpu / self.completed * 1000 if self.completed else float("nan")

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies_us)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1000 if ordered else float("nan")


def run_loadgen(loadgen: Path, server: servers.Server, ca: Path, requests: Path, *, connections: int,
                seq_start: int, seconds: float = 0, count: int = 0, cpus: set[int] | None) -> dict:
    command = [str(loadgen), "-url", server.url, "-ca", str(ca), "-requests", str(requests),
               "-connections", str(connections), "-seq-start", str(seq_start)]
    command += ["-count", str(count)] if count else ["-duration", f"{seconds}s"]
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None).stdout
    result = json.loads(out)
    if result["failed"]:
        raise RuntimeError(f"{server.name}: {result['failed']} bad replies, first: {result['first_failure']}")
    return result


def measured(loadgen: Path, server: servers.Server, ca: Path, requests: Path, **kwargs) -> tuple[dict, float]:
    """One load-generator run and the server tree's CPU seconds during it."""
    before = procstat.cpu_seconds(server.process.pid)
    result = run_loadgen(loadgen, server, ca, requests, **kwargs)
    return result, procstat.cpu_seconds(server.process.pid) - before


def check_same_pods(pair: list[servers.Server], files: dict[str, list[bytes]], ca: Path, samples: int) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    checked = 0
    for name, bodies in files.items():
        requests = [(seq, scenarios.request_for(bodies, seq)[0])
                    for seq in range(SEQ_PRECHECK, SEQ_PRECHECK + samples)]
        mismatches = compare.compare(pair[0].url, pair[1].url, requests, context)
        if mismatches:
            raise SystemExit(f"{name}: {len(mismatches)}/{len(requests)} pods differ between {pair[0].name} and "
                             f"{pair[1].name}; first (request {mismatches[0].request}): {mismatches[0].detail}")
        checked += len(requests)
    return checked


def print_table(cells: dict[tuple[str, int], dict[str, Tally]], order: list[str]) -> None:
    header = (f"{'scenario':<9} {'conc':>4} | " + " | ".join(
        f"{name + ' req/s':>15} {'p50 ms':>7} {'p99 ms':>7} {'CPU s/1k':>8}" for name in order)
        + f" | {'CPU ours/Istio':>14} {'req/s ours/Istio':>16}")
    print(header)
    print("-" * len(header))
    for (scenario, connections), tallies in cells.items():
        row = f"{scenario:<9} {connections:>4} | " + " | ".join(
            f"{tallies[name].rate:>15.1f} {tallies[name].percentile_ms(.5):>7.1f} "
            f"{tallies[name].percentile_ms(.99):>7.1f} {tallies[name].cpu_per_1k:>8.2f}" for name in order)
        ours, istio = tallies["injector"], tallies["istio"]
        row += f" | {ours.cpu_per_1k / istio.cpu_per_1k:>14.2f} {ours.rate / istio.rate:>16.2f}"
        shed = [f"{name} shed {tally.shed}" for name, tally in tallies.items() if tally.shed]
        print(row + (f"   ({', '.join(shed)} of {sum(t.completed + t.shed for t in tallies.values())})"
                     if shed else ""))


def print_summary(cells: dict[tuple[str, int], dict[str, Tally]]) -> None:
    print("\nserver CPU per admission, ours / Istio's, all concurrencies pooled:")
    for scenario, target in TARGETS.items():
        pooled: dict[str, Tally] = {"injector": Tally(), "istio": Tally()}
        for (name, _), tallies in cells.items():
            if name == scenario:
                for server, tally in tallies.items():
                    pooled[server].completed += tally.completed
                    pooled[server].cpu += tally.cpu
        if pooled["istio"].completed:
            ratio = pooled["injector"].cpu_per_1k / pooled["istio"].cpu_per_1k
            verdict = "met" if ratio <= target else f"not met ({ratio / target:.2f}x the target)"
            print(f"  {scenario:<9} {ratio:5.2f}  (target <= {target:.2f}: {verdict})")


def print_memory(server: servers.Server, admissions: int) -> None:
    rows = procstat.memory(server.process.pid)
    print(f"\n{server.name} after {admissions} mixed admissions: RSS {sum(r.rss_kb for r in rows) / 1024:.1f} MB, "
          f"PSS {sum(r.pss_kb for r in rows) / 1024:.1f} MB in {len(rows)} processes")
    for row in rows:
        print(f"  pid {row.pid:>7}  RSS {row.rss_kb / 1024:7.1f} MB  PSS {row.pss_kb / 1024:7.1f} MB  {row.name[:90]}")


def cpu_sets(server_cpus: str, loadgen_cpus: str) -> tuple[set[int] | None, set[int] | None]:
    available = sorted(os.sched_getaffinity(0))
    parse = lambda text: {int(c) for c in text.split(",")} if text not in ("", "all") else None  # noqa: E731
    if server_cpus == "auto":
        if len(available) < 2:
            return None, None
        return {available[-1]}, set(available[:-1])
    return parse(server_cpus), parse(loadgen_cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one measured load run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--concurrency", default="1,8,32", help="connections, comma-separated")
    parser.add_argument("--scenarios", default=",".join(scenarios.SCENARIOS))
    parser.add_argument("--workers", type=int,
                        help="render workers of injector serve (default: as many as the servers' CPUs, so both "
                             "servers use the same cores: Go sizes GOMAXPROCS from them)")
    parser.add_argument("--memory-workers", type=int, default=2,
                        help="render workers of the server whose memory is measured (a fresh one)")
    parser.add_argument("--server-cpus", default="auto",
                        help="CPUs both servers are pinned to, e.g. 1 or 2,3; 'all' = no pinning; "
                             "'auto' = the last CPU, the load generator on the others")
    parser.add_argument("--loadgen-cpus", default="all", help="with explicit --server-cpus: the load generator's")
    parser.add_argument("--config-dir", type=Path, help="files config, values, mesh (default: Istio's chart)")
    parser.add_argument("--samples", type=int, default=20, help="requests per scenario in the same-pod check")
    parser.add_argument("--memory-admissions", type=int, default=10000,
                        help="mixed admissions sent to each server before memory is read (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    args = parser.parse_args()

    server_cpus, loadgen_cpus = cpu_sets(args.server_cpus, args.loadgen_cpus)
    workers = args.workers or len(server_cpus or os.sched_getaffinity(0))
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    names = args.scenarios.split(",")
    built = peers.ensure_peers()
    with tempfile.TemporaryDirectory(prefix="vs-istio-") as tmp:
        work = Path(tmp)
        tls_dir = servers.issue_certificate(work / "tls")
        config_dir = args.config_dir or servers.render_default_config(built.istio_webhook, work / "config")
        bodies = {name: scenarios.build(name) for name in names}
        files = {name: scenarios.write(b, work / f"{name}.jsonl") for name, b in bodies.items()}
        ca = tls_dir / "ca.crt"
        started: list[servers.Server] = []
        try:
            started.append(servers.start_istio(built.istio_webhook, work, config_dir, tls_dir, server_cpus))
            started.append(servers.start_ours(work, config_dir, tls_dir, workers, server_cpus))
            print(f"Istio {built.istio_version} webhook vs injector serve --workers {workers}; servers on CPUs "
                  f"{sorted(server_cpus) if server_cpus else 'all'}, load generator on "
                  f"{sorted(loadgen_cpus) if loadgen_cpus else 'all'}; {args.rounds} rounds of {args.seconds:g}s "
                  f"per cell; config {'from ' + str(args.config_dir) if args.config_dir else 'Istio chart default'}")
            checked = check_same_pods(started, bodies, ca, args.samples)
            print(f"same pod from both patches: {checked}/{checked} requests")
            load = dict(cpus=loadgen_cpus)
            for server in started:  # warm-up: first renders, heap growth, connection set-up; not counted
                for index, name in enumerate(names):
                    run_loadgen(built.loadgen, server, ca, files[name], connections=8,
                                seq_start=SEQ_WARMUP + index * 10_000_000, seconds=2, **load)
            cells: dict[tuple[str, int], dict[str, Tally]] = {
                (name, c): {s.name: Tally() for s in started} for name in names for c in concurrencies}
            turn = 0
            for round_index in range(args.rounds):
                for s_index, name in enumerate(names):
                    for c_index, connections in enumerate(concurrencies):
                        seq = (round_index + 1) * 1_000_000_000 + s_index * 100_000_000 + c_index * 10_000_000
                        order = started if turn % 2 == 0 else started[::-1]
                        turn += 1
                        for server in order:
                            result, cpu = measured(built.loadgen, server, ca, files[name], connections=connections,
                                                   seq_start=seq, seconds=args.seconds, **load)
                            cells[(name, connections)][server.name].add(result, cpu)
                print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
            if args.rounds:
                print()
                print_table(cells, ["istio", "injector"])
                print_summary(cells)
            if args.memory_admissions:
                mixed = scenarios.write(scenarios.mixed(), work / "mixed.jsonl")
                servers.stop(started.pop())
                started.append(servers.start_ours(work, config_dir, tls_dir, args.memory_workers, server_cpus))
                for server in started:
                    run_loadgen(built.loadgen, server, ca, mixed, connections=8, seq_start=700_000_000_000,
                                count=args.memory_admissions, **load)
                    print_memory(server, args.memory_admissions)
            if args.json:
                args.json.write_text(json.dumps({f"{k[0]}/{k[1]}": {
                    s: {"rate": t.rate, "cpu_per_1k": t.cpu_per_1k, "p50_ms": t.percentile_ms(.5),
                        "p99_ms": t.percentile_ms(.99), "completed": t.completed, "shed": t.shed} for s, t in v.items()}
                    for k, v in cells.items()}, indent=2))
        finally:
            for server in started:
                servers.stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
