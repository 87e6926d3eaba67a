"""The Jinja2 environment and template compilation: Go-style printing, function map wiring, errors."""
import sys
import types

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

import workers.templates.gotemplate as gotemplate
from workers.templates.errors import TemplateError, TemplateLimitError
from workers.templates.funcs import FUNCS
from workers.templates.jinja import compile_templates, load_compiled, make_environment


def render(source, **data):
    return make_environment().from_string(source).render(data)


def test_environment_settings():
    env = make_environment()
    assert isinstance(env, ImmutableSandboxedEnvironment)
    assert env.keep_trailing_newline is True
    assert render("{{ x }}", x="<a&b>") == "<a&b>"  # no autoescape
    assert render("a\n") == "a\n"


@pytest.mark.parametrize("value, expected", [
    (15020.0, "15020"), (1e6, "1e+06"), (0.5, "0.5"), (7, "7"), (True, "true"), (False, "false"),
    ("s", "s"), (None, "<no value>"), ({"b": 1.0, "a": "x"}, "map[a:x b:1]"), ([1.0, "a"], "[1 a]"),
])
def test_output_printed_like_go(value, expected):
    assert render("{{ x }}", x=value) == expected


def test_missing_values_are_lenient():
    assert render("{{ a.b.c }}") == "<no value>"
    assert render("{% if a.b.c %}yes{% else %}no{% endif %}") == "no"
    assert render("{{ Values.global.missing }}", Values={"global": {}}) == "<no value>"


def test_every_function_is_a_global_and_a_filter_unless_jinja_has_one():
    env = make_environment()
    builtin = set(jinja2.filters.FILTERS) & set(FUNCS)
    assert {"default", "indent", "join", "list", "trim", "upper", "first", "replace"} <= builtin
    for name in FUNCS:
        assert env.globals[name] is FUNCS[name]
        assert name in env.filters
        assert (env.filters[name].__module__.startswith("jinja2")) is (name in builtin), name


def test_filters_take_the_piped_value_last_like_go():
    assert render('{{ uid | quote }}', uid=1337) == '"1337"'
    assert render('{{ s | trunc(3) | trimAll("-") }}', s="-abcdef") == "ab"
    assert render('{{ y | nindent(2) }}', y="a: 1\nb: 2") == "\n  a: 1\n  b: 2"
    assert render('{{ default("d", s) }}', s="") == "d"
    assert render('{{ default("d", s) }}', s="x") == "x"


def test_jinja_builtin_filters_keep_their_meaning():
    assert render('{{ missing | default("d") }}') == "d"
    assert render('{{ s | default("d", true) }}', s="") == "d"
    assert render('{{ names | join(",") }}', names=["a", "b"]) == "a,b"
    assert render('{{ y | indent(2) }}', y="a\nb") == "a\n  b"


def test_functions_as_globals():
    assert render("{{ annotation(meta, 'k', 15020.0) }}", meta={}) == "15020"
    assert render("{{ toYaml(omitNil(r)) }}", r={"limits": {"cpu": None, "memory": "1Gi"}}) == \
        "limits:\n  memory: 1Gi\n"
    assert render("{% set c = append(list(), 'app') %}{{ c[0] }}") == "app"


def test_sandbox_blocks_mutation_and_dunder_access():
    env = make_environment()
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ d.update({'a': 1}) }}").render(d={})
    assert env.from_string("{{ ''.__class__.__mro__ }}").render() == "<no value>"  # unsafe attributes are undefined


def test_runtime_globals_added_when_module_present(monkeypatch):
    fake = types.ModuleType("workers.templates.gotemplate.runtime")
    fake.GLOBALS = {"go_marker": lambda: "from-runtime"}
    monkeypatch.setitem(sys.modules, "workers.templates.gotemplate.runtime", fake)
    assert make_environment().from_string("{{ go_marker() }}").render() == "from-runtime"


# --- compile_templates ---------------------------------------------------------------------------------------

def test_compile_and_render_jinja2():
    compiled = compile_templates({"sidecar": "name: {{ ObjectMeta.name }}\nport: {{ Values.port }}\n",
                                  "other": "x"}, "jinja2")
    assert compiled.names == ("sidecar", "other")
    out = compiled.render("sidecar", {"ObjectMeta": {"name": "p"}, "Values": {"port": 15020.0}})
    assert out == "name: p\nport: 15020\n"


def test_templates_can_include_each_other():
    compiled = compile_templates({"main": "a{% include 'part' %}c", "part": "{{ x }}"}, "jinja2")
    assert compiled.render("main", {"x": "b"}) == "abc"


def test_render_does_not_parse_again(monkeypatch):
    compiled = compile_templates({"t": "{{ x }}"}, "jinja2")

    def no_compile(*args, **kwargs):
        raise AssertionError("template compiled at render time")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compile)
    assert compiled.render("t", {"x": 1}) == "1"


def test_syntax_error_names_template_and_line():
    with pytest.raises(TemplateError) as info:
        compile_templates({"good": "ok", "sidecar": "line1\nline2\n{% if %}\n"}, "jinja2")
    err = info.value
    assert (err.template, err.line) == ("sidecar", 3)
    assert str(err).startswith('template "sidecar": line 3: ')


def test_runtime_error_names_template_and_line():
    compiled = compile_templates({"t": "a\nb\n{{ 1 // zero }}\n"}, "jinja2")
    with pytest.raises(TemplateError) as info:
        compiled.render("t", {"zero": 0})
    assert (info.value.template, info.value.line) == ("t", 3)
    assert "ZeroDivisionError" in info.value.message


def test_runtime_error_inside_included_template_points_there():
    compiled = compile_templates({"main": "{% include 'inner' %}", "inner": "\n{{ missing() }}"}, "jinja2")
    with pytest.raises(TemplateError) as info:
        compiled.render("main", {})
    assert (info.value.template, info.value.line) == ("inner", 2)


def test_template_error_from_a_helper_gets_a_position():
    def fail():
        raise TemplateError("", None, None, "boom")

    compiled = compile_templates({"t": "x\n{{ fail() }}"}, "jinja2")
    with pytest.raises(TemplateError) as info:
        compiled.render("t", {"fail": fail})
    assert (info.value.template, info.value.line, info.value.message) == ("t", 2, "boom")


def test_unknown_template_and_language():
    compiled = compile_templates({"t": "x"}, "jinja2")
    with pytest.raises(TemplateError):
        compiled.render("nope", {})
    with pytest.raises(ValueError):
        compile_templates({"t": "x"}, "mustache")


def test_go_language_translates_first(monkeypatch):
    calls = []

    def fake_translate(name, source):
        calls.append((name, source))
        return "translated {{ x }}"

    monkeypatch.setattr(gotemplate, "translate", fake_translate, raising=False)
    compiled = compile_templates({"sidecar": "{{ .X }}"}, "go")
    assert calls == [("sidecar", "{{ .X }}")]
    assert compiled.render("sidecar", {"x": 2.0}) == "translated 2"


def test_go_translation_errors_propagate(monkeypatch):
    def fake_translate(name, source):
        raise TemplateError(name, 4, 7, 'function "nope" not defined')

    monkeypatch.setattr(gotemplate, "translate", fake_translate, raising=False)
    with pytest.raises(TemplateError) as info:
        compile_templates({"sidecar": "..."}, "go")
    assert str(info.value) == 'template "sidecar": line 4, col 7: function "nope" not defined'


# --- compiled code shipped to other processes --------------------------------------------------------------------

def test_exported_code_loads_without_compiling_and_keeps_positions(monkeypatch):
    exported = compile_templates({"main": "a{% include 'part' %}c", "part": "{{ x }}\n{{ 1 // x }}"},
                                 "jinja2").export()

    def no_compile(*args, **kwargs):
        raise AssertionError("template compiled while loading exported code")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compile)
    loaded = load_compiled(exported)
    assert loaded.names == ("main", "part")
    with pytest.raises(TemplateError) as info:
        loaded.render("main", {"x": 0})
    assert (info.value.template, info.value.line) == ("part", 2)
    assert loaded.render("part", {"x": 1}) == "1\n1"


# --- bounded operators ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, problem", [
    ("{{ 7 ** 100000000 % 2 }}", "7 ** 100000000 is too large"),
    ("{{ 'a' * 100000000 }}", "'*' would build a string of 100000000 characters"),
    ("{{ 1000 * [1, 2] }}\n{{ [0] * 10 ** 7 }}", "'*' would build a list of 10000000 items"),
])
def test_huge_results_are_neither_folded_at_compile_time_nor_built_at_render_time(source, problem):
    compiled = compile_templates({"t": source}, "jinja2")
    assert len(compiled.export()) < 10_000, "nothing large was folded into the compiled code"
    with pytest.raises(TemplateLimitError) as info:
        compiled.render("t", {})
    assert info.value.template == "t" and problem in info.value.message


DOUBLED = "{%% set ns = namespace(s=%s) %%}{%% for i in range(40) %%}{%% set ns.s = %s %%}{%% endfor %%}"


@pytest.mark.parametrize("source, problem", [
    (DOUBLED % ("'x'", "ns.s ~ ns.s"), "'~' would build a string of 33554432 characters"),
    (DOUBLED % ("'x'", "ns.s + ns.s"), "'+' would build a string of 33554432 characters"),
    (DOUBLED % ("'x'", "'%s%s' % (ns.s, ns.s)"), "'%' would build a string of 16777220 characters"),
    (DOUBLED % ("[0]", "ns.s + ns.s"), "'+' would build a list of 1048576 items"),
])
def test_a_value_doubled_at_render_time_stops_at_the_size_bound(source, problem):
    """Each step is checked before it copies: the render fails having built at most MAX_STRING_CHARS."""
    with pytest.raises(TemplateLimitError) as info:
        compile_templates({"t": source}, "jinja2").render("t", {})
    assert info.value.template == "t" and info.value.line == 1 and problem in info.value.message


def test_concatenation_and_formatting_within_the_bound_are_jinjas():
    assert render("{{ 'a' ~ 1 ~ none ~ 2.5 ~ missing }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 1 + 2.5 }} "
                  "{{ '%s-%d' % ('x', 3) }} {{ '%(a)s' % {'a': 'b'} }} {{ 7 % 3 }}") == "a1None2.5 ab [1 2] 3.5 x-3 b 1"
    assert len(render("{{ 'x' * 16777215 ~ 'y' }}")) == 16777216


def test_ordinary_arithmetic_and_repetition_still_work():
    assert render("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ 3 * 'x' }} {{ 1.5 * 2 }} {{ 2 ** -1 }}") == (
        "1024 ababab [1 1] xxx 3 0.5")

# --- TemplateError --------------------------------------------------------------------------------------------

def test_template_error_text():
    assert str(TemplateError("sidecar", 12, 4, "bad")) == 'template "sidecar": line 12, col 4: bad'
    assert str(TemplateError("sidecar", 12, None, "bad")) == 'template "sidecar": line 12: bad'
    assert str(TemplateError("sidecar", None, None, "bad")) == 'template "sidecar": bad'


def test_template_error_pickles():
    import pickle
    err = pickle.loads(pickle.dumps(TemplateError("t", 1, 2, "m")))
    assert (err.template, err.line, err.column, err.message) == ("t", 1, 2, "m")
