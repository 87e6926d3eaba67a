"""Go text/template semantics of the translator; every expected string follows Go's documented behaviour.

The harness is a bare sandboxed Jinja environment with the translator's runtime helpers and whatever functions a
test needs, so these tests do not depend on the function map or the shared environment.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workers.templates.errors import TemplateError
from workers.templates.gofmt import format_value
from workers.templates.gotemplate import translate
from workers.templates.gotemplate.runtime import GLOBALS, GoExecError


def _finalize(value: Any) -> str:
    """Go's template printing: a missing value is ``<no value>``, everything else ``%v``."""
    return "<no value>" if value is None else format_value(value)


def render(source: str, data: dict | None = None, **funcs: Callable[..., Any]) -> str:
    env = ImmutableSandboxedEnvironment(keep_trailing_newline=True, finalize=_finalize,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.globals.update(GLOBALS)
    env.globals.update(funcs)
    return env.from_string(translate("t", source, funcs.keys())).render(data or {})


def values(**v: Any) -> dict:
    return {"Values": v}


# ---- text and whitespace -----------------------------------------------------------------------------------

def test_trim_markers_remove_all_adjacent_whitespace() -> None:
    assert render("a \n\t {{- 3 -}} \n b") == "a3b"
    assert render("a {{3 -}}\n\n  b {{- 4}} c") == "a 3b4 c"


def test_minus_without_space_is_a_number() -> None:
    assert render("{{-3}}") == "-3"
    assert render("x {{- -3 -}} y") == "x-3y"


def test_comments_and_trimmed_comments() -> None:
    assert render("a {{/* hidden */}} b") == "a  b"
    assert render("a {{- /* hidden */ -}} b") == "ab"


def test_text_that_looks_like_jinja_is_literal() -> None:
    src = "{% raw %} {# x #} {{`{{`}} {\n{ {{ 1 }}{"
    assert render(src) == "{% raw %} {# x #} {{ {\n{ 1{"


def test_literals() -> None:
    assert render("{{ \"a\\tb\\u00e9\\x41\" }}|{{ `raw\\n` }}|{{ 'a' }}|{{ 0x1F }}|{{ 1_000 }}|{{ 1.5 }}|{{ 1e3 }}"
                  "|{{ true }}|{{ 017 }}") == "a\tbéA|raw\\n|97|31|1000|1.5|1000|true|15"


# ---- printing ----------------------------------------------------------------------------------------------

def test_printing_missing_nil_and_composites() -> None:
    data = values(n=15020.0, big=1e6, m={"b": 1.0, "a": "x"}, l=["a", "b"], z=None)
    assert render("{{.Values.n}} {{.Values.big}} {{.Values.m}} {{.Values.l}}", data) == \
        "15020 1e+06 map[a:x b:1] [a b]"
    assert render("{{.Values.missing}}|{{.Values.z}}|{{print .Values.missing}}", data) == \
        "<no value>|<no value>|<nil>"
    # a nil map field of a struct prints as an empty map
    assert render("{{.ObjectMeta.Labels}}", {"ObjectMeta": {}}) == "map[]"


# ---- truth, and/or/not -------------------------------------------------------------------------------------

def test_truthiness() -> None:
    data = values(e={}, l=[], s="", z=0.0, f=False, t="x")
    src = "{{range $k := list \"e\" \"l\" \"s\" \"z\" \"f\" \"t\" \"missing\"}}{{if index $.Values $k}}T{{else}}F{{end}}{{end}}"
    assert render(src, data, list=lambda *a: list(a)) == "FFFFFTF"


def test_structs_are_true_and_pointers_true_when_set() -> None:
    data = {"ObjectMeta": {}, "ProxyConfig": {"holdApplicationUntilProxyStarts": False}}
    # ObjectMeta is a struct value: always true even when empty.
    assert render("{{if .ObjectMeta}}yes{{end}}", data) == "yes"
    # BoolValue{false} is a non-nil pointer: true; unset it is nil: false; GetValue reads the bool.
    assert render("{{if .ProxyConfig.HoldApplicationUntilProxyStarts}}set{{end}}", data) == "set"
    assert render("{{if .ProxyConfig.HoldApplicationUntilProxyStarts}}set{{else}}unset{{end}}",
                  {"ProxyConfig": {}}) == "unset"
    assert render("{{.ProxyConfig.HoldApplicationUntilProxyStarts.GetValue}}", data) == "false"


def test_and_or_return_an_operand() -> None:
    assert render('{{and 1 0 "x"}}|{{and 1 2}}|{{or 0 "" "b" "c"}}|{{or 0 ""}}') == "0|2|b|"


def test_and_or_short_circuit() -> None:
    # index of a missing map value errors; or/and never evaluate it
    assert render('{{or 1 (index .Values.nope "x")}}{{and 0 (index .Values.nope "x")}}', values()) == "10"
    with pytest.raises(GoExecError):
        render('{{or 0 (index .Values.nope "x")}}', values())


def test_not() -> None:
    assert render('{{not 0}} {{not "a"}} {{not .ObjectMeta}}', {"ObjectMeta": {}}) == "true false false"


# ---- pipelines ---------------------------------------------------------------------------------------------

def test_pipeline_value_is_last_argument() -> None:
    assert render('{{ "b" | printf "%s-%s" "a" }}') == "a-b"
    assert render('{{ "x" | printf "%s%s" "y" | printf "[%s]" }}') == "[yx]"


def test_nested_parentheses_and_chains() -> None:
    assert render('{{ len (printf "%s%s" (print "a") ("bc")) }}') == "3"
    assert render("{{ ((.Values.pilot).env).X }}", values(pilot={"env": {"X": "on"}})) == "on"


def test_printf_verbs() -> None:
    assert render('{{printf "%d-%s-%v-%q-%t" 3 "a" .Values.f "q" true}}', values(f=2.5)) == '3-a-2.5-"q"-true'


# ---- comparisons -------------------------------------------------------------------------------------------

def test_eq_with_several_arguments() -> None:
    assert render('{{eq "b" "a" "b"}} {{eq "c" "a" "b"}} {{ne 1 2}}') == "true false true"


def test_eq_between_kinds_is_an_error() -> None:
    with pytest.raises(GoExecError, match="incompatible types for comparison"):
        render("{{eq .Values.n 1}}", values(n=1.0))  # float64 vs int
    with pytest.raises(GoExecError, match="incompatible types"):
        render('{{eq .Values.e true}}', values(e="true"))  # string vs bool
    assert render("{{eq .Values.n 1.0}}", values(n=1.0)) == "true"


def test_eq_with_a_missing_side_is_just_unequal() -> None:
    assert render('{{eq .Values.missing "x"}} {{eq .Values.missing .Values.other}}', values()) == "false true"


def test_ordering() -> None:
    assert render('{{lt 1 2}} {{ge "b" "a"}} {{gt 2.5 .Values.x}} {{le 3 3}}', values(x=1.0)) == \
        "true true true true"
    with pytest.raises(GoExecError, match="incompatible types"):
        render("{{lt 1 2.0}}")
    with pytest.raises(GoExecError, match="invalid type"):
        render("{{lt .Values.missing 2}}", values())


# ---- index, len, slice -------------------------------------------------------------------------------------

def test_index_missing_key_is_the_zero_value() -> None:
    data = {"ObjectMeta": {"annotations": {"a": "1"}}, "Values": {"m": {"k": "v"}}}
    # map[string]string gives "", map[string]interface{} gives nil (printed <no value>)
    assert render('[{{index .ObjectMeta.Annotations "nope"}}][{{index .Values "nope"}}]', data) == "[][<no value>]"
    assert render('{{index .ObjectMeta.Annotations "a"}} {{index .Values "m" "k"}}', data) == "1 v"
    # a field on a missing map key prints <no value>; index of a nil labels map is still ""
    assert render('{{.ObjectMeta.Annotations.nope}}|{{index .ObjectMeta.Labels "x"}}|', data) == "<no value>||"
    with pytest.raises(GoExecError, match="index of untyped nil"):
        render('{{index .Values.nope "x"}}', data)


def test_index_slices() -> None:
    assert render("{{index .Values.l 1}}", values(l=["a", "b"])) == "b"
    with pytest.raises(GoExecError, match="index out of range: 2"):
        render("{{index .Values.l 2}}", values(l=["a", "b"]))


def test_len_and_slice() -> None:
    assert render('{{len "héllo"}} {{len .ObjectMeta.Labels}} {{slice "abcdef" 1 3}} {{slice .Values.l 1}}',
                  {"ObjectMeta": {}, "Values": {"l": ["a", "b", "c"]}}) == "6 0 bc [b c]"
    with pytest.raises(GoExecError):
        render("{{len .Values.nope}}", values())


# ---- control structures ------------------------------------------------------------------------------------

def test_if_else_if_else() -> None:
    src = "{{if eq .Values.x 1.0}}one{{else if eq .Values.x 2.0}}two{{else}}many{{end}}"
    assert [render(src, values(x=float(i))) for i in (1, 2, 3)] == ["one", "two", "many"]


def test_if_declares_a_variable() -> None:
    assert render("{{if $v := .Values.a}}[{{$v}}]{{end}}", values(a="x")) == "[x]"


def test_range_over_map_in_sorted_key_order() -> None:
    data = values(m={"b": 1.0, "a": 2.0, "c": 3.0})
    assert render("{{range $k, $v := .Values.m}}{{$k}}={{$v}};{{end}}", data) == "a=2;b=1;c=3;"
    assert render("{{range .Values.m}}{{.}}{{end}}", data) == "213"


def test_range_over_slice_int_and_else() -> None:
    assert render("{{range $i, $v := .Values.l}}{{$i}}:{{$v}} {{end}}", values(l=["a", "b"])) == "0:a 1:b "
    assert render("{{range $v := .Values.l}}{{$v}}{{end}}", values(l=["a", "b"])) == "ab"
    assert render("{{range .Values.l}}x{{else}}empty{{end}}", values(l=[])) == "empty"
    assert render("{{range .Values.nope}}x{{else}}none{{end}}", values()) == "none"
    assert render("{{range 3}}{{.}}{{end}}") == "012"
    with pytest.raises(GoExecError, match="range can't iterate over abc"):
        render("{{range .Values.s}}{{end}}", values(s="abc"))


def test_dollar_is_the_root_inside_range_and_with() -> None:
    data = {"Revision": "r1", "Values": {"l": ["a", "b"], "w": {"x": 1.0}}}
    assert render("{{range .Values.l}}{{$.Revision}}{{.}} {{end}}{{with .Values.w}}{{$.Revision}}{{.x}}{{end}}",
                  data) == "r1a r1b r11"


def test_assignment_in_a_loop_changes_the_outer_variable() -> None:
    src = "{{$x := 0}}{{range .Values.l}}{{if ne . \"skip\"}}{{$x = .}}{{end}}{{end}}{{$x}}"
    assert render(src, values(l=["a", "b", "skip"])) == "b"
    # the injection template's idiom: collect names of non-proxy containers
    src = ('{{- $containers := list }}{{- range $index, $container := .Spec.Containers }}'
           '{{ if not (eq $container.Name "istio-proxy") }}{{ $containers = append $containers $container.Name }}'
           '{{end}}{{- end}}{{ index $containers 0 }} {{ len $containers }}')
    data = {"Spec": {"containers": [{"name": "istio-proxy"}, {"name": "app"}, {"name": "side"}]}}
    assert render(src, data, list=lambda *a: list(a), append=lambda l, v: [*l, v]) == "app 2"


def test_first_flag_pattern_across_nested_ranges() -> None:
    src = ('{{- $first := true }}{{- range $c := .Spec.Containers }}{{- range $p := $c.Ports }}'
           '{{if not $first}},{{end}}{{ $p.ContainerPort }}{{- $first = false }}{{- end }}{{- end }}')
    data = {"Spec": {"containers": [{"ports": [{"containerPort": 80}]}, {"ports": [{"containerPort": 81},
                                                                                 {"containerPort": 82}]}]}}
    assert render(src, data) == "80,81,82"


def test_variables_declared_in_a_loop_body_are_per_iteration() -> None:
    assert render("{{range .Values.l}}{{$y := .}}{{$y}}{{end}}", values(l=["a", "b"])) == "ab"


def test_with_else_and_else_with() -> None:
    src = "{{with .Values.a}}A={{.}}{{else with .Values.b}}B={{.}}{{else}}none{{end}}"
    assert render(src, values(a="1", b="2")) == "A=1"
    assert render(src, values(b="2")) == "B=2"
    assert render(src, values()) == "none"
    assert render("{{with $x := .Values.a}}{{$x}}{{.}}{{end}}", values(a="q")) == "qq"


def test_break_and_continue() -> None:
    src = "{{range .Values.l}}{{if eq . \"c\"}}{{break}}{{end}}{{if eq . \"a\"}}{{continue}}{{end}}{{.}}{{end}}"
    assert render(src, values(l=["a", "b", "c", "d"])) == "b"


def test_define_and_template_including_forward_reference_and_recursion() -> None:
    src = ('{{template "x" .Values}}{{define "x"}}[{{.a}}]{{end}}'
           '{{define "r"}}{{if .}}{{index . 0}}{{template "r" (slice . 1)}}{{end}}{{end}}'
           '{{template "r" .Values.l}}')
    assert render(src, values(a=1.0, l=["p", "q"])) == "[1]pq"


def test_template_variables_are_not_shared_and_dollar_is_the_argument() -> None:
    src = '{{define "t"}}{{$}}{{end}}{{$x := 1}}{{template "t" "arg"}}{{$x}}'
    assert render(src) == "arg1"
    with pytest.raises(TemplateError, match="undefined variable"):
        render('{{$x := 1}}{{define "t"}}{{$x}}{{end}}')


def test_block_defines_and_runs_in_place() -> None:
    assert render('{{block "b" .Values.v}}<{{.}}>{{end}}|{{template "b" "again"}}', values(v="x")) == "<x>|<again>"


def test_undefined_template_fails_when_executed() -> None:
    assert render('{{if false}}{{template "nope"}}{{end}}ok') == "ok"
    with pytest.raises(GoExecError, match='template "nope" not defined'):
        render('{{template "nope"}}')


# ---- names: Go fields onto the template data ---------------------------------------------------------------

SIDECAR_DATA = {
    "ObjectMeta": {"name": "p", "uid": "u-1", "labels": {"app": "a"}, "annotations": {"k": "v"}},
    "Spec": {"serviceAccountName": "sa", "dnsPolicy": "ClusterFirst", "containers": [{"name": "c"}]},
    "TypeMeta": {"apiVersion": "v1", "kind": "Pod"},
    "DeploymentMeta": {"name": "d", "namespace": "ns"},
    "ProxyConfig": {"proxyMetadata": {"A": "1"}, "interceptionMode": "TPROXY"},
    "MeshConfig": {"trustDomain": "cluster.local"},
    "Values": {"global": {"proxy": {"image": "proxyv2"}, "Mixed": "literal"}},
    "ProxyUID": 1337,
}


@pytest.mark.parametrize(("expr", "expected"), [
    (".ObjectMeta.Name", "p"), (".ObjectMeta.UID", "u-1"), (".ObjectMeta.Labels.app", "a"),
    (".ObjectMeta.GetName", "p"), (".Spec.ServiceAccountName", "sa"), (".Spec.DNSPolicy", "ClusterFirst"),
    ("(index .Spec.Containers 0).Name", "c"), (".TypeMeta.APIVersion", "v1"), (".DeploymentMeta.Namespace", "ns"),
    (".ProxyConfig.ProxyMetadata.A", "1"), (".ProxyConfig.InterceptionMode.String", "TPROXY"),
    (".MeshConfig.TrustDomain", "cluster.local"), (".Values.global.proxy.image", "proxyv2"),
    (".Values.global.Mixed", "literal"), (".ProxyUID", "1337"),
    # unset struct fields are their Go zero values
    (".MeshConfig.ProxyListenPort", "0"), (".ProxyConfig.Concurrency.GetValue", "0"),
    (".ProxyConfig.StatusPort", "0"), (".ObjectMeta.Namespace", ""), (".Spec.HostNetwork", "false"),
    ("(.MeshConfig.ProxyListenPort | printf \"%v\")", "0"), (".Revision", ""), (".NativeSidecars", "false"),
    # nil-safe proto getters
    (".ProxyConfig.GetTracing.GetTlsSettings.GetCaCertificates", ""), (".ProxyConfig.GetImage.GetImageType", ""),
])
def test_go_names_resolve_onto_json_data(expr: str, expected: str) -> None:
    assert render("{{" + expr + "}}", SIDECAR_DATA) == expected


def test_enum_zero_value_is_its_first_name() -> None:
    assert render("{{.ProxyConfig.InterceptionMode}} {{.ProxyConfig.InterceptionMode.String}}",
                  {"ProxyConfig": {}}) == "REDIRECT REDIRECT"


def test_field_through_nil_pointer_is_an_error_but_getters_are_nil_safe() -> None:
    with pytest.raises(GoExecError, match="nil pointer evaluating"):
        render("{{.ProxyConfig.Tracing.TlsSettings}}", {"ProxyConfig": {}})
    assert render("{{if .ProxyConfig.GetTracing.GetTlsSettings}}x{{else}}none{{end}}", {"ProxyConfig": {}}) == "none"


def test_nil_inside_a_map_then_a_field_is_an_error_unless_parenthesised() -> None:
    data = values(pilot={"env": None})
    with pytest.raises(GoExecError, match=r"nil pointer evaluating interface \{\}.X"):
        render("{{.Values.pilot.env.X}}", data)
    assert render("{{(.Values.pilot.env).X}}", data) == "<no value>"
    assert render("{{.Values.nope.deeper.still}}", data) == "<no value>"  # missing keys never error


def test_field_on_a_non_map_value_is_an_error() -> None:
    with pytest.raises(GoExecError, match="can't evaluate field x in type string"):
        render("{{.Values.s.x}}", values(s="str"))


def test_unknown_field_of_a_complete_struct_fails_when_executed() -> None:
    with pytest.raises(GoExecError, match="can't evaluate field Nope in type v1.ObjectMeta"):
        render("{{.ObjectMeta.Nope}}", {"ObjectMeta": {}})


def test_unmodelled_struct_fields_use_the_json_naming_rule() -> None:
    data = {"Spec": {"containers": [{"name": "c", "securityContext": {"runAsUser": 5}}]}}
    assert render("{{(index .Spec.Containers 0).SecurityContext.RunAsUser}}", data) == "5"


# ---- escaping builtins -------------------------------------------------------------------------------------

def test_html_js_urlquery() -> None:
    assert render('{{html "<a href=\'x\'>&</a>"}}') == "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    assert render('{{js "it\'s <b>"}}') == "it\\'s \\u003Cb\\u003E"
    assert render('{{urlquery "a b&c=d/é"}}') == "a+b%26c%3Dd%2F%C3%A9"
    assert render("{{html .Values.nope}}", values()) == "&lt;no value&gt;"


# ---- errors ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "line", "col", "message"), [
    ("a\nb {{ if }}", 2, 9, "missing value for if"),
    ("{{ nope 1 }}", 1, 4, "function 'nope' not defined"),
    ("x\n\n  {{ $y }}", 3, 6, "undefined variable '$y'"),
    ("{{ if 1 }}", 1, None, "unexpected EOF"),
    ("{{ end }}", 1, None, "unexpected {{end}}"),
    ("{{ 1 2 | 3 }}", 1, None, "non executable command in pipeline stage 2"),
    ("{{ break }}", 1, None, "{{break}} outside {{range}}"),
    ("{{ \"abc }}", 1, None, "unterminated quoted string"),
    ("{{ .X", 1, None, "unclosed action"),
    ("{{ (1 }}", 1, None, "unclosed left paren"),
    ('{{define "a"}}x{{end}}{{define "a"}}y{{end}}', 1, None, "multiple definition"),
])
def test_parse_errors_name_template_line_and_column(source: str, line: int, col: int | None, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        translate("mytemplate", source, ())
    err = info.value
    assert (err.template, err.line) == ("mytemplate", line)
    if col is not None:
        assert err.column == col
    assert message in err.message


def test_runtime_error_line_is_the_go_line() -> None:
    source = 'line1 {{- "x" -}}\n\n\n{{ if true }}\n{{ eq 1 "a" }}{{ end }}\n'
    env = ImmutableSandboxedEnvironment(keep_trailing_newline=True)
    env.globals.update(GLOBALS)
    template = env.from_string(translate("t", source, ()))
    with pytest.raises(GoExecError) as info:
        template.render({})
    frames = [f for f in traceback.extract_tb(info.value.__traceback__) if f.filename == "<template>"]
    assert frames[-1].lineno == 5


def test_jinja_source_keeps_go_line_numbers() -> None:
    source = "a\n{{- if true }}\nb {{ $x := 1 -}}\n\n  c {{ printf\n  \"%d\" $x }}\n{{end}}\nlast\n"
    out = translate("t", source, ())
    assert out.count("\n") == source.count("\n")
    env = ImmutableSandboxedEnvironment(keep_trailing_newline=True)
    env.globals.update(GLOBALS)
    assert env.from_string(out).render({}) == "a\nb c 1\n\nlast\n"
    assert isinstance(env, jinja2.Environment)
