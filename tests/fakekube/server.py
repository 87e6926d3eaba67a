"""A fake kube-apiserver on aiohttp, for testing informers over real HTTP.

It speaks just enough of the Kubernetes REST protocol for the resources the injector reads (ConfigMaps, Namespaces,
Nodes, MutatingWebhookConfigurations, Pods) to exercise the parts of list/watch that go wrong in production: a global,
monotonically increasing resourceVersion shared by all kinds (like etcd's revision), watches resumed from a
resourceVersion out of a bounded history, ``410 Expired`` as an ``ERROR`` watch event once that history is gone,
BOOKMARK events, label-selector transitions (an object that stops matching arrives as DELETED), and abrupt connection
loss. Test controls (``cut_watches``, ``compact``, ``send_bookmarks``, ``fail_next``) trigger those conditions on
demand instead of waiting for them.

The store is plain dicts; the direct methods (``create``/``update``/``delete``) are the "cluster side" for test setup
and behave exactly like the HTTP endpoints, which exist too (POST/PUT/DELETE, and PATCH with a JSON Patch) so a real
client can write.
"""
from __future__ import annotations

import asyncio
import collections
import datetime
import itertools
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import yaml
from aiohttp import web

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Kind:
    """One REST resource the fake serves."""

    plural: str
    kind: str
    api_version: str
    namespaced: bool

    @property
    def prefix(self) -> str:
        """Core kinds live under ``/api/v1``, grouped kinds under ``/apis/<group>/<version>``."""
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"


KINDS: dict[str, Kind] = {
    k.plural: k
    for k in (
        Kind("configmaps", "ConfigMap", "v1", True),
        Kind("namespaces", "Namespace", "v1", False),
        Kind("nodes", "Node", "v1", False),
        Kind("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1", False),
        Kind("pods", "Pod", "v1", True),
    )
}


class ApiError(Exception):
    """A request the real apiserver would refuse; carries the HTTP code and Status reason."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> JSON:
        return status_object(self.code, self.reason, self.message)


def status_object(code: int, reason: str, message: str) -> JSON:
    """A ``metav1.Status`` failure, the body of every apiserver error (and of a watch ERROR event)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


# --------------------------------------------------------------------------------------------------- selectors

Predicate = Callable[[dict[str, str]], bool]


def _split_top_level(text: str) -> list[str]:
    """Split a selector on commas that are not inside ``in (a,b)`` parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str) -> Predicate:
    """The label-selector string syntax (``a=b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x,y)``)."""
    checks: list[Predicate] = []
    for req in _split_top_level(text):
        words = req.split(None, 1)
        if len(words) == 2 and words[1].startswith(("in ", "in(", "notin ", "notin(")):
            key = words[0]
            op, _, rest = words[1].partition("(")
            values = {v.strip() for v in rest.rstrip(")").split(",")}
            if op.strip() == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif req.startswith("!"):
            checks.append(lambda labels, k=req[1:].strip(): k not in labels)
        else:
            checks.append(lambda labels, k=req: k in labels)
    return lambda labels: all(check(labels) for check in checks)


def parse_field_selector(text: str) -> Callable[[JSON], bool]:
    """Field selectors on ``metadata.name`` and ``metadata.namespace`` (``=``, ``==``, ``!=``), all kinds allow."""
    checks: list[Callable[[JSON], bool]] = []
    for req in _split_top_level(text):
        negate = "!=" in req
        path, value = (s.strip() for s in req.replace("!=", "=").replace("==", "=").split("=", 1))
        if path not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", f'field label not supported: "{path}"')
        attr = path.split(".", 1)[1]
        checks.append(lambda obj, a=attr, v=value, n=negate: (obj["metadata"].get(a, "") == v) != n)
    return lambda obj: all(check(obj) for check in checks)


# --------------------------------------------------------------------------------------------------- watch state


@dataclass(slots=True)
class _Change:
    """One committed write; ``old`` lets a filtered watch turn a selector transition into ADDED/DELETED."""

    rv: int
    plural: str
    type: str
    obj: JSON
    old: JSON | None


@dataclass(slots=True, eq=False)
class _Watcher:
    kind: Kind
    namespace: str | None
    labels: Predicate
    fields: Callable[[JSON], bool]
    bookmarks: bool
    request: web.Request
    queue: asyncio.Queue[_Change | str] = field(default_factory=asyncio.Queue)

    def matches(self, obj: JSON | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels(meta.get("labels") or {}) and self.fields(obj)

    def translate(self, change: _Change) -> JSON | None:
        """The event this watcher sees for a change, as the apiserver's filtered watch computes it."""
        if change.plural != self.kind.plural:
            return None
        was, now = self.matches(change.old), change.type != "DELETED" and self.matches(change.obj)
        if change.type == "DELETED":
            return {"type": "DELETED", "object": change.obj} if was else None
        if was and now:
            return {"type": "MODIFIED", "object": change.obj}
        if now:
            return {"type": "ADDED", "object": change.obj}
        if was:
            return {"type": "DELETED", "object": change.obj}
        return None


_CUT = "cut"
_BOOKMARK = "bookmark"


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """What a client asked for, so tests can assert e.g. that a watch resumed from the right resourceVersion."""

    method: str
    path: str
    query: dict[str, str]


def _truthy(value: str | None) -> bool:
    """Go's strconv.ParseBool as the apiserver applies it to ``watch``/``allowWatchBookmarks``."""
    return (value or "").lower() in ("1", "t", "true")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy(obj: JSON) -> JSON:
    return orjson.loads(orjson.dumps(obj))


class FakeKube:
    """In-memory apiserver. Start with ``await start()``; ``url`` is then ``http://127.0.0.1:<port>``."""

    def __init__(self, *, history_limit: int = 1000) -> None:
        self._objects: dict[tuple[str, str, str], JSON] = {}
        self._history: collections.deque[_Change] = collections.deque()
        self._history_limit = history_limit
        self._rv = itertools.count(1)
        self._current_rv = 0
        self._floor = 0
        self._watchers: set[_Watcher] = set()
        self._failures: list[int] = []
        self._patch_failures: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.events: list[JSON] = []
        """Core v1 Events posted by clients, in arrival order."""
        self.request_log: list[LoggedRequest] = []

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> str:
        """Serve on a random port of 127.0.0.1 and return the base URL."""
        app = web.Application()
        for kind in KINDS.values():
            collection = f"{kind.prefix}/namespaces/{{namespace}}/{kind.plural}" if kind.namespaced else \
                f"{kind.prefix}/{kind.plural}"
            app.router.add_get(collection, self._handler(self._get_collection, kind))
            app.router.add_post(collection, self._handler(self._post, kind))
            app.router.add_get(collection + "/{name}", self._handler(self._get_item, kind))
            app.router.add_put(collection + "/{name}", self._handler(self._put, kind))
            app.router.add_patch(collection + "/{name}", self._handler(self._patch, kind))
            app.router.add_delete(collection + "/{name}", self._handler(self._delete, kind))
            if kind.namespaced:
                app.router.add_get(f"{kind.prefix}/{kind.plural}", self._handler(self._get_collection, kind))
        app.router.add_post("/api/v1/namespaces/{namespace}/events", self._post_event)
        # handler_cancellation: a watch handler idle on its queue must notice the client hanging up, as the
        # apiserver does, or it would linger as a phantom watcher.
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        """Drop every watch and stop serving."""
        self.cut_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----------------------------------------------------------------------------------------- test controls

    @property
    def resource_version(self) -> int:
        """The newest committed resourceVersion."""
        return self._current_rv

    def cut_watches(self) -> int:
        """Abort every open watch connection without a clean end of stream, as a network failure would."""
        cut = list(self._watchers)
        self._watchers.clear()
        for watcher in cut:
            transport = watcher.request.transport
            if transport is not None:
                transport.abort()
            watcher.queue.put_nowait(_CUT)
        return len(cut)

    def compact(self) -> None:
        """Forget all history, so resuming any watch from an older resourceVersion gets 410 Expired."""
        self._history.clear()
        self._floor = self._current_rv

    def send_bookmarks(self) -> None:
        """Send a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks."""
        for watcher in self._watchers:
            if watcher.bookmarks:
                watcher.queue.put_nowait(_BOOKMARK)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` list/watch requests with ``status`` (to exercise retry with backoff)."""
        self._failures.extend([status] * count)

    def fail_next_patches(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` PATCH requests with ``status`` (list/watch failures are separate)."""
        self._patch_failures.extend([status] * count)

    def watch_count(self, plural: str | None = None) -> int:
        """Open watch connections (of one resource, or all)."""
        return sum(1 for w in self._watchers if plural is None or w.kind.plural == plural)

    def watch_requests(self, plural: str) -> list[LoggedRequest]:
        """Logged watch GETs for one resource, oldest first."""
        return [r for r in self.request_log
                if r.method == "GET" and _truthy(r.query.get("watch")) and r.path.endswith("/" + plural)]

    def list_requests(self, plural: str) -> list[LoggedRequest]:
        """Logged list GETs (not watches) for one resource, oldest first."""
        return [r for r in self.request_log
                if r.method == "GET" and not _truthy(r.query.get("watch")) and r.path.endswith("/" + plural)]

    async def wait_for_watches(self, plural: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` watches of ``plural`` are open (a client reconnected)."""
        async with asyncio.timeout(timeout):
            while self.watch_count(plural) < count:
                await asyncio.sleep(0.01)

    # ----------------------------------------------------------------------------------------- store

    def get(self, plural: str, name: str, namespace: str = "") -> JSON | None:
        obj = self._objects.get((plural, namespace if KINDS[plural].namespaced else "", name))
        return _copy(obj) if obj is not None else None

    def create(self, plural: str, obj: JSON, namespace: str | None = None) -> JSON:
        """Store a new object, stamping uid, creationTimestamp and a fresh resourceVersion."""
        kind = KINDS[plural]
        obj = _copy(obj)
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        if not kind.namespaced:
            meta.pop("namespace", None)
        elif not meta.get("namespace"):
            raise ApiError(400, "BadRequest", "the namespace of the object is missing")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required")
        key = (plural, meta.get("namespace", ""), meta["name"])
        if key in self._objects:
            raise ApiError(409, "AlreadyExists", f'{plural} "{meta["name"]}" already exists')
        if plural == "namespaces":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["kind"], obj["apiVersion"] = kind.kind, kind.api_version
        meta["uid"] = secrets.token_hex(16)
        meta["creationTimestamp"] = _now()
        return self._commit(plural, key, "ADDED", obj, None)

    def update(self, plural: str, obj: JSON, namespace: str | None = None) -> JSON:
        """Replace an object; a non-empty resourceVersion in ``obj`` must match (optimistic concurrency)."""
        kind = KINDS[plural]
        obj = _copy(obj)
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        key = (plural, meta.get("namespace", "") if kind.namespaced else "", meta.get("name", ""))
        old = self._objects.get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{plural} "{key[2]}" not found')
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{key[2]}": '
                                            "the object has been modified; please apply your changes to the latest "
                                            "version and try again")
        if plural == "namespaces":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["kind"], obj["apiVersion"] = kind.kind, kind.api_version
        meta["uid"] = old["metadata"]["uid"]
        meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        return self._commit(plural, key, "MODIFIED", obj, old)

    def delete(self, plural: str, name: str, namespace: str = "") -> JSON:
        """Remove an object; like the apiserver, the DELETED event carries a new resourceVersion."""
        key = (plural, namespace if KINDS[plural].namespaced else "", name)
        old = self._objects.get(key)
        if old is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        return self._commit(plural, key, "DELETED", _copy(old), old)

    def _commit(self, plural: str, key: tuple[str, str, str], event_type: str, obj: JSON, old: JSON | None) -> JSON:
        rv = next(self._rv)
        self._current_rv = rv
        obj["metadata"]["resourceVersion"] = str(rv)
        if event_type == "DELETED":
            del self._objects[key]
        else:
            self._objects[key] = obj
        change = _Change(rv, plural, event_type, obj, old)
        self._history.append(change)
        while len(self._history) > self._history_limit:
            self._floor = self._history.popleft().rv
        for watcher in self._watchers:
            watcher.queue.put_nowait(change)
        return _copy(obj)

    def _list(self, kind: Kind, namespace: str | None) -> Iterable[JSON]:
        for (plural, ns, _), obj in sorted(self._objects.items()):
            if plural == kind.plural and (namespace is None or ns == namespace):
                yield obj

    # ----------------------------------------------------------------------------------------- HTTP

    def _handler(self, method: Callable[..., Any], kind: Kind) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.request_log.append(LoggedRequest(request.method, request.path, dict(request.query)))
            try:
                return await method(request, kind)
            except ApiError as err:
                return _json_response(err.status(), err.code)
        return handle

    async def _get_collection(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        if self._failures:
            code = self._failures.pop(0)
            reason = {410: "Expired", 429: "TooManyRequests", 503: "ServiceUnavailable"}.get(code, "InternalError")
            raise ApiError(code, reason, "injected failure")
        namespace = request.match_info.get("namespace")
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""))
        if _truthy(request.query.get("watch")):
            return await self._watch(request, kind, namespace, labels, fields)
        items = [obj for obj in self._list(kind, namespace)
                 if labels(obj["metadata"].get("labels") or {}) and fields(obj)]
        return _json_response({"kind": kind.kind + "List", "apiVersion": kind.api_version,
                               "metadata": {"resourceVersion": str(self._current_rv)}, "items": items})

    async def _watch(self, request: web.Request, kind: Kind, namespace: str | None, labels: Predicate,
                     fields: Callable[[JSON], bool]) -> web.StreamResponse:
        query = request.query
        watcher = _Watcher(kind, namespace, labels, fields, _truthy(query.get("allowWatchBookmarks")), request)
        since = query.get("resourceVersion", "")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if since in ("", "0"):
            # "Start at most recent": synthetic ADDED for everything that exists, then live changes.
            backlog = [{"type": "ADDED", "object": obj} for obj in self._list(kind, namespace) if watcher.matches(obj)]
        else:
            try:
                start = int(since)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid resource version: {since}") from None
            if start < self._floor:
                # The real apiserver answers 200 and reports expiry as the single event of the stream.
                await response.prepare(request)
                message = f"too old resource version: {start} ({self._floor + 1})"
                await _write_event(response, {"type": "ERROR", "object": status_object(410, "Expired", message)})
                return response
            backlog = [e for c in self._history if c.rv > start if (e := watcher.translate(c)) is not None]
        # No await between taking the backlog and registering: the queue then holds exactly what follows it.
        self._watchers.add(watcher)
        timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
        try:
            await response.prepare(request)
            for event in backlog:
                await _write_event(response, event)
            async with asyncio.timeout(timeout):
                while True:
                    item = await watcher.queue.get()
                    if item == _CUT:
                        return response
                    if item == _BOOKMARK:
                        bookmark = {"kind": kind.kind, "apiVersion": kind.api_version,
                                    "metadata": {"resourceVersion": str(self._current_rv)}}
                        await _write_event(response, {"type": "BOOKMARK", "object": bookmark})
                        continue
                    assert isinstance(item, _Change)
                    event = watcher.translate(item)
                    if event is not None:
                        await _write_event(response, event)
        except TimeoutError:
            return response  # timeoutSeconds elapsed: a clean end of stream
        except ConnectionError:
            return response  # the client went away
        finally:
            self._watchers.discard(watcher)

    async def _get_item(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        obj = self.get(kind.plural, request.match_info["name"], request.match_info.get("namespace", ""))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{request.match_info["name"]}" not found')
        return _json_response(obj)

    async def _post(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        return _json_response(self.create(kind.plural, body, request.match_info.get("namespace")), 201)

    async def _put(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        if body.get("metadata", {}).get("name") != request.match_info["name"]:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        return _json_response(self.update(kind.plural, body, request.match_info.get("namespace")))

    async def _patch(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        """JSON Patch only (``application/json-patch+json``), the one patch type the injector sends."""
        if request.content_type != "application/json-patch+json":
            raise ApiError(415, "UnsupportedMediaType", f"the fake serves json-patch only, not {request.content_type}")
        if self._patch_failures:
            raise ApiError(self._patch_failures.pop(0), "ServiceUnavailable", "injected failure")
        namespace = request.match_info.get("namespace", "")
        current = self.get(kind.plural, request.match_info["name"], namespace)
        if current is None:
            raise ApiError(404, "NotFound", f'{kind.plural} "{request.match_info["name"]}" not found')
        patched = apply_json_patch(current, orjson.loads(await request.read()))
        return _json_response(self.update(kind.plural, patched, namespace or None))

    async def _delete(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        obj = self.delete(kind.plural, request.match_info["name"], request.match_info.get("namespace", ""))
        return _json_response(obj)

    async def _post_event(self, request: web.Request) -> web.StreamResponse:
        self.request_log.append(LoggedRequest(request.method, request.path, dict(request.query)))
        event = orjson.loads(await request.read())
        meta = event.setdefault("metadata", {})
        meta["namespace"] = request.match_info["namespace"]
        if not meta.get("name"):
            meta["name"] = meta.get("generateName", "event-") + secrets.token_hex(3)[:5]
        meta["resourceVersion"] = str(next(self._rv))
        event["kind"], event["apiVersion"] = "Event", "v1"
        self.events.append(event)
        return _json_response(event, 201)

    # ----------------------------------------------------------------------------------------- kubeconfig

    def write_kubeconfig(self, path: Path, *, token: str = "fake-token") -> Path:
        """Write a kubeconfig for this server (plain http) that ``kubernetes_asyncio`` can load."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path


def apply_json_patch(document: JSON, operations: list[JSON]) -> JSON:
    """RFC 6902 ``add``/``replace``/``remove``/``test`` on a copy; any failure is the apiserver's 422, atomically."""
    document = _copy(document)
    for operation in operations:
        *parents, last = [part.replace("~1", "/").replace("~0", "~")
                          for part in operation["path"].split("/")[1:]]
        try:
            target: Any = document
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target[part]
            key: Any = (len(target) if last == "-" else int(last)) if isinstance(target, list) else last
            op = operation["op"]
            if op == "test":
                if target[key] != operation["value"]:
                    raise ApiError(422, "", f"testing value {operation['path']} failed: test failed")
            elif op == "add" and isinstance(target, list):
                target.insert(key, operation["value"])
            elif op == "add" or (op == "replace" and (isinstance(target, list) or key in target)):
                target[key] = operation["value"]
            elif op == "remove":
                del target[key]
            else:
                raise ApiError(422, "", f"{op} of missing {operation['path']}")
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "", f"{operation['op']} {operation['path']}: path does not exist") from None
    return document


def _json_response(body: JSON, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def _write_event(response: web.StreamResponse, event: JSON) -> None:
    await response.write(orjson.dumps(event) + b"\n")
