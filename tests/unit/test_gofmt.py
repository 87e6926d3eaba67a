"""Go fmt printing. Expected strings are what Go's fmt/strconv print for the same Go values."""
import pytest

from workers.templates.gofmt import format_value, quote, sprint, sprintf, sprintln


@pytest.mark.parametrize("value, expected", [
    (None, "<nil>"),
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-42, "-42"),
    (15020.0, "15020"),
    (1e6, "1e+06"),
    (100000.0, "100000"),
    (123456.0, "123456"),
    (1234567.0, "1.234567e+06"),
    (0.5, "0.5"),
    (1.2, "1.2"),  # a numeric tag "1.20" is float64 1.2 in Values
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (1.5e-7, "1.5e-07"),
    (1e21, "1e+21"),
    (0.0, "0"),
    (-0.0, "-0"),
    (-2.5, "-2.5"),
    (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"),
    (float("nan"), "NaN"),
    ("plain", "plain"),
    ("", ""),
    ({"b": 2.0, "a": "x"}, "map[a:x b:2]"),
    ({}, "map[]"),
    (["a", 1.0, None, True], "[a 1 <nil> true]"),
    ([], "[]"),
    ({"k": [{"n": None}]}, "map[k:[map[n:<nil>]]]"),
])
def test_format_value(value, expected):
    assert format_value(value) == expected


def test_sprint_spaces_only_between_non_strings():
    assert sprint("a", "b") == "ab"
    assert sprint(1, 2) == "1 2"
    assert sprint("a", 1, 2, "b", 3.0) == "a1 2b3"
    assert sprint(None, None) == "<nil> <nil>"
    assert sprint(15020.0) == "15020"
    assert sprint() == ""


def test_sprintln_always_spaces_and_newline():
    assert sprintln("a", "b", 1) == "a b 1\n"
    assert sprintln() == "\n"


@pytest.mark.parametrize("fmt, args, expected", [
    ("istio.%s", ("default",), "istio.default"),
    ("--proxyLogLevel=%s", ("warning",), "--proxyLogLevel=warning"),
    ("%t", (True,), "true"),
    ("%v", (15020.0,), "15020"),
    ("%d", (42,), "42"),
    ("%5d|%-5d|%05d", (42, 42, -42), "   42|42   |-0042"),
    ("%+d % d", (5, 5), "+5  5"),
    ("%.3d", (7,), "007"),
    ("%x %X %#x %o %#o %b", (255, 255, 255, 8, 8, 5), "ff FF 0xff 10 010 101"),
    ("%x", (-255,), "-ff"),
    ("%c", (65,), "A"),
    ("%f", (3.14159,), "3.141590"),
    ("%.2f", (3.14159,), "3.14"),
    ("%8.3f|%-8.1f|%08.2f", (3.14159, 2.0, -1.5), "   3.142|2.0     |-0001.50"),
    ("%e", (1234.5678,), "1.234568e+03"),
    ("%g", (1e6,), "1e+06"),
    ("%g", (0.000012345,), "1.2345e-05"),
    ("%.3g", (1234567.0,), "1.23e+06"),
    ("%v", (float("inf"),), "+Inf"),
    ("%5.1f", (float("nan"),), "  NaN"),
    ("%s", ("x",), "x"),
    ("%6s|%-6s|", ("ab", "ab"), "    ab|ab    |"),
    ("%.2s", ("héllo",), "hé"),
    ("%q", ('a"b\n',), '"a\\"b\\n"'),
    ("%#q", ("a\"b",), "`a\"b`"),
    ("%x", ("hi",), "6869"),
    ("% x", ("hi",), "68 69"),
    ("%v", ([1, "a"],), "[1 a]"),
    ("%s", (["a", "b"],), "[a b]"),
    ("%d", ([1, 2],), "[1 2]"),
    ("%v", ({"b": 1, "a": None},), "map[a:<nil> b:1]"),
    ("%T %T %T %T", (1, 1.0, "s", None), "int float64 string <nil>"),
    ("100%%", (), "100%"),
])
def test_sprintf(fmt, args, expected):
    assert sprintf(fmt, *args) == expected


@pytest.mark.parametrize("fmt, args, expected", [
    ("%d", ("x",), "%!d(string=x)"),
    ("%s", (5,), "%!s(int=5)"),
    ("%d", (1.5,), "%!d(float64=1.5)"),
    ("%t", ("true",), "%!t(string=true)"),
    ("%s", (None,), "%!s(<nil>)"),
    ("%v", (None,), "<nil>"),
    ("%s %s", ("a",), "a %!s(MISSING)"),
    ("%d", (), "%!d(MISSING)"),
    ("x", (1, "a", None), "x%!(EXTRA int=1, string=a, <nil>)"),
    ("abc%", (), "abc%!(NOVERB)"),
    ("%z", (1,), "%!z(int=1)"),
    ("%s", ([1, "a"],), "[%!s(int=1) a]"),
])
def test_sprintf_errors_in_band(fmt, args, expected):
    assert sprintf(fmt, *args) == expected


@pytest.mark.parametrize("fmt, args, expected", [
    # Go's parsenum gives up once a width or precision passes 10^6 before its last digit, and eats the rest of
    # the format: a template cannot make printf pad to a gigabyte.
    ("%0999999999d", (1,), "%!(NOVERB)%!(EXTRA int=1)"),
    ("%10000010s|%d", ("a", 2), "%!(NOVERB)%!(EXTRA string=a, int=2)"),
    ("%.99999999f", (1.0,), "%!(NOVERB)%!(EXTRA float64=1)"),
])
def test_sprintf_refuses_huge_widths_like_go(fmt, args, expected):
    assert sprintf(fmt, *args) == expected


def test_sprintf_widths_up_to_go_limit_still_pad():
    assert len(sprintf("%1000001d", 1)) == 1000001
    assert len(sprintf("%10000009s|", "a")) == 10000010  # 1000000 before the last digit is not yet too large


@pytest.mark.parametrize("text, expected", [
    ("abc", '"abc"'),
    ("", '""'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("a\tb\nc\rd\a\b\f\v", '"a\\tb\\nc\\rd\\a\\b\\f\\v"'),
    ("\x01\x7f", '"\\x01\\x7f"'),
    ("héllo", '"héllo"'),
    ("\u00a0", '"\\u00a0"'),
    ("\u2028", '"\\u2028"'),
    ("\U0001F600", '"\U0001F600"'),
    ("\U000E0001", '"\\U000e0001"'),
])
def test_quote(text, expected):
    assert quote(text) == expected


def test_quote_ascii_only():
    assert quote("é\U0001F600", ascii_only=True) == '"\\u00e9\\U0001f600"'
    assert sprintf("%+q", "é") == '"\\u00e9"'
