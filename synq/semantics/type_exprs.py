"""Type expressions -> types: one `typeexpr_<TypeExpr>` method per type node."""
from __future__ import annotations

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.semantics import types as T
from synq.semantics.base import CheckerBase


class TypeExprChecker(CheckerBase):
    def resolve_type(self, te: n.TypeExpr, abi: bool = False) -> T.Type:
        """The type `te` names; `abi`: it crosses the ABI (parameters and returns of external functions)."""
        method = method_for(self, "typeexpr_", te)
        if method is None:
            self.fail("bad type", te)
        return method(self, te, abi)

    def typeexpr_NamedType(self, te: n.NamedType, abi: bool) -> T.Type:
        bt = T.base_type(te.name)
        if bt is not None:
            return bt
        a = self.a
        if te.name in a.structs:
            return a.structs[te.name]
        if te.name in a.enums:
            return a.enums[te.name]
        if te.name in a.interfaces:
            return T.InterfaceT(te.name)
        self.fail(f"unknown type '{te.name}'", te)

    def typeexpr_ArrayType(self, te: n.ArrayType, abi: bool) -> T.Type:
        elem = self.resolve_type(te.elem, abi)
        if isinstance(elem, T.MapT):
            self.fail("arrays of mappings are not supported", te)
        if te.size is None:
            return T.ArrayT(elem, None)
        size = self.const_eval(te.size)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= 2**16:
            self.fail("an array size must be a constant between 1 and 65536", te.size)
        return T.ArrayT(elem, size)

    def typeexpr_MapType(self, te: n.MapType, abi: bool) -> T.Type:
        if abi:
            self.fail("mappings can only be storage variables", te)
        key = self.resolve_type(te.key)
        if not (key.is_word or T.is_bytes_like(key)):
            self.fail("a mapping key must be a value type, bytes or string", te.key)
        return T.MapT(key, self.resolve_type(te.value))
