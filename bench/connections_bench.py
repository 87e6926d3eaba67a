"""What connections cost ``injector serve`` and how fast hostile ones are cut off (loopback only, bounded).

    python bench/connections_bench.py [--connections N] [--header-timeout S] [--idle-timeout S]

Starts ``injector serve`` (embedded config, one worker) and measures, one after the other:
- server memory per connection: RSS growth while N TLS connections idle after one request (keep-alive), then
  while N connections sit silent after their handshake;
- seconds until the server closes a slowloris client (headers a byte every 0.2 s), a silent TLS client, a client
  that never sends its ClientHello, an idle keep-alive connection, a slow body (``?timeout=2s``), and a client that
  never reads its replies, next to the configured timeouts;
- the server's peak RSS while it refuses a 64 MB gzip bomb (the body limit bounds the decompressed size);
- with RLIMIT_NOFILE 256 (cap 60 webhook connections), /readyz latency on both ports while 150 clients hold the
  webhook port.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server.conftest import run_certs  # noqa: E402
from tests.server.serve_process import Serve, running_serve  # noqa: E402
from tests.server.test_connections import (_hold, _probe, connect, idle_keep_alive, read_reply,  # noqa: E402
                                           request, silent, slow_body, slowloris, unread_replies)


def _rss(serve: Serve) -> int:
    with open(f"/proc/{serve.pid}/statm", "rb") as statm:
        return int(statm.read().split()[1]) * 4096


def _peak_rss(serve: Serve) -> int:
    for line in Path(f"/proc/{serve.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def memory_per_connection(serve: Serve, context: ssl.SSLContext, count: int) -> None:
    for label, idle in (("idle keep-alive (one request done)", True), ("silent after TLS handshake", False)):
        before = _rss(serve)
        writers = []
        for start in range(0, count, 100):
            batch = await asyncio.gather(*(_open(serve, context, idle) for _ in range(min(100, count - start))))
            writers += batch
        await asyncio.sleep(0.5)
        grown = _rss(serve) - before
        print(f"memory, {label:36} {count} connections: +{grown / 1e6:6.1f} MB, {grown / count / 1024:5.1f} KB each")
        for writer in writers:
            writer.close()
        await asyncio.sleep(1.0)


async def _open(serve: Serve, context: ssl.SSLContext, idle: bool) -> asyncio.StreamWriter:
    reader, writer = await connect(serve, context)
    if idle:
        writer.write(request())
        await read_reply(reader)
    return writer


async def close_times(serve: Serve, context: ssl.SSLContext, header: float, idle: float) -> None:
    loris, handshaken, no_hello, kept, (replied, status, closed), unread = await asyncio.gather(
        slowloris(serve, context), silent(serve, context), silent(serve, None), idle_keep_alive(serve, context),
        slow_body(serve, context), unread_replies(serve, context))
    print(f"closed after (header timeout {header:g}s, idle timeout {idle:g}s):")
    print(f"  slowloris (a header byte / 0.2s) {loris:6.2f}s")
    print(f"  silent after TLS handshake       {handshaken:6.2f}s")
    print(f"  no ClientHello                   {no_hello:6.2f}s")
    print(f"  idle keep-alive                  {kept:6.2f}s")
    print(f"  slow body, ?timeout=2s           {status} after {replied:.2f}s, closed after {closed:.2f}s")
    print(f"  replies never read               {unread:6.2f}s")


async def gzip_bomb(serve: Serve, context: ssl.SSLContext) -> None:
    body = gzip.compress(b'{"a":"' + b"x" * 64_000_000 + b'"}')
    before = _peak_rss(serve)
    reader, writer = await connect(serve, context)
    writer.write(request("/inject", body).replace(b"Content-Type", b"Content-Encoding: gzip\r\nContent-Type", 1))
    status, _ = await read_reply(reader)
    writer.close()
    print(f"gzip bomb ({len(body) / 1e3:.0f} KB -> 64 MB): HTTP {status}, server peak RSS "
          f"{before / 1e6:.0f} -> {_peak_rss(serve) / 1e6:.0f} MB")


async def probes_at_the_cap(serve: Serve, context: ssl.SSLContext) -> None:
    held = []
    for batch in range(15):
        results = await asyncio.gather(*(_hold(serve, context, idle=batch % 2 == 0) for _ in range(10)),
                                       return_exceptions=True)
        held += [w for w in results if isinstance(w, asyncio.StreamWriter)]
    for tls in (False, True):
        samples = []
        for _ in range(20):
            started = time.perf_counter()
            assert await _probe(serve, context, tls=tls) == 200
            samples.append((time.perf_counter() - started) * 1000)
        port = "webhook (TLS, evicts an idle client)" if tls else "monitoring"
        print(f"/readyz at the cap, {port:38} median {statistics.median(samples):5.1f} ms, max "
              f"{max(samples):5.1f} ms ({serve.open_fds()} fds open of 256)")
    for writer in held:
        writer.close()


async def main(connections: int, header: float, idle: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assert run_certs("--dns-name", "localhost", "--dns-name", "127.0.0.1", "--out-dir", tmp) == 0
        context = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
        certs, log = Path(tmp), Path(tmp) / "serve.log"
        async with running_serve(certs, log, "--header-timeout", "300", "--idle-timeout", "300",
                                 "--log-level", "warning") as serve:
            await memory_per_connection(serve, context, connections)
            await gzip_bomb(serve, context)
        async with running_serve(certs, log, "--header-timeout", str(header), "--idle-timeout", str(idle),
                                 "--log-level", "warning") as serve:
            await close_times(serve, context, header, idle)
        async with running_serve(certs, log, "--header-timeout", "30", "--idle-timeout", "60",
                                 "--log-level", "warning", nofile=256) as serve:
            await probes_at_the_cap(serve, context)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--idle-timeout", type=float, default=120.0)
    args = parser.parse_args()
    asyncio.run(main(args.connections, args.header_timeout, args.idle_timeout))
