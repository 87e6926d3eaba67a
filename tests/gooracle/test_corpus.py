"""The corpus (cases.py) through Go and through our translator: byte-identical output, or both fail."""
from __future__ import annotations

import re

import pytest

from tests.gooracle.cases import EXACT, NONDETERMINISTIC
from tests.gooracle.client import Oracle, ours
from tests.gooracle.data import SHAPES
from tests.gooracle.test_nondeterministic import SHAPE_CASES
from workers.templates.funcs import FUNCS


@pytest.mark.parametrize("template, shape", EXACT, ids=[f"{i:03d}" for i in range(len(EXACT))])
def test_same_result_as_go(oracle: Oracle, template: str, shape: str) -> None:
    data = SHAPES[shape]
    go, us = oracle.render(template, data), ours(template, data)
    assert go.same_as(us), f"{template}\n  go:   {go.describe()}\n  ours: {us.describe()}"


def test_every_function_is_covered_twice() -> None:
    """A normal input and an edge case at least, for every function of the map."""
    templates = [t for t, _ in EXACT] + [t for t, _ in SHAPE_CASES]
    words = [re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t) for t in templates]
    uses = {name: sum(ws.count(name) for ws in words) for name in FUNCS}
    assert {name: n for name, n in uses.items() if n < 2} == {}
    assert NONDETERMINISTIC <= set(FUNCS)
