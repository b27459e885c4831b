"""Contract-level declarations, in phases: types, then struct fields and interfaces, then
constants, then storage, immutables, events, errors and functions (`declare_<phase>_<Decl>`)."""
from __future__ import annotations

from synq.ast import nodes as n
from synq.semantics import types as T
from synq.semantics.base import CheckerBase
from synq.semantics.symbols import (
    ConstVar,
    ErrorInfo,
    EventInfo,
    ExtFunction,
    FunctionInfo,
    ImmutableVar,
    LocalVar,
    StorageVar,
)


class DeclarationChecker(CheckerBase):
    # phase 1: user types exist (empty), so later phases can refer to them in any order
    def declare_type_EnumDef(self, d: n.EnumDef) -> None:
        if len(set(d.members)) != len(d.members):
            self.err(f"enum '{d.name}' repeats a member", d)
        if len(d.members) > 256:
            self.err("an enum has at most 256 members", d)
        self.a.enums[d.name] = T.EnumT(d.name, d.members)

    def declare_type_StructDef(self, d: n.StructDef) -> None:
        self.a.structs[d.name] = T.StructT(d.name, ())

    def declare_type_InterfaceDef(self, d: n.InterfaceDef) -> None:
        self.a.interfaces[d.name] = {}

    # phase 2: struct fields (a struct may contain only structs declared before it) and interface functions
    def declare_fields_StructDef(self, d: n.StructDef) -> None:
        fields = []
        names = set()
        for f in d.fields:
            if f.name in names:
                self.err(f"field '{f.name}' is declared twice", f)
            names.add(f.name)
            ft = self.resolve_type(f.type)
            if isinstance(ft, T.StructT) and (ft.name == d.name or not ft.fields):
                self.fail(f"struct '{d.name}' cannot contain '{ft.name}' (declare it first, no recursion)", f.type)
            fields.append((f.name, ft))
        st = T.StructT(d.name, tuple(fields))
        self.a.structs[d.name] = st

    def declare_fields_InterfaceDef(self, d: n.InterfaceDef) -> None:
        fns = {}
        for f in d.functions:
            if f.name in fns:
                self.err(f"'{f.name}' is declared twice in interface '{d.name}'", f)
            mut = self.mutability_of(f)
            params = [self.resolve_type(p.type, abi=True) for p in f.params]
            rets = [self.resolve_type(t, abi=True) for t in f.returns]
            fns[f.name] = ExtFunction(d.name, f.name, params, rets, mut)
        self.a.interfaces[d.name] = fns

    def mutability_of(self, f: n.FuncDef) -> str:
        muts = [m for m in f.modifiers if m in ("view", "pure", "payable")]
        if len(muts) > 1:
            self.err("choose one of view, pure, payable", f)
        return muts[0] if muts else "nonpayable"

    # phase 3: constants (array sizes in later declarations may name them)
    def declare_const_ConstDef(self, d: n.ConstDef) -> None:
        t = self.resolve_type(d.type)
        if not (t.is_word or T.is_bytes_like(t)):
            self.fail("constants must be of a value type, bytes or string", d.type)
        saved, self.fn = self.fn, None
        self.expr(d.value, t)
        self.fn = saved
        value = self.a.consts.get(d.value)
        if value is None:
            self.fail("a constant needs a value known at compile time", d.value)
        self.a.constants[d.name] = ConstVar(d.name, t, value, d.span)

    # phase 4: storage, immutables, events, errors, functions
    def declare_StorageDef(self, d: n.StorageDef) -> None:
        a = self.a
        t = self.resolve_type(d.type)
        var = StorageVar(d.name, t, a.next_slot, d.public, d.span)
        a.next_slot += t.storage_slots
        a.storage[d.name] = var
        if d.public:
            self.make_getter(var, d)

    def declare_ImmutableDef(self, d: n.ImmutableDef) -> None:
        a = self.a
        t = self.resolve_type(d.type)
        if not t.is_word:
            self.fail("immutables must be of a value type", d.type)
        var = ImmutableVar(d.name, t, len(a.immutables), d.public, d.span)
        a.immutables[d.name] = var
        if d.public:
            self.make_getter(var, d)

    def declare_EventDef(self, d: n.EventDef) -> None:
        params = []
        if sum(1 for p in d.params if p.indexed) > 3:
            self.err("an event has at most 3 indexed fields", d)
        for p in d.params:
            pt = self.resolve_type(p.type, abi=True)
            if p.indexed and not (pt.is_word or T.is_bytes_like(pt)) and pt.abi_dynamic:
                self.err("an indexed field must be a value type, bytes, string or a static array/struct", p)
            params.append((p.name, pt, p.indexed))
        self.a.events[d.name] = EventInfo(d.name, params)

    def declare_ErrorDef(self, d: n.ErrorDef) -> None:
        self.a.errors[d.name] = ErrorInfo(d.name, [(p.name, self.resolve_type(p.type, abi=True)) for p in d.params])

    def declare_FuncDef(self, d: n.FuncDef) -> None:
        self.declare_function(d)

    def make_getter(self, var, d: n.Decl) -> None:
        keys: list[T.Type] = []
        t = var.type
        while True:
            if isinstance(t, T.MapT):
                keys.append(t.key)
                t = t.value
            elif isinstance(t, T.ArrayT):
                keys.append(T.UINT256)
                t = t.elem
            else:
                break
        if T.contains_map(t):
            self.fail(f"public variable '{d.name}' has no getter type", d)
        g = FunctionInfo(d.name, None, [], [t], "external", "view", getter_of=var, getter_keys=keys)
        self.a.getters.append(g)

    def declare_function(self, d: n.FuncDef) -> None:
        vis = [m for m in d.modifiers if m in ("external", "public", "internal")]
        if len(vis) > 1:
            self.err("choose one of external, public, internal", d)
        if len(set(d.modifiers)) != len(d.modifiers):
            self.err("a modifier is repeated", d)
        mut = self.mutability_of(d)
        if d.is_constructor:
            if vis:
                self.err("a constructor has no visibility", d)
            if mut in ("view", "pure"):
                self.err("a constructor cannot be view or pure", d)
            visibility = "internal"
        else:
            visibility = vis[0] if vis else "internal"
        if visibility == "internal" and mut == "payable" and not d.is_constructor:
            self.err("only external or public functions can be payable", d)
        params = []
        names = set()
        for p in d.params:
            if p.name in names:
                self.err(f"parameter '{p.name}' is declared twice", p)
            names.add(p.name)
            pt = self.resolve_type(p.type, abi=visibility != "internal" or d.is_constructor)  # init code's args
            params.append(LocalVar(p.name, pt, p.span))
        rets = [self.resolve_type(t, abi=visibility != "internal") for t in d.returns]
        for t in rets:
            if isinstance(t, T.MapT):
                self.err("functions cannot return mappings", d)
        info = FunctionInfo(d.name, d, params, rets, visibility, mut, "nonreentrant" in d.modifiers)
        info.locals.extend(params)
        if d.is_constructor:
            self.a.constructor = info
        else:
            self.a.functions[d.name] = info

