"""Stand-ins for the render pipeline, so server tests control timing and failures exactly.

``FakeInjector`` takes the place of ``workers.render.Injector`` in the pool (job spec
``tests.server.fake_job:FakeInjector``); ``build_fake_config`` takes the place of ``build_revision_config``.
Pod annotations under ``test/`` steer the job: sleep, report the worker pid, record what was rendered, fail as the
user's or our fault, burn CPU in Python (``test/spin``: interruptible) or in one C call (``test/spin-in-c``: not),
allocate one large block (``test/allocate``), keep many small objects (``test/hoard``: a leak that bloats the heap)
or return a large patch. Values steer the load: ``failLoad`` (refused), ``dieOnLoad`` (the worker dies compiling
it), ``loadSleepSeconds`` (a slow compile), ``loadPidFile`` (each compiling worker appends its pid); and the vetting
in the config sandbox (``prepare``): ``vetFail`` (refused), ``vetSleepSeconds`` (a vetting that stalls).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import orjson
import yaml

from workers.config.errors import ConfigError
from workers.config.model import InjectorConfig, parse_injector_config
from workers.errors import InjectionError


@dataclass(frozen=True)
class FakeRevisionConfig:
    """The parts of ``RevisionConfig`` the server reads (revision, generation, config) plus the test knobs."""

    revision: str
    generation: int
    config: InjectorConfig
    values: Mapping[str, Any] = field(default_factory=dict)


def build_fake_config(config_text: str | None, values_text: str | None, mesh_text: str | None, *,
                      revision: str = "default", generation: int = 0) -> FakeRevisionConfig:
    """Same signature and error type as ``build_revision_config``; values ``broken: true`` is rejected."""
    config = parse_injector_config(config_text if config_text is not None else "policy: enabled")
    values = yaml.safe_load(values_text or "{}") or {}
    if not isinstance(values, dict) or values.get("broken"):
        raise ConfigError("values", "rejected on purpose by the test")
    return FakeRevisionConfig(revision, generation, config, values)


class FakeInjector:
    """Adds annotations that reveal which revision/generation and which URL env rendered the pod."""

    def __init__(self, config: FakeRevisionConfig) -> None:
        values = config.values
        if "loadPidFile" in values:
            with open(values["loadPidFile"], "a") as pids:
                pids.write(f"{os.getpid()}\n")
        time.sleep(float(values.get("loadSleepSeconds", 0)))
        if values.get("dieOnLoad"):
            os._exit(3)  # as a worker killed for memory or CPU while compiling would
        if values.get("failLoad"):
            raise ValueError("this config does not compile in a worker")
        self._config = config
        self._sleep = float(config.values.get("sleepSeconds", 0))

    @classmethod
    def prepare(cls, config: FakeRevisionConfig, render_seconds: float, *,
                render_memory_bytes: int | None = None) -> FakeRevisionConfig:
        """Vetting in the config sandbox, as ``workers.render.Injector.prepare`` (which compiles) is there."""
        time.sleep(float(config.values.get("vetSleepSeconds", 0)))
        if config.values.get("vetFail"):
            raise ValueError("this config fails its vetting")
        return config

    def inject_admission(self, pod_json: bytes, facts: Any) -> bytes:
        return self._answer(orjson.loads(pod_json), facts)

    def inject_review(self, review_json: bytes, facts: Any) -> bytes:
        return self._answer(orjson.loads(review_json)["request"]["object"], facts)

    def _answer(self, pod: dict[str, Any], facts: Any) -> bytes:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        if "test/pid-file" in annotations:  # atomically: a test polling for the file must never read it empty
            pid_file = Path(annotations["test/pid-file"])
            pid_file.with_name(f".{pid_file.name}.{os.getpid()}").write_text(str(os.getpid()))
            os.replace(pid_file.with_name(f".{pid_file.name}.{os.getpid()}"), pid_file)
        if "test/record" in annotations:  # proves which pods were rendered at all, and in what order
            with open(annotations["test/record"], "a") as record:
                record.write(f"{(pod.get('metadata') or {}).get('name')}\n")
        time.sleep(self._sleep + float(annotations.get("test/sleep", 0)))
        _misbehave(annotations)
        if "test/fail" in annotations:
            raise InjectionError(annotations["test/fail"])
        if "test/bug" in annotations:
            raise RuntimeError(annotations["test/bug"])
        padding = int(annotations.get("test/patch-padding", 0))
        return orjson.dumps([
            *([{"op": "add", "path": "/metadata/annotations/test~1padding", "value": "x" * padding}] if padding else []),
            {"op": "add", "path": "/metadata/annotations/test~1rendered-by",
             "value": f"{self._config.revision}/{self._config.generation}/{facts.revision}"},
            {"op": "add", "path": "/metadata/annotations/test~1path-env",
             "value": orjson.dumps(facts.path_env, option=orjson.OPT_SORT_KEYS).decode()},
            {"op": "add", "path": "/metadata/annotations/test~1namespace", "value": facts.namespace},
        ])


_HOARD: list[object] = []


def _misbehave(annotations: Mapping[str, str]) -> None:
    """What a hostile template can make a render do, in its plainest form."""
    if "test/spin" in annotations:
        end = time.process_time() + float(annotations["test/spin"])
        while time.process_time() < end:
            pass
    if "test/spin-in-c" in annotations:
        sum(range(int(float(annotations["test/spin-in-c"]))))
    if "test/allocate" in annotations:
        bytearray(int(float(annotations["test/allocate"])))
    if "test/hoard" in annotations:
        _HOARD.extend(str(i) for i in range(int(float(annotations["test/hoard"]))))
