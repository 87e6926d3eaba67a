"""sigs.k8s.io/yaml.Marshal output (go-yaml v2 emitter) for JSON-like data, checked against the Istio goldens."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from workers.serialize.goyaml import dumps, natural_sorted

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "istio" / "inject"

# Documents that kube-inject copies verbatim (kinds it does not handle), so no marshaller produced their text.
PASSTHROUGH = {
    ("frontend.yaml.injected", 0): "Service: copied byte for byte",
    ("hello-service.yaml.injected", 0): "Service: copied byte for byte",
}
EXPECTED_ROUND_TRIPS = 98


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null\n"),
        ({}, "{}\n"),
        ([], "[]\n"),
        ("hello", "hello\n"),
        ({"v": "hi"}, "v: hi\n"),
        ({"v": True, "w": False, "x": None}, "v: true\nw: false\nx: null\n"),
        ({"v": 10, "w": -10, "x": 4294967296}, "v: 10\nw: -10\nx: 4294967296\n"),
        ({"v": ["A", "B"]}, "v:\n- A\n- B\n"),
        ({"v": ["A", 1, {"B": [2, 3]}]}, "v:\n- A\n- 1\n- B:\n  - 2\n  - 3\n"),
        ({"a": {"b": "c"}, "d": {}, "e": []}, "a:\n  b: c\nd: {}\ne: []\n"),
        ([[1, 2], {"a": []}], "- - 1\n  - 2\n- a: []\n"),
        ({"a": [{"b": 1, "c": [{"d": 2}]}]}, "a:\n- b: 1\n  c:\n  - d: 2\n"),
    ],
)
def test_structure(value: object, text: str) -> None:
    assert dumps(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (-0.1, "-0.1"),
        (2.0, "2"),
        (1e18, "1000000000000000000"),
        (1e20, "1e+20"),  # beyond uint64, so go-yaml reads the JSON integer back as a float
        (1e21, "1e+21"),
        (1234567.5, "1.2345675e+06"),
        (0.00001, "1e-05"),
        (math.inf, ".inf"),
        (-math.inf, "-.inf"),
        (math.nan, ".nan"),
    ],
)
def test_numbers_take_the_json_then_yaml_route(value: float, text: str) -> None:
    assert dumps({"v": value}) == f"v: {text}\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # Would resolve to something else when plain: double quotes.
        ("true", '"true"'),
        ("False", '"False"'),
        ("y", '"y"'),
        ("N", '"N"'),
        ("on", '"on"'),
        ("~", '"~"'),
        ("null", '"null"'),
        ("", '""'),
        ("15001", '"15001"'),
        ("-1", '"-1"'),
        ("0x1F", '"0x1F"'),
        ("0o17", '"0o17"'),
        ("0b101", '"0b101"'),
        ("0777", '"0777"'),
        ("1_000", '"1_000"'),
        ("1.5", '"1.5"'),
        ("1e3", '"1e3"'),
        (".5", '".5"'),
        (".inf", '".inf"'),
        ("1:20", '"1:20"'),
        ("2015-02-24T18:19:39Z", '"2015-02-24T18:19:39Z"'),
        ("2001-12-14", '"2001-12-14"'),
        # Plain.
        ("hello world", "hello world"),
        ("<foo>", "<foo>"),
        ("你好", "你好"),
        ("yes!", "yes!"),
        ("2001-13-14", "2001-13-14"),
        ("1.2.3", "1.2.3"),
        ("0x", "0x"),
        ("-p", "-p"),
        ("a:b", "a:b"),
        ("a#b", "a#b"),
        ("15090,15021,15020", "15090,15021,15020"),
        ("$(POD_NAMESPACE).svc", "$(POD_NAMESPACE).svc"),
        ("<<", "<<"),
        # The emitter cannot print these plain: single quotes.
        ("*", "'*'"),
        ("-", "'-'"),
        ("- x", "'- x'"),
        ("---", "'---'"),
        ("...", "'...'"),
        ('{"a":1}', "'{\"a\":1}'"),
        ("[x]", "'[x]'"),
        ("@x", "'@x'"),
        ("b: c", "'b: c'"),
        ("trailing:", "'trailing:'"),
        ("Hello #comment", "'Hello #comment'"),
        (" lead", "' lead'"),
        ("trail ", "'trail '"),
        ("it's", "it's"),
        ("'q'", "'''q'''"),
        ("*/1 * * * *", "'*/1 * * * *'"),
        # Not printable: double quotes with escapes.
        ("\x00", '"\\0"'),
        ("a\tb", '"a\\tb"'),
        ("\x7f", '"\\x7F"'),
        ("\ufeff", '"\\uFEFF"'),
        ("😀", '"\\U0001F600"'),
        ("\r", '"\\r"'),
    ],
)
def test_string_styles(value: str, text: str) -> None:
    assert dumps({"v": value}) == f"v: {text}\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a\nb", "|-\n  a\n  b\n"),
        ("a\nb\n", "|\n  a\n  b\n"),
        ("a\n\n", "|+\n  a\n\n"),
        ("\n", "|2+\n\n"),
        (" a\nb", "|2-\n   a\n  b\n"),
        ("a\n\nb\n", "|\n  a\n\n  b\n"),
        ("{\n    \"a\": 1\n}\n", "|\n  {\n      \"a\": 1\n  }\n"),
        # No literal block for trailing spaces, spaces before breaks or unprintables.
        ("a\nb ", '"a\\nb "'),
        ("a \nb", '"a \\nb"'),
        ("a\n\tb", '"a\\n\\tb"'),
    ],
)
def test_multiline_strings(value: str, text: str) -> None:
    assert dumps({"v": value}) == f"v: {text}" + ("" if text.endswith("\n") else "\n")


def test_literal_indentation_follows_nesting() -> None:
    assert dumps({"a": [{"b": "x\ny\n"}]}) == "a:\n- b: |\n    x\n    y\n"


def test_plain_scalars_fold_past_80_columns() -> None:
    value = "x" * 75 + " " + "y" * 10 + " z"
    assert dumps({"k": value}) == "k: " + "x" * 75 + " " + "y" * 10 + "\n  z\n"


def test_short_lines_and_keys_never_fold() -> None:
    value = "w " * 39 + "w"
    assert dumps({"k": value}) == f"k: {value}\n"
    long_key = "k " * 60 + "k"
    assert dumps({long_key: 1}) == f"{long_key}: 1\n"


def test_single_and_double_quoted_scalars_fold() -> None:
    single = "- " + "a " * 50
    # The first space found past column 80 is at index 77 (column 81); the trailing space is never a fold point.
    expected = "v: '- " + "a " * 37 + "a\n  " + "a " * 12 + "'\n"
    assert dumps({"v": single}) == expected
    double = "\t" + "b " * 50
    out = dumps({"v": double})
    assert out == 'v: "\\t' + "b " * 37 + "b\n  " + "b " * 12 + '"\n'
    assert yaml.safe_load(out)["v"] == double


def test_keys_over_128_bytes_use_explicit_key_syntax() -> None:
    key = "k" * 129
    assert dumps({key: "v"}) == f"? {key}\n: v\n"


def test_keys_are_quoted_like_values() -> None:
    assert dumps({"15001": 1, "true": 2, "": 3}) == '"": 3\n"15001": 1\n"true": 2\n'


def test_natural_key_order() -> None:
    keys = ["a10", "a9", "fooBar", "foo_bar", "foo-bar", "b", "A", "a", "a01", "a1", "x2y", "x10y"]
    expected = ["A", "a", "a1", "a01", "a9", "a10", "b", "foo-bar", "foo_bar", "fooBar", "x2y", "x10y"]
    assert natural_sorted(keys) == expected


def test_output_reads_back_as_the_input() -> None:
    value = {"s": ["yes", "1.0", " x", "a: b", "#c", "multi\nline\n", "€", "\u2028"], "n": [1, 2.5, None, True]}
    assert yaml.safe_load(dumps(value)) == value


def _documents(path: Path) -> list[str]:
    return [d for d in re.split(r"^---[ \t]*\n", path.read_text(), flags=re.M) if d.strip()]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"conformance corpus not found at {CORPUS}")
def test_goldens_round_trip_byte_for_byte() -> None:
    matched = 0
    failed = set()
    for path in sorted(CORPUS.glob("*.injected")):
        for index, doc in enumerate(_documents(path)):
            text = doc if doc.endswith("\n") else doc + "\n"
            if dumps(yaml.load(text, Loader=yaml.CSafeLoader)) == text:
                matched += 1
            else:
                failed.add((path.name, index))
    assert failed == set(PASSTHROUGH)
    assert matched == EXPECTED_ROUND_TRIPS
