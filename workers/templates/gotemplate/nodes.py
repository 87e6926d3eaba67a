"""Syntax tree of a Go text/template, as the parser builds it and the emitter walks it.

Positions are 1-based Go source lines (and columns where an error may need them); the emitter keeps Jinja lines
equal to Go lines so runtime errors can be attributed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(eq=False)
class VarDecl:
    """One declaration of a Go variable (``$x := ...`` or a range variable); references point at it."""
    name: str
    serial: int
    loop_depth: int  # enclosing ranges (inside the current template body) where it was declared
    assigned_deeper: bool = False  # assigned from inside a range nested deeper than the declaration
    undefined: bool = False  # referenced while its own declaration runs, with no older variable of that name


# ---- operands -------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Field:
    """``.A.B`` on dot (``names`` empty never happens: plain ``.`` is Dot)."""
    names: tuple[str, ...]
    line: int


@dataclass(eq=False)
class Variable:
    """``$x.A.B`` (``decl`` None means ``$``, the template's root dot)."""
    decl: VarDecl | None
    names: tuple[str, ...]
    line: int


@dataclass(eq=False)
class Chain:
    """``(pipeline).A.B`` or ``func.A`` - fields taken from the value of another operand."""
    node: "Operand"
    names: tuple[str, ...]
    line: int


@dataclass(eq=False)
class Dot:
    line: int


@dataclass(eq=False)
class Nil:
    line: int


@dataclass(eq=False)
class Literal:
    """Bool, number (int or float) or string constant."""
    value: bool | int | float | str
    line: int


@dataclass(eq=False)
class Identifier:
    """A function name."""
    name: str
    line: int
    col: int


Operand = Union[Field, Variable, Chain, Dot, Nil, Literal, Identifier, "Pipeline"]


@dataclass(eq=False)
class Command:
    args: list[Operand]
    line: int


@dataclass(eq=False)
class Pipeline:
    decls: list[VarDecl]
    is_assign: bool
    cmds: list[Command]
    line: int


# ---- statements -----------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Text:
    text: str
    line: int


@dataclass(eq=False)
class Action:
    """``{{pipeline}}``: prints unless it declares or assigns."""
    pipe: Pipeline
    line: int


@dataclass(eq=False)
class If:
    pipe: Pipeline
    body: list["Node"]
    else_body: list["Node"] | None
    line: int


@dataclass(eq=False)
class With:
    pipe: Pipeline
    body: list["Node"]
    else_body: list["Node"] | None
    line: int


@dataclass(eq=False)
class Range:
    pipe: Pipeline
    body: list["Node"]
    else_body: list["Node"] | None
    line: int


@dataclass(eq=False)
class TemplateCall:
    name: str
    pipe: Pipeline | None
    line: int
    block: "Define | None" = None  # {{block}}: the definition, emitted in place before the call


@dataclass(eq=False)
class Define:
    """A ``{{define}}`` (or the definition half of ``{{block}}``), kept at its place so lines stay aligned."""
    name: str
    body: list["Node"]
    line: int


@dataclass(eq=False)
class Break:
    line: int


@dataclass(eq=False)
class Continue:
    line: int


Node = Union[Text, Action, If, With, Range, TemplateCall, Define, Break, Continue]


@dataclass(eq=False)
class Tree:
    """A parsed template: the main body, with the definitions in it."""
    body: list[Node]
    defines: dict[str, Define] = field(default_factory=dict)
