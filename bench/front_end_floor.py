"""The least a refused admission can cost the event loop with this front end: a bare aiohttp + uvloop TLS server.

    python bench/front_end_floor.py serve PORT CERT KEY     # the bare server (overload_bench starts it)

Its one handler does what any webhook must do to refuse a request with a well-formed answer: read the body, parse
it (orjson) for the request's uid, and answer a fixed ``allowed: false`` AdmissionReview. No routing, policy,
metrics, logging or scheduling. ``bench/overload_bench.py`` drives it with the same generator and connection pattern
as the injector's refused admissions, so the two costs per request come from one run, and the goodput bound that
even this floor allows at k times capacity (``1 - (k - 1) * floor / (render + injected)``) shows how far the
injector's own code is from what the front end's stack (aiohttp, uvloop, Python's ssl) leaves.
"""
from __future__ import annotations

import ssl
import sys

REFUSAL = (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"%s","allowed":false,'
           b'"status":{"metadata":{},"message":"injector overloaded: pod ns/name was not injected because estimated '
           b'wait 1.23s plus render 0.01s exceeds its budget of 1.90s; it was not rendered, retry later"}}}')


def serve(port: int, cert: str, key: str) -> None:
    import orjson
    import uvloop
    from aiohttp import web

    async def refuse(request: web.Request) -> web.Response:
        uid = orjson.loads(await request.read())["request"]["uid"]
        return web.Response(body=REFUSAL % uid.encode(), content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_route("*", "/inject", refuse)
    app.router.add_get("/readyz", ready)  # what tests.server.serve_process.wait_ready polls
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, access_log=None, print=None)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "serve":
        raise SystemExit(__doc__)
    serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
