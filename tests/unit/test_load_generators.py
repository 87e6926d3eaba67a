"""The load generators of bench/overload_bench.py (bench/loadgen.py and the Go one's -plan mode) keep one contract:
against the same small TLS server, the same plan gives the same records, outcomes and result fields.

The server answers by the request's sequence number (the ``loadgen/sequence`` annotation), so every outcome the
benchmark counts occurs a known number of times. The Go generator is built from source (seconds, standard library
only, cached); without a Go toolchain its cases skip.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import overload_bench
from bench.overload_bench import Generator
from bench.vs_istio import peers
from tests.e2e.controlplane import BuildError, find_go
from tests.server.conftest import run_certs

REPLY_TIMEOUT = 1.0
"""Long enough for a loaded machine to answer, short enough to keep the test at a few seconds."""
OUTCOMES = ("injected", "allowed", "denied", "http-503", "error", "no-reply")
"""What request number n gets from the server: ``OUTCOMES[n % 6]``; a request to /probe is always injected."""
SEQUENCE = re.compile(rb'"loadgen/sequence":"(\d{12})"')


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sequence = int(SEQUENCE.search(body).group(1))
        outcome = "injected" if self.path.startswith("/probe") else OUTCOMES[sequence % len(OUTCOMES)]
        if outcome == "injected":
            self._reply(200, b'{"response":{"uid":"u","allowed":true,"patchType":"JSONPatch","patch":"W10="}}')
        elif outcome == "allowed":
            self._reply(200, b'{"response":{"uid":"u","allowed":true}}')
        elif outcome == "denied":
            self._reply(200, b'{"response":{"uid":"u","allowed":false,"status":{"message":"no room for pod %d"}}}'
                        % sequence)
        elif outcome == "http-503":
            self._reply(503, b"busy")
        else:  # error: closed without a reply; no-reply: held past the generator's reply timeout, then closed
            if outcome == "no-reply":
                time.sleep(3 * REPLY_TIMEOUT)
            self.close_connection = True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    certs = tmp_path_factory.mktemp("certs")
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_certs("--dns-name", "127.0.0.1", "--out-dir", str(certs)) == 0
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs / "tls.crt", certs / "tls.key")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", certs / "ca.crt"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(params=["python", "go"])
def generator(request: pytest.FixtureRequest, tmp_path: Path) -> Generator:
    if request.param == "python":
        return Generator(None, tmp_path)
    if find_go() is None:
        pytest.skip("no Go toolchain (set $GO or put go on PATH): the Go load generator is built from source")
    return Generator(peers.ensure_loadgen(), tmp_path)


def _well_formed(rows: list[list], *, replied: set[str]) -> None:
    for intended, sent, done, outcome, message, began in rows:
        assert isinstance(outcome, str) and isinstance(message, str)
        assert began >= intended - 0.001 and sent >= began
        assert (done >= sent) if outcome in replied else done == 0


async def test_open_loop_records_every_outcome_and_the_probe(server: tuple[str, Path], generator: Generator) -> None:
    url, ca = server
    rate, duration = 48.0, 0.75  # 36 requests, numbered 1..36: six of each outcome
    result = await generator.run({
        "mode": "open", "pod": "standard", "distinct": 8, "url": f"{url}/inject?timeout=2s", "ca": str(ca),
        "rate": rate, "duration": duration, "reply_timeout": REPLY_TIMEOUT, "warm_connections": 2,
        "max_connections": 20, "probe_url": f"{url}/probe", "probe_interval": 0.1, "after": 0.5})
    records = result["records"]
    assert collections.Counter(r[3] for r in records) == {outcome: 6 for outcome in OUTCOMES}
    assert result["stopped"] - result["started"] == pytest.approx(duration)
    assert [r[0] for r in records] == pytest.approx([result["started"] + i / rate for i in range(36)], abs=1e-5)
    _well_formed(records, replied={"injected", "allowed", "denied", "http-503"})
    denials = sorted(int(r[4].rsplit(" ", 1)[1]) for r in records if r[3] == "denied")
    assert denials == [n for n in range(1, 37) if n % 6 == 2]
    assert {r[4] for r in records if r[3] == "http-503"} == {"busy"}
    assert all(r[4] for r in records if r[3] == "error")
    # connections: the two warm ones, plus new ones while replies are held (no-reply) or connections closed (error)
    assert 2 < result["peak_connections"] <= 20
    probes = result["probes"]
    assert probes and {p[3] for p in probes} == {"injected"}
    assert probes[-1][0] < result["stopped"] + 0.5 <= probes[-1][0] + 2.0  # until ``after`` past the end
    _well_formed(probes, replied={"injected"})
    assert result["wall_seconds"] > duration and result["cpu_seconds"] > 0


async def test_closed_loop_and_sequential_plans(server: tuple[str, Path], generator: Generator) -> None:
    url, ca = server
    base = {"pod": "standard", "distinct": 4, "url": f"{url}/probe", "ca": str(ca)}
    sequential = await generator.run({**base, "mode": "sequential", "requests": 5})
    assert [r[3] for r in sequential["records"]] == ["injected"] * 5
    _well_formed(sequential["records"], replied={"injected"})
    assert all(a[2] <= b[1] for a, b in zip(sequential["records"], sequential["records"][1:]))  # one at a time
    closed = await generator.run({**base, "mode": "closed", "concurrency": 3, "duration": 0.4})
    assert len(closed["records"]) >= 3 and {r[3] for r in closed["records"]} == {"injected"}
    assert all(closed["started"] <= r[0] < closed["started"] + 0.4 + 0.05 for r in closed["records"])
    _well_formed(closed["records"], replied={"injected"})


def test_the_benchmark_falls_back_to_the_python_generator_with_a_note(monkeypatch, capsys) -> None:
    def no_go() -> Path:
        raise BuildError("no Go toolchain found")

    monkeypatch.setattr(peers, "ensure_loadgen", no_go)
    assert overload_bench.go_generator_binary() is None
    assert "using the Python load generator" in capsys.readouterr().err


async def test_server_cpus_pin_a_process_and_leave_the_generator_the_rest() -> None:
    """``--server-cpus``: a process started with ``on_cpus`` runs (with every thread and child) on those CPUs only."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        pytest.skip("pinning needs two CPUs: one for the server, one for the generator")
    server = overload_bench.cpu_list(str(available[0]))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os, subprocess, sys; print(sorted(os.sched_getaffinity(0))); "
        "subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'])",
        stdout=asyncio.subprocess.PIPE, **overload_bench.on_cpus(server))
    out, _ = await child.communicate()
    assert out.decode().split("\n")[:2] == [str([available[0]])] * 2
    for wrong in (",".join(map(str, available)), "x", str(max(available) + 1)):  # all, not numbers, not here
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            overload_bench.cpu_list(wrong)
    assert overload_bench.on_cpus(None) == {}


def test_cpu_seconds_counts_children_that_exited_when_asked() -> None:
    """A render worker replaced during a run is counted in its zygote's figures once it was waited for."""
    before = overload_bench.cpu_seconds(os.getpid(), reaped=True)
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(6_000_000))"], check=True)
    assert overload_bench.cpu_seconds(os.getpid(), reaped=True) - before >= 0.1
    assert overload_bench.cpu_seconds(os.getpid()) < overload_bench.cpu_seconds(os.getpid(), reaped=True)
