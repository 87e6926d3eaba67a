"""Talking to the Go oracle, and running the same template through our translator, so tests compare the two.

One long-running oracle process answers many cases (JSON lines), so a session pays one process start. Cases are
sent in batches and answered in order; a case that takes too long (or crashes Go) restarts the process and is
reported as a timeout instead of hanging the suite.

Template data: each case's data is one JSON document holding SidecarTemplateData fields by their Go names. Go
decodes each into its real type (ObjectMeta, PodSpec, ProxyConfig/MeshConfig via protojson, Values as
map[string]any, ProxyUID int64); we parse the same text the way the injector's template data is built (every JSON
number in Values a float, as Go's map[string]any has them).
"""
from __future__ import annotations

import base64
import json
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from workers.templates.errors import TemplateError
from workers.templates.govalues import go_bytes
from workers.templates.jinja import compile_templates

#: Seconds one case may take in Go before the process is restarted.
CASE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Outcome:
    """What one side produced: the output bytes, or an error message."""
    output: bytes | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def same_as(self, other: "Outcome") -> bool:
        """Outputs equal byte for byte, or both failed (error texts are not compared)."""
        return (self.failed and other.failed) or (not self.failed and not other.failed and self.output == other.output)

    def describe(self) -> str:
        if self.failed:
            return f"error: {self.error}"
        return f"output: {self.output.decode('utf-8', 'backslashreplace')!r}"


class Oracle:
    """A running oracle process (``close()`` it, or use as a context manager)."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._start()

    def __enter__(self) -> "Oracle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self.proc = subprocess.Popen([str(self.binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _restart(self) -> None:
        self.close()
        self.restarts += 1
        self._start()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """One request and its answer, or None after CASE_TIMEOUT (the process is then restarted)."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._restart()
            return None
        reader.start()
        reader.join(CASE_TIMEOUT)
        if reader.is_alive() or not line or not line[0]:
            self._restart()
            return None
        return json.loads(line[0])

    def functions(self) -> dict[str, str]:
        """Every function of istiod's map with its Go type (``func(int, string) string``)."""
        answer = self._ask({"op": "funcs"})
        assert answer is not None, "the oracle did not list its functions"
        return answer["funcs"]

    def function_sources(self) -> tuple[list[str], list[str]]:
        """Names in sprig's ``TxtFuncMap()`` and in Istio's ``InjectionFuncmap``, as Go enumerates them."""
        answer = self._ask({"op": "funcs"})
        assert answer is not None, "the oracle did not list its functions"
        return answer["sprig"], answer["istio"]

    def render(self, template: str, data_json: str) -> Outcome:
        answer = self._ask({"op": "render", "template": template, "data": json.loads(data_json)})
        if answer is None:
            return Outcome(None, f"timed out after {CASE_TIMEOUT}s (or crashed)")
        if "output" in answer:
            raw = base64.b64decode(answer["raw"]) if answer.get("raw") else answer["output"].encode()
            return Outcome(raw)
        if answer.get("phase") == "data":
            raise ValueError(f"the oracle rejected the test data: {answer['error']}")
        return Outcome(None, answer["error"])

    def render_many(self, cases: Iterable[tuple[str, str]]) -> list[Outcome]:
        return [self.render(template, data) for template, data in cases]


def _floats(text: str) -> Any:
    return json.loads(text, parse_int=float)


def python_data(data_json: str) -> dict[str, Any]:
    """Our template data for a case's data JSON: Values numbers are floats; ProxyUID/GID and the typed structs'
    numbers are ints, as the injector builds them."""
    data = json.loads(data_json)
    if "Values" in data:
        data["Values"] = _floats(json.dumps(data["Values"]))
    return data


def ours(template: str, data_json: str) -> Outcome:
    """Our translator + runtime on the same case."""
    try:
        compiled = compile_templates({"inject": template}, "go")
        text = compiled.render("inject", python_data(data_json))
    except TemplateError as exc:
        return Outcome(None, str(exc))
    return Outcome(go_bytes(text))
