"""YAML alias bombs are refused with go-yaml's rule; ordinary documents load exactly as CSafeLoader loads them."""
from __future__ import annotations

import pytest
import yaml

from workers.yamlguard import ExcessiveAliasing, load


def _laughs(levels: int, width: int = 10) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [
    "a: 1\nb: [x, y, {c: d}]\n",
    "base: &base {image: proxy, args: [a, b]}\nfirst: *base\nsecond: {<<: *base, image: other}\n",
    _laughs(2),  # 10x expansion of a small document: allowed, as in Go
    "",
    "- 1\n- 2.5\n- true\n- null\n",
])
def test_ordinary_documents_load_as_csafeloader_loads_them(text: str) -> None:
    assert load(text) == yaml.load(text, Loader=yaml.CSafeLoader)


@pytest.mark.parametrize("levels", [4, 9])
def test_alias_bombs_are_refused(levels: int) -> None:
    with pytest.raises(ExcessiveAliasing, match="excessive aliasing"):
        load(_laughs(levels))


def test_an_anchor_containing_itself_is_refused() -> None:
    with pytest.raises(ExcessiveAliasing, match="contains itself"):
        load("a: &a {b: *a}\n")


def test_refusal_is_a_yaml_error_for_callers() -> None:
    with pytest.raises(yaml.YAMLError):
        load(_laughs(6))
