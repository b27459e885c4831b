"""SynQ AST: frozen dataclass nodes, each with its source span.

Nodes compare by identity (``eq=False``) so later stages can key tables on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from synq.errors import NO_SPAN, Span


@dataclass(frozen=True, eq=False)
class Node:
    span: Span = field(default=NO_SPAN, repr=False, kw_only=True)


# ---- types ---------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TypeExpr(Node):
    pass


@dataclass(frozen=True, eq=False)
class NamedType(TypeExpr):
    name: str


@dataclass(frozen=True, eq=False)
class ArrayType(TypeExpr):
    elem: TypeExpr
    size: Optional["Expr"]  # None: dynamic


@dataclass(frozen=True, eq=False)
class MapType(TypeExpr):
    key: TypeExpr
    value: TypeExpr


# ---- expressions ---------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Expr(Node):
    pass


@dataclass(frozen=True, eq=False)
class IntLit(Expr):
    value: int


@dataclass(frozen=True, eq=False)
class StrLit(Expr):
    value: bytes


@dataclass(frozen=True, eq=False)
class HexLit(Expr):
    value: bytes


@dataclass(frozen=True, eq=False)
class BoolLit(Expr):
    value: bool


@dataclass(frozen=True, eq=False)
class Name(Expr):
    id: str


@dataclass(frozen=True, eq=False)
class BinOp(Expr):
    op: str  # + - * / % ** << >> & | ^
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class Compare(Expr):
    op: str  # == != < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class BoolOp(Expr):
    op: str  # && ||
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class UnaryOp(Expr):
    op: str  # - ! ~
    operand: Expr


@dataclass(frozen=True, eq=False)
class Attribute(Expr):
    value: Expr
    attr: str


@dataclass(frozen=True, eq=False)
class Index(Expr):
    value: Expr
    index: Expr


@dataclass(frozen=True, eq=False)
class Call(Expr):
    func: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, eq=False)
class ArrayLit(Expr):
    elems: tuple[Expr, ...]


# ---- statements ----------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Stmt(Node):
    pass


@dataclass(frozen=True, eq=False)
class Param(Node):
    name: str
    type: TypeExpr


@dataclass(frozen=True, eq=False)
class Block(Node):
    stmts: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Let(Stmt):
    targets: tuple[Param, ...]
    value: Optional[Expr]


@dataclass(frozen=True, eq=False)
class Assign(Stmt):
    targets: tuple[Expr, ...]
    value: Expr


@dataclass(frozen=True, eq=False)
class AugAssign(Stmt):
    target: Expr
    op: str  # the binary operator: + - * ...
    value: Expr


@dataclass(frozen=True, eq=False)
class If(Stmt):
    cond: Expr
    body: Block
    orelse: Optional[Block]


@dataclass(frozen=True, eq=False)
class For(Stmt):
    var: str
    start: Optional[Expr]
    end: Expr
    bound: Optional[Expr]
    body: Block


@dataclass(frozen=True, eq=False)
class Return(Stmt):
    values: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Emit(Stmt):
    event: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Revert(Stmt):
    value: Optional[Expr]  # a string literal or a custom error call


@dataclass(frozen=True, eq=False)
class Require(Stmt):
    cond: Expr
    message: Optional[Expr]


@dataclass(frozen=True, eq=False)
class Assert(Stmt):
    cond: Expr


@dataclass(frozen=True, eq=False)
class Break(Stmt):
    pass


@dataclass(frozen=True, eq=False)
class Continue(Stmt):
    pass


@dataclass(frozen=True, eq=False)
class ExprStmt(Stmt):
    expr: Expr


# ---- top-level declarations ----------------------------------------------
@dataclass(frozen=True, eq=False)
class Decl(Node):
    name: str


@dataclass(frozen=True, eq=False)
class EventParam(Node):
    name: str
    type: TypeExpr
    indexed: bool


@dataclass(frozen=True, eq=False)
class EventDef(Decl):
    params: tuple[EventParam, ...]


@dataclass(frozen=True, eq=False)
class ErrorDef(Decl):
    params: tuple[Param, ...]


@dataclass(frozen=True, eq=False)
class StructDef(Decl):
    fields: tuple[Param, ...]


@dataclass(frozen=True, eq=False)
class EnumDef(Decl):
    members: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class FuncDef(Decl):
    params: tuple[Param, ...]
    returns: tuple[TypeExpr, ...]
    modifiers: tuple[str, ...]
    body: Optional[Block]  # None in an interface
    is_constructor: bool = False


@dataclass(frozen=True, eq=False)
class InterfaceDef(Decl):
    functions: tuple[FuncDef, ...]


@dataclass(frozen=True, eq=False)
class ConstDef(Decl):
    type: TypeExpr
    value: Expr


@dataclass(frozen=True, eq=False)
class ImmutableDef(Decl):
    type: TypeExpr
    public: bool


@dataclass(frozen=True, eq=False)
class StorageDef(Decl):
    type: TypeExpr
    public: bool


@dataclass(frozen=True, eq=False)
class Module(Node):
    items: tuple[Decl, ...]
    path: str = "<stdin>"
    source: str = ""


def walk(node: object):
    """Yield `node` and every AST node below it, depth first."""
    if isinstance(node, Node):
        yield node
        for name in node.__dataclass_fields__:
            if name == "span":
                continue
            yield from walk(getattr(node, name))
    elif isinstance(node, tuple):
        for item in node:
            yield from walk(item)
