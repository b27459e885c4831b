"""Checked arithmetic: Panic(0x11) on overflow, Panic(0x12) on division by zero."""
from __future__ import annotations

from typing import Any

from synq.errors import InternalCompilerError
from synq.ir.lowering.base import PANIC_DIV_ZERO, PANIC_OVERFLOW, LoweringBase
from synq.semantics import types as T


class ArithmeticLowering(LoweringBase):
    def arith(self, op: str, t: T.Type, l: Any, r: Any, rt: T.Type | None = None) -> list:
        """Checked arithmetic: reverts with Panic(0x11) on overflow, Panic(0x12) on division by zero."""
        if op in ("&", "|", "^"):
            return [{"&": "and", "|": "or", "^": "xor"}[op], l, r]
        a, b, res = self.tmp("a"), self.tmp("b"), self.tmp("r")
        signed = isinstance(t, T.IntT)
        bits = t.bits
        ovf = ["panic", PANIC_OVERFLOW]
        def fits(x):  # range check for narrow types
            if bits == 256:
                return ["seq"]
            if signed:
                return ["if", ["iszero", ["eq", x, ["signextend", bits // 8 - 1, x]]], ovf]
            return ["if", ["gt", x, t.max], ovf]
        def w(body):
            return ["with", a, l, ["with", b, r, body]]
        if op == "+":
            if bits < 256:
                return w(["with", res, ["add", a, b], ["seq", fits(res), res]])
            if signed:
                return w(["with", res, ["add", a, b], ["seq", ["if", ["xor", ["slt", res, a], ["slt", b, 0]], ovf], res]])
            return w(["with", res, ["add", a, b], ["seq", ["if", ["lt", res, a], ovf], res]])
        if op == "-":
            if not signed:
                return w(["seq", ["if", ["gt", b, a], ovf], ["sub", a, b]])
            if bits < 256:
                return w(["with", res, ["sub", a, b], ["seq", fits(res), res]])
            return w(["with", res, ["sub", a, b], ["seq", ["if", ["xor", ["sgt", res, a], ["slt", b, 0]], ovf], res]])
        if op == "*":
            if bits <= 128:
                return w(["with", res, ["mul", a, b], ["seq", fits(res), res]])
            if signed:
                check = ["if", ["or", ["and", ["eq", a, 2**256 - 1], ["eq", b, T.IntT(256).min % 2**256]],
                                ["and", ["iszero", ["iszero", a]], ["iszero", ["eq", ["sdiv", res, a], b]]]], ovf]
            else:
                check = ["if", ["and", ["iszero", ["iszero", a]], ["iszero", ["eq", ["div", res, a], b]]], ovf]
            return w(["with", res, ["mul", a, b], ["seq", check, fits(res), res]])
        if op in ("/", "%"):
            zero = ["if", ["iszero", b], ["panic", PANIC_DIV_ZERO]]
            if op == "%":
                return w(["seq", zero, ["smod" if signed else "mod", a, b]])
            if not signed:
                return w(["seq", zero, ["div", a, b]])
            if bits == 256:
                return w(["seq", zero, ["if", ["and", ["eq", b, 2**256 - 1], ["eq", a, T.IntT(256).min % 2**256]], ovf],
                          ["sdiv", a, b]])
            return w(["seq", zero, ["with", res, ["sdiv", a, b], ["seq", fits(res), res]]])
        if op == "**":
            return self.power(t, l, r)
        if op == "<<":
            if signed:
                return w(["signextend", bits // 8 - 1, ["shl", b, a]]) if bits < 256 else w(["shl", b, a])
            return w(["and", ["shl", b, a], t.max]) if bits < 256 else w(["shl", b, a])
        if op == ">>":
            return w(["sar" if signed else "shr", b, a])
        raise InternalCompilerError(f"unknown operator {op}")

    def power(self, t: T.Type, l: Any, r: Any) -> list:
        """base ** exp by repeated checked multiplication (at most `bits` rounds for |base| >= 2)."""
        a, b, acc, i = self.tmp("a"), self.tmp("b"), self.tmp("acc"), self.tmp("i")
        signed = isinstance(t, T.IntT)
        small = ["or", ["iszero", a], ["eq", a, 1]]
        if signed:
            small = ["or", small, ["eq", a, 2**256 - 1]]
        mul = self.arith("*", t, acc, a)
        return ["with", a, l, ["with", b, r, ["with", acc, 1, ["seq",
                ["if", ["and", ["iszero", small], ["gt", b, t.bits]], ["panic", PANIC_OVERFLOW]],
                ["if", small,
                 ["set", acc, ["if", ["iszero", b], 1,
                               ["if", ["and", ["eq", a, 2**256 - 1], ["and", b, 1]], 2**256 - 1, ["if", ["iszero", a], 0, 1]]]],
                 ["range", i, 0, b, ["set", acc, mul]]],
                acc]]]]

