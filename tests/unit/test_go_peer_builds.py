"""The build helpers every Go peer shares (tests/e2e/controlplane.py): cache locations, the module build steps and
the toolchain check, run against a stand-in ``go`` that records its calls (the real builds take minutes)."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.e2e import controlplane
from tests.e2e.controlplane import BuildError, build_go_module, build_once, cache_dir

FAKE_GO = """#!/bin/sh
# Stand-in for go: records its arguments and working directory, reports the version in $FAKE_GO_VERSION.
echo "$PWD $*" >> "$FAKE_GO_CALLS"
if [ "$1" = env ]; then echo "$FAKE_GO_VERSION"; fi
if [ "$1" = mod ] && [ -f go.sum ]; then echo "stale go.sum still there" >&2; exit 3; fi
if [ "$1" = build ] && [ -n "$FAKE_GO_FAIL" ]; then echo "$FAKE_GO_FAIL" >&2; exit 2; fi
exit 0
"""


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    go = tmp_path / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_GO_CALLS", str(calls))
    monkeypatch.setenv("FAKE_GO_VERSION", "go1.26.1")
    monkeypatch.setenv("INJECTOR_E2E_CACHE", str(tmp_path / "cache"))
    return str(go), calls


def test_cache_dir_prefers_its_variable_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INJECTOR_SOMETHING_CACHE", "~/elsewhere")
    assert cache_dir("INJECTOR_SOMETHING_CACHE", "injector-x") == Path.home() / "elsewhere"
    monkeypatch.delenv("INJECTOR_SOMETHING_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("INJECTOR_SOMETHING_CACHE", "injector-x") == tmp_path / "injector-x"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir("INJECTOR_SOMETHING_CACHE", "injector-x") == Path.home() / ".cache" / "injector-x"


def test_module_build_writes_go_mod_drops_go_sum_then_tidies_and_builds(fake_go, tmp_path: Path) -> None:
    go, calls = fake_go
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.sum").write_text("stale\n")
    seconds = build_go_module(go, src, "module example.test/x\n", ["-o", "out", "."], tmp_path / "build.log")
    assert (src / "go.mod").read_text() == "module example.test/x\n"
    assert not (src / "go.sum").exists()
    assert calls.read_text().splitlines() == [f"{src} mod tidy", f"{src} build -trimpath -o out ."]
    assert seconds >= 0


def test_module_build_failure_names_the_step_and_shows_its_log(fake_go, tmp_path: Path, monkeypatch) -> None:
    go, _ = fake_go
    src = tmp_path / "src"
    src.mkdir()
    monkeypatch.setenv("FAKE_GO_FAIL", "main.go:3: undefined: x")
    with pytest.raises(BuildError, match=r"(?s)build -trimpath \. failed \(exit 2\).*undefined: x"):
        build_go_module(go, src, "module example.test/x\n", ["."], tmp_path / "build.log")
    assert "undefined: x" in (tmp_path / "build.log").read_text()


def test_build_once_checks_the_peer_s_minimum_go_and_builds_once(fake_go, monkeypatch) -> None:
    go, _ = fake_go
    built: list[str] = []

    def build(toolchain: str) -> str:
        built.append(toolchain)
        return "binary"

    monkeypatch.setenv("FAKE_GO_VERSION", "go1.25.3")
    with pytest.raises(BuildError, match=r"Go >= 1\.26 is needed to build peer"):
        build_once("peer", lambda: None, build, go, min_go=(1, 26))
    assert build_once("peer", lambda: None, build, go, min_go=(1, 24)) == "binary"
    assert build_once("peer", lambda: "cached", build, go, min_go=(1, 26)) == "cached"
    assert built == [go]
    assert (controlplane.cache_root() / "peer.lock").exists()
