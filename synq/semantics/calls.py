"""Calls: internal functions, struct constructors, conversions `T(x)`, external calls through an
interface, storage array push/pop; builtins go on to builtin_calls.py."""
from __future__ import annotations

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.semantics import types as T
from synq.semantics.base import NAMESPACES, CheckerBase
from synq.semantics.symbols import (
    CallKind,
    FunctionInfo,
    StorageVar,
)


class CallChecker(CheckerBase):
    def args(self, args: tuple[n.Expr, ...], types: list[T.Type], node: n.Node, what: str) -> None:
        if len(args) != len(types):
            self.fail(f"{what} takes {len(types)} argument(s), got {len(args)}", node)
        for x, t in zip(args, types):
            self.guard(self.expr, x, t)

    def no_kwargs(self, e: n.Call) -> None:
        if e.kwargs:
            self.fail(f"unexpected keyword argument '{e.kwargs[0][0]}'", e)

    def call(self, e: n.Call, expected: T.Type | None) -> T.Type:
        method = method_for(self, "callee_", e.func)
        if method is None:
            self.fail("this cannot be called", e)
        return method(self, e, e.func, expected)

    def callee_Name(self, e: n.Call, f: n.Name, expected: T.Type | None) -> T.Type:
        """`name(...)`: an internal function, a struct, a conversion or a builtin."""
        a = self.a
        name = f.id
        if any(name in s for s in self.scopes):
            self.fail(f"'{name}' is not a function", f)
        if name in a.functions:
            return self.call_internal(e, f, a.functions[name])
        if name in a.structs:
            return self.call_struct(e, a.structs[name])
        if name in a.errors:
            self.fail(f"custom error '{name}' can only be used in revert or require", e)
        target = T.base_type(name) or a.enums.get(name) or (T.InterfaceT(name) if name in a.interfaces else None)
        if target is not None:
            return self.convert(e, target)
        return self.builtin(e, name, expected)

    def callee_Attribute(self, e: n.Call, f: n.Attribute, expected: T.Type | None) -> T.Type:
        """`x.name(...)`: a namespaced builtin, an interface function, or push/pop on a storage array."""
        if isinstance(f.value, n.Name) and f.value.id in NAMESPACES and not any(f.value.id in s for s in self.scopes):
            return self.builtin(e, f"{f.value.id}.{f.attr}", expected)
        base_t = self.expr(f.value)
        if isinstance(base_t, T.InterfaceT):
            return self.call_external(e, f, base_t)
        if isinstance(base_t, T.ArrayT) and base_t.size is None and f.attr in ("push", "pop"):
            return self.call_array_method(e, f, base_t)
        self.fail(f"{base_t} has no function '{f.attr}'", f)

    def call_internal(self, e: n.Call, f: n.Name, g: FunctionInfo) -> T.Type:
        name = f.id
        self.no_kwargs(e)
        if not g.is_internal:
            self.fail(f"'{name}' is external; call it through an interface", f)
        if self.fn is None:
            self.fail("functions cannot be called here", e)
        self.fn.calls.setdefault(g, []).append(e)
        self.a.calls[e] = CallKind("internal", g)
        self.args(e.args, [p.type for p in g.params], e, f"'{name}'")
        if not g.returns:
            return T.VOID
        return g.returns[0] if len(g.returns) == 1 else T.TupleT(tuple(g.returns))

    def call_struct(self, e: n.Call, st: T.StructT) -> T.Type:
        self.no_kwargs(e)
        self.a.calls[e] = CallKind("struct", st)
        self.args(e.args, [t for _, t in st.fields], e, f"struct '{st.name}'")
        return st

    def call_external(self, e: n.Call, f: n.Attribute, base_t: T.InterfaceT) -> T.Type:
        fns = self.a.interfaces[base_t.name]
        if f.attr not in fns:
            self.fail(f"interface '{base_t.name}' has no function '{f.attr}'", f)
        ext = fns[f.attr]
        kw = dict(e.kwargs)
        for k in kw:
            if k not in ("value", "gas"):
                self.fail(f"unexpected keyword argument '{k}'", e)
        if "value" in kw:
            if ext.mutability != "payable":
                self.fail(f"'{f.attr}' is not payable", e)
            self.expr(kw["value"], T.UINT256)
        if "gas" in kw:
            self.expr(kw["gas"], T.UINT256)
        self.args(e.args, ext.params, e, f"'{f.attr}'")
        self.a.calls[e] = CallKind("external", ext)
        self.effect("call" if ext.mutability not in ("view", "pure") else "read", e)
        if not ext.returns:
            return T.VOID
        return ext.returns[0] if len(ext.returns) == 1 else T.TupleT(tuple(ext.returns))

    def call_array_method(self, e: n.Call, f: n.Attribute, base_t: T.ArrayT) -> T.Type:
        self.no_kwargs(e)
        root = f.value
        while isinstance(root, (n.Index, n.Attribute)):
            root = root.value
        if not isinstance(self.a.symbols.get(root), StorageVar):
            self.fail(f"'{f.attr}' works on storage arrays only", e)
        self.effect("write", e)
        self.a.calls[e] = CallKind("builtin", f.attr)
        if f.attr == "push":
            self.args(e.args, [base_t.elem], e, "'push'")
            return T.VOID
        self.args(e.args, [], e, "'pop'")
        return base_t.elem if base_t.elem.is_word else T.VOID

    def convert(self, e: n.Call, target: T.Type) -> T.Type:
        self.no_kwargs(e)
        if len(e.args) != 1:
            self.fail(f"converting to {target} takes one argument", e)
        arg = e.args[0]
        c = self.const_eval(arg)
        if c is not None and T.is_integer(target):
            self.expr(arg, target)
            self.a.consts[e] = c
            self.a.calls[e] = CallKind("convert", target)
            return target
        src = self.expr(arg, T.UINT256 if c is not None and not isinstance(target, (T.BytesNT,)) else None)
        ok = False
        if T.is_integer(target):
            ok = T.is_integer(src) or isinstance(src, (T.BoolT, T.EnumT)) or (isinstance(src, (T.AddressT, T.InterfaceT)) and isinstance(target, T.UintT)) or (isinstance(src, T.BytesNT) and target.bits == src.n * 8)
        elif isinstance(target, T.AddressT):
            ok = isinstance(src, (T.InterfaceT, T.AddressT)) or (isinstance(src, T.UintT)) or src == T.BytesNT(20)
        elif isinstance(target, T.InterfaceT):
            ok = isinstance(src, (T.AddressT, T.InterfaceT))
        elif isinstance(target, T.BytesNT):
            ok = isinstance(src, T.BytesNT) or (isinstance(src, T.UintT) and src.bits == target.n * 8) or isinstance(src, T.AddressT) and target.n == 20 or (isinstance(src, T.BytesT) and not isinstance(src, T.StringT))
        elif isinstance(target, T.EnumT):
            ok = isinstance(src, T.UintT)
        elif isinstance(target, T.BoolT):
            ok = T.is_integer(src)
        elif isinstance(target, T.BytesT):
            ok = T.is_bytes_like(src)
        if not ok:
            self.fail(f"cannot convert {src} to {target}", e)
        self.a.calls[e] = CallKind("convert", target)
        return target

