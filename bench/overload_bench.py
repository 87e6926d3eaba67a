"""Overload: does the webhook answer before the apiserver's deadline, and keep its goodput, at N times capacity?

    python bench/overload_bench.py [--pods standard,large] [--factor 5] [--duration 30] [--timeout 2]
                                   [--workers 2] [--generator go|python|go,python] [--baseline DIR]
                                   [--server-cpus 0] [--json]

For each pod class, against a fresh ``injector serve`` (embedded default config, loopback TLS), with the load
generator in its own process and session. The generator shares the machine's cores with the server, while
kube-apiserver runs on other machines, so the CPU it takes biases goodput down: by default it is the Go one (the
``-plan`` mode of bench/vs_istio/go/loadgen, built in seconds into ``~/.cache/injector-vs-istio/loadgen``), which
needs a fraction of the CPU per request that bench/loadgen.py (``--generator python``, and the fallback, with a
note, when Go is missing or the build fails) needs. Both run the same plans and return the same records, and both
send the pods of bench/loadgen.py's pod classes, which this script writes once to a requests file.
``--generator go,python`` compares them in one run: steps 1-3 with the first, then step 4 once with each against
the same server at the same rate (their order alternating per pod class).
1. unloaded latency: 50 sequential requests (p50, the yardstick of recovery);
2. capacity, measured as what the server sustains: first 8 keep-alive connections back to back for 10 s
   (``?timeout=10s``; injected replies per second, the closed-loop throughput), then that rate offered open loop
   for 6 s with ``?timeout=<timeout>s`` and lowered by 5% until no reply comes after the deadline and at least
   99% of the pods are injected in time: the highest rate passing is the capacity (the same generator, deadline
   and connection pattern as the overload, so goodput is compared with a rate the server really sustains);
3. the event loop's CPU per refused admission: 8 connections back to back for 5 s with ``?timeout=500ms`` (a
   budget of 0 with the default margin: every admission is read, decided and refused, as under overload), and,
   once per pod class, the same for bench/front_end_floor.py, a bare aiohttp + uvloop TLS handler that parses the
   review and answers a fixed refusal: the least a refusal costs with this front end's stack;
4. overload: ``factor`` x capacity, open loop, for ``duration`` s with ``?timeout=<timeout>s``, while a probe
   connection sends one request every 100 ms until 10 s after the load stops.
Reported: the CPU per admission (the loop's per refused and per injected one, the workers' per injected one, from
the passing capacity step) and the goodput they allow on a fixed CPU share at ``factor`` x capacity, ``1 - (factor -
1) * refused / (injected + render)``, and the same bound with the bare handler's refusal; replies after the deadline (counted from the request's intended start, as the
apiserver's clock runs from its call), goodput = pods injected before their deadline per second, as a fraction of
the capacity (and of the closed-loop rate), the other answers by kind, and recovery = time from the end of the load
until a probe is again answered within 2x the unloaded p50 (+5 ms) and the next 5 probes are too. Generator lag
(when the generator got to a request - its intended start) is reported so a generator that could not keep up is
visible, and so is the wait for a connection (TLS handshakes on a busy server). The CPU (cores, from /proc) of the
server's event loop, its workers (those replaced meanwhile included), the load generator and every other process
on the machine is reported for the capacity steps and for the overload's ``duration`` (not the probes after it): the
generator and the server share the machine's cores, and so do other jobs on a shared machine.
``--server-cpus LIST`` gives the server (its loop, its workers, and the bare handler) those CPUs and the load
generator the others, as a webhook pod with a CPU limit runs beside a kube-apiserver on other cores: the generator's
CPU, which grows with the offered load (about 0.3 of a core at 5x), then no longer comes out of the server's share,
and capacity and overload are measured on the same CPUs. Without it they share every core.
``--baseline DIR`` measures the server from another source tree too (``git archive <commit> | tar -x -C DIR``),
alternating which goes first per pod class, so before/after figures come from one run. Loopback only, bounded
(one to two minutes per pod class and server).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import os
import re
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.vs_istio import peers  # noqa: E402
from tests.e2e.controlplane import BuildError  # noqa: E402
from tests.server.conftest import run_certs  # noqa: E402
from tests.server.serve_process import free_port, start_serve, wait_ready  # noqa: E402

FLOOR_SERVER = Path(__file__).with_name("front_end_floor.py")


class Generator:
    """Runs plans of bench/loadgen.py in a load-generator process of its own: the Go one (``binary``: the -plan mode
    of bench/vs_istio/go/loadgen) or bench/loadgen.py. Both read the requests file written here from loadgen.py's
    pod classes, once per class, so their CPU is the sending alone."""

    def __init__(self, binary: Path | None, workdir: Path, cpus: set[int] | None = None) -> None:
        self.binary = binary
        self.name = "go" if binary is not None else "python"
        self.workdir = workdir
        self.cpus = cpus
        self._requests: dict[str, Path] = {}
        self._runs = 0

    def _requests_file(self, plan: dict[str, Any]) -> Path:
        key = json.dumps([plan["pod"], plan["annotations"], plan["distinct"]])
        if key not in self._requests:
            self._requests[key] = self.workdir / f"requests-{len(self._requests)}.jsonl"
            loadgen.write_requests(plan, self._requests[key])
        return self._requests[key]

    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        plan = loadgen.complete_plan(plan)
        plan["requests_file"] = str(self._requests_file(plan))
        self._runs += 1  # runs may overlap (bench/isolation_bench.py): each has its own files
        plan_file, out = self.workdir / f"plan-{self._runs}.json", self.workdir / f"result-{self._runs}.json"
        plan_file.write_text(json.dumps(plan))
        command = ([str(self.binary), "-plan", str(plan_file), "-out", str(out)] if self.binary is not None
                   else [sys.executable, loadgen.__file__, plan_file.read_text(), str(out)])
        # Its own session: where the kernel groups CPU by session (autogroup), the generator takes its share from
        # no one but itself, as kube-apiserver runs on other cores than the webhook.
        process = await asyncio.create_subprocess_exec(*command, start_new_session=True, **on_cpus(self.cpus))
        if await process.wait() != 0:
            raise SystemExit(f"{self.name} load generator failed ({process.returncode})")
        return json.loads(out.read_bytes())


def on_cpus(cpus: set[int] | None) -> dict[str, Any]:
    """``create_subprocess_exec`` arguments that start a process (and every thread and child it makes) on ``cpus``
    only; none when ``cpus`` is None."""
    if cpus is None:
        return {}
    return {"preexec_fn": lambda: os.sched_setaffinity(0, cpus)}


def cpu_list(text: str) -> set[int]:
    """``--server-cpus``: CPUs of this machine, leaving at least one for the load generator."""
    try:
        cpus = {int(part) for part in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated CPU numbers, not {text!r}") from None
    available = os.sched_getaffinity(0)
    if not cpus or not cpus < available:
        raise argparse.ArgumentTypeError(f"expected some but not all of the CPUs {sorted(available)}, not {text!r}")
    return cpus


def generator_names(text: str) -> list[str]:
    names = text.split(",")
    if not names or not set(names) <= {"go", "python"}:
        raise argparse.ArgumentTypeError(f"expected go, python or a comma-separated list of them, not {text!r}")
    return names


def go_generator_binary() -> Path | None:
    """The Go load generator (built once, in seconds), or None with a note when Go is missing or the build fails."""
    try:
        return peers.ensure_loadgen()
    except (BuildError, OSError) as exc:
        print(f"note: using the Python load generator: the Go one is unavailable ({exc})", file=sys.stderr)
        return None


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU of one process from /proc (0 once it is gone); ``reaped``: plus that of its children that
    exited and were waited for (a render worker replaced during a run is counted in its zygote's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15 if reaped else 13]) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the render workers are children of the zygote, not of the server)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children[int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children[stack.pop()]:
            found.append(child)
            stack.append(child)
    return found


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def kind_of(outcome: str, message: str) -> str:
    """A denial's or a connection error's message without pod names and numbers, so answers group by kind (an
    error names its exception: a reset, a close before the reply, a TLS failure)."""
    if outcome not in ("denied", "error"):
        return outcome
    text = re.sub(r"pod \S+", "pod P", message)
    return f"{outcome}: " + re.sub(r"\d+(\.\d+)?", "N", text)[:90]


def recovery(probes: list[list[Any]], stopped: float, normal: float) -> float | None:
    rows = [p for p in probes if p[0] >= stopped]
    for index, (intended, _, done, outcome, *_) in enumerate(rows):
        window = rows[index:index + 6]
        if len(window) == 6 and all(w[3] == "injected" and w[2] - w[0] <= normal for w in window):
            return done - stopped
    return None


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy so far (``/proc/stat``: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Cores used by the server's loop, its workers and everyone else during one generator run."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.workers = descendants(server_pid)
        self.start = self.sample()

    def sample(self) -> tuple[float, float, float, float]:
        """(loop, workers with those replaced since, machine busy) CPU seconds so far, and the monotonic time."""
        return (cpu_seconds(self.server_pid), sum(cpu_seconds(pid, reaped=True) for pid in self.workers),
                machine_busy_seconds(), time.monotonic())

    def cores(self, run: dict[str, Any], until: tuple[float, float, float, float] | None = None) -> dict[str, float]:
        """Over the whole run, or from the start to ``until`` (a ``sample``; the generator's CPU is then its whole
        run's, which is the load's when the rest is only probes)."""
        end = until or self.sample()
        span = run["wall_seconds"] if until is None else until[3] - self.start[3]
        loop, workers, busy = (end[index] - self.start[index] for index in range(3))
        generator = run["cpu_seconds"]
        other = busy - loop - workers - generator
        return {name: round(max(value, 0.0) / span, 2) for name, value in
                (("server_loop", loop), ("workers", workers), ("generator", generator), ("other", other))}


def tally(records: list[list[Any]], deadline: float) -> tuple[list[list[Any]], list[list[Any]]]:
    """(injected before the deadline, answered after it)."""
    in_time = [r for r in records if r[3] == "injected" and r[2] - r[0] <= deadline]
    late = [r for r in records if r[2] and r[2] - r[0] > deadline]
    return in_time, late


async def sustained_capacity(generator: Generator, base: dict[str, Any], url: str, server_pid: int, start: float,
                             deadline: float) -> tuple[float, list[dict[str, Any]]]:
    """The highest rate (from ``start`` down in 5% steps, so it is at most 5% under what the server sustains and
    goodput is not flattered by a low capacity) offered open loop for 6 s with no late reply and at least 99% of
    the pods injected in time; 0 when none of 12 steps passes. Also every step's figures."""
    steps = []
    rate = start
    for _ in range(12):
        meter = CpuMeter(server_pid)
        run = await generator.run({**base, "mode": "open", "rate": rate, "duration": 6.0,
                                   "url": f"{url}?timeout={deadline:g}s", "reply_timeout": 10.0})
        in_time, late = tally(run["records"], deadline)
        passed = not late and len(in_time) >= 0.99 * len(run["records"])
        steps.append({"rate": round(rate, 1), "late": len(late), "in_time": len(in_time),
                      "sent": len(run["records"]), "passed": passed, "cpu": meter.cores(run)})
        if passed:
            return rate, steps
        rate *= 0.95
    return 0.0, steps


def refusal_plan(base: dict[str, Any], url: str) -> dict[str, Any]:
    """8 connections back to back for 5 s with a budget of 0 (``?timeout=500ms`` less the default margin): every
    admission is read, decided and refused, as under overload."""
    return {**base, "mode": "closed", "concurrency": 8, "duration": 5.0, "url": f"{url}?timeout=500ms"}


def loop_ms_per_request(meter: CpuMeter, run: dict[str, Any]) -> float:
    return meter.cores(run)["server_loop"] * run["wall_seconds"] / len(run["records"]) * 1e3


async def front_end_floor(pod: str, tls: Path, generator: Generator, server_cpus: set[int] | None) -> float:
    """Milliseconds of CPU per refused request of bench/front_end_floor.py (a bare aiohttp + uvloop TLS handler),
    driven as the injector's refusals are."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(FLOOR_SERVER), "serve", str(port), str(tls / "tls.crt"), str(tls / "tls.key"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, **on_cpus(server_cpus))
    try:
        await wait_ready(f"https://127.0.0.1:{port}/readyz", process,
                         ssl_context=ssl.create_default_context(cafile=str(tls / "ca.crt")))
        meter = CpuMeter(process.pid)
        return loop_ms_per_request(meter, await generator.run(refusal_plan(
            {"pod": pod, "ca": str(tls / "ca.crt")}, f"https://127.0.0.1:{port}/inject")))
    finally:
        process.terminate()
        await process.wait()


async def run_class(pod: str, args: argparse.Namespace, tls: Path, measuring: Generator,
                    overloading: list[Generator], tree: Path | None = None) -> list[dict[str, Any]]:
    """Unloaded latency, capacity and the cost of a refusal with ``measuring``, then one overload run with each of
    ``overloading`` in turn, all against one server: one result per overload run."""
    port = free_port()
    process = await start_serve(port, "--tls-cert-file", str(tls / "tls.crt"), "--tls-key-file",
                                str(tls / "tls.key"), "--workers", str(args.workers), "--log-level", "error",
                                tree=tree, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                                **on_cpus(args.server_cpus))
    base = {"pod": pod, "ca": str(tls / "ca.crt")}
    url = f"https://127.0.0.1:{port}/inject"
    overloads = []
    try:
        await wait_ready(f"https://127.0.0.1:{port}/readyz", process,
                         ssl_context=ssl.create_default_context(cafile=str(tls / "ca.crt")))
        unloaded = await measuring.run({**base, "mode": "sequential", "requests": 60, "url": f"{url}?timeout=10s"})
        latencies = [r[2] - r[1] for r in unloaded["records"][10:] if r[3] == "injected"]
        p50 = percentile(latencies, 0.5)
        capacity_run = await measuring.run({**base, "mode": "closed", "concurrency": 8, "duration": 10.0,
                                            "url": f"{url}?timeout=10s"})
        window = [r for r in capacity_run["records"]
                  if r[3] == "injected" and r[2] >= capacity_run["started"] + 2.0]
        closed_loop = len(window) / 8.0
        capacity, steps = await sustained_capacity(measuring, base, url, process.pid, closed_loop, args.timeout)
        rate = (capacity or closed_loop) * args.factor
        meter = CpuMeter(process.pid)
        refused_ms = loop_ms_per_request(meter, await measuring.run(refusal_plan(base, url)))
        for generator in overloading:
            meter = CpuMeter(process.pid)
            running = asyncio.ensure_future(generator.run({
                **base, "mode": "open", "rate": rate, "duration": args.duration,
                "url": f"{url}?timeout={args.timeout:g}s", "probe_url": f"{url}?timeout=10s", "probe_interval": 0.1,
                "after": 10.0, "reply_timeout": 10.0}))
            await asyncio.sleep(args.duration)  # the CPU of the load, not of the 10 s of probes after it
            loaded = meter.sample()
            overload = await running
            overloads.append((generator, overload, meter.cores(overload, until=loaded)))
    finally:
        process.terminate()
        await process.wait()
    passed = next((step for step in steps if step["passed"]), None)
    cost = {"loop_ms_per_refused": round(refused_ms, 3)}
    if passed is not None:
        per_injected = {name: passed["cpu"][name] / passed["rate"] * 1e3 for name in ("server_loop", "workers")}
        cost.update(loop_ms_per_injected=round(per_injected["server_loop"], 3),
                    workers_ms_per_injected=round(per_injected["workers"], 3),
                    goodput_bound=goodput_bound(args.factor, refused_ms, sum(per_injected.values())))
    measured = {
        "pod": pod, "server": str(tree) if tree is not None else "this checkout", "workers": args.workers,
        "server_cpus": sorted(args.server_cpus) if args.server_cpus is not None else "shared",
        "capacity_generator": measuring.name,
        "unloaded_p50_ms": round(p50 * 1000, 1), "closed_loop_per_s": round(closed_loop, 1),
        "capacity_per_s": round(capacity, 1), "capacity_steps": steps,
        "factor": args.factor, "offered_per_s": round(rate, 1), "cpu_per_admission": cost,
    }
    return [{**measured, "generator": generator.name,
             **overload_figures(overload, cpu, args.timeout, args.duration, capacity, closed_loop, 2 * p50 + 0.005)}
            for generator, overload, cpu in overloads]


def goodput_bound(factor: float, refused_ms: float, injected_ms: float) -> float:
    """The fraction of capacity left for injections at ``factor`` x capacity on a fixed CPU share, when each refusal
    costs ``refused_ms`` and each injection ``injected_ms`` (loop and workers)."""
    return round(1 - (factor - 1) * refused_ms / injected_ms, 3)


def overload_figures(overload: dict[str, Any], cpu: dict[str, float], deadline: float, duration: float,
                     capacity: float, closed_loop: float, normal: float) -> dict[str, Any]:
    """What one overload run shows: late replies, goodput, answers by kind, the generator's lag, recovery."""
    records = overload["records"]
    in_time, late = tally(records, deadline)
    kinds = collections.Counter(kind_of(r[3], r[4]) for r in records)
    answer_latency = {kind: percentile([r[2] - r[0] for r in records if r[2] and kind_of(r[3], r[4]) == kind], .5)
                      for kind in kinds}
    goodput = len(in_time) / duration
    return {
        "sent": len(records), "late_replies": len(late),
        "worst_late_s": round(max((r[2] - r[0] for r in late), default=0.0), 3),
        "goodput_per_s": round(goodput, 1), "goodput_fraction": round(goodput / capacity, 3) if capacity else None,
        "goodput_of_closed_loop": round(goodput / closed_loop, 3) if closed_loop else None,
        "injected_p50_ms": round(percentile([r[2] - r[0] for r in in_time], .5) * 1000, 1),
        "injected_p99_ms": round(percentile([r[2] - r[0] for r in in_time], .99) * 1000, 1),
        "answers": {kind: {"count": count, "p50_ms": round(answer_latency[kind] * 1000, 1)}
                    for kind, count in kinds.most_common()},
        "generator_lag_p99_ms": round(percentile([r[5] - r[0] for r in records], .99) * 1000, 1),
        "connect_wait_p99_ms": round(percentile([r[1] - r[5] for r in records if r[1]], .99) * 1000, 1),
        "peak_connections": overload["peak_connections"], "overload_cpu": cpu,
        "recovery_s": (None if (rec := recovery(overload["probes"], overload["stopped"], normal)) is None
                       else round(rec, 3)),
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="overload-bench-") as tmp:
        tls = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            assert run_certs("--dns-name", "127.0.0.1", "--out-dir", str(tls)) == 0
        generator_cpus = None if args.server_cpus is None else os.sched_getaffinity(0) - args.server_cpus
        generators = [Generator(go_generator_binary() if name == "go" else None, tls, generator_cpus)
                      for name in args.generator]
        generators = [g for i, g in enumerate(generators) if g.name not in {o.name for o in generators[:i]}]
        results = []
        for index, pod in enumerate(args.pods.split(",")):
            floor_ms = await front_end_floor(pod, tls, generators[0], args.server_cpus)
            trees: list[Path | None] = [None] if args.baseline is None else [args.baseline.resolve(), None]
            for tree in (trees if index % 2 == 0 else trees[::-1]):
                overloading = generators if index % 2 == 0 else generators[::-1]
                for result in await run_class(pod, args, tls, generators[0], overloading, tree):
                    cost = result["cpu_per_admission"]
                    cost["floor_ms_per_refused"] = round(floor_ms, 3)
                    if "workers_ms_per_injected" in cost:
                        cost["floor_goodput_bound"] = goodput_bound(
                            args.factor, floor_ms, cost["loop_ms_per_injected"] + cost["workers_ms_per_injected"])
                    results.append(result)
        return results


def _cpu(cores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value}" for name, value in cores.items())


def report(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        cpus = r["server_cpus"]
        lines.append(f"{r['pod']} ({r['server']}; server on CPUs {cpus}, capacity with the {r['capacity_generator']} "
                     f"load generator, overload with the {r['generator']} one): capacity {r['capacity_per_s']}/s sustained with 0 late replies "
                     f"(closed loop {r['closed_loop_per_s']}/s; unloaded p50 {r['unloaded_p50_ms']} ms), "
                     f"offered {r['offered_per_s']}/s, sent {r['sent']}")
        for step in r["capacity_steps"]:
            lines.append(f"    capacity step {step['rate']}/s: {step['in_time']}/{step['sent']} injected in time, "
                         f"{step['late']} late -> {'passed' if step['passed'] else 'failed'}; CPU (cores) "
                         f"{_cpu(step['cpu'])}")
        lines.append(f"  late replies {r['late_replies']} (worst {r['worst_late_s']} s), goodput "
                     f"{r['goodput_per_s']}/s = {r['goodput_fraction']} of capacity "
                     f"({r['goodput_of_closed_loop']} of the closed-loop rate), injected p50/p99 "
                     f"{r['injected_p50_ms']}/{r['injected_p99_ms']} ms, recovery {r['recovery_s']} s, "
                     f"generator lag p99 {r['generator_lag_p99_ms']} ms, connection wait p99 "
                     f"{r['connect_wait_p99_ms']} ms, peak connections {r['peak_connections']}")
        lines.append(f"  CPU (cores) during the overload: {_cpu(r['overload_cpu'])}")
        cost = r["cpu_per_admission"]
        lines.append(f"  CPU per admission (ms): loop {cost['loop_ms_per_refused']} per refused, "
                     f"{cost.get('loop_ms_per_injected')} per injected + workers {cost.get('workers_ms_per_injected')}"
                     f" -> goodput bound at {r['factor']:g}x on a fixed CPU share {cost.get('goodput_bound')}; a bare "
                     f"aiohttp TLS handler refuses for {cost['floor_ms_per_refused']} ms, which would bound it at "
                     f"{cost.get('floor_goodput_bound')}")
        for kind, answer in r["answers"].items():
            lines.append(f"    {answer['count']:>7}  p50 {answer['p50_ms']:>8} ms  {kind}")
    return "\n".join(lines)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--pods", default="standard,large", help="pod classes of bench/loadgen.py (comma-separated)")
    cli.add_argument("--factor", type=float, default=5.0, help="offered load as a multiple of capacity")
    cli.add_argument("--duration", type=float, default=30.0, help="seconds of overload (default 30)")
    cli.add_argument("--timeout", type=float, default=2.0, help="the ?timeout= in seconds (default 2)")
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--baseline", type=Path, help="also measure the server from this source tree (before/after)")
    cli.add_argument("--generator", type=generator_names, default=["go"],
                     help="load generator: go (bench/vs_istio/go/loadgen; python when Go is unavailable) or python; "
                          "go,python measures capacity with the first and overloads the same server with each")
    cli.add_argument("--server-cpus", type=cpu_list,
                     help="run the server on these CPUs (e.g. 0) and the load generator on the others")
    cli.add_argument("--json", action="store_true", help="print JSON instead of the summary")
    arguments = cli.parse_args()
    outcome = asyncio.run(main(arguments))
    print(json.dumps(outcome, indent=2) if arguments.json else report(outcome))
