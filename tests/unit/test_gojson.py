"""Go encoding/json.Marshal output: key order, escaping and float text."""
from __future__ import annotations

import math

import pytest

from workers.serialize.gojson import OrderedStruct, dumps, dumps_bytes, format_float, format_g


def test_compact_and_map_keys_sorted_bytewise() -> None:
    assert dumps({"b": 1, "a": [1, 2], "B": None, "a-b": True}) == '{"B":null,"a":[1,2],"a-b":true,"b":1}'


def test_nested_plain_dicts_are_sorted_too() -> None:
    assert dumps([{"z": {"y": 1, "x": 2}}]) == '[{"z":{"x":2,"y":1}}]'


def test_ordered_struct_keeps_field_order_but_its_maps_are_sorted() -> None:
    struct = OrderedStruct(name="a", labels={"z": "1", "a": "2"}, image="i")
    assert dumps(struct) == '{"name":"a","labels":{"a":"2","z":"1"},"image":"i"}'


def test_html_characters_and_line_separators_are_escaped() -> None:
    assert dumps({"k<": "a<b>&c\u2028\u2029"}) == '{"k\\u003c":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029"}'


def test_control_characters_use_go_escapes() -> None:
    assert dumps("\b\f\n\r\t\x01\x1f\x7f\"\\") == '"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\"\\\\"'


def test_non_ascii_is_kept_raw() -> None:
    assert dumps_bytes("héllo ✓") == '"héllo ✓"'.encode()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (15020.0, "15020"),
        (0.0, "0"),
        (-0.0, "-0"),  # Go keeps the sign of negative zero (checked with the Go oracle)
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e6, "1000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-2.5e-7, "-2.5e-7"),
        (123456789.125, "123456789.125"),
    ],
)
def test_floats_print_like_go(value: float, text: str) -> None:
    assert format_float(value) == text
    assert dumps([value]) == f"[{text}]"


def test_ints_and_bools_plain() -> None:
    assert dumps([0, -3, 2**62, True, False, None]) == "[0,-3,4611686018427387904,true,false,null]"


def test_nan_is_rejected_like_go() -> None:
    with pytest.raises(ValueError):
        dumps(math.nan)


def test_unsupported_type_is_rejected() -> None:
    with pytest.raises(TypeError):
        dumps({"a": object()})


def test_input_is_not_mutated() -> None:
    data = {"b": {"d": 1.0, "c": 2}, "a": [3.5]}
    dumps(data)
    assert list(data) == ["b", "a"] and list(data["b"]) == ["d", "c"] and data["a"] == [3.5]


@pytest.mark.parametrize(
    ("value", "bits", "text"),
    [
        (1.0, 64, "1"),
        (1e6, 64, "1e+06"),
        (999999.0, 64, "999999"),
        (1234567.5, 64, "1.2345675e+06"),
        (0.0001, 64, "0.0001"),
        (0.00001, 64, "1e-05"),
        (1e21, 64, "1e+21"),
        (0.1, 32, "0.1"),
        (1.1, 32, "1.1"),
        (16777217.0, 32, "1.6777216e+07"),
        (math.inf, 64, "+Inf"),
    ],
)
def test_format_g_matches_strconv(value: float, bits: int, text: str) -> None:
    assert format_g(value, bits) == text
