"""Syntax tree -> Jinja2 source that runs with ``runtime.GLOBALS`` and reproduces Go's output.

How Go constructs map onto Jinja:
- text is emitted as is (a ``{`` that would open a Jinja tag is printed as ``{{ '{' }}``);
- every Go line starts on the same Jinja line (padding goes into ``{# #}`` comments), so Jinja's traceback line
  is the Go line of a runtime error;
- control structures become ``if``/``for``; ``with`` binds its value first; ``range`` iterates
  ``runtime.go_range`` (sorted map keys);
- Go variables get unique Jinja names. Jinja confines ``set`` inside a loop to the loop body, so a variable that a
  deeper ``range`` assigns lives in a ``namespace``;
- ``define`` becomes a Jinja block at its own place, skipped in place and run by ``runtime.go_template`` (so a
  definition may come after its use, as in Go);
- field chains are typed statically (names.py) and compiled into ``go_chain(value, steps)`` with constant steps.
  Types flow through variables and definitions; the emitter runs until those types are stable.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping

from workers.templates.funcs.registry import GoSignature, parse_signature

from . import calls
from . import names as N
from .nodes import (Action, Break, Chain, Command, Continue, Define, Dot, Field, Identifier, If, Literal, Nil, Node,
                    Operand, Pipeline, Range, TemplateCall, Text, Tree, VarDecl, Variable, With)

BUILTINS = frozenset({"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
                      "urlquery", "call", "eq", "ne", "lt", "le", "gt", "ge"})
_SIMPLE_BUILTINS = {"print": "go_print", "printf": "go_printf", "println": "go_println", "html": "go_html",
                    "js": "go_js", "urlquery": "go_urlquery", "call": "go_call", "slice": "go_slice",
                    "eq": "go_eq", "ne": "go_ne", "lt": "go_lt", "le": "go_le", "gt": "go_gt", "ge": "go_ge"}
_STRING_RESULT = {"print", "printf", "println", "html", "js", "urlquery"}
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}
_BOOL_RESULT = {"not", *_COMPARISONS}
# Builtins called like any function (their arguments converted by their Go signatures).
_BUILTIN_SIGNATURES = {
    "print": parse_signature("func(...interface {}) string"),
    "println": parse_signature("func(...interface {}) string"),
    "printf": parse_signature("func(string, ...interface {}) string"),
    "html": parse_signature("func(...interface {}) string"),
    "js": parse_signature("func(...interface {}) string"),
    "urlquery": parse_signature("func(...interface {}) string"),
}

Expr = tuple[str, N.GoType]


def join(a: N.GoType | None, b: N.GoType) -> N.GoType:
    """The static type of a value that may come from either: the same type, else unknown."""
    return b if a is None or a == b else N.ANY


def literal(value: object) -> str:
    """A Jinja literal for a constant (str, int, float, bool, None, tuples of those)."""
    if value is None:
        return "none"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return jinja_string(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    text = repr(value)
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"no Jinja literal for {text}")
    return f"({text})" if text.startswith("-") else text


def jinja_string(s: str) -> str:
    out = ["'"]
    for c in s:
        o = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == "\n":
            out.append("\\n")
        elif 0x20 <= o < 0x7F:
            out.append(c)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append("'")
    return "".join(out)


def block_name(define: str) -> str:
    """A Jinja block name for a definition name (any string), injective."""
    return "go_t_" + "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in define)


def escape_text(text: str) -> str:
    """Template text as Jinja data: a ``{`` that could start a Jinja tag (here or with what follows) is printed."""
    if "{" not in text:
        return text
    out = []
    for i, c in enumerate(text):
        if c == "{" and (i + 1 == len(text) or text[i + 1] in "{%#"):
            out.append("{{ '{' }}")
        else:
            out.append(c)
    return "".join(out)


class _Scope:
    """Where the emitter is: the dot and the template's root dot (``$``)."""

    def __init__(self, dot: Expr, root: Expr) -> None:
        self.dot = dot
        self.root = root


class Emitter:
    def __init__(self, tree: Tree, functions: Collection[str] | Mapping[str, GoSignature]) -> None:
        self.tree = tree
        self.functions = functions
        self.signatures: Mapping[str, GoSignature] = functions if isinstance(functions, Mapping) else {}
        self.lazy = 0  # > 0 while emitting operands Go may skip (and/or after the first)
        # Types that flow between passes: variables (joined over all assignments) and definitions' dots.
        self.var_types: dict[VarDecl, N.GoType] = {}
        self.define_types: dict[str, N.GoType] = {}

    def run(self) -> str:
        for _ in range(10):
            self.seen_vars: dict[VarDecl, N.GoType] = {}
            self.seen_defines: dict[str, N.GoType] = {}
            source = self.emit_all()
            if self.seen_vars == self.var_types and self.seen_defines == self.define_types:
                return source
            self.var_types, self.define_types = self.seen_vars, self.seen_defines
        return source

    # -- output ---------------------------------------------------------------------------------------------
    def emit_all(self) -> str:
        self.out: list[str] = []
        self.line = 1
        self.counter = 0
        self.vars: dict[VarDecl, str] = {}
        root = ("go_d0", N.ROOT)
        self.write("{% set go_d0 = go_root() %}")
        self.nodes(self.tree.body, _Scope(root, root))
        return "".join(self.out)

    def write(self, code: str) -> None:
        self.out.append(code)
        self.line += code.count("\n")

    def sync(self, line: int) -> None:
        """Pad with an (invisible) comment so the next output starts on Go line ``line``."""
        if line > self.line:
            self.write("{#" + "\n" * (line - self.line) + "#}")

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"go_{prefix}{self.counter}"

    # -- statements -----------------------------------------------------------------------------------------
    def nodes(self, nodes: list[Node], scope: _Scope) -> None:
        for node in nodes:
            self.sync(node.line)
            self.node(node, scope)

    def node(self, node: Node, scope: _Scope) -> None:
        if isinstance(node, Text):
            self.write(escape_text(node.text))
        elif isinstance(node, Action):
            self.action(node.pipe, scope)
        elif isinstance(node, If):
            self.if_(node, scope)
        elif isinstance(node, With):
            self.with_(node, scope)
        elif isinstance(node, Range):
            self.range_(node, scope)
        elif isinstance(node, TemplateCall):
            if node.block is not None:
                self.define(node.block)
            self.template_call(node, scope)
        elif isinstance(node, Define):
            self.define(node)
        elif isinstance(node, Break):
            self.write("{% break %}")
        elif isinstance(node, Continue):
            self.write("{% continue %}")

    def action(self, pipe: Pipeline, scope: _Scope) -> None:
        pre: list[str] = []
        code, typ = self.pipeline_value(pipe, scope, pre)
        self.write("".join(pre))
        if pipe.decls:
            self.bind(pipe, code, typ)
            return
        if typ.nil_text != "<no value>":
            code = f"go_nil_text({code}, {literal(typ.nil_text)})"
        self.write("{{ " + code + " }}")

    def bind(self, pipe: Pipeline, code: str, typ: N.GoType) -> None:
        """Declare or assign the pipeline's variable."""
        decl = pipe.decls[0]
        self.seen_vars[decl] = join(self.seen_vars.get(decl), typ)
        code = self.stored(decl, code, typ)
        if pipe.is_assign:
            self.write("{% set " + self.var_ref(decl) + " = " + code + " %}")
            return
        name = f"go_v{decl.serial}"
        self.vars[decl] = name
        if decl.assigned_deeper:
            self.write("{% set " + name + " = namespace(v=" + code + ") %}")
        else:
            self.write("{% set " + name + " = " + code + " %}")

    def var_ref(self, decl: VarDecl) -> str:
        name = self.vars[decl]
        return name + ".v" if decl.assigned_deeper else name

    def var_type(self, decl: VarDecl) -> N.GoType:
        return self.var_types.get(decl) or self.seen_vars.get(decl) or N.ANY

    def stored(self, decl: VarDecl, code: str, typ: N.GoType) -> str:
        """The value to store in a variable: one whose static type is not the variable's (joined over all its
        assignments, from the previous pass) keeps its Go type, as it does in Go's ``interface {}``-like variable
        (an int64 stays int64 there, not a plain int)."""
        final = self.var_types.get(decl)
        return carried((code, typ), final) if final is not None else code

    def condition(self, pipe: Pipeline, scope: _Scope) -> tuple[str, str, N.GoType]:
        """(statements to run first, the Jinja test, the value) of an if/with pipeline."""
        pre: list[str] = []
        code, typ = self.pipeline_value(pipe, scope, pre)
        if pipe.decls:
            self.seen_vars[pipe.decls[0]] = join(self.seen_vars.get(pipe.decls[0]), typ)
            name = f"go_v{pipe.decls[0].serial}"
            self.vars[pipe.decls[0]] = name
            value = name + ".v" if pipe.decls[0].assigned_deeper else name
            code = self.stored(pipe.decls[0], code, typ)
            init = f"namespace(v={code})" if pipe.decls[0].assigned_deeper else code
            pre.append("{% set " + name + " = " + init + " %}")
            code = value
        return "".join(pre), code, typ

    def if_(self, node: If, scope: _Scope) -> None:
        pre, code, typ = self.condition(node.pipe, scope)
        self.write(pre + "{% if " + truth(code, typ) + " %}")
        self.nodes(node.body, scope)
        self.else_chain(node.else_body, scope)
        self.write("{% endif %}")

    def else_chain(self, else_body: list[Node] | None, scope: _Scope) -> None:
        """``{{else if}}`` as ``elif`` (when its pipeline needs no statements first), else a plain ``else``."""
        if else_body is None:
            return
        if len(else_body) == 1 and isinstance(else_body[0], If):
            inner = else_body[0]
            pre, code, typ = self.condition(inner.pipe, scope)
            if not pre:
                self.sync(inner.line)
                self.write("{% elif " + truth(code, typ) + " %}")
                self.nodes(inner.body, scope)
                self.else_chain(inner.else_body, scope)
                return
        self.write("{% else %}")
        self.nodes(else_body, scope)

    def with_(self, node: With, scope: _Scope) -> None:
        pre, code, typ = self.condition(node.pipe, scope)
        if not node.pipe.decls:
            name = self.fresh("d")
            pre += "{% set " + name + " = " + code + " %}"
            code = name
        self.write(pre + "{% if " + truth(code, typ) + " %}")
        self.nodes(node.body, _Scope((code, typ), scope.root))
        if node.else_body is not None:
            self.write("{% else %}")
            self.nodes(node.else_body, scope)
        self.write("{% endif %}")

    def range_(self, node: Range, scope: _Scope) -> None:
        pre: list[str] = []
        code, typ = self.pipeline_value(node.pipe, scope, pre)
        key_type, elem_type = N.element(typ)
        dot = self.fresh("d")
        decls = node.pipe.decls
        setup = []
        if len(decls) == 2:
            key = self.fresh("k")
            head = f"{{% for {key}, {dot} in go_range({code}) %}}"
            setup.append((decls[0], key, key_type))
        else:
            head = f"{{% for {dot} in go_values({code}) %}}"
        if decls:
            setup.append((decls[-1], dot, elem_type))
        if node.else_body is not None:  # Jinja's for-else also runs after a break: test emptiness instead
            values = self.fresh("r")
            pre.append("{% set " + values + " = " + code + " %}")
            head = head.replace(f"({code}) %}}", f"({values}) %}}")
            code = values
        self.write("".join(pre) + head)
        for decl, source, t in setup:
            self.seen_vars[decl] = join(self.seen_vars.get(decl), t)
            name = f"go_v{decl.serial}"
            self.vars[decl] = name
            source = self.stored(decl, source, t)
            init = f"namespace(v={source})" if decl.assigned_deeper else source
            self.write("{% set " + name + " = " + init + " %}")
        self.nodes(node.body, _Scope((dot, elem_type), scope.root))
        self.write("{% endfor %}")
        if node.else_body is not None:
            self.write("{% if go_range_empty(" + code + ") %}")
            self.nodes(node.else_body, scope)
            self.write("{% endif %}")

    def template_call(self, node: TemplateCall, scope: _Scope) -> None:
        pre: list[str] = []
        if node.pipe is None:
            code, typ = "none", N.ANY
        else:
            code, typ = self.pipeline_value(node.pipe, scope, pre)
            if node.pipe.decls:
                self.write("".join(pre))
                pre = []
                self.bind(node.pipe, code, typ)
                code = self.var_ref(node.pipe.decls[0])
        self.write("".join(pre))
        if node.name not in self.tree.defines:
            self.write("{{ go_fail(" + literal(f"template {jinja_quote(node.name)} not defined") + ") }}")
            return
        self.seen_defines[node.name] = join(self.seen_defines.get(node.name), typ)
        self.write("{{ go_template(" + literal(block_name(node.name)) + ", " + code + ") }}")

    def define(self, node: Define) -> None:
        if self.tree.defines.get(node.name) is not node:
            return  # an empty redefinition Go ignores
        name = block_name(node.name)
        dot = self.fresh("d")
        saved_vars = self.vars
        self.vars = {}
        self.write(f"{{% if false %}}{{% block {name} %}}{{% set {dot} = go_dot() %}}")
        typ = self.define_types.get(node.name, N.ANY)
        self.nodes(node.body, _Scope((dot, typ), (dot, typ)))
        self.write("{% endblock %}{% endif %}")
        self.vars = saved_vars

    # -- expressions ----------------------------------------------------------------------------------------
    def pipeline_value(self, pipe: Pipeline, scope: _Scope, pre: list[str]) -> Expr:
        """The value of a pipeline (declarations are the caller's business)."""
        value: Expr | None = None
        for cmd in pipe.cmds:
            value = self.command(cmd, value, scope, pre)
        assert value is not None
        return value

    def command(self, cmd: Command, final: Expr | None, scope: _Scope, pre: list[str]) -> Expr:
        first = cmd.args[0]
        if isinstance(first, Identifier):
            return self.call(first.name, cmd.args[1:], final, scope, pre)
        has_args = len(cmd.args) > 1 or final is not None
        if isinstance(first, (Field, Variable, Chain)) and getattr(first, "names", ()) and has_args:
            return self.method_call(first, cmd.args[1:], final, scope, pre)
        if isinstance(first, Nil):
            return fail("nil is not a command")
        if has_args:
            return fail("can't give argument to non-function")
        return self.operand(first, scope, pre)

    def operand(self, node: Operand, scope: _Scope, pre: list[str]) -> Expr:
        if isinstance(node, Literal):
            v = node.value
            typ = N.BOOL if isinstance(v, bool) else N.INT if isinstance(v, int) else \
                N.FLOAT if isinstance(v, float) else N.STRING
            if typ is N.INT and v >= 1 << 63:  # only a uint64 parameter could take it (see calls.literal_arg)
                return fail(f"{v} overflows int")
            return literal(v), typ
        if isinstance(node, Dot):
            return scope.dot
        if isinstance(node, Nil):
            return "none", N.ANY
        if isinstance(node, Field):
            return self.chain(scope.dot, node.names)
        if isinstance(node, Variable):
            if node.decl is not None and node.decl.undefined:
                return fail(f"undefined variable: {node.decl.name}")
            base = scope.root if node.decl is None else (self.var_ref(node.decl), self.var_type(node.decl))
            return self.chain(base, node.names)
        if isinstance(node, Chain):
            return self.chain(self.operand(node.node, scope, pre), node.names)
        if isinstance(node, Identifier):
            return self.call(node.name, [], None, scope, pre)
        return self.paren(node, scope, pre)

    def paren(self, pipe: Pipeline, scope: _Scope, pre: list[str]) -> Expr:
        code, typ = self.pipeline_value(pipe, scope, pre)
        if not pipe.decls:
            return f"({code})", typ
        decl = pipe.decls[0]  # a declaration inside parentheses: run it before the action
        self.seen_vars[decl] = join(self.seen_vars.get(decl), typ)
        code = self.stored(decl, code, typ)
        if pipe.is_assign:
            target = self.var_ref(decl)
        else:
            self.vars[decl] = f"go_v{decl.serial}"
            target = self.vars[decl]
            if decl.assigned_deeper:
                code = f"namespace(v={code})"
        pre.append("{% set " + target + " = " + code + " %}")
        return self.var_ref(decl), typ

    def chain(self, base: Expr, go_names: tuple[str, ...]) -> Expr:
        if not go_names:
            return base
        code, typ = base
        steps = []
        for name in go_names:
            step, typ = N.resolve(typ, name)
            steps.append(step)
        return f"go_chain({code}, {literal(plan(steps))})", typ

    def arg(self, node: Operand, scope: _Scope, pre: list[str]) -> calls.Arg:
        code, typ = self.operand(node, scope, pre)
        if isinstance(node, Literal):
            return calls.Arg(code, typ, node.value, True)
        if isinstance(node, Nil):
            return calls.Arg(code, typ, None, True)
        if typ.kind == "any" and code.startswith("go_chain(") and code.endswith(")"):
            return calls.Arg(code, typ, field_code=code[:-1] + ", true)")
        return calls.Arg(code, typ)

    def method_call(self, first: Operand, nodes: list[Operand], final: Expr | None, scope: _Scope,
                    pre: list[str]) -> Expr:
        """``.A.Method arg``: Go calls a method with arguments; a field or map key cannot take any."""
        names = first.names
        base_node = Field(names[:-1], first.line) if isinstance(first, Field) else \
            Variable(first.decl, names[:-1], first.line) if isinstance(first, Variable) else \
            Chain(first.node, names[:-1], first.line)
        recv, typ = self.operand(base_node, scope, pre) if names[:-1] or not isinstance(first, Field) else scope.dot
        step, _ = N.resolve(typ, names[-1])
        if step[0] not in (N.METHOD, N.DYN, N.OPAQUE_STEP):
            return fail(f"{names[-1]} has arguments but cannot be invoked as function")
        codes = [self.operand(a, scope, pre)[0] for a in nodes]
        if final is not None:
            codes.append(final[0])
        return f"go_method({', '.join([recv, literal(names[-1]), *codes])})", N.ANY

    def and_or(self, name: str, nodes: list[Operand], final: Expr | None, scope: _Scope, pre: list[str]) -> Expr:
        """Go's ``and``/``or``: operands evaluated left to right until the result is known. A piped value was
        evaluated before the call (its errors happen first) and is the last operand."""
        if not nodes and final is None:
            return fail(f"wrong number of args for {name}: want at least 1 got 0")
        args: list[Expr] = []
        for i, node in enumerate(nodes):
            self.lazy += i > 0
            try:
                args.append(typed_container(self.operand(node, scope, pre)))
            finally:
                self.lazy -= i > 0
        first_eval = ""
        if final is not None:
            if self.lazy:  # this call may itself be skipped: evaluate the piped value in place, first
                first_eval = f"go_true({final[0]}) and "
                args.append(typed_container(final))
            else:
                held = self.fresh("f")
                pre.append("{% set " + held + " = " + final[0] + " %}")
                args.append(typed_container((held, final[1])))
        hows = tuple(truth_kind(t) for _, t in args)
        typ = args[0][1]
        for _, t in args[1:]:
            typ = join(typ, t)
        codes = [carried(a, typ) for a in args]
        if any(hows):
            return f"({first_eval}go_{name}(({', '.join(codes)},), {literal(hows)}))", typ
        return "(" + first_eval + "(" + f" {name} ".join(codes) + "))", typ

    def call(self, name: str, nodes: list[Operand], final: Expr | None, scope: _Scope, pre: list[str]) -> Expr:
        """A function or builtin call; ``final`` is the value piped in (Go passes it last)."""
        sig = self.signatures.get(name) if name in self.functions or name not in BUILTINS else \
            _BUILTIN_SIGNATURES.get(name)
        if sig is not None:
            args = [self.arg(a, scope, pre) for a in nodes]
            code_name = _SIMPLE_BUILTINS[name] if name in _BUILTIN_SIGNATURES and name not in self.functions \
                else name
            fin = calls.Arg(*final) if final is not None else None
            code, typ = calls.call(name, sig, args, fin, code_name)
            if name in _STRING_RESULT and name not in self.functions:
                typ = N.STRING
            return code, typ
        if name in ("and", "or"):
            return self.and_or(name, nodes, final, scope, pre)
        args = [self.operand(a, scope, pre) for a in nodes]
        if final is not None:
            args.append(final)
        if name in self.functions or name not in BUILTINS:
            return f"{name}({', '.join(c for c, _ in args)})", N.ANY
        if name in _COMPARISONS:  # comparing a nil typed map/slice is not comparing an untyped nil
            args = [typed_container(a) for a in args]
        codes = [c for c, _ in args]
        if name == "not":
            if len(args) != 1:
                return fail(f"wrong number of args for not: want 1 got {len(args)}")
            return "(not " + truth(codes[0], args[0][1]) + ")", N.BOOL
        if name == "len":
            nil_ok = len(args) == 1 and args[0][1].kind in ("map", "slice") and not args[0][1].pointer
            return f"go_len({', '.join(codes)}{', true' if nil_ok else ''})", N.INT
        if name == "index":
            if not args:
                return fail("wrong number of args for index: want at least 1 got 0")
            typ = args[0][1]
            levels = []
            for _ in args[1:]:
                nil_map = typ.kind == "map"
                typ = N.element(typ)[1]
                levels.append((typ.zero, nil_map))
            if not levels:
                return codes[0], typ
            keys = ", ".join(codes[1:])
            return f"go_index({codes[0]}, ({keys},), {literal(plan(levels))})", typ
        typ = N.STRING if name in _STRING_RESULT else N.BOOL if name in _BOOL_RESULT else \
            (args[0][1] if name == "slice" and args else N.ANY)
        return f"{_SIMPLE_BUILTINS[name]}({', '.join(codes)})", typ


def typed_container(expr: Expr) -> Expr:
    """A map or slice value keeps its Go type (Go prints a nil one as ``map[]``/``[]``, not ``<no value>``), as does
    a pointer to a struct of the data (``eq`` compares pointers)."""
    code, typ = expr
    if typ.kind in ("map", "slice") or (typ.kind == "struct" and typ.pointer):
        return f"go_typed({code}, {literal(typ.name)})", typ
    return expr


def carried(expr: Expr, into: N.GoType) -> str:
    """Code of a value going where its static type is lost (an ``and``/``or`` result or a variable of another
    type): a plain value standing for another Go type (a sized integer, a struct of the data) keeps that type."""
    code, typ = expr
    return f"go_typed({code}, {literal(typ.name)})" if typ != into and calls.wrapped(typ) else code


def plan(steps: list) -> str:
    """Constant runtime instructions as one JSON string: far cheaper for Jinja to parse than nested tuples."""
    return json.dumps(steps, separators=(",", ":"))


def fail(message: str) -> Expr:
    return f"go_fail({literal(message)})", N.ANY


def jinja_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def truth_kind(t: N.GoType) -> int:
    """How Go decides the truth of a value of type ``t`` (see runtime._truth)."""
    if t.kind == "struct" and not t.pointer:
        return 1
    if t.pointer:
        return 2
    return 0


def truth(code: str, t: N.GoType) -> str:
    """A Jinja test with Go's truth for a value of static type ``t``."""
    how = truth_kind(t)
    if how == 1:
        return f"({code} is not none or true)"
    if how == 2:
        return f"({code} is not none)"
    return code


def emit(tree: Tree, functions: Collection[str]) -> str:
    return Emitter(tree, functions).run()
