"""Go text/template semantics of the translator and runtime with the full function map: each expected output is
what Go (text/template + sprig + Istio's InjectionFuncmap, via tests/gooracle) printed for the same template and
data; ERROR means Go failed. The Go-oracle tier (tests/gooracle) checks many more cases live against Go."""
from __future__ import annotations

import pytest

from workers.templates.errors import TemplateError
from workers.templates.jinja import compile_templates

DATA = {
    "Values": {"a": 15020.0, "s": "str", "l": [1.0, "x", None], "m": {"k": "v", "n": None}, "f": 1.5,
               "neg": -3.0, "t": True, "e": "", "z": 0.0},
    "ObjectMeta": {"name": "pod", "namespace": "ns", "labels": {"app": "a"}, "annotations": {"k": "v"}},
    "ProxyUID": 1337, "ProxyGID": 1337, "Revision": "default",
}
ERROR = object()

CASES = [
    ('{{ range $i := until 3 }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $i }}{{ else }}E{{ end }}', '0'),
    ('{{ range $i := until 3 }}{{ continue }}{{ else }}E{{ end }}', ''),
    ('{{ range until 0 }}x{{ else }}E{{ end }}', 'E'),
    ('{{ .Values.nope.x | and false }}', 'false'),
    ('{{ fail "boom" | or true }}', ERROR),
    ('{{ or true (fail "boom" | and false) }}', 'true'),
    ('{{ printf "%T %T" .ProxyUID .ProxyGID }}', 'int64 int64'),
    ('{{ repeat .ProxyUID "x" }}', ERROR),
    ('{{ typeOf .ProxyUID }} {{ typeOf (add 1 2) }} {{ typeOf (until 2) }}', 'int64 int64 []int'),
    ('{{ 99999999999999999999 }}', ERROR),
    ('{{ 18446744073709551615 }}', ERROR),
    ('{{ index "abc" 1 | printf "%T %v" }}', 'uint8 %!v(MISSING)'),
    ('{{ .Values.m.é }}', '<no value>'),
    ('{{ $é := 1 }}{{ $é }}', '1'),
    ('{{ toJSON (dict "a" "b") }}', ERROR),
    ('{{ toJSON .ObjectMeta.Labels }}', '{"app":"a"}'),
    ('{{ hasKey (list 1) "a" }}', ERROR),
    ('{{ hasKey "s" "a" }}', ERROR),
    ('{{ hasKey .ObjectMeta.Labels "app" }}', ERROR),
    ('{{ slice (list 1 2 3) 1.0 2.0 }}', '[2]'),
    ('{{ atoi "12" | add 1 }}', '13'),
    ('{{ repeat 2.0 "ab" }}', 'abab'),
    ('{{ repeat 2.5 "ab" }}', ERROR),
    ('{{ repeat "2" "ab" }}', ERROR),
    ('{{ trimSuffix .Values.a "x" }}', ERROR),
    ('{{ typeOf .ObjectMeta.Labels }}', 'map[string]string'),
    ('{{ trunc 1 2 3 }}', ERROR),
    ('{{ printf .Values.a }}', ERROR),
    ('{{ (semver "1.2.3").Compare (semver "1.0.0") }}', '1'),
    ('{{ printf "%#v" .Values.m }}', 'map[string]interface {}{"k":"v", "n":interface {}(nil)}'),
    ('{{ printf "%U %#U" 65 0x1F600 }}', "U+0041 U+1F600 '😀'"),
    ('{{ printf "%x %X %.3x" 1.0 3.0 0.1 }}', '0x1p+00 0X1.8P+01 0x1.99ap-04'),
    ('{{ printf "%*d|%-*d|%.*f" 5 42 5 42 2 3.14159 }}', '   42|42   |3.14'),
    ('{{ printf "%[2]s %[1]s %[3]s" "a" "b" }}', 'b a %!s(BADINDEX)'),
    ('{{ printf "%s" .Values.l }}', '[%!s(float64=1) x <nil>]'),
    # index checks a map key's type, nil included (never read as "")
    ('{{ index .Values.m nil }}', ERROR),
    ('{{ index .ObjectMeta.Labels .Values.nope }}', ERROR),
    ('{{ index .Values.m 1 }}', ERROR),
    # eq: nil equals a missing value, pointers compare by identity, time.Time by value, maps and slices not at all
    ('{{ $v := semver "1.0.0" }}{{ eq $v $v }}|{{ eq (semver "1.0.0") (semver "1.0.0") }}', 'true|false'),
    ('{{ eq .Values.nope nil }}|{{ eq nil .Values.nope }}|{{ ne .ObjectMeta.Labels nil }}', 'true|true|true'),
    ('{{ eq (toDate "2006" "2000") (toDate "2006" "2000") }}|{{ eq (toDate "2006" "2000") (toDate "2006" "2001") }}',
     'true|false'),
    ('{{ eq .Values.l .Values.m }}', ERROR),
    ('{{ eq (list) (list) }}', ERROR),
    ('{{ eq .Values.m .Values.m }}', ERROR),
    # Istio's struct-typed parameters take the data's structs, not plain maps and lists
    ('{{ annotation .Values.m "x" "d" }}', ERROR),
    ('{{ annotation (default .ObjectMeta nil) "k" "d" }}', 'v'),
    ('{{ includeInboundPorts .Values.l }}', ERROR),
    ('{{ protoToJSON .Values.m }}', ERROR),
    ('{{ mergeOverwrite (dict "a" 1) .Values.m | protoToJSON }}', ERROR),
    ('{{ hasKey .Values.nope "a" }}', 'false'),
    # a sized integer keeps its Go type through and/or and through a variable of another type
    ('{{ or nil .ProxyUID | printf "%T" }}|{{ $x := or .ProxyUID nil }}{{ printf "%T" $x }}', 'int64|int64'),
    ('{{ and 1 .ProxyUID | repeat 2 }}', ERROR),
    ('{{ $x := "s" }}{{ if true }}{{ $x = .ProxyUID }}{{ end }}{{ printf "%T" $x }}', 'int64'),
    ('{{ $x := 1 }}{{ $x = .ProxyUID }}{{ repeat $x "a" }}', ERROR),
    ('{{ $x := 3 }}{{ $x = index "ab" 0 }}{{ printf "%T %v" $x $x }}', 'uint8 97'),
]


def render(source: str) -> str:
    return compile_templates({"t": source}, "go").render("t", DATA)


@pytest.mark.parametrize("source, expected", CASES, ids=[c[0] for c in CASES])
def test_like_go(source: str, expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(TemplateError):
            render(source)
    else:
        assert render(source) == expected


def test_integer_literal_beyond_64_bits_is_a_parse_error() -> None:
    with pytest.raises(TemplateError, match="integer overflow"):
        compile_templates({"t": "{{ 99999999999999999999 }}"}, "go")


def test_piped_value_of_and_is_evaluated_even_when_an_operand_is_false() -> None:
    with pytest.raises(TemplateError, match="boom"):
        render('{{ fail "boom" | and false }}')
