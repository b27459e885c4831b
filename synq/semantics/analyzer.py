"""Semantic analysis: resolve names, check types and mutability, lay out storage — `analyze(module)`.

One `Analyzer` per contract holds the shared state (`base.py`); each concept is its own module, a
mixin of `Analyzer`, and node types dispatch by name to one method each (`declare_<phase>_<Decl>`,
`typeexpr_<TypeExpr>`, `stmt_<Stmt>`, `expr_<Expr>`, `const_<Expr>`, `callee_<Expr>`, and
`BUILTIN_CHECKS` for builtins):

    declarations  contract-level items, in phases     type_exprs  type expressions -> types
    functions     bodies, call graph, selectors        scopes      blocks, locals, name lookup
    statements    stmt_<Stmt>, targets, reasons        expressions expr_<Expr>, literals, operators
    constants     compile-time integers, fold          calls       internal/external calls, T(x)
    builtin_calls one check per builtin

Errors are collected (not raised one by one) and raised together, sorted by position.
"""
from __future__ import annotations

from synq.ast import nodes as n
from synq.errors import SynqUserError, raise_if_any
from synq.semantics import types as T
from synq.semantics.analysis import Analysis
from synq.semantics.base import RESERVED
from synq.semantics.builtin_calls import BUILTIN_CHECKS, BuiltinChecker
from synq.semantics.calls import CallChecker
from synq.semantics.constants import ConstantChecker, fold
from synq.semantics.declarations import DeclarationChecker
from synq.semantics.expressions import ExpressionChecker
from synq.semantics.functions import FunctionChecker
from synq.semantics.scopes import ScopeChecker
from synq.semantics.statements import StatementChecker
from synq.semantics.type_exprs import TypeExprChecker

# declarations are checked in phases: types first (structs may refer to each other in order),
# then struct fields and interfaces, constants, and the rest
DECLARATION_PHASES = ("declare_type_", "declare_fields_", "declare_const_", "declare_")


class Analyzer(DeclarationChecker, TypeExprChecker, FunctionChecker, ScopeChecker, StatementChecker,
               ExpressionChecker, ConstantChecker, CallChecker, BuiltinChecker):
    """One analysis run: the modules' methods over one shared state."""

    def run(self) -> Analysis:
        items = self.a.module.items
        seen: dict[str, n.Decl] = {}
        for d in items:
            if isinstance(d, n.FuncDef) and d.is_constructor:
                if self.a.constructor is not None or "constructor" in seen:
                    self.err("a contract has at most one constructor", d)
                seen["constructor"] = d
                continue
            if d.name in seen:
                self.err(f"'{d.name}' is already declared", d)
            elif d.name in RESERVED or T.base_type(d.name) is not None:
                self.err(f"'{d.name}' is a reserved name", d)
            seen[d.name] = d
        for phase in DECLARATION_PHASES:
            for d in items:
                method = getattr(self, phase + type(d).__name__, None)
                if method is not None:
                    self.guard(method, d)
        for f in list(self.a.functions.values()) + ([self.a.constructor] if self.a.constructor else []):
            self.check_function(f)
        self.check_call_graph()
        self.check_selectors()
        raise_if_any(self.errors)
        return self.a


def analyze(module: n.Module) -> Analysis:
    """Check `module`; return the facts later stages need, or raise every error found."""
    try:
        return Analyzer(module).run()
    except SynqUserError as err:
        raise err.attach(module.path, module.source) from None


__all__ = ["BUILTIN_CHECKS", "DECLARATION_PHASES", "Analyzer", "analyze", "fold"]
