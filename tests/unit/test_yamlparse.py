"""The fast YAML builder must give exactly what PyYAML's CSafeLoader gives, types included."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from workers.yamlparse import load

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "istio" / "inject"


def _same(a: object, b: object) -> bool:
    """Equality that also distinguishes 1 from 1.0 from True."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    return a == b


CASES = [
    "", "a: 1\n", "a: 01\n", "a: 0x1f\n", "a: 1_000\n", "a: -5\n", "a: +5\n", "a: 1:20\n", "a: 1.5\n", "a: .inf\n",
    "a: 2001-12-14\n", "a: yes\n", "a: Off\n", "a: y\n", "a: ~\n", "a: null\n", "a:\n", "a: '1'\n", 'a: "x\\ty"\n',
    "- 1\n- [a, {b: c}]\n", "a: &x {b: 1}\nc: *x\n", "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n", "a: !!str 5\n",
    "a: |\n  line\n  two\n", "k: {a: 1,}\n", "? [a]\n: b\n", "a: !!binary aGVsbG8=\n", "a: 0\n", "a: 00\n",
    "a: 12345678901234567890\n", "a: !!float 3\n", "a: !!set {x, y}\n",
]


@pytest.mark.parametrize("text", CASES)
def test_matches_csafeloader(text: str) -> None:
    try:
        want = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            load(text)
        return
    assert _same(load(text), want)


def test_aliases_share_one_object_and_recursion_terminates() -> None:
    data = load("a: &x [1, 2]\nb: *x\n")
    assert data["a"] is data["b"]
    cyclic = load("&a [*a]\n")
    assert cyclic[0] is cyclic


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
def test_every_corpus_document_matches() -> None:
    checked = 0
    for path in sorted(CORPUS.iterdir()):
        for part in path.read_text().split("\n---"):
            try:
                want = yaml.load(part, Loader=yaml.CSafeLoader)
            except yaml.YAMLError:
                continue
            assert _same(load(part), want), f"{path.name}"
            checked += 1
    assert checked > 200
