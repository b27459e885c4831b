"""Semantic analysis: resolve names, check types and mutability, lay out storage.

Errors are collected (not raised one by one) and raised together, sorted by position.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synq.ast import nodes as n
from synq.builtins import BUILTINS
from synq.errors import SemanticError, Span, SynqUserError, raise_if_any
from synq.semantics import types as T
from synq.semantics.symbols import (
    CallKind, ConstVar, ErrorInfo, EventInfo, ExtFunction, FunctionInfo, ImmutableVar,
    LocalVar, StorageVar,
)

ENV_VARS: dict[str, T.Type] = {
    "msg.sender": T.ADDRESS, "msg.value": T.UINT256, "msg.data": T.BYTES, "msg.gas": T.UINT256,
    "block.number": T.UINT256, "block.timestamp": T.UINT256, "block.chainid": T.UINT256,
    "block.coinbase": T.ADDRESS, "block.basefee": T.UINT256, "block.prevrandao": T.UINT256,
    "block.gaslimit": T.UINT256, "tx.origin": T.ADDRESS, "tx.gasprice": T.UINT256,
}
PRECOMPILE_BUILTINS = set(BUILTINS)  # declared once, in precompiles/spec.py (synq/builtins.py is generated)
NAMESPACES = {"msg", "block", "tx", "ai", "pqc", "quorum", "abi", "bridge"}
RESERVED = NAMESPACES | {"self", "len", "keccak256", "send", "blockhash", "min", "max", "empty", "ecrecover"}
EFFECT_ORDER = {"pure": 0, "view": 1, "nonpayable": 2, "payable": 2}


class _Abort(Exception):
    """Stop checking the current expression (an error was recorded)."""


@dataclass
class Analysis:
    module: n.Module
    types: dict[n.Node, T.Type] = field(default_factory=dict)
    symbols: dict[n.Node, Any] = field(default_factory=dict)
    consts: dict[n.Node, Any] = field(default_factory=dict)
    calls: dict[n.Call, CallKind] = field(default_factory=dict)
    storage: dict[str, StorageVar] = field(default_factory=dict)
    immutables: dict[str, ImmutableVar] = field(default_factory=dict)
    constants: dict[str, ConstVar] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    constructor: FunctionInfo | None = None
    events: dict[str, EventInfo] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)
    structs: dict[str, T.StructT] = field(default_factory=dict)
    enums: dict[str, T.EnumT] = field(default_factory=dict)
    interfaces: dict[str, dict[str, ExtFunction]] = field(default_factory=dict)
    getters: list[FunctionInfo] = field(default_factory=list)
    next_slot: int = 0

    def type_of(self, node: n.Node) -> T.Type:
        return self.types[node]

    @property
    def external_functions(self) -> list[FunctionInfo]:
        return [f for f in self.functions.values() if f.is_external] + self.getters


class Analyzer:
    def __init__(self, module: n.Module) -> None:
        self.a = Analysis(module)
        self.errors: list[SynqUserError] = []
        self.fn: FunctionInfo | None = None
        self.scopes: list[dict[str, LocalVar]] = []
        self.loop_depth = 0

    # ---- helpers -----------------------------------------------------------
    def err(self, msg: str, node: n.Node | Span | None, hint: str | None = None) -> None:
        span = node if isinstance(node, Span) else (node.span if node is not None else Span())
        self.errors.append(SemanticError(msg, span, hint))

    def fail(self, msg: str, node: n.Node | None, hint: str | None = None):
        self.err(msg, node, hint)
        raise _Abort()

    def effect(self, kind: str, node: n.Node) -> None:
        if self.fn is not None:
            self.fn.effects.setdefault(kind, []).append(node)

    # ---- entry ---------------------------------------------------------------
    def run(self) -> Analysis:
        items = self.a.module.items
        seen: dict[str, n.Decl] = {}
        for d in items:
            if isinstance(d, n.FuncDef) and d.is_constructor:
                if self.a.constructor is not None or "constructor" in seen:
                    self.err("a contract has at most one constructor", d)
                seen["constructor"] = d
                continue
            if d.name in seen:
                self.err(f"'{d.name}' is already declared", d)
            elif d.name in RESERVED or T.base_type(d.name) is not None:
                self.err(f"'{d.name}' is a reserved name", d)
            seen[d.name] = d
        # types first (structs may refer to each other in order), then the rest
        for d in items:
            self.guard(self.declare_type, d)
        for d in items:
            self.guard(self.declare_struct_fields, d)
        for d in items:
            if isinstance(d, n.ConstDef):
                self.guard(self.declare_const, d)
        for d in items:
            self.guard(self.declare_other, d)
        for f in list(self.a.functions.values()) + ([self.a.constructor] if self.a.constructor else []):
            self.check_function(f)
        self.check_call_graph()
        self.check_selectors()
        raise_if_any(self.errors)
        return self.a

    def guard(self, fn, *args):
        try:
            return fn(*args)
        except _Abort:
            return None

    # ---- declarations ----------------------------------------------------------
    def declare_type(self, d: n.Decl) -> None:
        if isinstance(d, n.EnumDef):
            if len(set(d.members)) != len(d.members):
                self.err(f"enum '{d.name}' repeats a member", d)
            if len(d.members) > 256:
                self.err("an enum has at most 256 members", d)
            self.a.enums[d.name] = T.EnumT(d.name, d.members)
        elif isinstance(d, n.StructDef):
            self.a.structs[d.name] = T.StructT(d.name, ())
        elif isinstance(d, n.InterfaceDef):
            self.a.interfaces[d.name] = {}

    def declare_struct_fields(self, d: n.Decl) -> None:
        if isinstance(d, n.StructDef):
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
        elif isinstance(d, n.InterfaceDef):
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

    def declare_const(self, d: n.ConstDef) -> None:
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

    def declare_other(self, d: n.Decl) -> None:
        a = self.a
        if isinstance(d, n.StorageDef):
            t = self.resolve_type(d.type)
            var = StorageVar(d.name, t, a.next_slot, d.public, d.span)
            a.next_slot += t.storage_slots
            a.storage[d.name] = var
            if d.public:
                self.make_getter(var, d)
        elif isinstance(d, n.ImmutableDef):
            t = self.resolve_type(d.type)
            if not t.is_word:
                self.fail("immutables must be of a value type", d.type)
            var = ImmutableVar(d.name, t, len(a.immutables), d.public, d.span)
            a.immutables[d.name] = var
            if d.public:
                self.make_getter(var, d)
        elif isinstance(d, n.EventDef):
            params = []
            if sum(1 for p in d.params if p.indexed) > 3:
                self.err("an event has at most 3 indexed fields", d)
            for p in d.params:
                pt = self.resolve_type(p.type, abi=True)
                if p.indexed and not (pt.is_word or T.is_bytes_like(pt)) and pt.abi_dynamic:
                    self.err("an indexed field must be a value type, bytes, string or a static array/struct", p)
                params.append((p.name, pt, p.indexed))
            a.events[d.name] = EventInfo(d.name, params)
        elif isinstance(d, n.ErrorDef):
            a.errors[d.name] = ErrorInfo(d.name, [(p.name, self.resolve_type(p.type, abi=True)) for p in d.params])
        elif isinstance(d, n.FuncDef):
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
            pt = self.resolve_type(p.type, abi=visibility != "internal")
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

    def resolve_type(self, te: n.TypeExpr, abi: bool = False) -> T.Type:
        if isinstance(te, n.NamedType):
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
        if isinstance(te, n.ArrayType):
            elem = self.resolve_type(te.elem, abi)
            if isinstance(elem, T.MapT):
                self.fail("arrays of mappings are not supported", te)
            if te.size is None:
                return T.ArrayT(elem, None)
            size = self.const_eval(te.size)
            if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= 2**16:
                self.fail("an array size must be a constant between 1 and 65536", te.size)
            return T.ArrayT(elem, size)
        if isinstance(te, n.MapType):
            if abi:
                self.fail("mappings can only be storage variables", te)
            key = self.resolve_type(te.key)
            if not (key.is_word or T.is_bytes_like(key)):
                self.fail("a mapping key must be a value type, bytes or string", te.key)
            return T.MapT(key, self.resolve_type(te.value))
        self.fail("bad type", te)

    # ---- functions ------------------------------------------------------------
    def check_function(self, f: FunctionInfo) -> None:
        self.fn = f
        self.scopes = [{p.name: p for p in f.params}]
        for p, node in zip(f.params, f.node.params):
            self.a.symbols[node] = p
        self.loop_depth = 0
        self.block(f.node.body)
        if f.returns and not self.terminates(f.node.body):
            self.err(f"function '{f.name}' must end in a return or revert on every path", f.node)
        self.fn = None

    def terminates(self, b: n.Block) -> bool:
        for s in b.stmts:
            if isinstance(s, (n.Return, n.Revert)):
                return True
            if isinstance(s, n.If) and s.orelse is not None and self.terminates(s.body) and self.terminates(s.orelse):
                return True
            if isinstance(s, n.Assert) and self.a.consts.get(s.cond) is False:
                return True
        return False

    def check_call_graph(self) -> None:
        fns = list(self.a.functions.values()) + ([self.a.constructor] if self.a.constructor else [])
        # recursion
        state: dict[FunctionInfo, int] = {}

        def visit(f: FunctionInfo, stack: list[FunctionInfo]) -> None:
            state[f] = 1
            for g, sites in f.calls.items():
                if state.get(g) == 1:
                    self.err(f"recursion is not allowed ('{f.name}' calls '{g.name}' which calls back)", sites[0])
                elif g not in state:
                    visit(g, stack + [g])
            state[f] = 2

        for f in fns:
            if f not in state:
                visit(f, [f])
        # transitive effects
        changed = True
        closure = {f: {k for k in f.effects} for f in fns}
        while changed:
            changed = False
            for f in fns:
                for g in f.calls:
                    new = closure[g] - closure[f]
                    if new:
                        closure[f] |= new
                        changed = True
        for f in fns:
            f.transitive = closure[f]  # type: ignore[attr-defined]
            if f.is_constructor:
                continue
            limit = f.mutability
            if limit in ("pure", "view"):
                bad = {"write", "call"} | ({"read"} if limit == "pure" else set())
                for kind in sorted(bad):
                    for node in f.effects.get(kind, []):
                        what = {"write": "changes state", "call": "makes a state-changing call", "read": "reads state or the environment"}[kind]
                        self.err(f"this {what}, but '{f.name}' is {limit}", node)
                for g, sites in f.calls.items():
                    if closure[g] & bad:
                        self.err(f"'{g.name}' may change or read state, but '{f.name}' is {limit}", sites[0])

    def check_selectors(self) -> None:
        seen: dict[bytes, str] = {}
        for f in self.a.external_functions:
            if f.selector in seen and seen[f.selector] != f.name:
                node = f.node or f.getter_of
                self.err(f"selector of '{f.signature}' collides with '{seen[f.selector]}'", getattr(node, "span", None) and node)
            elif f.name in seen.values():
                self.err(f"external function '{f.name}' is declared twice", f.node)
            seen[f.selector] = f.name

    # ---- statements -------------------------------------------------------------
    def block(self, b: n.Block) -> None:
        self.scopes.append({})
        for s in b.stmts:
            try:
                self.stmt(s)
            except _Abort:
                pass
        self.scopes.pop()

    def declare_local(self, name: str, t: T.Type, node: n.Node, readonly: bool = False) -> LocalVar:
        if name in RESERVED or T.base_type(name) is not None:
            self.fail(f"'{name}' is a reserved name", node)
        for scope in self.scopes:
            if name in scope:
                self.fail(f"'{name}' is already declared", node)
        if name in self.a.storage or name in self.a.constants or name in self.a.immutables or name in self.a.functions:
            self.fail(f"'{name}' shadows a contract-level name", node)
        if T.contains_map(t):
            self.fail("mappings can only be storage variables", node)
        var = LocalVar(name, t, node.span, readonly)
        self.scopes[-1][name] = var
        self.fn.locals.append(var)
        self.a.symbols[node] = var
        return var

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
        if isinstance(s, n.Let):
            tys = [self.resolve_type(p.type) for p in s.targets]
            try:
                self.let_value(s, tys)
            finally:  # declare even when the value is wrong, so later uses do not cascade
                for p, t in zip(s.targets, tys):
                    self.guard(self.declare_local, p.name, t, p)
        elif isinstance(s, n.Assign):
            if len(s.targets) == 1:
                t = self.target(s.targets[0])
                self.expr(s.value, t)
            else:
                vt = self.expr(s.value)
                if not isinstance(vt, T.TupleT) or len(vt.items) != len(s.targets):
                    self.fail(f"expected {len(s.targets)} values, got {vt}", s.value)
                for tgt, got in zip(s.targets, vt.items):
                    want = self.target(tgt)
                    if want != got:
                        self.err(f"cannot assign {got} to {want}", tgt)
        elif isinstance(s, n.AugAssign):
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
        elif isinstance(s, n.If):
            self.expr(s.cond, T.BOOL)
            self.block(s.body)
            if s.orelse is not None:
                self.block(s.orelse)
        elif isinstance(s, n.For):
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
        elif isinstance(s, n.Return):
            rets = self.fn.returns
            if len(s.values) != len(rets):
                self.fail(f"'{self.fn.name}' returns {len(rets)} value(s), not {len(s.values)}", s)
            for v, t in zip(s.values, rets):
                self.expr(v, t)
        elif isinstance(s, n.Emit):
            ev = self.a.events.get(s.event)
            if ev is None:
                self.fail(f"unknown event '{s.event}'", s)
            self.effect("write", s)
            self.args(s.args, [t for _, t, _ in ev.params], s, f"event '{ev.name}'")
        elif isinstance(s, n.Revert):
            if s.value is not None:
                self.reason(s.value)
        elif isinstance(s, n.Require):
            self.expr(s.cond, T.BOOL)
            if s.message is not None:
                self.reason(s.message)
        elif isinstance(s, n.Assert):
            self.expr(s.cond, T.BOOL)
        elif isinstance(s, (n.Break, n.Continue)):
            if self.loop_depth == 0:
                self.fail(f"'{'break' if isinstance(s, n.Break) else 'continue'}' outside a loop", s)
        elif isinstance(s, n.ExprStmt):
            if not isinstance(s.expr, n.Call):
                self.err("this expression does nothing", s.expr)
            self.expr(s.expr, allow_void=True)
        else:  # pragma: no cover
            self.fail("unsupported statement", s)

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
        if isinstance(e, n.Name):
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
            t = self.expr(e)
        elif isinstance(e, (n.Index, n.Attribute)):
            t = self.expr(e)
            root = e
            while isinstance(root, (n.Index, n.Attribute)):
                root = root.value
            sym = self.a.symbols.get(root)
            if isinstance(sym, StorageVar):
                self.effect("write", e)
            elif not isinstance(sym, LocalVar):
                self.fail("this cannot be assigned", e)
        else:
            self.fail("this cannot be assigned", e)
        if isinstance(t, T.MapT):
            self.fail("a mapping cannot be assigned as a whole", e)
        return t

    # ---- expressions -------------------------------------------------------------
    def lookup(self, e: n.Name):
        for scope in reversed(self.scopes):
            if e.id in scope:
                self.a.symbols[e] = scope[e.id]
                return scope[e.id]
        a = self.a
        for table in (a.constants, a.storage, a.immutables):
            if e.id in table:
                self.a.symbols[e] = table[e.id]
                return table[e.id]
        self.fail(f"unknown name '{e.id}'", e)

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
        a = self.a
        if isinstance(e, n.IntLit):
            a.consts[e] = e.value
            return self.literal_type(e.value, e, expected)
        if isinstance(e, n.BoolLit):
            a.consts[e] = e.value
            return T.BOOL
        if isinstance(e, (n.StrLit, n.HexLit)):
            a.consts[e] = e.value
            return self.literal_type(e.value, e, expected)
        if isinstance(e, n.Name):
            if e.id == "self":
                self.effect("read", e)
                return T.ADDRESS
            sym = self.lookup(e)
            if isinstance(sym, ConstVar):
                a.consts[e] = sym.value
                if isinstance(sym.value, int) and not isinstance(sym.value, bool) and expected is not None and T.is_integer(expected) and T.is_integer(sym.type):
                    return self.literal_type(sym.value, e, expected)
                return sym.type
            if isinstance(sym, (StorageVar, ImmutableVar)):
                self.effect("read", e)
            return sym.type
        if isinstance(e, n.BinOp):
            return self.binop(e, expected)
        if isinstance(e, n.Compare):
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
        if isinstance(e, n.BoolOp):
            self.expr(e.left, T.BOOL)
            self.expr(e.right, T.BOOL)
            lv, rv = a.consts.get(e.left), a.consts.get(e.right)
            if lv is not None and rv is not None:
                a.consts[e] = (lv and rv) if e.op == "&&" else (lv or rv)
            return T.BOOL
        if isinstance(e, n.UnaryOp):
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
        if isinstance(e, n.Attribute):
            return self.attribute(e)
        if isinstance(e, n.Index):
            return self.index(e)
        if isinstance(e, n.Call):
            return self.call(e, expected)
        if isinstance(e, n.ArrayLit):
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
        self.fail("unsupported expression", e)

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

    def const_eval(self, e: n.Expr) -> Any:
        """Value of a literal-only integer expression, without recording errors; None if not constant."""
        if isinstance(e, n.IntLit):
            return e.value
        if isinstance(e, n.Name):
            c = self.a.constants.get(e.id)
            if c is not None and isinstance(c.value, int) and not isinstance(c.value, bool) and not any(e.id in s for s in self.scopes):
                return c.value
            return None
        if isinstance(e, n.UnaryOp) and e.op == "-":
            v = self.const_eval(e.operand)
            return None if v is None else -v
        if isinstance(e, n.BinOp):
            lv, rv = self.const_eval(e.left), self.const_eval(e.right)
            if lv is None or rv is None:
                return None
            return fold(e.op, lv, rv)
        return None

    def binop(self, e: n.BinOp, expected: T.Type | None) -> T.Type:
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

    def attribute(self, e: n.Attribute) -> T.Type:
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

    def index(self, e: n.Index) -> T.Type:
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

    def args(self, args: tuple[n.Expr, ...], types: list[T.Type], node: n.Node, what: str) -> None:
        if len(args) != len(types):
            self.fail(f"{what} takes {len(types)} argument(s), got {len(args)}", node)
        for x, t in zip(args, types):
            self.guard(self.expr, x, t)

    def no_kwargs(self, e: n.Call) -> None:
        if e.kwargs:
            self.fail(f"unexpected keyword argument '{e.kwargs[0][0]}'", e)

    def call(self, e: n.Call, expected: T.Type | None) -> T.Type:
        a = self.a
        f = e.func
        if isinstance(f, n.Name):
            name = f.id
            if any(name in s for s in self.scopes):
                self.fail(f"'{name}' is not a function", f)
            if name in a.functions:
                self.no_kwargs(e)
                g = a.functions[name]
                if not g.is_internal:
                    self.fail(f"'{name}' is external; call it through an interface", f)
                if self.fn is None:
                    self.fail("functions cannot be called here", e)
                self.fn.calls.setdefault(g, []).append(e)
                a.calls[e] = CallKind("internal", g)
                self.args(e.args, [p.type for p in g.params], e, f"'{name}'")
                if not g.returns:
                    return T.VOID
                return g.returns[0] if len(g.returns) == 1 else T.TupleT(tuple(g.returns))
            if name in a.structs:
                self.no_kwargs(e)
                st = a.structs[name]
                a.calls[e] = CallKind("struct", st)
                self.args(e.args, [t for _, t in st.fields], e, f"struct '{name}'")
                return st
            if name in a.errors:
                self.fail(f"custom error '{name}' can only be used in revert or require", e)
            target = T.base_type(name) or a.enums.get(name) or (T.InterfaceT(name) if name in a.interfaces else None)
            if target is not None:
                return self.convert(e, target)
            return self.builtin(e, name, expected)
        if isinstance(f, n.Attribute):
            if isinstance(f.value, n.Name) and f.value.id in NAMESPACES and not any(f.value.id in s for s in self.scopes):
                return self.builtin(e, f"{f.value.id}.{f.attr}", expected)
            base_t = self.expr(f.value)
            if isinstance(base_t, T.InterfaceT):
                fns = a.interfaces[base_t.name]
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
                a.calls[e] = CallKind("external", ext)
                self.effect("call" if ext.mutability not in ("view", "pure") else "read", e)
                if not ext.returns:
                    return T.VOID
                return ext.returns[0] if len(ext.returns) == 1 else T.TupleT(tuple(ext.returns))
            if isinstance(base_t, T.ArrayT) and base_t.size is None and f.attr in ("push", "pop"):
                self.no_kwargs(e)
                root = f.value
                while isinstance(root, (n.Index, n.Attribute)):
                    root = root.value
                if not isinstance(a.symbols.get(root), StorageVar):
                    self.fail(f"'{f.attr}' works on storage arrays only", e)
                self.effect("write", e)
                a.calls[e] = CallKind("builtin", f.attr)
                if f.attr == "push":
                    self.args(e.args, [base_t.elem], e, "'push'")
                    return T.VOID
                self.args(e.args, [], e, "'pop'")
                return base_t.elem if base_t.elem.is_word else T.VOID
            self.fail(f"{base_t} has no function '{f.attr}'", f)
        self.fail("this cannot be called", e)

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

    def builtin(self, e: n.Call, name: str, expected: T.Type | None) -> T.Type:
        a = self.a
        a.calls[e] = CallKind("builtin", name)
        if name != "abi.encode":
            self.no_kwargs(e)
        if name == "keccak256":
            if len(e.args) != 1:
                self.fail("keccak256 takes one argument", e)
            t = self.expr(e.args[0])
            if not (T.is_bytes_like(t) or isinstance(t, T.BytesNT)):
                self.fail(f"keccak256 needs bytes, string or bytesN, not {t}", e.args[0])
            return T.BYTES32
        if name == "len":
            if len(e.args) != 1:
                self.fail("len takes one argument", e)
            t = self.expr(e.args[0])
            if not (T.is_bytes_like(t) or isinstance(t, T.ArrayT)):
                self.fail(f"len needs bytes, string or an array, not {t}", e.args[0])
            return T.UINT256
        if name == "send":
            self.args(e.args, [T.ADDRESS, T.UINT256], e, "send")
            self.effect("call", e)
            return T.VOID
        if name == "blockhash":
            self.args(e.args, [T.UINT256], e, "blockhash")
            self.effect("read", e)
            return T.BYTES32
        if name in ("min", "max"):
            if len(e.args) != 2:
                self.fail(f"{name} takes two arguments", e)
            lt, rt = self.operands(e.args[0], e.args[1], expected)
            if lt != rt or not T.is_integer(lt):
                self.fail(f"{name} needs two integers of the same type", e)
            return lt
        if name in BUILTINS:
            b = BUILTINS[name]
            self.args(e.args, [T.base_type(t) for _, t in b.params], e, name)
            if b.effect:
                self.effect(b.effect, e)
            return T.base_type(b.returns)
        if name == "abi.encode":
            self.no_kwargs(e)
            for x in e.args:
                t = self.expr(x)
                if isinstance(t, (T.MapT, T.TupleT, T.VoidT)):
                    self.fail(f"cannot ABI-encode {t}", x)
            return T.BYTES
        if name == "abi.decode":
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
        self.fail(f"unknown function '{name}'", e.func)


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


def analyze(module: n.Module) -> Analysis:
    """Check `module`; return the facts later stages need, or raise every error found."""
    try:
        return Analyzer(module).run()
    except SynqUserError as err:
        raise err.attach(module.path, module.source) from None
