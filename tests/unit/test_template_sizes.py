"""Operations that can multiply a value's size check the size of their result before building it
(``workers.templates.sizes``), in Go templates here (Jinja's operators: tests/unit/test_jinja_env.py); within the
bounds they give what Go gives."""
from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

from workers.templates.errors import TemplateLimitError
from workers.templates.jinja import compile_templates
from workers.templates.sizes import MAX_LIST_ITEMS, MAX_STRING_CHARS


def render_go(source: str, **data: object) -> str:
    return compile_templates({"t": source}, "go").render("t", data)


DOUBLED = '{{ $s := "x" }}{{ range $i := 40 }}{{ $s = %s }}{{ end }}{{ len $s }}'


@pytest.mark.parametrize("step, problem", [
    ('printf "%s%s" $s $s', "printf would build a string of 33554432 characters"),
    ("print $s $s", "print would build a string of 33554432 characters"),
    ("println $s $s", "println would build a string of 25165822 characters"),
    ("cat $s $s", "cat would build a string of 33554431 characters"),
    ('list $s $s | join ""', "join would build a string of 33554432 characters"),
    ('replace "x" "xx" $s', "replace would build a string of 33554432 characters"),
    ('replace "" "x" $s', "replace would build a string of 33554431 characters"),
    ("repeat 2 $s", "repeat would build a string of 33554432 characters"),
])
def test_a_string_doubled_in_a_go_template_stops_at_the_size_bound(step: str, problem: str) -> None:
    with pytest.raises(TemplateLimitError) as info:
        render_go(DOUBLED % step)
    assert problem in info.value.message and info.value.template == "t"


@pytest.mark.parametrize("source, problem", [
    ('{{ repeat 1000000000 "x" }}', "repeat would build a string of 1000000000 characters"),
    ("{{ until 1000000000 | len }}", "until/untilStep/seq would build a list of 1000000000 items"),
    ("{{ untilStep 0 2000000000 2 | len }}", "until/untilStep/seq would build a list of 1000000000 items"),
    ("{{ seq 1 2000000 | len }}", "until/untilStep/seq would build a list of 2000000 items"),
    ('{{ indent 1000000 (repeat 100 "\\n") }}', "indent would build a string of 100000100 characters"),
    ('{{ nindent 1000000 (repeat 100 "\\n") }}', "indent would build a string of 101000100 characters"),
])
def test_a_count_that_would_build_too_much_is_refused_before_building(source: str, problem: str) -> None:
    with pytest.raises(TemplateLimitError) as info:
        render_go(source)
    assert problem in info.value.message


def test_istio_indent_is_bounded_on_both_of_its_paths() -> None:
    from workers.templates.funcs.istio import indent
    with pytest.raises(TemplateLimitError, match="indent would build a string of 100000100 characters"):
        indent(1_000_000, "\n" * 100)
    with pytest.raises(TemplateLimitError, match="indent would build a string of 200000100 characters"):
        indent(-2_000_000, "\n" * 100)  # Go's printf path, checked before any line is padded
    assert indent(-2, "a\nb") == "a\n  b" and indent(2, "a\nb") == "a\n  b"


def test_within_the_bounds_the_results_are_gos() -> None:
    assert render_go('{{ printf "%s-%03d" "a" 7 }} {{ print "a" 1 2 "b" }} {{ println "a" 1 }}'
                     '{{ cat "a" nil 2 }} {{ list "a" "b" | join "," }} {{ replace "" "-" "ab" }} '
                     '{{ replace "a" "bb" "aXa" }} {{ repeat 3 "ab" }} {{ until 3 }} {{ seq 3 }} '
                     '{{ nindent 2 "a\\nb" }}') == (
        'a-007 a1 2b a 1\na 2 a,b -a-b- bbXbb ababab [0 1 2] 1 2 3 \n  a\n  b')
    assert render_go("{{ until 1000000 | len }}") == str(MAX_LIST_ITEMS)
    assert render_go("{{ repeat 16777216 \"x\" | len }}") == str(MAX_STRING_CHARS)


def test_a_render_may_add_only_its_allowance_to_the_address_space() -> None:
    """In a child process (the limit is process-wide): within ``memory_headroom`` an allocation past the allowance
    fails at once, the same allocation succeeds after the block, and the limit is back as it was."""
    script = textwrap.dedent("""
        import resource
        from workers.limits import MIB, limit_memory, memory_headroom
        limit_memory(1024 * MIB)
        before = resource.getrlimit(resource.RLIMIT_AS)
        with memory_headroom(64 * MIB):
            small = bytearray(32 * MIB)
            try:
                bytearray(96 * MIB)
                print("allocated")
            except MemoryError:
                print("refused")
        del small
        big = bytearray(96 * MIB)
        print("after", len(big) // MIB, resource.getrlimit(resource.RLIMIT_AS) == before)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split("\n")[:2] == ["refused", "after 96 True"]


def test_without_an_allowance_the_block_changes_nothing() -> None:
    from workers.limits import memory_headroom
    before = resource.getrlimit(resource.RLIMIT_AS)
    with memory_headroom(None):
        assert resource.getrlimit(resource.RLIMIT_AS) == before
