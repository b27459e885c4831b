"""Statements: one `stmt_<Stmt>` method per statement node; assignment targets; revert reasons."""
from __future__ import annotations

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.semantics import types as T
from synq.semantics.base import CheckerBase
from synq.semantics.symbols import (
    CallKind,
    ImmutableVar,
    LocalVar,
    StorageVar,
)


class StatementChecker(CheckerBase):
    def let_value(self, s: n.Let, tys: list[T.Type]) -> None:
        if s.value is None:
            return
        if len(tys) == 1:
            self.expr(s.value, tys[0])
            return
        vt = self.expr(s.value)
        if not isinstance(vt, T.TupleT) or len(vt.items) != len(tys):
            self.fail(f"expected {len(tys)} values, got {vt}", s.value)
        for p, want, got in zip(s.targets, tys, vt.items):
            if want != got:
                self.err(f"'{p.name}' is {want} but the value is {got}", p)

    def stmt(self, s: n.Stmt) -> None:
        method = method_for(self, "stmt_", s)
        if method is None:  # pragma: no cover
            self.fail("unsupported statement", s)
        method(self, s)

    def stmt_Let(self, s: n.Let) -> None:
        tys = [self.resolve_type(p.type) for p in s.targets]
        try:
            self.let_value(s, tys)
        finally:  # declare even when the value is wrong, so later uses do not cascade
            for p, t in zip(s.targets, tys):
                self.guard(self.declare_local, p.name, t, p)

    def stmt_Assign(self, s: n.Assign) -> None:
        if len(s.targets) == 1:
            t = self.target(s.targets[0])
            self.expr(s.value, t)
            return
        vt = self.expr(s.value)
        if not isinstance(vt, T.TupleT) or len(vt.items) != len(s.targets):
            self.fail(f"expected {len(s.targets)} values, got {vt}", s.value)
        for tgt, got in zip(s.targets, vt.items):
            want = self.target(tgt)
            if want != got:
                self.err(f"cannot assign {got} to {want}", tgt)

    def stmt_AugAssign(self, s: n.AugAssign) -> None:
        t = self.target(s.target)
        self.expr(s.target)
        if not (T.is_integer(t) or (s.op in "&|^" and isinstance(t, T.BoolT))):
            self.fail(f"'{s.op}=' needs an integer, not {t}", s.target)
        if s.op in ("<<", ">>"):
            rt = self.expr(s.value)
            if not isinstance(rt, T.UintT):
                self.err("a shift amount must be unsigned", s.value)
        else:
            self.expr(s.value, t)

    def stmt_If(self, s: n.If) -> None:
        self.expr(s.cond, T.BOOL)
        self.block(s.body)
        if s.orelse is not None:
            self.block(s.orelse)

    def stmt_For(self, s: n.For) -> None:
        if s.start is not None:
            self.expr(s.start, T.UINT256)
        self.expr(s.end, T.UINT256)
        if s.bound is not None:
            self.expr(s.bound, T.UINT256)
            if not isinstance(self.a.consts.get(s.bound), int):
                self.err("a loop bound must be a constant", s.bound)
        elif not isinstance(self.a.consts.get(s.end), int) or (s.start is not None and not isinstance(self.a.consts.get(s.start), int)):
            self.err("a loop over a range that is not constant needs a bound: 'max N'", s.end)
        self.scopes.append({})
        self.declare_local(s.var, T.UINT256, s, readonly=True)
        self.loop_depth += 1
        self.block(s.body)
        self.loop_depth -= 1
        self.scopes.pop()

    def stmt_Return(self, s: n.Return) -> None:
        rets = self.fn.returns
        if len(s.values) != len(rets):
            self.fail(f"'{self.fn.name}' returns {len(rets)} value(s), not {len(s.values)}", s)
        for v, t in zip(s.values, rets):
            self.expr(v, t)

    def stmt_Emit(self, s: n.Emit) -> None:
        ev = self.a.events.get(s.event)
        if ev is None:
            self.fail(f"unknown event '{s.event}'", s)
        self.effect("write", s)
        self.args(s.args, [t for _, t, _ in ev.params], s, f"event '{ev.name}'")

    def stmt_Revert(self, s: n.Revert) -> None:
        if s.value is not None:
            self.reason(s.value)

    def stmt_Require(self, s: n.Require) -> None:
        self.expr(s.cond, T.BOOL)
        if s.message is not None:
            self.reason(s.message)

    def stmt_Assert(self, s: n.Assert) -> None:
        self.expr(s.cond, T.BOOL)

    def stmt_Break(self, s: n.Break) -> None:
        if self.loop_depth == 0:
            self.fail("'break' outside a loop", s)

    def stmt_Continue(self, s: n.Continue) -> None:
        if self.loop_depth == 0:
            self.fail("'continue' outside a loop", s)

    def stmt_ExprStmt(self, s: n.ExprStmt) -> None:
        if not isinstance(s.expr, n.Call):
            self.err("this expression does nothing", s.expr)
        self.expr(s.expr, allow_void=True)

    def reason(self, e: n.Expr) -> None:
        if isinstance(e, n.Call) and isinstance(e.func, n.Name) and e.func.id in self.a.errors:
            info = self.a.errors[e.func.id]
            self.a.calls[e] = CallKind("error", info)
            self.args(e.args, [t for _, t in info.params], e, f"error '{info.name}'")
            self.a.types[e] = T.VOID
            return
        if isinstance(e, n.Call) and isinstance(e.func, n.Name) and e.func.id[:1].isupper() \
                and e.func.id not in self.a.structs and e.func.id not in self.a.interfaces \
                and e.func.id not in self.a.enums:
            self.fail(f"unknown error '{e.func.id}'", e.func, "declare it: error Name(field: type, ...);")
        self.expr(e, T.STRING)

    def target(self, e: n.Expr) -> T.Type:
        """Type of an assignable expression."""
        method = method_for(self, "target_", e)
        if method is None:
            self.fail("this cannot be assigned", e)
        t = method(self, e)
        if isinstance(t, T.MapT):
            self.fail("a mapping cannot be assigned as a whole", e)
        return t

    def target_Name(self, e: n.Name) -> T.Type:
        sym = self.lookup(e)
        if isinstance(sym, LocalVar):
            if sym.readonly:
                self.fail(f"loop variable '{e.id}' cannot be assigned", e)
        elif isinstance(sym, StorageVar):
            self.effect("write", e)
        elif isinstance(sym, ImmutableVar):
            if self.fn is None or not self.fn.is_constructor:
                self.fail(f"immutable '{e.id}' can only be set in the constructor", e)
        else:
            self.fail(f"cannot assign to '{e.id}'", e)
        return self.expr(e)

    def target_Index(self, e: n.Index | n.Attribute) -> T.Type:
        """An element or a field: assignable when its root is a storage variable or a local."""
        t = self.expr(e)
        root = e
        while isinstance(root, (n.Index, n.Attribute)):
            root = root.value
        sym = self.a.symbols.get(root)
        if isinstance(sym, StorageVar):
            self.effect("write", e)
        elif not isinstance(sym, LocalVar):
            self.fail("this cannot be assigned", e)
        return t

    target_Attribute = target_Index
