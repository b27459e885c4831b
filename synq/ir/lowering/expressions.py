"""Expressions: constants, literals, and one `lower_<Expr>` method per expression node."""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.errors import InternalCompilerError
from synq.ir.lowering.base import PANIC_OVERFLOW, LoweringBase, ceil32
from synq.semantics import types as T


class ExpressionLowering(LoweringBase):
    def expr(self, e: n.Expr) -> Any:
        saved = self.span
        self.span = e.span if e.span else saved
        try:
            return self.I(self._expr(e))
        finally:
            self.span = saved

    def const_value(self, v: Any, t: T.Type) -> Any:
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v % 2**256
        if isinstance(v, bytes):
            if isinstance(t, T.BytesNT):
                return int.from_bytes(v.ljust(32, b"\0"), "big")
            return self.bytes_literal(v)
        if isinstance(v, T.Type):
            return 0
        raise InternalCompilerError(f"bad constant {v!r}")

    def bytes_literal(self, data: bytes) -> list:
        padded = data + b"\0" * (-len(data) % 32)
        def body(p):
            out: list = ["seq", ["mstore", p, len(data)]]
            for i in range(0, len(padded), 32):
                out.append(["mstore", ["add", p, 32 + i], int.from_bytes(padded[i:i + 32], "big")])
            out.append(p)
            return out
        return self.alloc(32 + len(padded), body)

    def _expr(self, e: n.Expr) -> Any:
        a = self.a
        t = a.types.get(e)
        if e in a.consts and not (isinstance(e, n.Call) and a.calls.get(e) and a.calls[e].kind != "convert"):
            return self.const_value(a.consts[e], t)
        method = method_for(self, "lower_", e)
        if method is None:
            raise InternalCompilerError(f"cannot lower {type(e).__name__}")
        return method(self, e, t)

    def lower_Name(self, e: n.Name, t: T.Type) -> Any:
        if e.id == "self":
            return ["address"]
        return self.read_place(self.place(e))

    def lower_Index(self, e: n.Index, t: T.Type) -> Any:
        return self.read_place(self.place(e))

    def lower_Attribute(self, e: n.Attribute, t: T.Type) -> Any:
        sym = self.a.symbols.get(e)
        if isinstance(sym, tuple):
            if sym[0] == "env":
                if sym[1] == "msg.data":
                    return self.alloc(["add", 32, ceil32(["calldatasize"])], lambda p: ["seq",
                        ["mstore", p, ["calldatasize"]], ["calldatacopy", ["add", p, 32], 0, ["calldatasize"]], p])
                return ENV_IR[sym[1]]
            if sym[0] == "balance":
                if isinstance(e.value, n.Name) and e.value.id == "self":
                    return ["selfbalance"]
                return ["balance", self.expr(e.value)]
            if sym[0] == "codesize":
                return ["extcodesize", self.expr(e.value)]
        return self.read_place(self.place(e))

    def lower_BinOp(self, e: n.BinOp, t: T.Type) -> Any:
        return self.arith(e.op, t, self.expr(e.left), self.expr(e.right), self.a.types[e.right])

    def lower_Compare(self, e: n.Compare, t: T.Type) -> Any:
        return self.compare(e.op, self.a.types[e.left], self.expr(e.left), self.expr(e.right))

    def lower_BoolOp(self, e: n.BoolOp, t: T.Type) -> Any:
        l, r = self.expr(e.left), self.expr(e.right)
        if e.op == "&&":
            return ["if", l, r, 0]
        return ["if", l, 1, r]

    def lower_UnaryOp(self, e: n.UnaryOp, t: T.Type) -> Any:
        x = self.expr(e.operand)
        if e.op == "!":
            return ["iszero", x]
        if e.op == "~":
            return ["xor", x, t.max] if isinstance(t, T.UintT) else ["not", x]
        v = self.tmp("neg")
        return ["with", v, x, ["seq", ["if", ["eq", v, t.min % 2**256], ["panic", PANIC_OVERFLOW]], ["sub", 0, v]]]

    def lower_Call(self, e: n.Call, t: T.Type) -> Any:
        return self.call(e)

    def lower_ArrayLit(self, e: n.ArrayLit, t: T.Type) -> Any:
        vals = [self.expr(x) for x in e.elems]
        if t.size is None:
            return self.alloc(32 + 32 * len(vals), lambda p: ["seq", ["mstore", p, len(vals)],
                              *[["mstore", ["add", p, 32 + 32 * k], v] for k, v in enumerate(vals)], p])
        return self.alloc(32 * len(vals), lambda p: ["seq", *[["mstore", ["add", p, 32 * k], v] for k, v in enumerate(vals)], p])

    def compare(self, op: str, t: T.Type, l: Any, r: Any) -> list:
        if T.is_bytes_like(t):
            l = self.keccak_of(l)
            r = self.keccak_of(r)
        signed = isinstance(t, T.IntT)
        lt, gt = ("slt", "sgt") if signed else ("lt", "gt")
        return {"==": ["eq", l, r], "!=": ["iszero", ["eq", l, r]], "<": [lt, l, r], ">": [gt, l, r],
                "<=": ["iszero", [gt, l, r]], ">=": ["iszero", [lt, l, r]]}[op]

    def keccak_of(self, ptr: Any) -> list:
        p = self.tmp("k")
        return ["with", p, ptr, ["sha3", ["add", p, 32], ["mload", p]]]



# environment values read by a single opcode
ENV_IR = {
    "msg.sender": ["caller"], "msg.value": ["callvalue"], "msg.gas": ["gas"],
    "block.number": ["number"], "block.timestamp": ["timestamp"], "block.chainid": ["chainid"],
    "block.coinbase": ["coinbase"], "block.basefee": ["basefee"], "block.prevrandao": ["prevrandao"],
    "block.gaslimit": ["gaslimit"], "tx.origin": ["origin"], "tx.gasprice": ["gasprice"],
}
