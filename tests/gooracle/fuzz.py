"""A seeded random template generator for differential testing against the Go oracle.

Templates are built from the function map itself: pipelines of function calls whose arguments are literals
(biased towards each parameter's Go type, but sometimes wrong on purpose), template data fields, variables and
nested calls, inside if/with/range/define constructs. Each template runs in Go and in ours on one of the data
shapes; outputs must be byte-identical or both must fail.

Kept out, with their reasons (each is covered elsewhere):
- functions whose results are not repeatable (NONDETERMINISTIC in cases.py; test_nondeterministic.py) and
  ``derivePassword`` (exact, but each call costs an scrypt run; covered by the corpus);
- whole typed structs of the template data (``.ObjectMeta``, ``.Spec``, ``.ProxyConfig``, ``.MeshConfig``) as
  values to print or convert: Go prints and marshals them with every field of the Go struct, which our JSON-shaped
  data does not model (see README "Residual differences"); they are used where Istio's helpers take them;
- integers computed by nested calls as sizes of allocating functions (``repeat``, ``until``...): only small
  literal sizes, so a case cannot ask either side for gigabytes.

    python -m tests.gooracle.fuzz [--budget N] [--seed S]    # prints the mismatch rate and the first mismatches
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field

from tests.gooracle.cases import NONDETERMINISTIC
from tests.gooracle.client import Oracle, ours
from tests.gooracle.data import SHAPES
from workers.templates.funcs import SIGNATURES

DEFAULT_SEED = 20261203
DEFAULT_BUDGET = 800

_EXCLUDED = NONDETERMINISTIC | {"derivePassword", "fail"}
# Functions that allocate in proportion to an integer argument: sizes only from small literals.
_SIZED = {"repeat", "until", "untilStep", "seq", "chunk", "mustChunk", "wrap", "wrapWith", "indent", "nindent",
          "abbrev", "abbrevboth", "trunc", "substr", "splitn", "regexFindAll", "mustRegexFindAll", "regexSplit",
          "mustRegexSplit", "round", "plural"}
_STRINGS = ["", "a", "abc", "Hello World", "héllo ✓", "a,b,,c", "  pad  ", "x-y_z", "1.2.3", "v1.2.3-rc.1",
            "0755", "0x1F", "42", "-7", "3.5", "true", "a\nb", "<&>", "{\"a\":1}", "[1,2]", "a.b*c", "^a+$", "(x)",
            "$1-${1}", "k", "app", "ünï", "2006-01-02", "1h30m", "%s-%d", "%v|%q", "%5.2f", "%T", "aGVsbG8=",
            "NBUQ====", "https://u@h:1/p?q#f", "/a/b/../c", ">=1.2", "~1.2.3 || ^2", "istio-cni"]
_INTS = [0, 1, 2, 3, 5, -1, -3, 10, 15020, 255]
_FLOATS = [0.0, 1.5, -2.5, 0.1, 1e6, 3.0, 1e-7]
_FIELDS = {
    "pod": [".Values.num", ".Values.neg", ".Values.frac", ".Values.big", ".Values.zero", ".Values.yes", ".Values.no",
            ".Values.str", ".Values.empty", ".Values.nothing", ".Values.list", ".Values.strs", ".Values.emptyList",
            ".Values.map", ".Values.map.k", ".Values.map.nested", ".Values.emptyMap", ".Values.csv", ".Values.json",
            ".Values.version", ".Values.missing", ".Values.global.proxy", ".Values.global.hub",
            ".ObjectMeta.Labels", ".ObjectMeta.Annotations", ".ObjectMeta.Name", ".ObjectMeta.Namespace",
            ".ProxyUID", ".ProxyGID", ".Revision", ".NativeSidecars", ".ProxyImage", ".DeploymentMeta.Name",
            ".Spec.ServiceAccountName", ".Spec.NodeSelector", ".ProxyConfig.ProxyMetadata", ".ProxyConfig.StatusPort",
            ".MeshConfig.TrustDomain", ".Values"],
    "odd": [".Values.s", ".Values.big", ".Values.tiny", ".Values.negf", ".Values.nul", ".Values.deep",
            ".Values.deep.a", ".Values.mixed", ".Values.quote", ".Values.num_str", ".Values.oct", ".Values.spaces",
            ".ObjectMeta.Labels", ".ObjectMeta.Annotations", ".ObjectMeta.Name", ".ProxyUID", ".Values.missing"],
    "bare": [".Values", ".Values.x", ".ObjectMeta.Labels", ".ObjectMeta.Name", ".ProxyUID", ".Revision",
             ".Spec.NodeSelector"],
}
# Istio helpers taking typed structs get them (and only them) from the data.
_TYPED_ARGS = {"v1.ObjectMeta": ".ObjectMeta", "[]v1.Container": ".Spec.Containers",
               "*v1alpha1.MeshConfig": ".MeshConfig", "*durationpb.Duration": ".ProxyConfig.DrainDuration",
               "protoreflect.ProtoMessage": ".ProxyConfig"}
_FUNCTIONS = sorted(name for name in SIGNATURES if name not in _EXCLUDED)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass
class _Scope:
    shape: str
    variables: list[str] = field(default_factory=list)


class TemplateFuzzer:
    """Random Go templates over the function map (deterministic for a given random.Random)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def case(self) -> tuple[str, str]:
        shape = self.rng.choice(["pod", "pod", "pod", "odd", "bare"])
        scope = _Scope(shape)
        parts = [self._item(scope, 0) for _ in range(self.rng.randint(1, 3))]
        return "".join(parts), shape

    # -- structure ----------------------------------------------------------------------------------------------
    def _item(self, scope: _Scope, depth: int) -> str:
        roll = self.rng.random()
        if depth < 2 and roll < 0.12:
            return f"{{{{ if {self._pipeline(scope, 1)} }}}}T{self._item(scope, depth + 1)}" \
                   f"{{{{ else }}}}E{{{{ end }}}}"
        if depth < 2 and roll < 0.2:
            return f"{{{{ with {self._pipeline(scope, 1)} }}}}[{{{{ . }}}}]{{{{ else }}}}none{{{{ end }}}}"
        if depth < 2 and roll < 0.3:
            body = self.rng.choice(["{{ $i }}={{ $v }};", "{{ if eq $i 1 }}{{ break }}{{ end }}{{ $v }},",
                                    "{{ if $v }}{{ continue }}{{ end }}.{{ $i }}"])
            return f"{{{{ range $i, $v := {self._pipeline(scope, 1)} }}}}{body}{{{{ else }}}}empty{{{{ end }}}}"
        if roll < 0.38:
            name = f"$x{len(scope.variables)}"
            scope.variables.append(name)
            return f"{{{{ {name} := {self._pipeline(scope, 1)} }}}}{{{{ {name} }}}}"
        if roll < 0.42:
            return "|text|"
        return "{{ " + self._pipeline(scope, 0) + " }}|"

    def _pipeline(self, scope: _Scope, depth: int) -> str:
        stages = [self._command(scope, depth)]
        while depth < 3 and self.rng.random() < 0.3:
            stages.append(self._call(scope, depth + 1, piped=True))
        return " | ".join(stages)

    def _command(self, scope: _Scope, depth: int) -> str:
        if depth >= 3 or self.rng.random() < 0.2:
            return self._operand(scope, depth)
        return self._call(scope, depth, piped=False)

    def _call(self, scope: _Scope, depth: int, piped: bool) -> str:
        name = self.rng.choice(_FUNCTIONS + ["printf", "print", "len", "index", "eq", "not", "and", "or"])
        sig = SIGNATURES.get(name)
        if sig is None:
            count = {"printf": 2, "print": 2, "len": 1, "index": 2, "eq": 2, "not": 1, "and": 2, "or": 2}[name]
            params = ["string" if name == "printf" else "interface {}"] + ["interface {}"] * (count - 1)
        else:
            fixed = len(sig.params) - (1 if sig.variadic else 0)
            count = fixed + (self.rng.randint(0, 2) if sig.variadic else 0)
            if self.rng.random() < 0.05:
                count = max(0, count + self.rng.choice([-1, 1]))
            params = [sig.param(i, count) or "interface {}" for i in range(count)]
        if piped:
            params = params[:-1] if params else params
        args = [self._arg(scope, depth + 1, p, name) for p in params]
        return " ".join([name, *args])

    # -- arguments ----------------------------------------------------------------------------------------------
    def _arg(self, scope: _Scope, depth: int, param: str, func: str) -> str:
        typed = _TYPED_ARGS.get(param)
        if typed is not None and self.rng.random() < 0.9:
            return typed
        if func in _SIZED and param == "int":
            return str(self.rng.choice([0, 1, 2, 3, 5, -1, 8]))
        roll = self.rng.random()
        if roll < 0.55:
            return self._literal_for(param)
        if roll < 0.85 or depth >= 3:
            return self._operand(scope, depth)
        return "(" + self._pipeline(scope, depth) + ")"

    def _literal_for(self, param: str) -> str:
        if self.rng.random() < 0.1:  # the wrong kind on purpose
            param = self.rng.choice(["string", "int", "float64", "bool", "nil"])
        if param == "string":
            return _quote(self.rng.choice(_STRINGS))
        if param in ("int", "int64", "uint32"):
            return str(self.rng.choice(_INTS))
        if param == "float64":
            return repr(self.rng.choice(_FLOATS))
        if param == "bool":
            return self.rng.choice(["true", "false"])
        if param == "nil":
            return "nil"
        if param.startswith("map[") or param.startswith("[]"):
            return self.rng.choice(['(dict "a" 1 "b" "x")', '(list 1 "a" nil)', '(strdict "k" "v")',
                                    '(splitList "," "a,b")', "nil", "(dict)", "(list)"])
        return self._literal_any()

    def _literal_any(self) -> str:
        kind = self.rng.random()
        if kind < 0.45:
            return _quote(self.rng.choice(_STRINGS))
        if kind < 0.7:
            return str(self.rng.choice(_INTS))
        if kind < 0.85:
            return repr(self.rng.choice(_FLOATS))
        if kind < 0.95:
            return self.rng.choice(["true", "false"])
        return "nil"

    def _operand(self, scope: _Scope, depth: int) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.rng.choice(_FIELDS[scope.shape])
        if roll < 0.6 and scope.variables:
            return self.rng.choice(scope.variables)
        return self._literal_any()


@dataclass
class FuzzReport:
    cases: int
    mismatches: list[tuple[str, str, str, str]]  # (template, shape, go, ours)
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.mismatches) / self.cases if self.cases else 0.0


def run(oracle: Oracle, budget: int, seed: int) -> FuzzReport:
    rng = random.Random(seed)
    fuzzer = TemplateFuzzer(rng)
    mismatches = []
    started = time.monotonic()
    for _ in range(budget):
        template, shape = fuzzer.case()
        go, us = oracle.render(template, SHAPES[shape]), ours(template, SHAPES[shape])
        if not go.same_as(us):
            mismatches.append((template, shape, go.describe(), us.describe()))
    return FuzzReport(budget, mismatches, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    import os

    from tests.gooracle.build import ensure_oracle
    from tests.gooracle.conftest import ORACLE_VAR

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--show", type=int, default=10, help="mismatches to print")
    args = parser.parse_args(argv)
    os.environ[ORACLE_VAR[0]] = ORACLE_VAR[1]
    with Oracle(ensure_oracle()) as oracle:
        report = run(oracle, args.budget, args.seed)
    for template, shape, go, us in report.mismatches[:args.show]:
        print(f"[{shape}] {template}\n  go:   {go[:300]}\n  ours: {us[:300]}")
    print(f"seed {args.seed}: {report.cases} templates, {len(report.mismatches)} mismatches "
          f"({report.rate:.2%}) in {report.seconds:.0f}s")
    return 0 if not report.mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
