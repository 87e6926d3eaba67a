"""Fixtures of the Go-oracle tier: a built oracle (skipped with the reason when Go is absent; a failure instead
when INJECTOR_GOORACLE_REQUIRE=1, as CI sets, so a broken toolchain cannot pass silently) and one running process
per test session."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.controlplane import find_go
from tests.gooracle.build import BuildError, binary_path, ensure_oracle
from tests.gooracle.client import Oracle

#: An environment variable both sides see (the oracle process inherits ours), for env/expandenv cases.
ORACLE_VAR = ("INJECTOR_ORACLE_VAR", "val ✓")


def _unavailable(reason: str) -> None:
    if os.environ.get("INJECTOR_GOORACLE_REQUIRE") == "1":
        pytest.fail(f"Go oracle required (INJECTOR_GOORACLE_REQUIRE=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def oracle_binary() -> Path:
    if binary_path().is_file():
        return binary_path()
    if os.environ.get("INJECTOR_GOORACLE_BUILD") == "0":
        _unavailable("no cached Go oracle and INJECTOR_GOORACLE_BUILD=0 (run: python -m tests.gooracle.build)")
    if find_go() is None:
        _unavailable("Go toolchain not found: the Go template oracle is built from source (install Go >= 1.26)")
    try:
        return ensure_oracle()
    except (BuildError, OSError) as exc:
        _unavailable(f"could not build the Go oracle: {exc}")
        raise  # unreachable


@pytest.fixture(scope="session")
def oracle(oracle_binary: Path) -> Iterator[Oracle]:
    os.environ[ORACLE_VAR[0]] = ORACLE_VAR[1]
    with Oracle(oracle_binary) as running:
        yield running
