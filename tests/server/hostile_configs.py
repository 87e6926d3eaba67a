"""Revision configs an attacker with write access to one revision's ConfigMap could apply, for the isolation
tests and ``bench/isolation_bench.py``.

``attack_config`` is a working config whose sidecar carries ``MARK=<mark>``; its preamble misbehaves only for pods
annotated ``attack: <kind>``, so the config passes vetting and the attacks run at admission time. ``HOSTILE_CHANGES``
misbehave for every pod, so vetting must reject them.
"""
from __future__ import annotations

JINJA_ATTACKS = (
    "{% set attack = ObjectMeta.annotations.attack %}"
    "{% if attack == 'loops' %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    "{% endif %}"
    "{% if attack == 'memory' %}{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{% endif %}"
    # Each squaring is one C call, the budget is checked between them (a ** that large is refused outright).
    "{% if attack == 'bignum' %}{% set ns = namespace(x=12345) %}{% for i in range(24) %}"
    "{% set ns.x = ns.x * ns.x %}{% endfor %}{% endif %}"
    # The count comes from the pod, so nothing is folded at compile time: 6 * 2*10^8 characters at render time.
    "{% if attack == 'repeat' %}{% set s = 'a' * (attack | length * 200000000) %}{% endif %}"
    # No operator the size bounds watch: one filter padding to 3*10^8 characters, and 40 strings of 10^7 kept.
    "{% if attack == 'padding' %}{% set s = attack | center(300000000) %}{% endif %}"
    "{% if attack == 'hoard' %}{% set ns = namespace(kept=[]) %}{% for i in range(40) %}"
    "{% set ns.kept = ns.kept + [attack | center(10000000 + i)] %}{% endfor %}{% endif %}"
)
"""Jinja2 attacks: ``loops`` (10^10 iterations), ``memory`` (a string doubled 40 times), ``bignum``, ``repeat``
(string multiplication to 1.2*10^9 characters), ``padding`` (``center`` to 3*10^8 characters), ``hoard`` (400 MB
in strings of 10^7 characters, each within the size bounds)."""
GO_ATTACKS = (
    '{{ $attack := index .ObjectMeta.Annotations "attack" }}'
    '{{ if eq $attack "range" }}{{ range $i := 1000000000 }}{{ end }}{{ end }}'
    '{{ if eq $attack "printf" }}{{ $s := "x" }}{{ range $i := 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ end }}'
    '{{ if eq $attack "width" }}{{ $s := printf "%0999999999d" 1 }}{{ end }}'
)
"""Go template attacks: ``range`` (Go 1.22 range over an int, 10^9), ``printf`` (a string doubled 40 times),
``width`` (``printf "%0999999999d"``, a gigabyte of padding were widths unbounded: Go's fmt refuses widths over
10^6, so the render goes on with Go's error text in ``$s``)."""


def attack_config(mark: str, preamble: str = "", language: str = "jinja2") -> str:
    """A revision config whose sidecar carries ``MARK=<mark>``, with ``preamble`` rendered first."""
    head = "templateLanguage: jinja2\n" if language == "jinja2" else ""
    return (f"policy: enabled\n{head}templates:\n  sidecar: |\n    {preamble}\n"
            "    spec:\n      containers:\n      - name: istio-proxy\n        image: proxy\n"
            f"        env:\n        - name: MARK\n          value: \"{mark}\"\n")


def hostile_changes(mark: str) -> list[tuple[str, str]]:
    """(name, config text) of changes whose every render misbehaves."""
    return [
        ("folded power", attack_config(mark, "{{ 7 ** 100000000 % 2 }}")),
        ("folded repetition", attack_config(mark, "{{ 'a' * 100000000 }}")),
        ("nested loops of 10^10", attack_config(
            mark, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")),
        ("Go range over 10^9", attack_config(mark, "{{ range $i := 1000000000 }}{{ end }}", language="go")),
        ("gigabyte string", attack_config(
            mark, "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")),
        ("bignum squaring", attack_config(
            mark, "{% set ns = namespace(x=12345) %}{% for i in range(24) %}{% set ns.x = ns.x * ns.x %}{% endfor %}")),
    ]
