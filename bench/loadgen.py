"""A load generator for the admission webhook that runs in its own process: HTTP/1.1 over keep-alive TLS.

    python bench/loadgen.py PLAN_JSON OUT_FILE        (writes one JSON result to OUT_FILE)

Why not aiohttp's client or locust: at several times the server's capacity on a 2-core machine the generator must
cost far less CPU per request than the server does, or it measures itself. Requests are prebuilt bytes written to
plain asyncio TLS streams; a reply is read by its ``Content-Length`` and classified by a byte search.

A plan is a JSON object; phases (``mode``):
- ``closed``: ``concurrency`` connections each send back to back for ``duration`` seconds (capacity);
- ``open``: requests start at ``rate`` per second for ``duration`` seconds whatever the replies do (overload), on
  as many keep-alive connections as are needed (``WARM_CONNECTIONS`` open at the start, at most
  ``max_connections``), while a probe connection sends one
  request every ``probe_interval`` until ``after`` seconds past the end (recovery);
- ``sequential``: ``requests`` requests one at a time (unloaded latency).
``pod`` names the pod class (``POD_CLASSES``); ``annotations`` (optional) are added to every pod sent;
``requests_file`` (optional) holds the requests instead, one per line (``write_requests``). ``complete_plan`` fills
every default. The Go load generator's ``-plan`` mode (bench/vs_istio/go/loadgen/plan.go) runs the same plans,
completed and with a requests file, and returns the same result for a fraction of the CPU.
Every request's times are returned: intended start (open loop; a late generator shows up as lag, not hidden),
send (after any connection set-up), reply, and when the generator got to it; and its outcome: ``injected`` (allowed with a patch), ``allowed``, ``denied`` with the
message, ``http-<status>``, ``error`` or ``no-reply``.
"""
from __future__ import annotations

import asyncio
import json
import resource
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest import pods  # noqa: E402

SEQUENCE = "loadgen/sequence"
SEQUENCE_PLACEHOLDER = b"__SEQUENCE__"
"""An annotation every pod carries; each request writes its own number into it, so no two requests carry the same
pod and no cache (the front end's patch cache, a worker's render cache) can answer one without the work. The Go
load generator (bench/vs_istio/go/loadgen) replaces the same 12-byte token."""


def _numbered(pod: dict[str, Any]) -> bytes:
    pod["metadata"].setdefault("annotations", {})[SEQUENCE] = SEQUENCE_PLACEHOLDER.decode()
    return pods.admission_review(pod, "shop")


POD_CLASSES = {
    "standard": pods.distinct_pod,
    "large": pods.large_pod,
}
"""``standard``: every pod different, so every one renders; ``large``: an app container with 2000 env vars."""


WARM_CONNECTIONS = 25
"""Idle keep-alive connections the open loop starts with: kube-apiserver's webhook client keeps up to 25 per host
(Kubernetes' transport defaults) and opens more when they are all busy."""


PROBE_SEQUENCE_START = 500_000_000_000
"""The probe's sequence numbers start here, far above the load's, so a probe never repeats a pod the load sent."""


@dataclass
class Record:
    intended: float
    began: float = 0.0
    """When the generator got to it: ``began - intended`` is the generator's own lag."""
    sent: float = 0.0
    done: float = 0.0
    outcome: str = "no-reply"
    message: str = ""

    def row(self) -> list[Any]:
        return [round(self.intended, 6), round(self.sent, 6), round(self.done, 6), self.outcome, self.message,
                round(self.began, 6)]


class Target:
    """One URL path with its prebuilt requests, cycled so consecutive requests carry different pods."""

    def __init__(self, url: str, ca_file: str, bodies: list[bytes], first_sequence: int = 0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 443
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.ssl = ssl.create_default_context(cafile=ca_file)
        self._requests = []
        for body in bodies:
            message = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json"
                       f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            head, _, tail = message.partition(SEQUENCE_PLACEHOLDER)
            self._requests.append((head, tail))
        self._next = 0
        self._sequence = first_sequence

    def request(self) -> list[bytes]:
        """The next request as chunks: a prebuilt pod with this request's own sequence number."""
        self._next = (self._next + 1) % len(self._requests)
        self._sequence += 1
        head, tail = self._requests[self._next]
        return [head, b"%012d" % self._sequence, tail]


@dataclass(eq=False)
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, target: Target) -> "Connection":
        reader, writer = await asyncio.open_connection(target.host, target.port, ssl=target.ssl,
                                                       server_hostname=target.host, limit=1 << 20)
        return cls(reader, writer)

    async def roundtrip(self, request: list[bytes]) -> tuple[int, bytes, bool]:
        """Status, body, and whether the connection may be reused."""
        self.writer.writelines(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        keep = True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        return status, await self.reader.readexactly(length), keep

    def close(self) -> None:
        self.writer.close()


def classify(status: int, body: bytes) -> tuple[str, str]:
    if status != 200:
        return f"http-{status}", body[:120].decode(errors="replace")
    if b'"allowed":true' in body:
        return ("injected", "") if b'"patch"' in body else ("allowed", "")
    response = orjson.loads(body).get("response") or {}
    return "denied", str((response.get("status") or {}).get("message", ""))[:200]


class Pool:
    """Idle keep-alive connections; a request takes one or opens a new one (up to ``limit``)."""

    def __init__(self, target: Target, limit: int) -> None:
        self.target = target
        self._idle: list[Connection] = []
        self._open = 0
        self._limit = asyncio.Semaphore(limit)
        self.peak = 0

    async def send(self, record: Record, reply_timeout: float) -> None:
        record.began = asyncio.get_running_loop().time()
        async with self._limit:
            connection = self._idle.pop() if self._idle else None
            try:
                if connection is None:
                    self._open += 1
                    self.peak = max(self.peak, self._open)
                    connection = await Connection.open(self.target)
                loop = asyncio.get_running_loop()
                record.sent = loop.time()
                async with asyncio.timeout(reply_timeout):
                    status, body, keep = await connection.roundtrip(self.target.request())
                record.done = loop.time()
                record.outcome, record.message = classify(status, body)
            except TimeoutError:
                record.outcome = "no-reply"
                keep = False
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError, ValueError) as exc:
                record.outcome, record.message = "error", f"{type(exc).__name__}: {exc}"[:200]
                keep = False
            if connection is not None:
                if keep:
                    self._idle.append(connection)
                else:
                    self._open -= 1
                    connection.close()

    async def warm(self, count: int) -> None:
        """Open ``count`` keep-alive connections before the load starts, as a running apiserver has them."""
        connections = await asyncio.gather(*(Connection.open(self.target) for _ in range(count)))
        self._idle.extend(connections)
        self._open += count
        self.peak = max(self.peak, self._open)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()


async def closed_loop(target: Target, plan: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    pool = Pool(target, plan["concurrency"])
    records: list[Record] = []
    end = loop.time() + plan["duration"]

    async def client() -> None:
        while loop.time() < end:
            record = Record(loop.time())
            records.append(record)
            await pool.send(record, plan["reply_timeout"])

    started = loop.time()
    await asyncio.gather(*(client() for _ in range(plan["concurrency"])))
    pool.close()
    return {"started": started, "records": [r.row() for r in records]}


async def open_loop(target: Target, plan: dict[str, Any], probe: Target | None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    pool = Pool(target, plan["max_connections"])
    rate, duration = plan["rate"], plan["duration"]
    reply_timeout = plan["reply_timeout"]
    records: list[Record] = []
    tasks: set[asyncio.Task[None]] = set()
    await pool.warm(plan["warm_connections"])
    started = loop.time() + 0.05
    stop = started + duration
    probe_task = asyncio.create_task(probe_loop(probe, plan, stop + plan["after"])) if probe else None
    total = int(rate * duration)
    index = 0
    while index < total:
        now = loop.time()
        while index < total and started + index / rate <= now:
            record = Record(started + index / rate)
            records.append(record)
            task = asyncio.create_task(pool.send(record, reply_timeout))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        if index < total:
            await asyncio.sleep(max(0.0, started + index / rate - loop.time()))
    if tasks:
        await asyncio.wait(tasks)
    probes = await probe_task if probe_task is not None else []
    pool.close()
    return {"started": started, "stopped": stop, "peak_connections": pool.peak,
            "records": [r.row() for r in records], "probes": [r.row() for r in probes]}


async def probe_loop(target: Target, plan: dict[str, Any], until: float) -> list[Record]:
    """One connection, one request every ``probe_interval`` (or as soon as the previous one is answered)."""
    loop = asyncio.get_running_loop()
    pool = Pool(target, 1)
    records: list[Record] = []
    interval = plan["probe_interval"]
    next_at = loop.time()
    while loop.time() < until:
        record = Record(loop.time())
        records.append(record)
        await pool.send(record, plan["reply_timeout"])
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    pool.close()
    return records


async def sequential(target: Target, plan: dict[str, Any]) -> dict[str, Any]:
    pool = Pool(target, 1)
    records = []
    for _ in range(plan["requests"]):
        record = Record(asyncio.get_running_loop().time())
        records.append(record)
        await pool.send(record, plan["reply_timeout"])
    pool.close()
    return {"records": [r.row() for r in records]}


def review(pod_class: str, annotations: dict[str, str]) -> bytes:
    """One numbered AdmissionReview of the class, with ``annotations`` added to its pod (e.g. what a template
    reacts to)."""
    pod = POD_CLASSES[pod_class]()
    pod["metadata"]["annotations"] = {**(pod["metadata"].get("annotations") or {}), **annotations}
    return _numbered(pod)


def complete_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with every default filled in: the one place the defaults live, for this generator and the Go one."""
    defaults = {"annotations": {}, "distinct": 200, "reply_timeout": 30.0 if plan["mode"] == "closed" else 10.0,
                "max_connections": 4000, "warm_connections": WARM_CONNECTIONS, "probe_interval": 0.1, "after": 0.0,
                "probe_sequence_start": PROBE_SEQUENCE_START}
    return {**defaults, **plan}


def write_requests(plan: dict[str, Any], path: Path) -> None:
    """The plan's ``distinct`` AdmissionReviews, one per line, each with the sequence token: the requests file both
    generators read (``requests_file`` in a plan), so the Go one sends the pods this module defines."""
    path.write_bytes(b"".join(review(plan["pod"], plan["annotations"]) + b"\n" for _ in range(plan["distinct"])))


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    plan = complete_plan(plan)
    if "requests_file" in plan:
        bodies = Path(plan["requests_file"]).read_bytes().splitlines()
    else:
        bodies = [review(plan["pod"], plan["annotations"]) for _ in range(plan["distinct"])]
    target = Target(plan["url"], plan["ca"], bodies)
    if plan["mode"] == "closed":
        return await closed_loop(target, plan)
    if plan["mode"] == "sequential":
        return await sequential(target, plan)
    probe = (Target(plan["probe_url"], plan["ca"], bodies[:50], plan["probe_sequence_start"])
             if plan.get("probe_url") else None)
    return await open_loop(target, plan, probe)


def main() -> int:
    import uvloop

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    plan = json.loads(sys.argv[1])
    started, cpu_started = time.time(), time.process_time()
    result = uvloop.run(run(plan))
    result["wall_seconds"] = time.time() - started
    result["cpu_seconds"] = time.process_time() - cpu_started
    Path(sys.argv[2]).write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
