"""Statements: one `lower_<Stmt>` method per statement node."""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.errors import InternalCompilerError
from synq.ir.lowering.base import PANIC_ASSERT, LoweringBase, Place
from synq.semantics import types as T


class StatementLowering(LoweringBase):
    def block(self, b: n.Block) -> list:
        out: list = ["seq"]
        for s in b.stmts:
            saved = self.span
            self.span = s.span
            out.append(self.I(self.stmt(s)))
            self.span = saved
        return out

    def stmt(self, s: n.Stmt) -> Any:
        method = method_for(self, "lower_", s)
        if method is None:
            raise InternalCompilerError(f"cannot lower {type(s).__name__}")
        return method(self, s)

    def lower_Let(self, s: n.Let) -> Any:
        vars_ = [self.a.symbols[p] for p in s.targets]
        if s.value is None:
            return ["seq", *[["mstore", self.mem[v], self.zero_value(v.type)] for v in vars_]]
        if len(vars_) == 1:
            return ["mstore", self.mem[vars_[0]], self.expr(s.value)]
        return self.multi_assign([Place("memory", self.mem[v], v.type) for v in vars_], s.value)

    def lower_Assign(self, s: n.Assign) -> Any:
        if len(s.targets) == 1:
            value = self.expr(s.value)
            return self.write_place(self.place(s.targets[0]), value)
        return self.multi_assign([self.place(t) for t in s.targets], s.value)

    def lower_AugAssign(self, s: n.AugAssign) -> Any:
        a = self.a
        place = self.place(s.target)
        t = a.types[s.target]
        cur = self.tmp("cur")  # noqa: F841 -- drawn so fresh names stay as they were
        if place.kind == "storage" or (place.kind == "memory" and not isinstance(place.addr, int)):
            addr = self.tmp("addr")
            p2 = Place(place.kind, addr, place.type)
            return ["with", addr, place.addr,
                    self.write_place(p2, self.arith(s.op, t, self.read_place(p2), self.expr(s.value), a.types[s.value]))]
        return self.write_place(place, self.arith(s.op, t, self.read_place(place), self.expr(s.value), a.types[s.value]))

    def lower_If(self, s: n.If) -> Any:
        cond = self.expr(s.cond)
        c = self.a.consts.get(s.cond)
        if c is True:
            return self.block(s.body)
        if c is False:
            return self.block(s.orelse) if s.orelse is not None else "pass"
        if s.orelse is None:
            return ["if", cond, self.block(s.body)]
        return ["if", cond, self.block(s.body), self.block(s.orelse)]

    def lower_For(self, s: n.For) -> Any:
        var = self.a.symbols[s]
        start = self.expr(s.start) if s.start is not None else 0
        end = self.expr(s.end)
        st, en = self.tmp("start"), self.tmp("stop")
        i = self.tmp("i")
        body = ["seq", ["mstore", self.mem[var], i], self.block(s.body)]
        loop = ["range", i, st, en, body]
        checks: list = ["seq"]
        if s.bound is not None:
            bound = self.a.consts[s.bound]
            checks.append(["if", ["and", ["gt", en, st], ["gt", ["sub", en, st], bound]],
                           self.revert_string("loop bound exceeded")])
        return ["with", st, start, ["with", en, end, ["seq", checks, loop]]]

    def lower_Return(self, s: n.Return) -> Any:
        values = [self.expr(v) for v in s.values]
        if self.mode == "external":
            return self.external_return(list(self.fn.returns), values)
        if self.mode == "internal":
            names = [self.tmp("r") for _ in values]
            inner: list = ["seq", *[["mstore", slot, nm] for slot, nm in zip(self.ret_vals[self.fn], names)],
                           ["leave", self.ret_slot[self.fn]]]
            for nm, v in reversed(list(zip(names, values))):
                inner = ["with", nm, v, inner]
            return inner
        return ["seq"]  # constructor: falls through to deployment

    def lower_Emit(self, s: n.Emit) -> Any:
        return self.emit(self.a.events[s.event], [self.expr(x) for x in s.args])

    def lower_Revert(self, s: n.Revert) -> Any:
        return self.revert_with(s.value)

    def lower_Require(self, s: n.Require) -> Any:
        c = self.a.consts.get(s.cond)
        if c is True:
            return "pass"
        return ["if", ["iszero", self.expr(s.cond)], self.revert_with(s.message)]

    def lower_Assert(self, s: n.Assert) -> Any:
        return ["if", ["iszero", self.expr(s.cond)], ["panic", PANIC_ASSERT]]

    def lower_Break(self, s: n.Break) -> Any:
        return ["break_range"]

    def lower_Continue(self, s: n.Continue) -> Any:
        return ["continue_range"]

    def lower_ExprStmt(self, s: n.ExprStmt) -> Any:
        e = self.expr(s.expr)
        t = self.a.types.get(s.expr)
        if t is not None and not isinstance(t, T.VoidT):
            return ["pop", e]
        return e

    def multi_assign(self, places: list[Place], value_expr: n.Expr) -> list:
        call = value_expr
        kind = self.a.calls.get(call) if isinstance(call, n.Call) else None
        if kind is None:
            raise InternalCompilerError("tuple assignment from a non-call")
        names = [self.tmp("v") for _ in places]
        writes = ["seq", *[self.write_place(p, nm) for p, nm in zip(places, names)]]
        return self.call_multi(call, kind, names, writes)

