"""Small Jinja2 injector configs that make the serving revision and config version visible in the patch.

Used by the multi-revision server tests and by ``bench/revision_swap_bench.py``: each config injects an
``istio-proxy`` whose ``MARK`` env var names the config version, so a reply proves which snapshot rendered it.
"""
from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson

ISTIO_CONFIGS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "istio" / "configs" / "default"
"""Istio's default-install config, in the shared corpus beside the checkout (see README, Conformance)."""


def marked_config(mark: str, *, policy: str = "enabled") -> str:
    """An injector ``config`` text (templateLanguage jinja2) whose sidecar carries ``MARK=<mark>``."""
    return (
        f"policy: {policy}\ntemplateLanguage: jinja2\ntemplates:\n  sidecar: |\n"
        "    spec:\n      containers:\n      - name: istio-proxy\n        image: \"proxy:{{ Revision }}\"\n"
        f"        env:\n        - name: MARK\n          value: \"{mark}\"\n"
    )


def write_revision(root: Path, revision: str, config: str, **others: str) -> None:
    """``root/<revision>/{config,...}`` for ``--config-dir``, written atomically (rename), as kubelet's symlink swap
    does, so a poll never sees half a file."""
    directory = root / revision
    directory.mkdir(exist_ok=True)
    for name, text in {"config": config, **others}.items():
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, directory / name)


BROKEN_CONFIG = "policy: enabled\ntemplateLanguage: jinja2\ntemplates:\n  sidecar: \"{% if %}\"\n"
"""A template that does not compile: the change must be rejected and the old snapshot keep serving."""


@dataclass(frozen=True)
class Injected:
    """What a reply says about the snapshot that rendered it."""

    allowed: bool
    revision: str | None
    """From the ``sidecar.istio.io/status`` annotation."""
    mark: str | None
    message: str | None = None


def injected(reply: dict[str, Any]) -> Injected:
    response = reply["response"]
    if "patch" not in response:
        return Injected(response["allowed"], None, None, (response.get("status") or {}).get("message"))
    revision = mark = None
    for op in orjson.loads(base64.b64decode(response["patch"])):
        value = op.get("value")
        if op["path"] == "/metadata/annotations" and isinstance(value, dict):
            status = value.get("sidecar.istio.io/status")
            revision = orjson.loads(status)["revision"] if status else None
        elif op["path"] == "/metadata/annotations/sidecar.istio.io~1status":
            revision = orjson.loads(value)["revision"]
        for container in _containers(op["path"], value):
            if isinstance(container, dict) and container.get("name") == "istio-proxy":
                mark = next((e.get("value") for e in container.get("env") or [] if e["name"] == "MARK"), None)
    return Injected(response["allowed"], revision, mark)


def _containers(path: str, value: Any) -> list[Any]:
    """Containers a patch operation adds; the proxy is an init container when native sidecars are on."""
    for field in ("/spec/containers", "/spec/initContainers"):
        if path == field:
            return value
        if path.startswith(field + "/"):
            return [value]
    return []


def istio_texts() -> tuple[str, str, str] | None:
    """Istio's own default config, values and mesh (Go templates), when the shared conformance corpus is present."""
    parts = [ISTIO_CONFIGS / name for name in ("config.yaml", "values.json", "mesh.yaml")]
    if not all(path.exists() for path in parts):
        return None
    return parts[0].read_text(), parts[1].read_text(), parts[2].read_text()


async def eventually_async(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``await check()`` holds, for checks that must themselves make requests. The deadline is only
    reached when something is broken, so it is generous: a swap builds, loads and compiles on a busy machine."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)
