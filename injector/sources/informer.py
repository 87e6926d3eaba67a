"""A list-then-watch informer with a local cache, over any kubernetes-asyncio ``list_*`` function.

Why not ``kubernetes_asyncio.watch.Watch``: it turns every event into a generated model object (slow, and the rest of
the injector works on plain JSON dicts, see DESIGN.md), it answers ``410 Gone`` by re-watching from the same expired
resourceVersion, and it has no cache, no re-list, no sync barrier. This module keeps the protocol of client-go's
reflector instead:

1. **List** (a consistent read), replace the cache, and hand the consumer the *difference* from the previous cache as
   synthesised ADDED/MODIFIED/DELETED events, so that a re-list (first start or after ``410``) never loses a deletion
   that happened while we could not watch.
2. **Watch** from the list's resourceVersion with bookmarks allowed; every event and BOOKMARK advances the tracked
   resourceVersion, so a dropped connection or a server-side timeout resumes exactly after the last thing we saw.
3. ``410 Expired/Gone`` (as an HTTP status or an ``ERROR`` event) means the server no longer has the history we need:
   go back to 1. Any other failure retries the watch (or the list) after an exponential, jittered, bounded backoff
   that resets once a connection has proven healthy.

Objects are kept exactly as the apiserver sends them, parsed by orjson into plain dicts (never generated models):
that is cheaper, and it is the form the pipeline uses. An optional ``transform`` trims them before caching, like
client-go's ``SetTransform``, so a cache of thousands of Nodes does not hold their image lists. Consumers must treat
cached objects as read-only.

Handlers are awaited one at a time, in event order, from the informer's own task; a handler that raises is logged
and the informer carries on (the cache stays right, the next event is still delivered). When a handler runs, the
cache already reflects that event (for a list, the whole list), so a handler may reconcile from the cache.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Mapping

import aiohttp
import orjson

log = logging.getLogger(__name__)

JSON = dict[str, Any]
EventHandler = Callable[[str, JSON], Awaitable[None]]
"""``on_event(type, obj)`` with type ADDED, MODIFIED or DELETED (DELETED carries the last known state)."""
ListFunc = Callable[..., Awaitable[Any]]
"""A kubernetes-asyncio ``list_*`` method, with any positional arguments (e.g. the namespace) already bound."""


class KubeApiError(Exception):
    """The apiserver refused a request; ``code``/``reason`` come from its ``Status`` body when it sent one."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message

    @classmethod
    def from_status(cls, status: JSON, default_code: int = 0) -> KubeApiError:
        return cls(int(status.get("code") or default_code), str(status.get("reason", "")),
                   str(status.get("message", "")))

    @classmethod
    async def from_response(cls, response: aiohttp.ClientResponse) -> KubeApiError:
        """Build from a non-2xx response, whose body is a ``Status`` unless a proxy in between answered."""
        body = await response.read()
        try:
            status = orjson.loads(body)
        except orjson.JSONDecodeError:
            status = None
        if not isinstance(status, dict):
            status = {"message": body[:200].decode("utf-8", "replace"), "reason": response.reason or ""}
        return cls.from_status({**status, "code": response.status})


class WatchExpired(KubeApiError):
    """410: the resourceVersion we hold is older than the server's history; only a re-list can recover."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry delays ``initial * factor**attempt``, capped at ``maximum``, stretched by up to ``jitter`` (a fraction).

    Jitter keeps several injector replicas from reconnecting in lock-step after an apiserver restart.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 + self.jitter * random.random())


def object_key(obj: JSON) -> str:
    """Cache key: ``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (client-go's key)."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else meta["name"]


class Informer:
    """One resource kind (optionally filtered by selectors): cache, event handler, first-sync barrier."""

    def __init__(
        self,
        list_func: ListFunc,
        *,
        name: str,
        on_event: EventHandler | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[JSON], JSON] | None = None,
        watch_timeout: float = 300.0,
        list_timeout: float = 60.0,
        healthy_after: float = 5.0,
        backoff: Backoff = Backoff(),
    ) -> None:
        """``watch_timeout`` is the lower bound of the server-side watch timeout (randomised up to twice that, to
        spread reconnections); ``healthy_after`` is how long a watch must last, without any event, for its end to
        count as normal rather than a failure that escalates the backoff."""
        self.name = name
        self._list_func = list_func
        self._on_event = on_event
        self._selectors = {"label_selector": label_selector, "field_selector": field_selector}
        self._transform = transform
        self._watch_timeout = watch_timeout
        self._list_timeout = list_timeout
        self._healthy_after = healthy_after
        self._backoff = backoff
        self._cache: dict[str, JSON] = {}
        self._resource_version: str | None = None
        self._synced = asyncio.Event()
        self._progress = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------- public

    def start(self) -> None:
        """Begin listing and watching in a background task of the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer:{self.name}")

    async def stop(self) -> None:
        """Cancel the task and wait for it, so no handler runs after ``stop`` returns."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Return once the first list has been cached and its ADDED events handled (raises TimeoutError)."""
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def resource_version(self) -> str | None:
        """The newest resourceVersion seen (list, event or bookmark): where the next watch resumes."""
        return self._resource_version

    @property
    def cache(self) -> Mapping[str, JSON]:
        """Read-only view of the current objects by :func:`object_key`."""
        return MappingProxyType(self._cache)

    def get(self, key: str) -> JSON | None:
        return self._cache.get(key)

    # ------------------------------------------------------------------------------------------- loop

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        need_list = True
        while True:
            self._progress = False
            started = loop.time()
            ended_cleanly = False
            failure: object = "watch stream ended before anything arrived"
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
                ended_cleanly = True
            except WatchExpired as err:
                need_list = True
                failure = err
            except Exception as err:  # noqa: BLE001 - the supervisor must survive anything and retry
                failure = err
                if not isinstance(err, (aiohttp.ClientError, TimeoutError, KubeApiError)):
                    log.exception("informer %s: unexpected error", self.name)
            if self._progress or loop.time() - started >= self._healthy_after:
                # The connection proved itself: start the backoff schedule afresh; and an end of stream (the
                # server's timeout) is then routine, so resume at once.
                attempt = 0
                if ended_cleanly:
                    continue
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.warning("informer %s: %s; %s in %.2fs", self.name, failure,
                        "re-listing" if need_list else "resuming watch", delay)
            await asyncio.sleep(delay)

    async def _list(self) -> None:
        response = await self._list_func(**self._selectors, _preload_content=False,
                                         _request_timeout=aiohttp.ClientTimeout(total=self._list_timeout))
        async with response:
            if response.status != 200:
                raise await KubeApiError.from_response(response)
            body = orjson.loads(await response.read())
        kind, api_version = str(body.get("kind", "")).removesuffix("List"), body.get("apiVersion")
        fresh: dict[str, JSON] = {}
        for item in body.get("items") or ():
            # List items come without kind/apiVersion; fill them so cached objects look like watched ones.
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
            obj = self._transform(item) if self._transform else item
            fresh[object_key(obj)] = obj
        diff: list[tuple[str, JSON]] = []
        for key, obj in fresh.items():
            old = self._cache.get(key)
            if old is None:
                diff.append(("ADDED", obj))
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                diff.append(("MODIFIED", obj))
        diff.extend(("DELETED", old) for key, old in self._cache.items() if key not in fresh)
        self._cache = fresh
        self._resource_version = body["metadata"]["resourceVersion"]
        log.info("informer %s: listed %d objects at resourceVersion %s (%d changes)", self.name, len(fresh),
                 self._resource_version, len(diff))
        for event_type, obj in diff:
            await self._dispatch(event_type, obj)
        self._synced.set()

    async def _watch(self) -> None:
        timeout_seconds = max(1, int(self._watch_timeout * (1.0 + random.random())))
        response = await self._list_func(
            **self._selectors,
            watch=True,
            resource_version=self._resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            # No total limit (the stream is long-lived); a silent peer is caught by the read timeout.
            _request_timeout=aiohttp.ClientTimeout(sock_connect=self._list_timeout,
                                                   sock_read=timeout_seconds + 30),
        )
        async with response:
            if response.status == 410:
                raise await WatchExpired.from_response(response)
            if response.status != 200:
                raise await KubeApiError.from_response(response)
            while line := await response.content.readline():
                if line.strip():
                    await self._handle_line(line)

    async def _handle_line(self, line: bytes) -> None:
        event = orjson.loads(line)
        event_type, obj = event.get("type"), event.get("object") or {}
        if event_type == "ERROR":
            if obj.get("code") == 410:
                raise WatchExpired.from_status(obj, 410)
            raise KubeApiError.from_status(obj)
        resource_version = obj["metadata"]["resourceVersion"]
        if event_type == "BOOKMARK":
            self._resource_version = resource_version
            self._progress = True
            return
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            log.warning("informer %s: ignoring watch event of type %r", self.name, event_type)
            return
        if self._transform:
            obj = self._transform(obj)
        key = object_key(obj)
        if event_type == "DELETED":
            self._cache.pop(key, None)
        else:
            self._cache[key] = obj
        self._resource_version = resource_version
        self._progress = True
        await self._dispatch(event_type, obj)

    async def _dispatch(self, event_type: str, obj: JSON) -> None:
        if self._on_event is None:
            return
        try:
            await self._on_event(event_type, obj)
        except Exception:  # noqa: BLE001 - one faulty consumer must not stop the stream for the others
            log.exception("informer %s: handler failed on %s %s", self.name, event_type, object_key(obj))
