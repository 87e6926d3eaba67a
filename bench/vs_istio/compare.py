"""Before measuring anything: both webhooks must turn the same request into the same pod.

Each sample request goes to both servers; each reply's JSON Patch is applied to the request's pod, and the two
resulting pods must be equal as JSON values (key order aside). A benchmark of servers that disagree would compare
different work.
"""
from __future__ import annotations

import base64
import http.client
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

import jsonpatch
import orjson


@dataclass(frozen=True)
class Mismatch:
    request: int
    detail: str


def send(url: str, body: bytes, context: ssl.SSLContext) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=60)
    try:
        connection.request("POST", f"{parts.path}?{parts.query}", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}: {data[:300]!r}")
    return orjson.loads(data)["response"]


def patched_pod(body: bytes, reply: dict[str, Any]) -> dict[str, Any]:
    pod = orjson.loads(body)["request"]["object"]
    if not reply.get("allowed"):
        raise RuntimeError(f"request denied: {reply.get('status')}")
    patch = orjson.loads(base64.b64decode(reply["patch"])) if reply.get("patch") else []
    return jsonpatch.apply_patch(pod, patch)


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """JSON-pointer-ish path of the first place two JSON values differ, with both sides."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}/{key}: only in {'second' if key not in a else 'first'}"
            if (found := first_difference(a[key], b[key], f"{path}/{key}")) is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for index, (x, y) in enumerate(zip(a, b)):
            if (found := first_difference(x, y, f"{path}/{index}")) is not None:
                return found
        return None if len(a) == len(b) else f"{path}: {len(a)} vs {len(b)} items"
    return None if a == b else f"{path}: {str(a)[:200]!r} vs {str(b)[:200]!r}"


def compare(first_url: str, second_url: str, requests: list[tuple[int, bytes]],
            context: ssl.SSLContext) -> list[Mismatch]:
    """Mismatches between the pods the two servers make of each (sequence number, body)."""
    mismatches = []
    for seq, body in requests:
        difference = first_difference(patched_pod(body, send(first_url, body, context)),
                                      patched_pod(body, send(second_url, body, context)))
        if difference is not None:
            mismatches.append(Mismatch(seq, difference))
    return mismatches
