"""Builtin functions: one check method per builtin, found by its SynQ name in `BUILTIN_CHECKS`.

Precompile builtins (`ai.infer`, `pqc.verify`, ...) are checked by one method from their entry in
`synq/builtins.py` (generated from precompiles/spec.py): argument types, return type, effect.
"""
from __future__ import annotations

from synq.ast import nodes as n
from synq.builtins import BUILTINS
from synq.semantics import types as T
from synq.semantics.base import CheckerBase
from synq.semantics.symbols import CallKind


class BuiltinChecker(CheckerBase):
    def builtin(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        self.a.calls[e] = CallKind("builtin", name)
        if name != "abi.encode":
            self.no_kwargs(e)
        method = BUILTIN_CHECKS.get(name)
        if method is not None:
            return getattr(self, method)(e, name, expected)
        if name in BUILTINS:
            return self.builtin_precompile(e, name)
        self.fail(f"unknown function '{name}'", e.func)

    def builtin_precompile(self, e: n.Call, name: str) -> T.Type:
        b = BUILTINS[name]
        self.args(e.args, [T.base_type(t) for _, t in b.params], e, name)
        if b.effect:
            self.effect(b.effect, e)
        return T.base_type(b.returns)

    def builtin_keccak256(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        if len(e.args) != 1:
            self.fail("keccak256 takes one argument", e)
        t = self.expr(e.args[0])
        if not (T.is_bytes_like(t) or isinstance(t, T.BytesNT)):
            self.fail(f"keccak256 needs bytes, string or bytesN, not {t}", e.args[0])
        return T.BYTES32

    def builtin_len(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        if len(e.args) != 1:
            self.fail("len takes one argument", e)
        t = self.expr(e.args[0])
        if not (T.is_bytes_like(t) or isinstance(t, T.ArrayT)):
            self.fail(f"len needs bytes, string or an array, not {t}", e.args[0])
        return T.UINT256

    def builtin_send(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        self.args(e.args, [T.ADDRESS, T.UINT256], e, "send")
        self.effect("call", e)
        return T.VOID

    def builtin_blockhash(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        self.args(e.args, [T.UINT256], e, "blockhash")
        self.effect("read", e)
        return T.BYTES32

    def builtin_min_max(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        if len(e.args) != 2:
            self.fail(f"{name} takes two arguments", e)
        lt, rt = self.operands(e.args[0], e.args[1], expected)
        if lt != rt or not T.is_integer(lt):
            self.fail(f"{name} needs two integers of the same type", e)
        return lt

    def builtin_abi_encode(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        self.no_kwargs(e)
        for x in e.args:
            t = self.expr(x)
            if isinstance(t, (T.MapT, T.TupleT, T.VoidT)):
                self.fail(f"cannot ABI-encode {t}", x)
        return T.BYTES

    def builtin_abi_decode(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        if len(e.args) != 2:
            self.fail("abi.decode takes the data and a type: abi.decode(data, uint256)", e)
        self.expr(e.args[0], T.BYTES)
        te = e.args[1]
        if isinstance(te, n.Name):
            t = self.resolve_type(n.NamedType(te.id, span=te.span))
        else:
            self.fail("abi.decode's second argument must be a type name", te)
        self.a.consts[te] = t
        return t


# SynQ name -> the BuiltinChecker method that checks it; precompile builtins (synq/builtins.py) need
# no entry. The lowering's table is synq/ir/lowering/builtin_calls.py; a test keeps both complete.
BUILTIN_CHECKS: dict[str, str] = {
    "keccak256": "builtin_keccak256", "len": "builtin_len", "send": "builtin_send",
    "blockhash": "builtin_blockhash", "min": "builtin_min_max", "max": "builtin_min_max",
    "abi.encode": "builtin_abi_encode", "abi.decode": "builtin_abi_decode",
}
