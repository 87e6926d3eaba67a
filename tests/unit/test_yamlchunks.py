"""Piecewise parsing with a cache must give exactly what CSafeLoader gives (types, key order, errors), and reuse."""
from __future__ import annotations

import random

import pytest
import yaml

from tests.unit.test_yamlparse import CASES, _same
from workers import yamlchunks, yamlparse
from workers.yamlchunks import ChunkedYaml

RENDERED = """

metadata:
  labels:
    security.istio.io/tlsMode: "istio"
    service.istio.io/canonical-name: "APP"
  annotations: {
    istio.io/rev: "default",
    kubectl.kubernetes.io/default-container: "APP",
  }
spec:
  initContainers:
  
  - name: istio-init
  
    image: "proxyv2:latest"
    args:
    - istio-iptables
    - "-p"
    -  "1337" 
    resources:
  
      requests:
        cpu: "CPU"
        
  containers:
  - name: istio-proxy
    env:
    - name: PROXY_CONFIG
      value: |
             {}
    - name: ISTIO_META_POD_PORTS
      value: |-
        [
            {"containerPort":PORT}
        ]
    - name: ISTIO_META_APP_CONTAINERS
      value: "APP"
    - name: KEEP
      value: |+
        kept

    - name: OWNER
      value: kubernetes://apis/v1/namespaces/ns/pods/APP
    ports:
    - containerPort: 15090
      protocol: TCP
      name: http-envoy-prom
  volumes:
  - emptyDir: {}
    name: workload-socket
  - name: istio-token
    projected:
      sources:
      - serviceAccountToken:
          audience: istio-ca
          expirationSeconds: 43200
          path: istio-token
"""


def _variant(app: str, cpu: str, port: int) -> str:
    return RENDERED.replace("APP", app).replace("CPU", cpu).replace("PORT", str(port))


def _check(cache: ChunkedYaml, text: str) -> None:
    try:
        want = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)) as caught:
            cache.load(text)
        assert str(caught.value) == str(exc)
        return
    assert _same(cache.load(text), want)


@pytest.mark.parametrize("text", CASES + [RENDERED, _variant("a", "1", 80)])
def test_matches_csafeloader(text: str) -> None:
    _check(ChunkedYaml(), text)


def test_a_variant_parses_only_its_changed_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ChunkedYaml()
    _check(cache, _variant("first", "100m", 8080))
    parsed: list[str] = []
    real = yamlparse.load

    def counting(text: str) -> object:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(yamlchunks.yamlparse, "load", counting)
    _check(cache, _variant("second", "100m", 8080))
    assert parsed and all("second" in piece for piece in parsed)
    assert sum(piece.count("\n") for piece in parsed) < 20  # of ~70 lines
    parsed.clear()
    assert _same(cache.load(_variant("second", "100m", 8080)), yaml.load(_variant("second", "100m", 8080),
                                                                         Loader=yaml.CSafeLoader))
    assert parsed == []  # the whole text is cached


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n" + "c: 1\n" * 5,       # aliases span pieces
    "a: !!str 1\n" + "b:\n  c: 1\n" * 3,      # tags
    "---\na: 1\n" + "b: 2\n" * 5,             # document markers
    "a:\n\tb: 1\n" + "c: 2\n" * 5,            # tabs
    '"quoted key": 1\n' + "b:\n  - 1\n" * 4,  # quoted keys are not cut
    "a:\n  b: 1\n c: 2\n" + "d: 3\n" * 4,     # indentation that is not a structure
    "a:\n  - b\n  c: 1\n" + "d: 3\n" * 4,     # a key after a sequence at the same indent
    "a: {b: 1,\n}\nc: [1,\n  2]\n" + "d: 3\n" * 4,
    "a: 'it''s\n  here'\nb: \"x\n  y\"\n" + "d: 3\n" * 4,
    "k:\n  - a\n  -\n    - b\n    - c\n  - - d\n    - e\n" * 2,
])
def test_unusual_documents_parse_like_csafeloader(text: str) -> None:
    _check(ChunkedYaml(), text)


def _random_node(rnd: random.Random, depth: int, indent: int) -> str:
    scalars = ["a", "yes", "1", "01", '"q"', "'s''s'", '"multi\n line"', "{a: 1}", "[1, 2]", "{a: 1,\n b: 2\n}",
               "|\n  block\n  text\n", "|+\n  keep\n\n", ">-\n  folded\n  text\n", "~", "", '"esc \\" q"', "x # c",
               '"#no"', "1.5", "true", "'{'", '"["', "[a,\n  \"b c\",\n d]", "plain\n  continued", "{}"]
    pick = rnd.random()
    if depth > 3 or pick < 0.3:
        return " " + rnd.choice(scalars).replace("\n", "\n" + " " * (indent + rnd.choice((0, 2))))
    if pick < 0.65:
        lines = []
        for i in range(rnd.randint(1, 6)):
            lines.append(" " * indent + rnd.choice(["k", "name", "a.b/c", "x-y", f"k{i}", "true"]) + ":"
                         + _random_node(rnd, depth + 1, indent + 2))
            if rnd.random() < 0.1:
                lines.append(" " * rnd.randint(0, indent + 2) + rnd.choice(["", "# comment"]))
        return "\n" + "\n".join(lines)
    items = []
    at = indent if rnd.random() < 0.5 else indent + 2
    for _ in range(rnd.randint(1, 5)):
        value = _random_node(rnd, depth + 1, at + 2)
        if value.startswith("\n") and rnd.random() < 0.6:
            items.append(" " * at + "- " + value[1:].lstrip(" "))
        else:
            items.append(" " * at + "-" + value)
    return "\n" + "\n".join(items)


def test_random_documents_parse_like_csafeloader() -> None:
    rnd = random.Random(12)
    cache = ChunkedYaml(max_entries=300)
    for _ in range(600):
        text = _random_node(rnd, 0, 0).lstrip("\n") + "\n"
        if rnd.random() < 0.3:  # small edits of documents seen before, as renders of other pods are
            lines = text.split("\n")
            index = rnd.randrange(len(lines))
            lines[index] = lines[index].replace("a", "b", 1)
            text = "\n".join(lines)
        _check(cache, text)


def test_the_cache_stays_within_its_bounds() -> None:
    cache = ChunkedYaml(max_entries=50, max_text_bytes=4000)
    for n in range(40):
        cache.load(_variant(f"app{n}", f"{n}m", n))
    assert len(cache._values) <= 50 and cache._size <= 4000


def test_a_render_of_the_same_shape_reparses_only_the_changed_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ChunkedYaml()
    _check(cache, _variant("first", "100m", 8080))
    outlined: list[int] = []
    walked: list[int] = []
    real_outline, real_node = yamlchunks._Outline.__init__, ChunkedYaml._node

    def outlining(self: yamlchunks._Outline, lines: list[str], memo: dict) -> None:  # type: ignore[type-arg]
        outlined.append(len(lines))
        real_outline(self, lines, memo)

    def walking(self: ChunkedYaml, *args: object) -> object:
        walked.append(1)
        return real_node(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(yamlchunks._Outline, "__init__", outlining)
    monkeypatch.setattr(ChunkedYaml, "_node", walking)
    first = cache.load(_variant("first", "100m", 8080))
    # other names (a flow mapping's lines too), resources, ports (inside a block scalar): the same outline, and
    # the changed pieces put in place in a copy that shares everything else
    second = cache.load(_variant("second", "200m", 9090))
    assert _same(second, yaml.load(_variant("second", "200m", 9090), Loader=yaml.CSafeLoader))
    assert outlined == [] and walked == []
    assert second["spec"]["volumes"] is first["spec"]["volumes"]
    assert first == yaml.load(_variant("first", "100m", 8080), Loader=yaml.CSafeLoader)  # not changed in place
    reshaped = [
        _variant("third", "300m", 80).replace('cpu: "300m"', "cpu:"),             # a key loses its value
        _variant("third", "300m", 80).replace("        kept\n", "        k: v\n"),  # a line inside a block scalar
        _variant("third", "300m", 80).replace('value: "third"', 'value: "third'),  # a quote left open
        _variant("third", "300m", 80).replace("- name: KEEP", "- KEEP"),           # an item that is no mapping
    ]
    for text in reshaped:
        outlined.clear()
        _check(cache, text)
        assert outlined, "a line of another shape must be outlined again"


@pytest.mark.parametrize("edit", [
    ('    image: "proxyv2:latest"', '    imag: "proxyv2:latest"'),        # the entry's key changes
    ("    name: workload-socket", "    name: workload-socket\n    name: x"),  # not the same line count
    ("          path: istio-token", "          audience: again"),     # a repeated key: the later wins
    ("  - emptyDir: {}", "  - emptyDir: []"),                          # a flow value of another type
    ("        cpu: \"CPU\"", "        cpu: [1,"),                    # an error, from the piece
])
def test_reassembly_falls_back_to_the_whole_walk(edit: tuple[str, str]) -> None:
    cache = ChunkedYaml()
    _check(cache, _variant("a", "1m", 1))
    _check(cache, _variant("b", "2m", 2).replace(*edit))
    _check(cache, _variant("c", "3m", 3))


def test_a_line_that_ends_a_construct_early_is_a_new_outline() -> None:
    lines = _variant("a", "1m", 1).splitlines(keepends=True)
    memo: dict = {}  # type: ignore[type-arg]
    outline = yamlchunks._Outline(lines, memo)

    def changed(old: str, new: str) -> list[int] | None:
        at = lines.index(old)
        return outline.changed_lines(lines[:at] + [new] + lines[at + 1:], memo)

    kept, rev = lines.index("        kept\n"), lines.index('    istio.io/rev: "default",\n')
    assert changed("        kept\n", "        kept too\n") == [kept]               # still in the block scalar
    assert changed("        kept\n", "      kept: 1\n") is None                    # out of it
    assert changed('    istio.io/rev: "default",\n', '    istio.io/rev: "x",\n') == [rev]  # in the flow mapping
    assert changed('    istio.io/rev: "default",\n', '    istio.io/rev: "x"}\n') is None   # closes it


def _mutated(rnd: random.Random, text: str) -> str:
    """``text`` with one line changed the way renders for two pods differ, or in a way that changes structure."""
    lines = text.split("\n")
    index = rnd.randrange(len(lines))
    line = lines[index]
    edits = [
        lambda: line.replace("a", "b", 1), lambda: line.replace("e", "f"), lambda: line.replace("1", "2"), lambda: line + "x", lambda: line + " # c", lambda: line.replace(":", "", 1),
        lambda: " " + line, lambda: line[1:], lambda: line + '"', lambda: line + "{", lambda: line.replace("-", "", 1),
        lambda: line.replace("1", "true", 1), lambda: "", lambda: line + ": y", lambda: line.replace("k", "name", 1),
    ]
    lines[index] = rnd.choice(edits)()
    return "\n".join(lines)


def test_random_edits_of_documents_parse_like_csafeloader() -> None:
    rnd = random.Random(7)
    for _ in range(150):
        cache = ChunkedYaml()
        text = "".join(f"top{n}:" + _random_node(rnd, 1, 2) + "\n" for n in range(4))
        _check(cache, text)
        for _ in range(6):
            text = _mutated(rnd, text) if rnd.random() < 0.8 else text
            _check(cache, text)
