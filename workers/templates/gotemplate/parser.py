"""Recursive-descent parser for Go text/template, following the grammar and checks of Go's ``text/template/parse``.

Variables are resolved here, as Go does at parse time ("undefined variable"): every reference points at its
declaration, and a declaration remembers whether it is assigned from inside a deeper ``range`` (the emitter then
stores it in a Jinja namespace, because Jinja scopes assignments inside loops to the loop body).
"""
from __future__ import annotations

from collections.abc import Collection

from workers.templates.errors import TemplateError

from . import lexer as L
from .nodes import (Action, Break, Chain, Command, Continue, Define, Dot, Field, Identifier, If, Literal, Nil, Node,
                    Operand, Pipeline, Range, TemplateCall, Text, Tree, VarDecl, Variable, With)

_TERM_START = {L.FIELD, L.VARIABLE, L.IDENT, L.STRING, L.NUMBER, L.CHAR, L.LPAREN, L.DOT}
_LITERAL_KEYWORDS = {"true": True, "false": False}


class Parser:
    def __init__(self, name: str, tokens: list[L.Token], functions: Collection[str]) -> None:
        self.name = name
        self.toks = tokens
        self.i = 0
        self.functions = functions
        self.tree = Tree([])
        self.vars: list[VarDecl] = []  # visible declarations, innermost last ($ is implicit)
        self.serial = 0
        self.range_depth = 0  # ranges whose body we are in (for break/continue)
        self.loop_depth = 0  # ranges whose body or else we are in (for Jinja scoping)
        self.pending: frozenset[str] = frozenset()  # variables the pipeline being parsed declares

    # -- token helpers --------------------------------------------------------------------------------------
    def peek(self) -> L.Token:
        return self.toks[self.i]

    def next(self) -> L.Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def peek_non_space(self) -> L.Token:
        while self.toks[self.i].kind == L.SPACE_TOK:
            self.i += 1
        return self.toks[self.i]

    def next_non_space(self) -> L.Token:
        tok = self.peek_non_space()
        self.i += 1
        return tok

    def error(self, tok: L.Token, message: str) -> TemplateError:
        return TemplateError(self.name, tok.line, tok.col, message)

    def unexpected(self, tok: L.Token, context: str) -> TemplateError:
        return self.error(tok, f"unexpected {describe(tok)} in {context}")

    def expect_right(self, context: str) -> L.Token:
        tok = self.next_non_space()
        if tok.kind != L.RDELIM:
            raise self.unexpected(tok, context)
        return tok

    def is_keyword(self, tok: L.Token, word: str) -> bool:
        return tok.kind == L.KEYWORD and tok.value == word

    # -- structure ------------------------------------------------------------------------------------------
    def parse(self) -> Tree:
        body = self.tree.body
        while self.peek().kind != L.EOF:
            tok = self.peek()
            if tok.kind == L.LDELIM:
                save = self.i
                self.next()
                word = self.peek_non_space()
                if self.is_keyword(word, "define"):
                    self.next_non_space()
                    body.append(self.definition(tok))
                    continue
                self.i = save
            node, end = self.text_or_action()
            if end is not None:
                raise self.error(end, f"unexpected {{{{{end.value}}}}}")
            if node is not None:
                body.append(node)
        return self.tree

    def definition(self, start: L.Token) -> Define:
        name_tok = self.next_non_space()
        if name_tok.kind != L.STRING:
            raise self.unexpected(name_tok, "define clause")
        self.expect_right("define clause")
        body = self.separate_body(lambda: self.item_list("define clause", allow_else=False)[0])
        return self.add_define(name_tok, Define(name_tok.value, body, start.line))

    def add_define(self, tok: L.Token, define: Define) -> Define:
        old = self.tree.defines.get(define.name)
        if old is not None and not is_empty(old.body) and not is_empty(define.body):
            raise self.error(tok, f"template: multiple definition of template {define.name!r}")
        if old is None or not is_empty(define.body):
            self.tree.defines[define.name] = define
        return define

    def separate_body(self, parse):
        """Parse a template body with its own variables (Go: templates share no variables)."""
        saved = self.vars, self.range_depth, self.loop_depth
        self.vars, self.range_depth, self.loop_depth = [], 0, 0
        try:
            return parse()
        finally:
            self.vars, self.range_depth, self.loop_depth = saved

    def item_list(self, context: str, allow_else: bool) -> tuple[list[Node], L.Token]:
        """Nodes up to ``{{end}}`` or ``{{else}}``; returns them and the keyword token that ended the list."""
        nodes: list[Node] = []
        while True:
            if self.peek().kind == L.EOF:
                raise self.error(self.peek(), f"unexpected EOF in {context}")
            node, end = self.text_or_action()
            if end is not None:
                if end.value == "else" and not allow_else:
                    raise self.error(end, f"unexpected {{{{else}}}} in {context}")
                return nodes, end
            if node is not None:
                nodes.append(node)

    def text_or_action(self) -> tuple[Node | None, L.Token | None]:
        tok = self.next()
        if tok.kind == L.TEXT:
            return Text(tok.value, tok.line), None
        if tok.kind == L.LDELIM:
            return self.action(tok)
        raise self.unexpected(tok, "input")

    def action(self, start: L.Token) -> tuple[Node | None, L.Token | None]:
        tok = self.next_non_space()
        if tok.kind == L.RDELIM:
            # A comment-free empty action is "missing value for command".
            raise self.error(tok, "missing value for command")
        if tok.kind == L.KEYWORD:
            word = tok.value
            if word == "if":
                return self.control(If, "if", start), None
            if word == "with":
                return self.control(With, "with", start), None
            if word == "range":
                return self.control(Range, "range", start), None
            if word == "template":
                return self.template_call(start), None
            if word == "block":
                return self.block(start), None
            if word in ("break", "continue"):
                if self.range_depth == 0:
                    raise self.error(tok, f"{{{{{word}}}}} outside {{{{range}}}}")
                self.expect_right(f"{{{{{word}}}}}")
                return (Break if word == "break" else Continue)(start.line), None
            if word == "end":
                self.expect_right("end")
                return None, tok
            if word == "else":
                nxt = self.peek_non_space()
                if not (self.is_keyword(nxt, "if") or self.is_keyword(nxt, "with")):
                    self.expect_right("else")
                return None, tok
            if word == "define":
                raise self.error(tok, "unexpected <define> in command")
        self.i -= 1
        return Action(self.pipeline("command", L.RDELIM), start.line), None

    def control(self, cls, context: str, start: L.Token):
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, L.RDELIM)
            scope = len(self.vars)
            if cls is Range:
                self.range_depth += 1
                self.loop_depth += 1
            body, end = self.item_list(context, allow_else=True)
            if cls is Range:
                self.range_depth -= 1
            del self.vars[scope:]  # body variables end at {{else}} / {{end}}
            else_body = None
            if end.value == "else":
                nxt = self.peek_non_space()
                if context in ("if", "with") and self.is_keyword(nxt, context):
                    self.next_non_space()
                    else_body = [self.control(cls, context, nxt)]  # shares the outer {{end}}
                else:
                    else_body = self.item_list(context, allow_else=False)[0]
            if cls is Range:
                self.loop_depth -= 1
            return cls(pipe, body, else_body, start.line)
        finally:
            del self.vars[mark:]

    def template_call(self, start: L.Token) -> TemplateCall:
        context = "template clause"
        name_tok = self.next_non_space()
        if name_tok.kind != L.STRING:
            raise self.unexpected(name_tok, context)
        pipe = None
        if self.peek_non_space().kind != L.RDELIM:
            pipe = self.pipeline(context, L.RDELIM)
        else:
            self.next_non_space()
        return TemplateCall(name_tok.value, pipe, start.line)

    def block(self, start: L.Token) -> TemplateCall:
        context = "block clause"
        name_tok = self.next_non_space()
        if name_tok.kind != L.STRING:
            raise self.unexpected(name_tok, context)
        pipe = self.pipeline(context, L.RDELIM)
        body = self.separate_body(lambda: self.item_list(context, allow_else=False)[0])
        define = self.add_define(name_tok, Define(name_tok.value, body, start.line))
        return TemplateCall(name_tok.value, pipe, start.line, define)

    # -- pipelines ------------------------------------------------------------------------------------------
    def pipeline(self, context: str, end: str) -> Pipeline:
        first = self.peek_non_space()
        pipe = Pipeline([], False, [], first.line)
        new_names: list[tuple[L.Token, bool]] = []
        while True:  # declarations: "$x :=", "$x =", "$i, $v :="
            v = self.peek_non_space()
            if v.kind != L.VARIABLE:
                break
            save = self.i
            self.next()
            nxt = self.peek_non_space()
            if nxt.kind in (L.DECLARE, L.ASSIGN):
                self.next_non_space()
                pipe.is_assign = nxt.kind == L.ASSIGN
                new_names.append((v, pipe.is_assign))
                break
            if nxt.kind == L.COMMA:
                self.next_non_space()
                new_names.append((v, False))
                if context == "range" and len(new_names) < 2:
                    if self.peek_non_space().kind in (L.VARIABLE, L.RDELIM, L.RPAREN):
                        continue
                    raise self.error(nxt, "range can only initialize variables")
                raise self.error(nxt, f"too many declarations in {context}")
            self.i = save
            break
        # Go declares the variables before parsing the commands; while the pipeline runs they are not set yet,
        # so a reference in it finds an older variable of that name, or none (see lookup).
        saved_pending = self.pending
        self.pending = self.pending | {tok.value for tok, is_assign in new_names if not is_assign}
        try:
            while True:
                tok = self.next_non_space()
                if tok.kind == end:
                    break
                if tok.kind in _TERM_START or (tok.kind == L.KEYWORD and tok.value in ("nil", "true", "false")):
                    self.i -= 1
                    pipe.cmds.append(self.command())
                else:
                    raise self.unexpected(tok, context)
        finally:
            self.pending = saved_pending
        if not pipe.cmds:
            raise self.error(first, f"missing value for {context}")
        for n, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], (Literal, Dot, Nil)):
                raise self.error(first, f"non executable command in pipeline stage {n}")
        for tok, is_assign in new_names:
            if is_assign:
                decl = self.lookup(tok)
                if self.loop_depth > decl.loop_depth:
                    decl.assigned_deeper = True
            else:
                depth = self.loop_depth + (1 if context == "range" else 0)
                self.serial += 1
                decl = VarDecl(tok.value, self.serial, depth)
                self.vars.append(decl)
            pipe.decls.append(decl)
        return pipe

    def lookup(self, tok: L.Token) -> VarDecl:
        for decl in reversed(self.vars):
            if decl.name == tok.value:
                return decl
        if tok.value in self.pending:  # declared by the pipeline that is being parsed, set only after it runs
            return VarDecl(tok.value, -1, 0, undefined=True)
        raise self.error(tok, f"undefined variable {tok.value!r}")

    def command(self) -> Command:
        cmd = Command([], self.peek_non_space().line)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == L.SPACE_TOK:
                continue
            if tok.kind in (L.RDELIM, L.RPAREN):
                self.i -= 1
            elif tok.kind != L.PIPE:
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error(self.peek(), "empty command")
        return cmd

    def operand(self) -> Operand | None:
        node = self.term()
        if node is None or self.peek().kind != L.FIELD:
            return node
        names = []
        while self.peek().kind == L.FIELD:
            names.append(self.next().value)
        if isinstance(node, Field):
            return Field(node.names + tuple(names), node.line)
        if isinstance(node, Variable):
            return Variable(node.decl, node.names + tuple(names), node.line)
        if isinstance(node, (Literal, Nil, Dot)):
            raise self.error(self.toks[self.i - 1], f"unexpected . after term {describe_node(node)}")
        return Chain(node, tuple(names), node.line)

    def term(self) -> Operand | None:
        tok = self.next_non_space()
        kind = tok.kind
        if kind == L.IDENT:
            if tok.value not in self.functions:
                raise self.error(tok, f"function {tok.value!r} not defined")
            return Identifier(tok.value, tok.line, tok.col)
        if kind == L.DOT:
            return Dot(tok.line)
        if kind == L.KEYWORD and tok.value == "nil":
            return Nil(tok.line)
        if kind == L.KEYWORD and tok.value in _LITERAL_KEYWORDS:
            return Literal(_LITERAL_KEYWORDS[tok.value], tok.line)
        if kind == L.VARIABLE:
            if tok.value == "$":
                return Variable(None, (), tok.line)
            return Variable(self.lookup(tok), (), tok.line)
        if kind == L.FIELD:
            return Field((tok.value,), tok.line)
        if kind in (L.NUMBER, L.CHAR, L.STRING):
            return Literal(tok.value, tok.line)
        if kind == L.LPAREN:
            return self.pipeline("parenthesized pipeline", L.RPAREN)
        self.i -= 1
        return None


def is_empty(body: list[Node]) -> bool:
    """Go treats a definition holding only whitespace as empty (it may be redefined)."""
    return all(isinstance(n, Text) and not n.text.strip() for n in body)


def describe(tok: L.Token) -> str:
    if tok.kind in (L.KEYWORD, L.IDENT):
        return f"<{tok.value}>"
    if tok.kind == L.FIELD:
        return f"<.{tok.value}>"
    if tok.kind == L.VARIABLE:
        return f"<{tok.value}>"
    if tok.kind == L.STRING:
        return repr(tok.value)
    if tok.kind == L.EOF:
        return "EOF"
    return f'"{tok.kind}"' if tok.kind != L.SPACE_TOK else "space"


def describe_node(node: Operand) -> str:
    if isinstance(node, Literal):
        return repr(node.value)
    return "nil" if isinstance(node, Nil) else "."


def parse(name: str, source: str, functions: Collection[str]) -> Tree:
    """Parse ``source``; ``functions`` are the names callable in it (Go's builtins plus the function map)."""
    return Parser(name, L.lex(name, source), functions).parse()
