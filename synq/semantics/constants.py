"""Compile-time integer values: `const_<Expr>` per node, exact arithmetic in `fold`."""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.semantics.base import CheckerBase


class ConstantChecker(CheckerBase):
    def const_eval(self, e: n.Expr) -> Any:
        """Value of a literal-only integer expression, without recording errors; None if not constant."""
        method = method_for(self, "const_", e)
        return None if method is None else method(self, e)

    def const_IntLit(self, e: n.IntLit) -> Any:
        return e.value

    def const_Name(self, e: n.Name) -> Any:
        c = self.a.constants.get(e.id)
        if c is not None and isinstance(c.value, int) and not isinstance(c.value, bool) and not any(e.id in s for s in self.scopes):
            return c.value
        return None

    def const_UnaryOp(self, e: n.UnaryOp) -> Any:
        if e.op != "-":
            return None
        v = self.const_eval(e.operand)
        return None if v is None else -v

    def const_BinOp(self, e: n.BinOp) -> Any:
        lv, rv = self.const_eval(e.left), self.const_eval(e.right)
        if lv is None or rv is None:
            return None
        return fold(e.op, lv, rv)


def fold(op: str, a: int, b: int) -> int | None:
    """Exact integer arithmetic for constant folding; None when undefined."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return None
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    if op == "%":
        if b == 0:
            return None
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    if op == "**":
        if b < 0 or (abs(a) > 1 and b > 256):
            return None
        return a**b
    if op == "<<":
        return a << b if 0 <= b <= 256 else None
    if op == ">>":
        return a >> b if b >= 0 else None
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    if op == "^":
        return a ^ b
    return None

