"""Scopes: blocks open one, locals are declared in the innermost, names resolve innermost first,
then to contract constants, storage and immutables."""
from __future__ import annotations

from synq.ast import nodes as n
from synq.semantics import types as T
from synq.semantics.base import RESERVED, Abort, CheckerBase
from synq.semantics.symbols import (
    LocalVar,
)


class ScopeChecker(CheckerBase):
    def block(self, b: n.Block) -> None:
        self.scopes.append({})
        for s in b.stmts:
            try:
                self.stmt(s)
            except Abort:
                pass
        self.scopes.pop()

    def declare_local(self, name: str, t: T.Type, node: n.Node, readonly: bool = False) -> LocalVar:
        if name in RESERVED or T.base_type(name) is not None:
            self.fail(f"'{name}' is a reserved name", node)
        for scope in self.scopes:
            if name in scope:
                self.fail(f"'{name}' is already declared", node)
        if name in self.a.storage or name in self.a.constants or name in self.a.immutables or name in self.a.functions:
            self.fail(f"'{name}' shadows a contract-level name", node)
        if T.contains_map(t):
            self.fail("mappings can only be storage variables", node)
        var = LocalVar(name, t, node.span, readonly)
        self.scopes[-1][name] = var
        self.fn.locals.append(var)
        self.a.symbols[node] = var
        return var

    def lookup(self, e: n.Name):
        for scope in reversed(self.scopes):
            if e.id in scope:
                self.a.symbols[e] = scope[e.id]
                return scope[e.id]
        a = self.a
        for table in (a.constants, a.storage, a.immutables):
            if e.id in table:
                self.a.symbols[e] = table[e.id]
                return table[e.id]
        self.fail(f"unknown name '{e.id}'", e)

