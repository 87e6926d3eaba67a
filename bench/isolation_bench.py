"""Revision isolation: a healthy revision under steady load while another revision is attacked, in one run.

    python bench/isolation_bench.py [--rate 30] [--duration 20] [--attack-rate 10] [--workers 2] [--json]

``injector serve --config-dir`` with two revisions: ``healthy`` (the embedded default templates) and ``hostile``,
whose sidecar template spends seconds of CPU in nested loops on every render. The load generator
(bench/loadgen.py, its own process) sends ``--rate`` distinct pods per second to ``/rev/healthy/inject`` for
``--duration`` seconds twice: alone, then while pods are created in the hostile revision at ``--attack-rate`` per
second (``/rev/hostile/inject``, open loop like the healthy load; ``?timeout=10s`` both). Open loop, not back to
back: a refused request must not make the attacker faster, or the benchmark measures a flood of the front end
(``bench/overload_bench.py``'s subject) instead of the sharing of the render workers. Reported for the healthy
revision, per phase: p50/p99 latency and the fraction answered with an injected pod; for the attack: how its
requests were answered.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.overload_bench import generate, kind_of, percentile  # noqa: E402
from tests.server.conftest import run_certs  # noqa: E402
from tests.server.revisions_support import write_revision  # noqa: E402
from tests.server.serve_process import free_port, start_serve, wait_ready  # noqa: E402

HOSTILE_CONFIG = """policy: enabled
templateLanguage: jinja2
templates:
  sidecar: |
    {%- for i in range(100000) %}{% for j in range(40) %}{% endfor %}{% endfor %}
    spec:
      containers:
      - name: istio-proxy
        image: proxy
"""
"""Four million empty loop iterations per render: seconds of CPU, no memory to speak of."""


def summary(records: list[list[Any]]) -> dict[str, Any]:
    done = [r for r in records if r[2]]
    latencies = [r[2] - r[1] for r in done]
    kinds = collections.Counter(kind_of(r[3], r[4]) for r in records)
    return {"requests": len(records),
            "injected_fraction": round(kinds["injected"] / len(records), 4) if records else None,
            "p50_ms": round(percentile(latencies, .5) * 1000, 1),
            "p99_ms": round(percentile(latencies, .99) * 1000, 1),
            "answers": dict(kinds.most_common())}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="isolation-bench-") as tmp:
        work = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            assert run_certs("--dns-name", "127.0.0.1", "--out-dir", str(work / "tls")) == 0
        revisions = work / "revisions"
        revisions.mkdir()
        write_revision(revisions, "hostile", HOSTILE_CONFIG, values="{}\n")
        (revisions / "healthy").mkdir()
        (revisions / "healthy" / "mesh").write_text("{}\n")  # mesh defaults; config and values embedded
        port = free_port()
        process = await start_serve(port, "--tls-cert-file", str(work / "tls" / "tls.crt"), "--tls-key-file",
                                    str(work / "tls" / "tls.key"), "--config-dir", str(revisions),
                                    "--workers", str(args.workers), "--log-level", "error",
                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        base = f"https://127.0.0.1:{port}"
        ca = str(work / "tls" / "ca.crt")
        try:
            await wait_ready(f"{base}/readyz", process, ssl_context=ssl.create_default_context(cafile=ca))
            healthy = {"pod": "standard", "ca": ca, "mode": "open", "rate": args.rate,
                       "duration": args.duration, "url": f"{base}/rev/healthy/inject?timeout=10s",
                       "reply_timeout": 15.0}
            await generate({**healthy, "duration": 3.0})  # warm-up
            alone = await generate(healthy)
            attack = {"pod": "standard", "ca": ca, "mode": "open", "rate": args.attack_rate,
                      "duration": args.duration + 2.0, "url": f"{base}/rev/hostile/inject?timeout=10s",
                      "reply_timeout": 15.0}
            attacked, hostile = await asyncio.gather(generate(healthy), generate(attack))
        finally:
            process.terminate()
            await process.wait()
    return {"workers": args.workers, "rate_per_s": args.rate, "attack_rate_per_s": args.attack_rate,
            "duration_s": args.duration,
            "healthy_alone": summary(alone["records"]), "healthy_under_attack": summary(attacked["records"]),
            "hostile": summary(hostile["records"])}


def report(result: dict[str, Any]) -> str:
    lines = [f"healthy revision at {result['rate_per_s']}/s for {result['duration_s']} s, hostile at "
             f"{result['attack_rate_per_s']}/s, {result['workers']} workers"]
    for phase in ("healthy_alone", "healthy_under_attack", "hostile"):
        r = result[phase]
        lines.append(f"  {phase:<22} p50 {r['p50_ms']:>8} ms  p99 {r['p99_ms']:>8} ms  injected "
                     f"{r['injected_fraction']}  of {r['requests']}  {r['answers']}")
    return "\n".join(lines)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--rate", type=float, default=30.0, help="healthy requests per second (default 30)")
    cli.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    cli.add_argument("--attack-rate", type=float, default=10.0,
                     help="hostile requests per second (default 10)")
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--json", action="store_true")
    arguments = cli.parse_args()
    outcome = asyncio.run(main(arguments))
    print(json.dumps(outcome, indent=2) if arguments.json else report(outcome))
