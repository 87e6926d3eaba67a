"""The config sandbox: every new generation is compiled and trial-rendered in a disposable, bounded process.

Real processes (zygote children, as in ``injector serve``) and the real compiler; each hostile config is one
an operator could apply, and each must come back as a rejection with a reason, within the bounds.
"""
from __future__ import annotations

import dataclasses
import time

import jinja2
import pytest

from tests.server.conftest import FAKE_JOB
from tests.server.fake_job import build_fake_config
from tests.server.revisions_support import istio_texts
from workers.config.snapshot import build_revision_config
from workers.limits import MIB, CompileLimits
from workers.render import Injector
from workers.sandbox import ConfigRejected, ConfigSandbox

REAL_JOB = "workers.render:Injector"


def jinja_config(body: str) -> str:
    return ("policy: enabled\ntemplateLanguage: jinja2\ntemplates:\n  sidecar: |\n    " + body +
            "\n    spec:\n      containers:\n      - name: istio-proxy\n        image: proxy\n")


def go_config(body: str) -> str:
    return ("policy: enabled\ntemplates:\n  sidecar: |\n    " + body +
            "\n    spec:\n      containers:\n      - name: istio-proxy\n        image: proxy\n")


def snapshot(config_text: str, revision: str = "r1"):
    return build_revision_config(config_text, None, None, revision=revision, compile_now=False)


async def test_a_vetted_config_carries_code_the_workers_load_without_compiling(monkeypatch) -> None:
    texts = istio_texts()
    config = (build_revision_config(*texts, revision="istio", compile_now=False) if texts is not None
              else snapshot(jinja_config("{{ Revision }}")))
    prepared = await ConfigSandbox(REAL_JOB).prepare(config)
    assert prepared.compiled_code and prepared.generation == config.generation
    monkeypatch.setattr(jinja2.Environment, "compile", lambda *a, **k: pytest.fail("compiled in the worker"))
    assert Injector(prepared).templates.names == tuple(sorted(config.config.templates))


@pytest.mark.parametrize("config_text, reason", [
    (jinja_config("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
     "templates.sidecar: rendering it for a minimal pod used more than 0.5s of CPU, the render budget"),
    (go_config("{{ range $i := 1000000000 }}{{ end }}"),
     "templates.sidecar: rendering it for a minimal pod used more than 0.5s of CPU, the render budget"),
    (jinja_config("{{ 'a' | center(999999999) }}"),
     "templates.sidecar: rendering it for a minimal pod ran out of memory"),
    (jinja_config("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
     "templates.sidecar: template \"sidecar\": line 1: '~' would build a string of 33554432 characters"),
    (jinja_config("{{ 7 ** 100000000 % 2 }}"),
     "templates.sidecar: template \"sidecar\": line 1: 7 ** 100000000 is too large"),
    (jinja_config("{{ 'a' * 100000000 }}"),
     "templates.sidecar: template \"sidecar\": line 1: '*' would build a string of 100000000 characters"),
    (go_config('{{ repeat 1000000000 "x" }}'),
     "templates.sidecar: template \"sidecar\": line 1: repeat would build a string of 1000000000 characters"),
    (go_config("{{ until 1000000000 | len }}"),
     "templates.sidecar: template \"sidecar\": line 1: until/untilStep/seq would build a list of 1000000000 items"),
    (jinja_config("{% if %}"), "templates.sidecar: template \"sidecar\": line 1"),
], ids=["nested-loops", "go-range-int", "center-a-gigabyte", "doubling-string", "folded-power",
        "folded-repeat", "sprig-repeat", "sprig-until", "syntax-error"])
async def test_hostile_and_broken_templates_are_rejected_with_a_reason(config_text: str, reason: str) -> None:
    sandbox = ConfigSandbox(REAL_JOB, limits=CompileLimits(trial_render_seconds=0.5, memory_bytes=256 * MIB))
    with pytest.raises(ConfigRejected) as rejection:
        await sandbox.prepare(snapshot(config_text))
    assert str(rejection.value).startswith(reason)


async def test_a_template_that_needs_more_than_a_renders_memory_allowance_is_rejected() -> None:
    """100 MB of padding fits the sandbox's 512 MiB but not a render's 64 MiB allowance: every admission would fail
    on it, so vetting rejects it (and accepts it with no allowance, so the allowance is what rejects it)."""
    config = snapshot(jinja_config("{% set s = ObjectMeta.name | center(100000000) %}"))
    limits = CompileLimits(memory_bytes=512 * MIB, trial_render_memory_bytes=64 * MIB)
    with pytest.raises(ConfigRejected, match=r"templates.sidecar: rendering it for a minimal pod ran out of memory "
                                              r"\(64 MiB per render\)"):
        await ConfigSandbox(REAL_JOB, limits=limits).prepare(config)
    unbounded = dataclasses.replace(limits, trial_render_memory_bytes=None)
    assert (await ConfigSandbox(REAL_JOB, limits=unbounded).prepare(config)).compiled_code


async def test_a_template_that_refuses_the_trial_pod_is_not_rejected() -> None:
    """Istio loads such templates and fails only the pods they refuse; so do we. Go's own printf limits hold."""
    prepared = await ConfigSandbox(REAL_JOB).prepare(snapshot(go_config(
        '{{ if not .ObjectMeta.Labels.app }}{{ len 3 }}{{ end }}'
        'x: {{ printf "%0999999999d" 1 }}')))
    assert prepared.compiled_code


async def test_a_compile_that_uses_up_the_cpu_budget_is_stopped() -> None:
    # Squaring modulo a 100,000-bit number: CPU without end in few bytecodes, and memory that stays flat (the
    # per-render memory allowance must not be what stops it, however fast the machine).
    squaring = jinja_config("{% set ns = namespace(x=3 ** 50000) %}{% set m = 2 ** 99999 - 1 %}"
                            "{% for i in range(100000) %}{% set ns.x = ns.x * ns.x % m %}{% endfor %}")
    sandbox = ConfigSandbox(REAL_JOB, limits=CompileLimits(cpu_seconds=1.0, trial_render_seconds=60.0))
    started = time.monotonic()
    with pytest.raises(ConfigRejected, match=r"used more than 1s of CPU \(the compile budget\)"):
        await sandbox.prepare(snapshot(squaring))
    assert time.monotonic() - started < 20.0, "one second of CPU, plus the hard limit's second"


async def test_constants_folded_into_huge_code_are_refused() -> None:
    sandbox = ConfigSandbox(REAL_JOB, limits=CompileLimits(max_code_bytes=1 * MIB))
    with pytest.raises(ConfigRejected, match="compiled templates are larger than 1 MiB"):
        await sandbox.prepare(snapshot(jinja_config("{{ 'a' | center(3000000) }}")))


async def test_a_sandbox_that_stalls_is_killed_at_its_wall_clock_deadline() -> None:
    sandbox = ConfigSandbox(FAKE_JOB, limits=CompileLimits(wall_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(ConfigRejected, match=r"did not finish within 0.5s"):
        await sandbox.prepare(build_fake_config(None, "vetSleepSeconds: 60", None))
    assert time.monotonic() - started < 10.0


async def test_the_job_factory_decides_what_vetting_means() -> None:
    sandbox = ConfigSandbox(FAKE_JOB)
    config = build_fake_config(None, "x: 1", None, generation=7)
    assert await sandbox.prepare(config) == config
    with pytest.raises(ConfigRejected, match="ValueError: this config fails its vetting"):
        await sandbox.prepare(build_fake_config(None, "vetFail: true", None))


async def test_a_config_with_the_templates_of_a_serving_one_reuses_its_code() -> None:
    sandbox = ConfigSandbox(REAL_JOB)
    serving = await sandbox.prepare(snapshot(jinja_config("{{ Revision }}"), "blue"))
    other = await sandbox.prepare(snapshot(jinja_config("{{ Revision }} other"), "green"))
    # A donor whose code is recognisably not what compiling its templates gives: taking it proves no compile ran.
    marked = dataclasses.replace(serving, compiled_code=other.compiled_code)
    changed = build_revision_config(jinja_config("{{ Revision }}"), "global:\n  hub: example.org\n", None,
                                    revision="blue", compile_now=False)
    prepared = await sandbox.prepare(changed, [other, marked])
    assert prepared.compiled_code == other.compiled_code != serving.compiled_code
    assert prepared.values["global"]["hub"] == "example.org"
    fresh = await sandbox.prepare(snapshot(jinja_config("{{ Revision }} new"), "blue"), [other, marked])
    assert fresh.compiled_code not in (other.compiled_code, serving.compiled_code)
