"""Expression typing: one `expr_<Expr>` method per expression node; a literal takes the type
the context expects when it fits."""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.semantics import types as T
from synq.semantics.base import ENV_VARS, NAMESPACES, CheckerBase
from synq.semantics.symbols import (
    ConstVar,
    ImmutableVar,
    StorageVar,
)


class ExpressionChecker(CheckerBase):
    def expr(self, e: n.Expr, expected: T.Type | None = None, allow_void: bool = False) -> T.Type:
        t = self._expr(e, expected)
        if isinstance(t, T.VoidT) and not allow_void:
            self.fail("this call returns nothing", e)
        if expected is not None and t != expected:
            self.fail(f"expected {expected}, got {t}", e)
        self.a.types[e] = t
        return t

    def literal_type(self, v: Any, e: n.Expr, expected: T.Type | None) -> T.Type:
        if isinstance(v, bool):
            return T.BOOL
        if isinstance(v, bytes):
            if isinstance(expected, T.BytesNT):
                if len(v) > expected.n:
                    self.fail(f"{len(v)} bytes do not fit in {expected}", e)
                return expected
            if isinstance(expected, T.BytesT):
                return expected
            return T.STRING if isinstance(e, n.StrLit) else T.BYTES
        if isinstance(expected, (T.UintT, T.IntT)):
            if not expected.min <= v <= expected.max:
                self.fail(f"{v} does not fit in {expected}", e)
            return expected
        if isinstance(expected, T.AddressT) and 0 <= v < 2**160 and isinstance(e, n.IntLit):
            return expected
        if v < 0:
            if v < T.INT256.min:
                self.fail(f"{v} does not fit in int256", e)
            return T.INT256
        if v > T.UINT256.max:
            self.fail(f"{v} does not fit in uint256", e)
        return T.UINT256

    def _expr(self, e: n.Expr, expected: T.Type | None) -> T.Type:
        method = method_for(self, "expr_", e)
        if method is None:
            self.fail("unsupported expression", e)
        return method(self, e, expected)

    def expr_IntLit(self, e: n.IntLit, expected: T.Type | None) -> T.Type:
        self.a.consts[e] = e.value
        return self.literal_type(e.value, e, expected)

    def expr_BoolLit(self, e: n.BoolLit, expected: T.Type | None) -> T.Type:
        self.a.consts[e] = e.value
        return T.BOOL

    def expr_StrLit(self, e: n.StrLit | n.HexLit, expected: T.Type | None) -> T.Type:
        self.a.consts[e] = e.value
        return self.literal_type(e.value, e, expected)

    expr_HexLit = expr_StrLit

    def expr_Name(self, e: n.Name, expected: T.Type | None) -> T.Type:
        if e.id == "self":
            self.effect("read", e)
            return T.ADDRESS
        sym = self.lookup(e)
        if isinstance(sym, ConstVar):
            self.a.consts[e] = sym.value
            if isinstance(sym.value, int) and not isinstance(sym.value, bool) and expected is not None and T.is_integer(expected) and T.is_integer(sym.type):
                return self.literal_type(sym.value, e, expected)
            return sym.type
        if isinstance(sym, (StorageVar, ImmutableVar)):
            self.effect("read", e)
        return sym.type

    def expr_Compare(self, e: n.Compare, expected: T.Type | None) -> T.Type:
        a = self.a
        lt, rt = self.operands(e.left, e.right)
        if lt != rt:
            self.fail(f"cannot compare {lt} with {rt}", e)
        if e.op in ("==", "!="):
            if not (lt.is_word or T.is_bytes_like(lt)):
                self.fail(f"cannot compare values of type {lt}", e)
        elif not T.is_integer(lt):
            self.fail(f"'{e.op}' needs integers, not {lt}", e)
        lv, rv = a.consts.get(e.left), a.consts.get(e.right)
        if lv is not None and rv is not None and T.is_integer(lt):
            a.consts[e] = {"==": lv == rv, "!=": lv != rv, "<": lv < rv, "<=": lv <= rv, ">": lv > rv, ">=": lv >= rv}[e.op]
        return T.BOOL

    def expr_BoolOp(self, e: n.BoolOp, expected: T.Type | None) -> T.Type:
        a = self.a
        self.expr(e.left, T.BOOL)
        self.expr(e.right, T.BOOL)
        lv, rv = a.consts.get(e.left), a.consts.get(e.right)
        if lv is not None and rv is not None:
            a.consts[e] = (lv and rv) if e.op == "&&" else (lv or rv)
        return T.BOOL

    def expr_UnaryOp(self, e: n.UnaryOp, expected: T.Type | None) -> T.Type:
        a = self.a
        if e.op == "!":
            self.expr(e.operand, T.BOOL)
            if e.operand in a.consts:
                a.consts[e] = not a.consts[e.operand]
            return T.BOOL
        if e.op == "-":
            inner = self.const_eval(e.operand)
            if inner is not None:
                a.consts[e] = -inner
                self.expr(e.operand, None)
                return self.literal_type(-inner, e, expected if T.is_integer(expected or T.VOID) else None)
            t = self.expr(e.operand, expected if isinstance(expected, T.IntT) else None)
            if not isinstance(t, T.IntT):
                self.fail(f"unary '-' needs a signed integer, not {t}", e)
            return t
        t = self.expr(e.operand, expected if T.is_integer(expected or T.VOID) else None)
        if not T.is_integer(t):
            self.fail(f"'~' needs an integer, not {t}", e)
        if e.operand in a.consts and isinstance(t, T.UintT):
            a.consts[e] = t.max ^ a.consts[e.operand]
        return t

    def expr_Call(self, e: n.Call, expected: T.Type | None) -> T.Type:
        return self.call(e, expected)

    def expr_ArrayLit(self, e: n.ArrayLit, expected: T.Type | None) -> T.Type:
        if isinstance(expected, T.ArrayT):
            if expected.size is not None and expected.size != len(e.elems):
                self.fail(f"expected {expected.size} elements, got {len(e.elems)}", e)
            for x in e.elems:
                self.expr(x, expected.elem)
            return expected
        first = self.expr(e.elems[0])
        for x in e.elems[1:]:
            self.expr(x, first)
        return T.ArrayT(first, len(e.elems))

    def operands(self, left: n.Expr, right: n.Expr, expected: T.Type | None = None) -> tuple[T.Type, T.Type]:
        """Type two operands, letting a literal side take the other side's type."""
        lc, rc = self.const_eval(left), self.const_eval(right)
        if lc is not None and rc is None:
            rt = self.expr(right, expected if expected is not None and T.is_integer(expected) else None)
            lt = self.expr(left, rt if T.is_integer(rt) else None)
        else:
            lt = self.expr(left, expected if expected is not None and T.is_integer(expected) else None)
            rt = self.expr(right, lt if rc is not None and T.is_integer(lt) else None)
        return lt, rt

    def expr_BinOp(self, e: n.BinOp, expected: T.Type | None) -> T.Type:
        a = self.a
        value = self.const_eval(e)
        if value is not None:
            self.expr(e.left)
            self.expr(e.right)
            a.consts[e] = value
            return self.literal_type(value, e, expected if expected is not None and T.is_integer(expected) else None)
        if self.const_eval(e.left) is not None and self.const_eval(e.right) is not None:
            # a literal expression that cannot be folded (division by zero, negative power)
            self.fail("this constant expression cannot be evaluated (division by zero or negative exponent?)", e)
        if e.op in ("<<", ">>", "**"):
            lt = self.expr(e.left, expected if expected is not None and T.is_integer(expected) else None)
            rt = self.expr(e.right, None if self.const_eval(e.right) is None else T.UINT256)
            if not T.is_integer(lt):
                self.fail(f"'{e.op}' needs an integer, not {lt}", e.left)
            if not isinstance(rt, T.UintT):
                self.fail(f"the right side of '{e.op}' must be unsigned, not {rt}", e.right)
            return lt
        lt, rt = self.operands(e.left, e.right, expected)
        if lt != rt:
            self.fail(f"'{e.op}' needs operands of the same type, got {lt} and {rt}", e)
        if e.op in ("&", "|", "^") and isinstance(lt, (T.BoolT, T.BytesNT)):
            return lt
        if not T.is_integer(lt):
            self.fail(f"'{e.op}' needs integers, not {lt}", e)
        return lt

    def expr_Attribute(self, e: n.Attribute, expected: T.Type | None) -> T.Type:
        a = self.a
        if isinstance(e.value, n.Name):
            base = e.value.id
            key = f"{base}.{e.attr}"
            if key in ENV_VARS and not any(base in s for s in self.scopes):
                if key == "msg.value" and self.fn is not None and self.fn.is_external and self.fn.mutability != "payable":
                    self.fail("msg.value is only available in payable functions", e, "mark the function 'payable'")
                self.effect("read", e)
                a.symbols[e] = ("env", key)
                return ENV_VARS[key]
            if base in NAMESPACES and not any(base in s for s in self.scopes):
                self.fail(f"unknown name '{key}'", e)
            if base in a.enums:
                en = a.enums[base]
                if e.attr not in en.members:
                    self.fail(f"enum '{base}' has no member '{e.attr}'", e)
                a.consts[e] = en.members.index(e.attr)
                return en
        vt = self.expr(e.value)
        if e.attr == "balance" and isinstance(vt, (T.AddressT, T.InterfaceT)):
            self.effect("read", e)
            a.symbols[e] = ("balance", None)
            return T.UINT256
        if e.attr == "codesize" and isinstance(vt, (T.AddressT, T.InterfaceT)):
            self.effect("read", e)
            a.symbols[e] = ("codesize", None)
            return T.UINT256
        if isinstance(vt, T.StructT):
            ft = vt.field_type(e.attr)
            if ft is None:
                self.fail(f"struct '{vt.name}' has no field '{e.attr}'", e)
            a.symbols[e] = ("field", e.attr)
            return ft
        self.fail(f"{vt} has no attribute '{e.attr}'", e)

    def expr_Index(self, e: n.Index, expected: T.Type | None) -> T.Type:
        vt = self.expr(e.value)
        if isinstance(vt, T.MapT):
            self.expr(e.index, vt.key)
            return vt.value
        if isinstance(vt, T.ArrayT):
            self.expr(e.index, T.UINT256)
            c = self.a.consts.get(e.index)
            if vt.size is not None and isinstance(c, int) and c >= vt.size:
                self.fail(f"index {c} is out of range for {vt}", e.index)
            return vt.elem
        self.fail(f"{vt} cannot be indexed", e)

