"""Listening sockets with bounded connections: deadlines aiohttp lacks, a connection cap, and fd headroom.

aiohttp times out only idle keep-alive connections, so a client sending its headers a byte at a time, or never
reading our reply, holds a connection (and a file descriptor, ~65 KB) for as long as it likes; and at the fd limit
the event loop's own accept loop resets every new connection, probes on the monitoring port included. Here each
listener accepts in a loop of its own and hands every connection to aiohttp through a thin protocol that:

- bounds the TLS handshake and, from a request's first byte, the arrival of its headers by ``header_timeout``;
  the body has the request's own deadline (``app._inject``);
- closes a connection whose reply the client has not read for ``write_timeout``;
- tells when a request arrived (``arrival``): its first byte, or the connection's acceptance for the first request
  of a connection opened for it, so the admission budget includes the wait for accepting and the handshake;
- leaves idle connections to aiohttp's ``keepalive_timeout`` (= ``idle_timeout``, armed from the connection's
  start), which must be longer than kube-apiserver's idle reuse (Go's ``IdleConnTimeout``, 90 s) so the client,
  not us, closes an idle connection (a POST on a connection we are closing would fail, and Go does not retry it).
  A connection that has sent nothing yet is idle too, not slow: clients open connections ahead of their requests
  (Go parks a dialled connection it no longer needs in its idle pool; a load generator warms a pool), and one that
  never sends costs what an idle keep-alive connection costs, which the cap below bounds;
- holds at most ``max_connections``: at the cap a new connection evicts the connection that has waited longest for
  a request (idle keep-alive, or still sending headers: its wait ends at its request's first byte, so a request
  whose headers are in but whose handler has not started yet is the last to go); when every connection is busy,
  it is closed at once;
- closes a new connection at once, before its TLS handshake, while the event loop stays behind (``LoopLag``) and
  admissions are being shed: the loop is then the bottleneck, and a handshake plus a request costs it several times
  what a request on an open connection does, so serving the connections it has (and refusing their surplus requests
  with a reply) is what still answers anyone in time. The client sees a connection error at once, as at the cap,
  which kube-apiserver handles by the webhook's ``failurePolicy``.

``fd_budget`` raises the soft ``RLIMIT_NOFILE`` to the hard limit and says how many webhook connections fit below
it, keeping a reserve for the monitoring listener, the render workers' pipes and the Kubernetes client, so probes
and metrics keep answering when the webhook port is full. Refusals and forced closes are counted (metrics) and
logged as rate-limited warnings.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger(__name__)

MONITORING_MAX_CONNECTIONS = 64
FD_RESERVE = 128
"""Descriptors kept for everything but client connections: listeners, epoll, logs, config and certificate
reads, the Kubernetes client's connections. Render workers add ``FDS_PER_WORKER`` each."""
FDS_PER_WORKER = 4
MAX_DEFAULT_CONNECTIONS = 4096
"""Default cap even when the fd limit allows more: about 50 KB of memory per idle TLS connection."""
ACCEPT_BATCH = 64
"""Connections accepted per wake-up of the accept loop: one per loop iteration would leave a burst of new
connections (an apiserver opening many at once) in the kernel's backlog, and once that overflows their SYNs are
dropped and retried after 1, 3, 7, 15 s."""
ACCEPT_RETRY_DELAY = 0.1
"""After accept failed for lack of descriptors: the waiting connection stays queued in the kernel meanwhile."""
PROMPT_FIRST_REQUEST = 0.1
"""A connection's first request whose first byte comes this soon after its TLS handshake was sent as soon as the
connection was up: its client has been waiting since it connected (see ``_Connection.arrival``)."""
LAG_TICK = 0.05
"""How often ``LoopLag`` looks at the event loop's delay."""
OVERLOAD_LAG = 0.1
"""An event loop this far behind (``LoopLag``'s moving average) while admissions are being shed is saturated: new
webhook connections are closed until it catches up."""
SHEDDING_WINDOW = 1.0
"""Admissions shed this recently count as being shed (``GuardedSite(shedding=...)``)."""
LAG_WEIGHT = 0.5
"""Weight of the newest tick in the moving average: one long iteration (a large body, a config swap) is not
overload, a few in a row are."""
LINGER = 2.0
"""aiohttp's ``lingering_time``: how long the unread rest of a refused request body is drained so the client sees
the reply (413, 408) before the connection closes (aiohttp's default, 10 s, would extend a slow body's hold)."""


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout: float = 10.0
    idle_timeout: float = 120.0
    write_timeout: float = 10.0
    shedding_handshakes: int = 32
    """While admissions are shed, at most this many TLS handshakes run at once (see ``GuardedSite._take``)."""


class LoopLag:
    """How late the event loop runs its timers: a tick every ``LAG_TICK`` notes how late it fired (a saturated
    loop's iterations are long, so its timers fire late), averaged over the last few ticks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float = OVERLOAD_LAG) -> None:
        self.loop = loop
        self.limit = limit
        self.average = 0.0
        self._due = loop.time() + LAG_TICK
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        self.average += LAG_WEIGHT * (now - self._due - self.average)
        self._due = now + LAG_TICK
        self._handle = self.loop.call_at(self._due, self._tick)

    def behind(self) -> bool:
        """True while the loop's recent ticks ran more than ``limit`` late on average."""
        return self.average > self.limit

    def stop(self) -> None:
        self._handle.cancel()


Event = Callable[[str], None]
"""``refused(reason)`` / ``closed(reason)``: the site reports to metrics through these."""


def fd_budget(workers: int) -> int:
    """Raise the soft fd limit to the hard one (where allowed) and return the webhook connections that fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):  # e.g. above the kernel's nr_open
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    reserve = FD_RESERVE + FDS_PER_WORKER * workers + MONITORING_MAX_CONNECTIONS
    return max(1, min(MAX_DEFAULT_CONNECTIONS, soft - reserve))


class _Connection(asyncio.Protocol):
    """Between the transport and aiohttp's protocol: forwards every event and keeps the deadlines."""

    __slots__ = ("site", "inner", "transport", "handshake", "waiting_since", "busy", "accepted", "ready",
                 "request_began", "fresh", "_timer")

    def __init__(self, site: GuardedSite, inner: asyncio.Protocol) -> None:
        self.site = site
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Task[None] | None = None
        """Accepting (and for TLS handshaking) until ``connection_made``; cancelling it closes the socket."""
        self.waiting_since = self.accepted = site.loop.time()
        self.busy = False
        self.ready: float | None = None
        """When the connection was handed to aiohttp (TLS: its handshake done)."""
        self.request_began: float | None = None
        """When the first byte of the request being received or handled arrived."""
        self.fresh = True
        """No request has finished on this connection yet."""
        self._timer: asyncio.TimerHandle | None = None

    # -- deadlines

    def _arm(self, seconds: float, reason: str) -> None:
        if self._timer is None:
            self._timer = self.site.loop.call_later(seconds, self._expire, reason)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, reason: str) -> None:
        self._timer = None
        self.site.closed(reason)
        self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        elif self.handshake is not None:
            self.handshake.cancel()

    def request_started(self) -> None:
        self._disarm()
        self.busy = True

    def request_finished(self) -> None:
        self.busy = False
        self.fresh = False
        self.request_began = None
        self.waiting_since = self.site.loop.time()

    def arrival(self) -> float | None:
        """The earliest moment the client may have been waiting for the current request: when the connection was
        accepted, for a first request sent the moment the connection was up (a client that connects for a request,
        as kube-apiserver does when its idle connections are busy, starts its timeout before dialling, and under
        load accepting and the handshake take a while); otherwise when the request's first byte arrived, a loop
        iteration or more before aiohttp creates the request. Either moment less the loop's current lateness
        (``LoopLag``, where kept): bytes and connections wait about that long in the kernel before a late loop
        reads or accepts them, and the reply leaves that much later than its timer says. None before any byte of a
        request arrived."""
        began = self.request_began
        if began is None:
            return None
        lag = self.site.lag.average if self.site.lag is not None else 0.0
        if self.fresh and self.ready is not None and began - self.ready <= PROMPT_FIRST_REQUEST:
            return self.accepted - lag
        return began - lag

    # -- asyncio.Protocol, forwarded

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ready = self.site.loop.time()
        self.site.opened(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.request_began is None:
            self.request_began = self.site.loop.time()
        if not self.busy and self._timer is None:  # a request's first byte: its headers are due
            self.waiting_since = self.site.loop.time()  # not waiting for a request any more (eviction order)
            self._arm(self.site.limits.header_timeout, "header_timeout")
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self._disarm()
        self._arm(self.site.limits.write_timeout, "write_timeout")
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self._disarm()
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.site.forget(self)
        self.inner.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """An aiohttp site (``runner`` must be set up) on ``host:port`` with ``limits``; TLS when ``ssl_context``."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, limits: ConnectionLimits,
                 ssl_context: ssl.SSLContext | None = None, backlog: int = 1024, refused: Event = lambda r: None,
                 closed: Event = lambda r: None, shedding: Callable[[], bool] | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port = host, port
        self.limits = limits
        self.refused_event, self.closed_event = refused, closed
        self.loop = asyncio.get_running_loop()
        self.connections: set[_Connection] = set()
        self._by_transport: dict[Any, _Connection] = {}
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._shedding = shedding
        """Whether admissions are being shed (``WorkerPool.shedding``): then new connections are closed at once while
        the loop runs behind. Only for the webhook port, never the monitoring port, whose probes must answer however
        busy the server is. A loop behind without shedding (hostile bodies, a stall) keeps accepting: its requests
        may still be answered in time, and refusing connections would hand an attacker the apiserver's."""
        self.lag: LoopLag | None = None
        self._handshakes = 0
        """TLS handshakes under way."""

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1] if self._listener is not None else self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        handle = server.request_handler

        async def tracked(request: web.BaseRequest) -> web.StreamResponse:
            connection = self._by_transport.get(request.transport)
            if connection is not None:
                connection.request_started()
            try:
                return await handle(request)
            finally:
                if connection is not None:
                    connection.request_finished()

        server.request_handler = tracked
        family = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        self._listener = socket.create_server((self._host, self._port), family=family, backlog=self._backlog)
        self._listener.setblocking(False)
        if self._shedding is not None:
            self.lag = LoopLag(self.loop)
        self._acceptor = self.loop.create_task(self._accept())

    async def stop(self) -> None:
        """Stop accepting; open connections are closed by the runner's shutdown (after in-flight requests)."""
        if self._acceptor is not None:
            self._acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acceptor
        if self._listener is not None:
            self._listener.close()
        if self.lag is not None:
            self.lag.stop()
        await super().stop()

    # -- accepting

    async def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = await self.loop.sock_accept(self._listener)
                self._take(sock)
                for _ in range(ACCEPT_BATCH - 1):  # the rest of a burst now, not one per loop iteration
                    sock, _ = self._listener.accept()
                    self._take(sock)
            except BlockingIOError:
                continue
            except OSError as exc:  # EMFILE/ENFILE/ENOBUFS: the connection waits in the backlog meanwhile
                self.refused("fd_limit", exc)
                await asyncio.sleep(ACCEPT_RETRY_DELAY)

    def _take(self, sock: socket.socket) -> None:
        if self._overloaded():
            sock.close()
            self.refused("overloaded")
            return
        if len(self.connections) >= self.limits.max_connections and not self._evict():
            sock.close()
            self.refused("limit")
            return
        connection = _Connection(self, self._runner.server())  # type: ignore[misc]
        self.connections.add(connection)
        self._handshakes += 1  # counted now: a whole accept batch is taken before any handshake task runs
        connection.handshake = self.loop.create_task(self._handshake(sock, connection))
        connection.handshake.add_done_callback(self._handshake_ended)

    def _handshake_ended(self, _: asyncio.Task[None]) -> None:
        self._handshakes -= 1

    @property
    def handshakes(self) -> int:
        """TLS handshakes under way."""
        return self._handshakes

    def _overloaded(self) -> bool:
        """A new connection is closed before its handshake while admissions are shed and either the loop runs
        behind or ``shedding_handshakes`` handshakes are already under way: at the onset of an overload the client
        dials for every request that waits (each admitted one holds its connection until answered), and a storm of
        handshakes, several times a request's cost each, would make the loop late for the requests it has."""
        if self._shedding is None or not (self._handshakes >= self.limits.shedding_handshakes
                                          or (self.lag is not None and self.lag.behind())):
            return False
        return self._shedding()

    async def _handshake(self, sock: socket.socket, connection: _Connection) -> None:
        """Hand the socket to the event loop (TLS: after the handshake, within ``header_timeout``). The socket
        object stays ours only until the loop attaches it; closing it afterwards is a no-op."""
        sock.setblocking(False)
        tls = {"ssl": self._ssl_context, "ssl_handshake_timeout": self.limits.header_timeout} \
            if self._ssl_context is not None else {}
        try:
            await self.loop.connect_accepted_socket(lambda: connection, sock, **tls)
        except asyncio.CancelledError:  # evicted (or shutting down) before the handshake finished
            self.forget(connection)
            sock.close()
        except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
            self.forget(connection)
            sock.close()
            self.refused("tls", exc)
        finally:
            connection.handshake = None

    def _evict(self) -> bool:
        """Close the connection that has waited longest for a request (idle, sending headers or still in its
        TLS handshake); False when every connection is busy with a request."""
        idle = [c for c in self.connections if not c.busy]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.waiting_since)
        self.forget(victim)
        victim.abort()
        self.closed("evicted")
        return True

    # -- bookkeeping and reports

    def opened(self, connection: _Connection) -> None:
        self._by_transport[connection.transport] = connection

    def arrival(self, request: web.BaseRequest) -> float | None:
        """When the client may have started waiting for ``request`` (``_Connection.arrival``), None if unknown."""
        connection = self._by_transport.get(request.transport)
        return connection.arrival() if connection is not None else None

    def forget(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        self._by_transport.pop(connection.transport, None)

    def refused(self, reason: str, error: BaseException | None = None) -> None:
        self.refused_event(reason)
        fields = {"listener": self.name, "reason": reason}
        if error is not None:
            fields["error"] = f"{type(error).__name__}: {error}"
        log.warning("connection refused", extra={"fields": fields, "rate_limit": f"refused:{self.name}:{reason}"})

    def closed(self, reason: str) -> None:
        self.closed_event(reason)
        log.warning("connection closed", extra={"fields": {"listener": self.name, "reason": reason},
                                                "rate_limit": f"closed:{self.name}:{reason}"})
