"""What the webhook URL tells the injector: proxy env pairs in the path (§1.5) and the apiserver's timeout.

Istio lets one webhook URL carry per-cluster settings (``/inject/cluster/c1/net/n1``) that become environment
variables of the injected proxy; the revision routing prefix ``/rev/<rev>`` must be removed before parsing, or
Istio's rules would turn it into ``REV=<rev>``.
"""
from __future__ import annotations

import re

_PARAMETER_ENV = {"cluster": "ISTIO_META_CLUSTER_ID", "net": "ISTIO_META_NETWORK"}
_ENV_SEPARATOR = ":ENV:"
_SLASH = "--slash--"

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _pairs(path: str) -> list[str]:
    """Key/value items after ``/inject/``: the deprecated ``:ENV:k=v`` form, else slash-separated pairs."""
    parts = path.split("/", 2)
    if len(parts) < 3:
        return []
    tail = parts[2]
    if tail.startswith(_ENV_SEPARATOR):
        items: list[str] = []
        for pair in tail.split(_ENV_SEPARATOR)[1:]:
            key, sep, value = pair.partition("=")
            if key and sep:
                items += (key, value)
        return items
    items = tail.split("/")
    return [item.replace(_SLASH, "/") if index % 2 else item for index, item in enumerate(items)]


def inject_envs(path: str) -> dict[str, str]:
    """Istio's ``parseInjectEnvs`` on a decoded ``/inject...`` path: env name -> value.

    ``cluster`` and ``net`` map to ``ISTIO_META_CLUSTER_ID``/``ISTIO_META_NETWORK``; other keys are upper-cased;
    an odd trailing key is dropped.
    """
    items = _pairs(path.removesuffix("/"))
    envs: dict[str, str] = {}
    for index in range(0, len(items) - 1, 2):
        name = _PARAMETER_ENV.get(items[index], items[index].upper())
        if name:
            envs[name] = items[index + 1]
    return envs


def strip_revision(path: str, revision: str) -> str:
    """``/rev/<revision>/inject/...`` -> ``/inject/...``, so the routing pair is not an env pair."""
    prefix = f"/rev/{revision}"
    return path[len(prefix):] if path.startswith(prefix) else path


def parse_go_duration(text: str) -> float | None:
    """A Go ``time.Duration`` string (``10s``, ``1m30s``, ``500ms``) in seconds; None if it is not one."""
    if not text or text == "0":
        return 0.0 if text == "0" else None
    sign = -1.0 if text[0] == "-" else 1.0
    body = text.lstrip("+-")
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(body) or position == 0:
        return None
    return sign * total


MAX_WEBHOOK_TIMEOUT = 30.0
"""kube-apiserver accepts timeoutSeconds 1..30: no real caller waits longer, so no client may make us wait longer."""


def request_timeout(query_timeout: str | None, default: float) -> float:
    """The apiserver's ``?timeout=`` for this call (it appends the webhook's timeoutSeconds), else ``default``;
    at most ``MAX_WEBHOOK_TIMEOUT``."""
    if query_timeout is None:
        return default
    seconds = parse_go_duration(query_timeout)
    return min(seconds, MAX_WEBHOOK_TIMEOUT) if seconds is not None and seconds > 0 else default
