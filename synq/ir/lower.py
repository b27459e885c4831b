"""AST + Analysis -> IR for the init code and the runtime code.

Memory layout: 0x00-0x3f scratch, 0x40 free-memory pointer, 0x60 zero, 0x80.. one static
frame per function (no recursion, so frames never overlap), then a bump-allocated heap.
Every local lives in its frame slot; a value type is the word itself, a reference type
(bytes, string, arrays, structs) is a pointer to its memory image:
    bytes/string: [length][data, zero padded]   T[]: [length][words]   T[N], struct: [words]
where a nested reference type's word is again a pointer.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from synq.ast import nodes as n
from synq.errors import InternalCompilerError, NO_SPAN, Span
from synq.builtins import BUILTINS
from synq.ir.node import IRNode
from synq.semantics import types as T
from synq.semantics.analysis import Analysis
from synq.semantics.symbols import (
    ErrorInfo, ExtFunction, FunctionInfo, ImmutableVar, LocalVar, StorageVar,
)

FREE_PTR = 0x40
FRAME_START = 0x80
LOCK_SLOT = 0  # transient storage slot of the reentrancy lock
ERROR_SELECTOR = bytes.fromhex("08c379a0")
PANIC_OVERFLOW, PANIC_DIV_ZERO, PANIC_ASSERT, PANIC_INDEX, PANIC_ENUM, PANIC_POP = 0x11, 0x12, 0x01, 0x32, 0x21, 0x31
# precompile addresses come from the one declaration of each builtin (precompiles/spec.py -> synq/builtins.py)
AI_INFER, QUORUM, ECRECOVER = (BUILTINS[b].addresses[0] for b in ("ai.infer", "quorum.verify", "ecrecover"))
BRIDGE_RECEIVE, BRIDGE_SEND = BUILTINS["bridge.receive"].addresses[0], BUILTINS["bridge.send"].addresses[0]
PQC_FAMILY_BASE = BUILTINS["pqc.verify"].addresses[0] - 1  # family 1, 2, 3 = ML-DSA, Falcon, SLH-DSA
MAX_LEN = 0xFFFFFFFF

REVERT0 = ["revert", 0, 0]


def ceil32(x):
    return ["and", ["add", x, 31], ["not", 31]]


@dataclass
class Place:
    kind: str  # storage | memory | immutable_code
    addr: Any  # IR of the slot / memory address / immutable index
    type: T.Type


@dataclass
class Program:
    init: IRNode
    runtime: IRNode


class Lowering:
    def __init__(self, a: Analysis) -> None:
        self.a = a
        self.ids = itertools.count()
        self.mem: dict[LocalVar, int] = {}
        self.next_mem = FRAME_START
        self.fn: FunctionInfo | None = None
        self.mode = "external"  # external | internal | ctor
        self.loops: list[int] = []
        self.ret_slot: dict[FunctionInfo, int] = {}
        self.ret_vals: dict[FunctionInfo, list[int]] = {}
        self.imm_base = 0
        self.is_init = False
        self.span: Span = NO_SPAN
        self.value_checked = False

    # ---- utilities ------------------------------------------------------------
    def tmp(self, base: str = "t") -> str:
        return f"{base}{next(self.ids)}"

    def label(self, base: str) -> str:
        return f"_{base}{next(self.ids)}"

    def slot(self) -> int:
        off = self.next_mem
        self.next_mem += 32
        return off

    def I(self, x: Any) -> IRNode:
        return IRNode.make(x, self.span)

    def alloc(self, size: Any, body) -> list:
        """(with p <fresh memory of `size` bytes> body(p))."""
        p = self.tmp("p")
        return ["with", p, ["mload", FREE_PTR], ["seq", ["mstore", FREE_PTR, ["add", p, size]], body(p)]]

    def lock_acquires(self, f: FunctionInfo) -> bool:
        return f.is_external and f.mutability in ("nonpayable", "payable") and (
            f.nonreentrant or "call" in getattr(f, "transitive", set()))

    # ---- entry -------------------------------------------------------------
    def run(self) -> Program:
        a = self.a
        for f in list(a.functions.values()) + ([a.constructor] if a.constructor else []):
            for v in f.locals:
                self.mem[v] = self.slot()
            if f.is_internal and not f.is_constructor:
                self.ret_slot[f] = self.slot()
                self.ret_vals[f] = [self.slot() for _ in f.returns]
        self.imm_base = self.next_mem
        self.next_mem += 32 * len(a.immutables)
        heap = self.next_mem
        runtime = self.runtime(heap)
        init = self.init(heap)
        return Program(self.I(init), self.I(runtime))

    def internal_bodies(self, wanted: set[FunctionInfo]) -> list:
        out = []
        for f in self.a.functions.values():
            if f in wanted and f.is_internal:
                self.fn, self.mode = f, "internal"
                body = self.block(f.node.body)
                out.append(["function_body", f"fn_{f.name}", ["seq", body, ["leave", self.ret_slot[f]]]])
        return out

    def reachable(self, roots: list[FunctionInfo]) -> set[FunctionInfo]:
        seen: set[FunctionInfo] = set()
        todo = list(roots)
        while todo:
            f = todo.pop()
            for g in f.calls:
                if g not in seen:
                    seen.add(g)
                    todo.append(g)
        return seen

    def runtime(self, heap: int) -> list:
        self.is_init = False
        a = self.a
        sel = self.tmp("sel")
        cases = []
        # when no function is payable one CALLVALUE check before the dispatch covers them all
        self.value_checked = all(f.mutability != "payable" for f in a.external_functions)
        for f in a.external_functions:
            self.span = f.node.span if f.node is not None else f.getter_of.span
            body = self.getter(f) if f.getter_of is not None else self.external_entry(f)
            cases.append(["case", int.from_bytes(f.selector, "big"), body])
        self.span = NO_SPAN
        dispatch = ["seq", ["mstore", FREE_PTR, heap],
                    ["if", ["lt", ["calldatasize"], 4], REVERT0],
                    ["if", ["callvalue"], REVERT0] if self.value_checked else "pass",
                    ["with", sel, ["shr", 224, ["calldataload", 0]], ["dispatch", sel, *cases, REVERT0]]]
        roots = [f for f in a.functions.values() if f.is_external]
        subs = self.internal_bodies(self.reachable(roots))
        return ["seq", dispatch, *subs]

    def init(self, heap: int) -> list:
        self.is_init = True
        a = self.a
        parts: list = [["mstore", FREE_PTR, heap]]
        subs = []
        ctor = a.constructor
        if ctor is not None:
            self.fn, self.mode = ctor, "ctor"
            self.span = ctor.node.span
            if ctor.mutability != "payable":
                parts.append(["if", ["callvalue"], REVERT0])
            if ctor.params:
                size = self.tmp("argsz")
                def body(p):
                    dec = []
                    head = 0
                    end = self.tmp("end")
                    for v in ctor.params:
                        dec.append(["mstore", self.mem[v], self.decode(v.type, ["add", p, head], p, end, "memory")])
                        head += v.type.abi_head
                    return ["with", end, ["add", p, size], ["seq",
                            ["codecopy", p, ["label_addr", "_init_end"], size],
                            ["if", ["lt", size, head], REVERT0], *dec]]
                parts.append(["with", size, ["sub", ["codesize"], ["label_addr", "_init_end"]],
                              self.alloc(size, body)])
            parts.append(self.block(ctor.node.body))
            subs = self.internal_bodies(self.reachable([ctor]))
        self.span = NO_SPAN
        n_imm = len(a.immutables)
        def deploy(p):
            stores = [["mstore", ["add", ["add", p, ["runtime_size"]], 32 * i], ["mload", self.imm_base + 32 * i]]
                      for i in range(n_imm)]
            return ["seq", ["codecopy", p, ["runtime_offset"], ["runtime_size"]], *stores,
                    ["return", p, ["add", ["runtime_size"], 32 * n_imm]]]
        parts.append(self.alloc(["add", ["runtime_size"], 32 * n_imm], deploy))
        return ["seq", *parts, *subs]

    # ---- external entry points -----------------------------------------------
    def entry_checks(self, f: FunctionInfo, head: int) -> list:
        out: list = []
        if f.mutability != "payable" and not self.value_checked:
            out.append(["if", ["callvalue"], REVERT0])
        if head:  # the dispatcher has already checked for the 4-byte selector
            out.append(["if", ["lt", ["calldatasize"], 4 + head], REVERT0])
        if f.mutability in ("nonpayable", "payable"):
            out.append(["if", ["tload", LOCK_SLOT], self.revert_string("reentrant call")])
            if self.lock_acquires(f):
                out.append(["tstore", LOCK_SLOT, 1])
        return out

    def external_entry(self, f: FunctionInfo) -> list:
        self.fn, self.mode = f, "external"
        head = sum(v.type.abi_head for v in f.params)
        out = self.entry_checks(f, head)
        end = self.tmp("end")
        dec = []
        off = 4
        for v in f.params:
            dec.append(["mstore", self.mem[v], self.decode(v.type, off, 4, end, "calldata")])
            off += v.type.abi_head
        if dec:
            out.append(["with", end, ["calldatasize"], ["seq", *dec]])
        out.append(self.block(f.node.body))
        out.append(self.external_return([], []))
        return ["seq", *out]

    def external_return(self, types: list[T.Type], values: list) -> list:
        unlock = [["tstore", LOCK_SLOT, 0]] if self.mode == "external" and self.lock_acquires(self.fn) else []
        if not types:
            return ["seq", *unlock, ["stop"]]
        if all(t.is_word for t in types):
            # fast path: words straight into scratch-free memory at the heap pointer
            names = [self.tmp("r") for _ in values]
            inner: list = ["seq", *unlock]
            # the values are already on the stack and nothing runs after RETURN, so the
            # words go to memory from 0 (scratch, free pointer and frames are dead by now)
            for i, nm in enumerate(names):
                inner.append(["mstore", 32 * i, nm])
            inner.append(["return", 0, 32 * len(values)])
            for nm, v in reversed(list(zip(names, values))):
                inner = ["with", nm, v, inner]
            return inner
        buf = self.tmp("buf")
        return ["with", buf, self.encode(types, values), ["seq", *unlock, ["return", ["add", buf, 32], ["mload", buf]]]]

    def getter(self, f: FunctionInfo) -> list:
        self.fn, self.mode = f, "external"
        var = f.getter_of
        out = self.entry_checks(f, 32 * len(f.getter_keys))
        if isinstance(var, ImmutableVar):
            value = self.read_place(Place("immutable_code", var.index, var.type))
            return ["seq", *out, self.external_return([var.type], [value])]
        place = Place("storage", var.slot, var.type)
        end = self.tmp("end")
        for i, kt in enumerate(f.getter_keys):
            key = self.decode(kt, 4 + 32 * i, 4, end, "calldata")
            place = self.index_place(place, key)
        if T.is_bytes_like(place.type):  # straight from storage words into the return buffer
            s, ln, d, i, buf = self.tmp("s"), self.tmp("len"), self.tmp("d"), self.tmp("i"), self.tmp("buf")
            words = ["shr", 5, ["add", ln, 31]]
            body = ["with", buf, ["mload", FREE_PTR], ["seq",
                    ["mstore", buf, 32], ["mstore", ["add", buf, 32], ln],
                    ["with", d, ["seq", ["mstore", 0, s], ["sha3", 0, 32]],
                     ["range", i, 0, words, ["mstore", ["add", ["add", buf, 64], ["shl", 5, i]], ["sload", ["add", d, i]]]]],
                    ["return", buf, ["add", 64, ["shl", 5, words]]]]]
            return ["seq", *out, ["with", end, ["calldatasize"], ["with", s, place.addr, ["with", ln, ["sload", s], body]]]]
        value = self.read_place(place)
        return ["seq", *out, ["with", end, ["calldatasize"], self.external_return([f.returns[0]], [value])]]

    # ---- statements -------------------------------------------------------------
    def block(self, b: n.Block) -> list:
        out: list = ["seq"]
        for s in b.stmts:
            saved = self.span
            self.span = s.span
            out.append(self.I(self.stmt(s)))
            self.span = saved
        return out

    def stmt(self, s: n.Stmt) -> Any:
        a = self.a
        if isinstance(s, n.Let):
            vars_ = [a.symbols[p] for p in s.targets]
            if s.value is None:
                return ["seq", *[["mstore", self.mem[v], self.zero_value(v.type)] for v in vars_]]
            if len(vars_) == 1:
                return ["mstore", self.mem[vars_[0]], self.expr(s.value)]
            return self.multi_assign([Place("memory", self.mem[v], v.type) for v in vars_], s.value)
        if isinstance(s, n.Assign):
            if len(s.targets) == 1:
                value = self.expr(s.value)
                return self.write_place(self.place(s.targets[0]), value)
            return self.multi_assign([self.place(t) for t in s.targets], s.value)
        if isinstance(s, n.AugAssign):
            place = self.place(s.target)
            t = a.types[s.target]
            cur = self.tmp("cur")
            if place.kind == "storage" or (place.kind == "memory" and not isinstance(place.addr, int)):
                addr = self.tmp("addr")
                p2 = Place(place.kind, addr, place.type)
                return ["with", addr, place.addr,
                        self.write_place(p2, self.arith(s.op, t, self.read_place(p2), self.expr(s.value), a.types[s.value]))]
            return self.write_place(place, self.arith(s.op, t, self.read_place(place), self.expr(s.value), a.types[s.value]))
        if isinstance(s, n.If):
            cond = self.expr(s.cond)
            c = a.consts.get(s.cond)
            if c is True:
                return self.block(s.body)
            if c is False:
                return self.block(s.orelse) if s.orelse is not None else "pass"
            if s.orelse is None:
                return ["if", cond, self.block(s.body)]
            return ["if", cond, self.block(s.body), self.block(s.orelse)]
        if isinstance(s, n.For):
            var = a.symbols[s]
            start = self.expr(s.start) if s.start is not None else 0
            end = self.expr(s.end)
            st, en = self.tmp("start"), self.tmp("stop")
            i = self.tmp("i")
            body = ["seq", ["mstore", self.mem[var], i], self.block(s.body)]
            loop = ["range", i, st, en, body]
            checks: list = ["seq"]
            if s.bound is not None:
                bound = a.consts[s.bound]
                checks.append(["if", ["and", ["gt", en, st], ["gt", ["sub", en, st], bound]],
                               self.revert_string("loop bound exceeded")])
            return ["with", st, start, ["with", en, end, ["seq", checks, loop]]]
        if isinstance(s, n.Return):
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
        if isinstance(s, n.Emit):
            return self.emit(a.events[s.event], [self.expr(x) for x in s.args])
        if isinstance(s, n.Revert):
            return self.revert_with(s.value)
        if isinstance(s, n.Require):
            c = a.consts.get(s.cond)
            if c is True:
                return "pass"
            return ["if", ["iszero", self.expr(s.cond)], self.revert_with(s.message)]
        if isinstance(s, n.Assert):
            return ["if", ["iszero", self.expr(s.cond)], ["panic", PANIC_ASSERT]]
        if isinstance(s, n.Break):
            return ["break_range"]
        if isinstance(s, n.Continue):
            return ["continue_range"]
        if isinstance(s, n.ExprStmt):
            e = self.expr(s.expr)
            t = a.types.get(s.expr)
            if t is not None and not isinstance(t, T.VoidT):
                return ["pop", e]
            return e
        raise InternalCompilerError(f"cannot lower {type(s).__name__}")

    def multi_assign(self, places: list[Place], value_expr: n.Expr) -> list:
        call = value_expr
        kind = self.a.calls.get(call) if isinstance(call, n.Call) else None
        if kind is None:
            raise InternalCompilerError("tuple assignment from a non-call")
        names = [self.tmp("v") for _ in places]
        writes = ["seq", *[self.write_place(p, nm) for p, nm in zip(places, names)]]
        return self.call_multi(call, kind, names, writes)

    def revert_with(self, value: n.Expr | None) -> list:
        if value is None:
            return REVERT0
        kind = self.a.calls.get(value) if isinstance(value, n.Call) else None
        if kind is not None and kind.kind == "error":
            info: ErrorInfo = kind.target
            buf = self.tmp("buf")
            enc = self.encode([t for _, t in info.params], [self.expr(x) for x in value.args], info.selector)
            return ["with", buf, enc, ["revert", ["add", buf, 32], ["mload", buf]]]
        c = self.a.consts.get(value)
        if isinstance(c, bytes):
            return self.revert_string(c.decode("utf-8", "replace"), c)
        buf = self.tmp("buf")
        enc = self.encode([T.STRING], [self.expr(value)], ERROR_SELECTOR)
        return ["with", buf, enc, ["revert", ["add", buf, 32], ["mload", buf]]]

    def revert_string(self, msg: str, raw: bytes | None = None) -> list:
        """Revert with Error(msg): one shared block per distinct message."""
        data = raw if raw is not None else msg.encode()
        label = "_err_" + keccak(data).hex()[:16]
        out: list = ["seq", ["mstore", 0, ["shl", 224, int.from_bytes(ERROR_SELECTOR, "big")]], ["mstore", 4, 32],
                     ["mstore", 36, len(data)]]
        padded = data + b"\0" * (-len(data) % 32)
        for i in range(0, len(padded), 32):
            out.append(["mstore", 68 + i, int.from_bytes(padded[i:i + 32], "big")])
        out.append(["revert", 0, 68 + len(padded)])
        return ["revert_block", label, out]

    def emit(self, ev, values: list) -> list:
        names = [self.tmp("ev") for _ in values]
        topics: list = [int.from_bytes(ev.topic0, "big")]
        data_t, data_v = [], []
        for (pname, t, indexed), nm in zip(ev.params, names):
            if indexed:
                if t.is_word:
                    topics.append(nm)
                elif T.is_bytes_like(t):
                    topics.append(["sha3", ["add", nm, 32], ["mload", nm]])
                else:
                    enc = self.encode([t], [nm])
                    b = self.tmp("b")
                    topics.append(["with", b, enc, ["sha3", ["add", b, 32], ["mload", b]]])
            else:
                data_t.append(t)
                data_v.append(nm)
        buf = self.tmp("buf")
        log = [f"log{len(topics)}", ["add", buf, 32], ["mload", buf], *topics]
        inner: list = ["with", buf, self.encode(data_t, data_v), log]
        for nm, v in reversed(list(zip(names, values))):
            inner = ["with", nm, v, inner]
        return inner

    # ---- places -----------------------------------------------------------------
    def place(self, e: n.Expr) -> Place:
        a = self.a
        t = a.types[e]
        if isinstance(e, n.Name):
            sym = a.symbols[e]
            if isinstance(sym, LocalVar):
                return Place("memory", self.mem[sym], t)
            if isinstance(sym, StorageVar):
                return Place("storage", sym.slot, t)
            if isinstance(sym, ImmutableVar):
                if self.is_init:
                    return Place("memory", self.imm_base + 32 * sym.index, t)
                return Place("immutable_code", sym.index, t)
            raise InternalCompilerError(f"no place for {e.id}")
        if isinstance(e, n.Index):
            base = self.place(e.value)
            return self.index_place(base, self.expr(e.index))
        if isinstance(e, n.Attribute):
            base = self.place(e.value)
            st: T.StructT = base.type
            if base.kind == "storage":
                return Place("storage", ["add", base.addr, st.storage_offset(e.attr)], t)
            return Place("memory", ["add", self.read_place(base), 32 * st.field_index(e.attr)], t)
        # any other expression of reference type: a temporary in memory
        return Place("value", self.expr(e), t)

    def index_place(self, base: Place, key: Any) -> Place:
        bt = base.type
        if isinstance(bt, T.MapT) and T.is_bytes_like(bt.key):
            # Solidity's rule for bytes/string keys: keccak256(key bytes . slot), hashed in free memory
            k, b, ln, fp = self.tmp("key"), self.tmp("mslot"), self.tmp("klen"), self.tmp("fp")
            return Place("storage", ["with", k, key, ["with", b, base.addr, ["with", ln, ["mload", k],
                         ["with", fp, ["mload", FREE_PTR], ["seq",
                          ["mcopy", fp, ["add", k, 32], ln], ["mstore", ["add", fp, ln], b],
                          ["sha3", fp, ["add", ln, 32]]]]]]], bt.value)
        if isinstance(bt, T.MapT):
            k, b = self.tmp("key"), self.tmp("mslot")
            # the key first, then the parent slot (which may itself hash through scratch memory)
            return Place("storage", ["with", k, key, ["with", b, base.addr,
                                     ["seq", ["mstore", 0, k], ["mstore", 32, b], ["sha3", 0, 64]]]], bt.value)
        assert isinstance(bt, T.ArrayT)
        es = bt.elem.storage_slots
        i = self.tmp("i")
        if base.kind == "storage":
            if bt.size is not None:
                return Place("storage", ["with", i, key, ["seq", ["if", ["iszero", ["lt", i, bt.size]], ["panic", PANIC_INDEX]],
                                                           ["add", base.addr, ["mul", i, es]]]], bt.elem)
            s = self.tmp("s")
            return Place("storage", ["with", i, key, ["with", s, base.addr, ["seq",
                         ["if", ["iszero", ["lt", i, ["sload", s]]], ["panic", PANIC_INDEX]],
                         ["add", ["seq", ["mstore", 0, s], ["sha3", 0, 32]], ["mul", i, es]]]]], bt.elem)
        p = self.tmp("p")
        ptr = self.read_place(base) if base.kind != "value" else base.addr
        if bt.size is not None:
            return Place("memory", ["with", i, key, ["with", p, ptr, ["seq",
                         ["if", ["iszero", ["lt", i, bt.size]], ["panic", PANIC_INDEX]],
                         ["add", p, ["mul", i, 32]]]]], bt.elem)
        return Place("memory", ["with", i, key, ["with", p, ptr, ["seq",
                     ["if", ["iszero", ["lt", i, ["mload", p]]], ["panic", PANIC_INDEX]],
                     ["add", ["add", p, 32], ["mul", i, 32]]]]], bt.elem)

    def read_place(self, p: Place) -> Any:
        t = p.type
        if p.kind == "value":
            return p.addr
        if p.kind == "immutable_code":
            return ["seq", ["codecopy", 0, ["add", ["label_addr", "_code_end"], 32 * p.addr], 32], ["mload", 0]]
        if p.kind == "memory":
            return ["mload", p.addr]
        if t.is_word:
            return ["sload", p.addr]
        return self.storage_to_memory(t, p.addr)

    def write_place(self, p: Place, value: Any) -> Any:
        t = p.type
        if p.kind == "memory":
            return ["mstore", p.addr, value]
        if p.kind == "storage":
            if t.is_word:
                return ["sstore", p.addr, value]
            return self.memory_to_storage(t, value, p.addr)
        raise InternalCompilerError(f"cannot write a {p.kind} place")

    # ---- storage <-> memory copies -----------------------------------------------
    def storage_to_memory(self, t: T.Type, slot: Any) -> list:
        s = self.tmp("s")
        if T.is_bytes_like(t):
            ln, i, d = self.tmp("len"), self.tmp("i"), self.tmp("d")
            def body(p):
                return ["seq", ["mstore", p, ln],
                        ["with", d, ["seq", ["mstore", 0, s], ["sha3", 0, 32]],
                         ["range", i, 0, ["shr", 5, ["add", ln, 31]],
                          ["mstore", ["add", ["add", p, 32], ["shl", 5, i]], ["sload", ["add", d, i]]]]], p]
            return ["with", s, slot, ["with", ln, ["sload", s], self.alloc(["add", 32, ceil32(ln)], body)]]
        if isinstance(t, T.ArrayT):
            es = t.elem.storage_slots
            i = self.tmp("i")
            if t.size is not None:
                def body(p):
                    src = ["add", s, ["mul", i, es]]
                    val = ["sload", src] if t.elem.is_word else self.storage_to_memory(t.elem, src)
                    return ["seq", ["range", i, 0, t.size, ["mstore", ["add", p, ["shl", 5, i]], val]], p]
                return ["with", s, slot, self.alloc(32 * t.size, body)]
            ln, d = self.tmp("len"), self.tmp("d")
            def body(p):
                src = ["add", d, ["mul", i, es]]
                val = ["sload", src] if t.elem.is_word else self.storage_to_memory(t.elem, src)
                return ["seq", ["mstore", p, ln],
                        ["with", d, ["seq", ["mstore", 0, s], ["sha3", 0, 32]],
                         ["range", i, 0, ln, ["mstore", ["add", ["add", p, 32], ["shl", 5, i]], val]]], p]
            return ["with", s, slot, ["with", ln, ["sload", s], self.alloc(["add", 32, ["shl", 5, ln]], body)]]
        if isinstance(t, T.StructT):
            def body(p):
                out: list = ["seq"]
                off = 0
                for k, (fname, ft) in enumerate(t.fields):
                    src = ["add", s, off]
                    val = ["sload", src] if ft.is_word else self.storage_to_memory(ft, src)
                    out.append(["mstore", ["add", p, 32 * k], val])
                    off += ft.storage_slots
                out.append(p)
                return out
            return ["with", s, slot, self.alloc(32 * len(t.fields), body)]
        raise InternalCompilerError(f"cannot load {t} from storage")

    def memory_to_storage(self, t: T.Type, ptr: Any, slot: Any) -> list:
        s, m = self.tmp("s"), self.tmp("m")
        if T.is_bytes_like(t):
            i, d = self.tmp("i"), self.tmp("d")
            return ["with", m, ptr, ["with", s, slot, ["seq",
                    ["sstore", s, ["mload", m]],
                    ["with", d, ["seq", ["mstore", 0, s], ["sha3", 0, 32]],
                     ["range", i, 0, ["shr", 5, ["add", ["mload", m], 31]],
                      ["sstore", ["add", d, i], ["mload", ["add", ["add", m, 32], ["shl", 5, i]]]]]]]]]
        if isinstance(t, T.ArrayT):
            es = t.elem.storage_slots
            i = self.tmp("i")
            if t.size is not None:
                dst = ["add", s, ["mul", i, es]]
                val = ["mload", ["add", m, ["shl", 5, i]]]
                w = ["sstore", dst, val] if t.elem.is_word else self.memory_to_storage(t.elem, val, dst)
                return ["with", m, ptr, ["with", s, slot, ["range", i, 0, t.size, w]]]
            d = self.tmp("d")
            dst = ["add", d, ["mul", i, es]]
            val = ["mload", ["add", ["add", m, 32], ["shl", 5, i]]]
            w = ["sstore", dst, val] if t.elem.is_word else self.memory_to_storage(t.elem, val, dst)
            return ["with", m, ptr, ["with", s, slot, ["seq", ["sstore", s, ["mload", m]],
                    ["with", d, ["seq", ["mstore", 0, s], ["sha3", 0, 32]], ["range", i, 0, ["mload", m], w]]]]]
        if isinstance(t, T.StructT):
            out: list = ["seq"]
            off = 0
            for k, (fname, ft) in enumerate(t.fields):
                val = ["mload", ["add", m, 32 * k]]
                dst = ["add", s, off]
                out.append(["sstore", dst, val] if ft.is_word else self.memory_to_storage(ft, val, dst))
                off += ft.storage_slots
            return ["with", m, ptr, ["with", s, slot, out]]
        raise InternalCompilerError(f"cannot store {t}")

    def zero_value(self, t: T.Type) -> Any:
        if t.is_word:
            return 0
        if T.is_bytes_like(t) or (isinstance(t, T.ArrayT) and t.size is None):
            return self.alloc(32, lambda p: ["seq", ["mstore", p, 0], p])
        if isinstance(t, T.ArrayT):
            return self.alloc(32 * t.size, lambda p: ["seq", *[["mstore", ["add", p, 32 * k], self.zero_value(t.elem)] for k in range(t.size)], p]) \
                if not t.elem.is_word else self.alloc(32 * t.size, lambda p: p)
        if isinstance(t, T.StructT):
            return self.alloc(32 * len(t.fields), lambda p: ["seq", *[["mstore", ["add", p, 32 * k], self.zero_value(ft)] for k, (_, ft) in enumerate(t.fields) if not ft.is_word], p])
        raise InternalCompilerError(f"no zero value for {t}")

    # ---- ABI ------------------------------------------------------------------------
    def encode(self, types: list[T.Type], values: list, selector: bytes | None = None) -> list:
        """IR giving a pointer to a fresh `bytes` holding [selector] + abi.encode(values)."""
        names = [self.tmp("x") for _ in values]
        buf, tail, base = self.tmp("buf"), self.tmp("tail"), self.tmp("base")
        pre = 4 if selector else 0
        head = sum(t.abi_head for t in types)
        if not any(t.abi_dynamic for t in types):
            # static values only: the size is known, no tail pointer
            items: list = ["seq"]
            if selector:
                items.append(["mstore", ["add", buf, 32], ["shl", 224, int.from_bytes(selector, "big")]])
            off = 32 + pre
            for t, nm in zip(types, names):
                items.append(self.encode_item(t, nm, ["add", buf, off], "_unused_base", "_unused_tail"))
                off += t.abi_head
            items += [["mstore", buf, pre + head], ["mstore", FREE_PTR, ["add", buf, 32 + -(-(pre + head) // 32) * 32]], buf]
            inner: list = ["with", buf, ["mload", FREE_PTR], items]
            for nm, v in reversed(list(zip(names, values))):
                inner = ["with", nm, v, inner]
            return inner
        items: list = ["seq"]
        if selector:
            items.append(["mstore", ["add", buf, 32], ["shl", 224, int.from_bytes(selector, "big")]])
        off = 0
        for t, nm in zip(types, names):
            items.append(self.encode_item(t, nm, ["add", base, off], base, tail))
            off += t.abi_head
        items += [["mstore", buf, ["sub", tail, ["add", buf, 32]]],
                  ["mstore", FREE_PTR, ceil32(tail)], buf]
        inner: list = ["with", buf, ["mload", FREE_PTR], ["with", base, ["add", buf, 32 + pre],
                       ["with", tail, ["add", base, head], items]]]
        for nm, v in reversed(list(zip(names, values))):
            inner = ["with", nm, v, inner]
        return inner

    def encode_item(self, t: T.Type, val: Any, head: Any, base: str, tail: str) -> list:
        if t.is_word:
            return ["mstore", head, val]
        src = self.tmp("src")
        if T.is_bytes_like(t):
            ln = self.tmp("len")
            return ["with", src, val, ["with", ln, ["mload", src], ["seq",
                    ["mstore", head, ["sub", tail, base]],
                    ["mstore", tail, ln],
                    ["mcopy", ["add", tail, 32], ["add", src, 32], ln],
                    ["mstore", ["add", ["add", tail, 32], ln], 0],
                    ["set", tail, ["add", tail, ["add", 32, ceil32(ln)]]]]]]
        if not t.abi_dynamic:  # static array / struct: inline
            if isinstance(t, T.StructT):
                out: list = ["seq"]
                off = 0
                for k, (_, ft) in enumerate(t.fields):
                    out.append(self.encode_item(ft, ["mload", ["add", src, 32 * k]], ["add", head, off], base, tail))
                    off += ft.abi_head
                return ["with", src, val, out]
            i, h = self.tmp("i"), self.tmp("h")
            eh = t.elem.abi_head
            return ["with", src, val, ["with", h, head, ["range", i, 0, t.size,
                    self.encode_item(t.elem, ["mload", ["add", src, ["shl", 5, i]]], ["add", h, ["mul", i, eh]], base, tail)]]]
        # dynamic composite: an offset in the head, then a nested tuple at the tail
        nb, nt = self.tmp("nb"), self.tmp("nt")
        if isinstance(t, T.StructT):
            inner: list = ["seq"]
            off = 0
            for k, (_, ft) in enumerate(t.fields):
                inner.append(self.encode_item(ft, ["mload", ["add", src, 32 * k]], ["add", nb, off], nb, nt))
                off += ft.abi_head
            return ["with", src, val, ["seq", ["mstore", head, ["sub", tail, base]],
                    ["with", nb, tail, ["with", nt, ["add", nb, sum(ft.abi_head for _, ft in t.fields)],
                     ["seq", inner, ["set", tail, nt]]]]]]
        i = self.tmp("i")
        eh = t.elem.abi_head
        if t.size is None:
            ln = self.tmp("len")
            data = ["add", src, 32]
            return ["with", src, val, ["with", ln, ["mload", src], ["seq",
                    ["mstore", head, ["sub", tail, base]],
                    ["mstore", tail, ln],
                    ["with", nb, ["add", tail, 32], ["with", nt, ["add", nb, ["mul", ln, eh]], ["seq",
                     ["range", i, 0, ln, self.encode_item(t.elem, ["mload", ["add", data, ["shl", 5, i]]], ["add", nb, ["mul", i, eh]], nb, nt)],
                     ["set", tail, nt]]]]]]]
        return ["with", src, val, ["seq", ["mstore", head, ["sub", tail, base]],
                ["with", nb, tail, ["with", nt, ["add", nb, t.size * eh], ["seq",
                 ["range", i, 0, t.size, self.encode_item(t.elem, ["mload", ["add", src, ["shl", 5, i]]], ["add", nb, ["mul", i, eh]], nb, nt)],
                 ["set", tail, nt]]]]]]

    def validate_word(self, t: T.Type, x: str) -> list:
        bad = None
        if isinstance(t, T.UintT) and t.bits < 256:
            bad = ["gt", x, t.max]
        elif isinstance(t, T.IntT) and t.bits < 256:
            bad = ["iszero", ["eq", x, ["signextend", t.bits // 8 - 1, x]]]
        elif isinstance(t, T.BoolT):
            bad = ["gt", x, 1]
        elif isinstance(t, (T.AddressT, T.InterfaceT)):
            bad = ["shr", 160, x]
        elif isinstance(t, T.BytesNT) and t.n < 32:
            bad = ["shl", 8 * t.n, x]
        elif isinstance(t, T.EnumT):
            bad = ["iszero", ["lt", x, len(t.members)]]
        return ["seq"] if bad is None else ["if", bad, REVERT0]

    def decode(self, t: T.Type, head: Any, base: Any, end: str, src: str) -> list:
        """IR reading one ABI item whose head is at `head` (offsets relative to `base`)."""
        load = "calldataload" if src == "calldata" else "mload"
        copy = "calldatacopy" if src == "calldata" else "mcopy"
        if t.is_word:
            x = self.tmp("w")
            return ["with", x, [load, head], ["seq", self.validate_word(t, x), x]]
        off = self.tmp("off")
        def at_offset(body):
            o = self.tmp("o")
            return ["with", o, [load, head], ["seq", ["if", ["gt", o, MAX_LEN], REVERT0],
                    ["with", off, ["add", base, o], ["seq", ["if", ["gt", ["add", off, 32], end], REVERT0], body]]]]
        if T.is_bytes_like(t):
            ln = self.tmp("len")
            return at_offset(["with", ln, [load, off], ["seq",
                ["if", ["gt", ln, MAX_LEN], REVERT0],
                ["if", ["gt", ["add", ["add", off, 32], ln], end], REVERT0],
                self.alloc(["add", 32, ceil32(ln)], lambda p: ["seq", [copy, p, off, ["add", ln, 32]], p])]])
        if not t.abi_dynamic:
            return self.decode_static(t, head, end, src)
        if isinstance(t, T.StructT):
            def body(p):
                out: list = ["seq"]
                o = 0
                for k, (_, ft) in enumerate(t.fields):
                    out.append(["mstore", ["add", p, 32 * k], self.decode(ft, ["add", off, o], off, end, src)])
                    o += ft.abi_head
                out.append(p)
                return out
            return at_offset(self.alloc(32 * len(t.fields), body))
        i = self.tmp("i")
        eh = t.elem.abi_head
        if t.size is None:
            ln, d = self.tmp("len"), self.tmp("d")
            return at_offset(["with", ln, [load, off], ["seq",
                ["if", ["gt", ln, MAX_LEN], REVERT0],
                ["with", d, ["add", off, 32], ["seq",
                 ["if", ["gt", ["add", d, ["mul", ln, eh]], end], REVERT0],
                 self.alloc(["add", 32, ["shl", 5, ln]], lambda p: ["seq", ["mstore", p, ln],
                     ["range", i, 0, ln, ["mstore", ["add", ["add", p, 32], ["shl", 5, i]],
                                          self.decode(t.elem, ["add", d, ["mul", i, eh]], d, end, src)]], p])]]]])
        return at_offset(["seq", ["if", ["gt", ["add", off, t.size * eh], end], REVERT0],
                          self.alloc(32 * t.size, lambda p: ["seq",
                              ["range", i, 0, t.size, ["mstore", ["add", p, ["shl", 5, i]],
                                                        self.decode(t.elem, ["add", off, ["mul", i, eh]], off, end, src)]], p])])

    def decode_static(self, t: T.Type, head: Any, end: str, src: str) -> list:
        h = self.tmp("h")
        if isinstance(t, T.StructT):
            def body(p):
                out: list = ["seq"]
                o = 0
                for k, (_, ft) in enumerate(t.fields):
                    out.append(["mstore", ["add", p, 32 * k], self.decode(ft, ["add", h, o], h, end, src)])
                    o += ft.abi_head
                out.append(p)
                return out
            return ["with", h, head, self.alloc(32 * len(t.fields), body)]
        i = self.tmp("i")
        eh = t.elem.abi_head
        return ["with", h, head, self.alloc(32 * t.size, lambda p: ["seq",
                ["range", i, 0, t.size, ["mstore", ["add", p, ["shl", 5, i]], self.decode(t.elem, ["add", h, ["mul", i, eh]], h, end, src)]], p])]

    # ---- expressions -------------------------------------------------------------
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
        if isinstance(e, n.Name):
            if e.id == "self":
                return ["address"]
            return self.read_place(self.place(e))
        if isinstance(e, (n.Index,)):
            return self.read_place(self.place(e))
        if isinstance(e, n.Attribute):
            sym = a.symbols.get(e)
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
        if isinstance(e, n.BinOp):
            return self.arith(e.op, t, self.expr(e.left), self.expr(e.right), a.types[e.right])
        if isinstance(e, n.Compare):
            return self.compare(e.op, a.types[e.left], self.expr(e.left), self.expr(e.right))
        if isinstance(e, n.BoolOp):
            l, r = self.expr(e.left), self.expr(e.right)
            if e.op == "&&":
                return ["if", l, r, 0]
            return ["if", l, 1, r]
        if isinstance(e, n.UnaryOp):
            x = self.expr(e.operand)
            if e.op == "!":
                return ["iszero", x]
            if e.op == "~":
                return ["xor", x, t.max] if isinstance(t, T.UintT) else ["not", x]
            v = self.tmp("neg")
            return ["with", v, x, ["seq", ["if", ["eq", v, t.min % 2**256], ["panic", PANIC_OVERFLOW]], ["sub", 0, v]]]
        if isinstance(e, n.Call):
            return self.call(e)
        if isinstance(e, n.ArrayLit):
            vals = [self.expr(x) for x in e.elems]
            if t.size is None:
                return self.alloc(32 + 32 * len(vals), lambda p: ["seq", ["mstore", p, len(vals)],
                                  *[["mstore", ["add", p, 32 + 32 * k], v] for k, v in enumerate(vals)], p])
            return self.alloc(32 * len(vals), lambda p: ["seq", *[["mstore", ["add", p, 32 * k], v] for k, v in enumerate(vals)], p])
        raise InternalCompilerError(f"cannot lower {type(e).__name__}")

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

    # ---- calls ---------------------------------------------------------------------
    def call(self, e: n.Call) -> Any:
        kind = self.a.calls[e]
        t = self.a.types[e]
        if kind.kind == "internal":
            f: FunctionInfo = kind.target
            if len(f.returns) > 1:
                raise InternalCompilerError("a multi-value call must be destructured")
            return self.internal_call(f, [self.expr(x) for x in e.args], want_value=bool(f.returns))
        if kind.kind == "struct":
            vals = [self.expr(x) for x in e.args]
            names = [self.tmp("f") for _ in vals]
            body = self.alloc(32 * len(vals), lambda p: ["seq", *[["mstore", ["add", p, 32 * k], nm] for k, nm in enumerate(names)], p])
            for nm, v in reversed(list(zip(names, vals))):
                body = ["with", nm, v, body]
            return body
        if kind.kind == "convert":
            return self.convert(self.a.types[e.args[0]], kind.target, self.expr(e.args[0]))
        if kind.kind == "external":
            return self.external_call(e, kind.target, None, None)
        if kind.kind == "builtin":
            return self.builtin(e, kind.target)
        raise InternalCompilerError(f"cannot lower call kind {kind.kind}")

    def internal_call(self, f: FunctionInfo, args: list, want_value: bool, after: Any = None) -> list:
        ret = self.label("ret")
        if all(_no_calls(a) for a in args):
            # no argument can run another call, so the callee's parameters can be written in turn
            seq: list = ["seq", *[["mstore", self.mem[p], a] for p, a in zip(f.params, args)],
                         ["mstore", self.ret_slot[f], ["label_addr", ret]], ["goto", f"fn_{f.name}"], ["label", ret]]
            if after is not None:
                seq.append(after)
            elif want_value:
                seq.append(["mload", self.ret_vals[f][0]])
            return seq
        names = [self.tmp("arg") for _ in args]
        seq: list = ["seq", *[["mstore", self.mem[p], nm] for p, nm in zip(f.params, names)],
                     ["mstore", self.ret_slot[f], ["label_addr", ret]], ["goto", f"fn_{f.name}"], ["label", ret]]
        if after is not None:
            seq.append(after)
        elif want_value:
            seq.append(["mload", self.ret_vals[f][0]])
        body = seq
        for nm, v in reversed(list(zip(names, args))):
            body = ["with", nm, v, body]
        return body

    def call_multi(self, call: n.Call, kind, names: list[str], then: list) -> list:
        """Run a call returning several values, bind them to `names`, run `then`."""
        if kind.kind == "internal":
            f = kind.target
            inner = then
            for nm, slot in reversed(list(zip(names, self.ret_vals[f]))):
                inner = ["with", nm, ["mload", slot], inner]
            return self.internal_call(f, [self.expr(x) for x in call.args], False, after=inner)
        if kind.kind == "external":
            return self.external_call(call, kind.target, names, then)
        raise InternalCompilerError("bad multi-value call")

    def convert(self, src: T.Type, dst: T.Type, x: Any) -> Any:
        v = self.tmp("cv")
        ovf = ["panic", PANIC_OVERFLOW]
        if T.is_integer(dst):
            if isinstance(src, T.BytesNT):
                return ["shr", 256 - 8 * src.n, x]
            if isinstance(src, (T.BoolT, T.EnumT, T.AddressT, T.InterfaceT)):
                return x
            # integer -> integer: revert if the value does not fit
            checks = []
            if isinstance(src, T.IntT) and isinstance(dst, T.UintT):
                checks.append(["if", ["slt", v, 0], ovf])
                if dst.bits < src.bits:
                    checks.append(["if", ["gt", v, dst.max], ovf])
            elif isinstance(src, T.UintT) and isinstance(dst, T.IntT):
                if src.bits >= dst.bits:
                    checks.append(["if", ["gt", v, dst.max], ovf])
            elif isinstance(src, T.UintT):
                if dst.bits < src.bits:
                    checks.append(["if", ["gt", v, dst.max], ovf])
            else:
                if dst.bits < src.bits:
                    checks.append(["if", ["iszero", ["eq", v, ["signextend", dst.bits // 8 - 1, v]]], ovf])
            return ["with", v, x, ["seq", *checks, v]]
        if isinstance(dst, (T.AddressT, T.InterfaceT)):
            if isinstance(src, T.UintT) and src.bits > 160:
                return ["with", v, x, ["seq", ["if", ["shr", 160, v], ovf], v]]
            if isinstance(src, T.BytesNT):
                return ["shr", 96, x]
            return x
        if isinstance(dst, T.BytesNT):
            if isinstance(src, T.UintT):
                return ["shl", 256 - 8 * dst.n, x]
            if isinstance(src, T.AddressT):
                return ["shl", 96, x]
            if isinstance(src, T.BytesNT):
                if dst.n >= src.n:
                    return x
                return ["and", x, ((1 << (8 * dst.n)) - 1) << (256 - 8 * dst.n)]
            # bytes -> bytesN: the first N bytes (zero padded)
            mask = ((1 << (8 * dst.n)) - 1) << (256 - 8 * dst.n)
            p = self.tmp("bp")
            return ["with", p, x, ["and", ["mload", ["add", p, 32]], mask]]
        if isinstance(dst, T.EnumT):
            return ["with", v, x, ["seq", ["if", ["iszero", ["lt", v, len(dst.members)]], ["panic", PANIC_ENUM]], v]]
        if isinstance(dst, T.BoolT):
            return ["iszero", ["iszero", x]]
        if isinstance(dst, T.BytesT):
            return x
        raise InternalCompilerError(f"cannot convert {src} to {dst}")

    def bubble_revert(self) -> list:
        p = self.tmp("rp")
        return ["with", p, ["mload", FREE_PTR], ["seq", ["returndatacopy", p, 0, ["returndatasize"]],
                                              ["revert", p, ["returndatasize"]]]]

    def returndata_values(self, types: list[T.Type], names: list[str], then: Any) -> list:
        """Copy returndata to memory, check and decode it into `names`, then run `then`."""
        rd, end = self.tmp("rd"), self.tmp("rdend")
        head = sum(t.abi_head for t in types)
        inner = then
        off = 0
        decs = []
        for t, nm in zip(types, names):
            decs.append((nm, self.decode(t, ["add", ["add", rd, 32], off], ["add", rd, 32], end, "memory")))
            off += t.abi_head
        for nm, d in reversed(decs):
            inner = ["with", nm, d, inner]
        return ["with", rd, self.alloc(["add", 32, ceil32(["returndatasize"])], lambda p: ["seq",
                    ["mstore", p, ["returndatasize"]], ["returndatacopy", ["add", p, 32], 0, ["returndatasize"]], p]),
                ["with", end, ["add", ["add", rd, 32], ["returndatasize"]], ["seq",
                    ["if", ["lt", ["returndatasize"], head], REVERT0], inner]]]

    def external_call(self, e: n.Call, ext: ExtFunction, names: list[str] | None, then: Any) -> list:
        func: n.Attribute = e.func
        target = self.tmp("target")
        kw = dict(e.kwargs)
        value = self.expr(kw["value"]) if "value" in kw else 0
        gas = self.expr(kw["gas"]) if "gas" in kw else ["gas"]
        buf, ok = self.tmp("cbuf"), self.tmp("ok")
        static = ext.mutability in ("view", "pure")
        if static:
            call = ["staticcall", gas, target, ["add", buf, 32], ["mload", buf], 0, 0]
        else:
            call = ["call", gas, target, value, ["add", buf, 32], ["mload", buf], 0, 0]
        if names is None:
            if ext.returns:
                res = self.tmp("res")
                names, then = [res], res
            else:
                names, then = [], ["seq"]
        after = self.returndata_values(ext.returns, names, then) if ext.returns else then
        return ["with", target, self.expr(func.value), ["seq",
                ["if", ["iszero", ["extcodesize", target]], self.revert_string("call to a non-contract")],
                ["with", buf, self.encode(ext.params, [self.expr(x) for x in e.args], ext.selector),
                 ["with", ok, call, ["seq", ["if", ["iszero", ok], self.bubble_revert()], after]]]]]

    def precompile_call(self, address: Any, input_bytes: Any, static: bool, result: Any) -> list:
        """Call a precompile with a `bytes` input; `result(rd, end)` reads the copied returndata."""
        buf, ok, rd = self.tmp("pbuf"), self.tmp("ok"), self.tmp("rd")
        if static:
            call = ["staticcall", ["gas"], address, ["add", buf, 32], ["mload", buf], 0, 0]
        else:
            call = ["call", ["gas"], address, 0, ["add", buf, 32], ["mload", buf], 0, 0]
        return ["with", buf, input_bytes, ["with", ok, call, ["seq",
                ["if", ["iszero", ok], self.bubble_revert()],
                ["with", rd, self.alloc(["add", 32, ceil32(["returndatasize"])], lambda p: ["seq",
                    ["mstore", p, ["returndatasize"]], ["returndatacopy", ["add", p, 32], 0, ["returndatasize"]], p]),
                 result(rd)]]]]

    def builtin(self, e: n.Call, name: str) -> Any:
        args = e.args
        if name == "keccak256":
            t = self.a.types[args[0]]
            if isinstance(t, T.BytesNT):
                return ["seq", ["mstore", 0, self.expr(args[0])], ["sha3", 0, t.n]]
            return self.keccak_of(self.expr(args[0]))
        if name == "len":
            t = self.a.types[args[0]]
            place = self.place(args[0])
            if isinstance(t, T.ArrayT) and t.size is not None:
                return t.size
            if place.kind == "storage":
                return ["sload", place.addr]
            return ["mload", self.read_place(place)]
        if name == "send":
            to, amount = self.tmp("to"), self.tmp("amt")
            return ["with", amount, self.expr(args[1]), ["with", to, self.expr(args[0]),
                    ["if", ["iszero", ["call", ["gas"], to, amount, 0, 0, 0, 0]], self.bubble_revert()]]]
        if name == "blockhash":
            return ["blockhash", self.expr(args[0])]
        if name in ("min", "max"):
            t = self.a.types[e]
            x, y = self.tmp("x"), self.tmp("y")
            cmp = ("slt" if isinstance(t, T.IntT) else "lt") if name == "min" else ("sgt" if isinstance(t, T.IntT) else "gt")
            return ["with", x, self.expr(args[0]), ["with", y, self.expr(args[1]), ["if", [cmp, x, y], x, y]]]
        if name == "push":
            place = self.place(e.func.value)
            t: T.ArrayT = place.type
            s, ln = self.tmp("s"), self.tmp("len")
            dst = ["add", ["seq", ["mstore", 0, s], ["sha3", 0, 32]], ["mul", ln, t.elem.storage_slots]]
            val = self.expr(args[0])
            write = ["sstore", dst, val] if t.elem.is_word else self.memory_to_storage(t.elem, val, dst)
            return ["with", s, place.addr, ["with", ln, ["sload", s], ["seq",
                    ["if", ["gt", ln, MAX_LEN], ["panic", PANIC_OVERFLOW]],
                    ["sstore", s, ["add", ln, 1]], write]]]
        if name == "pop":
            place = self.place(e.func.value)
            t = place.type
            s, ln = self.tmp("s"), self.tmp("len")
            last = ["add", ["seq", ["mstore", 0, s], ["sha3", 0, 32]], ["mul", ["sub", ln, 1], t.elem.storage_slots]]
            body: list = ["seq", ["if", ["iszero", ln], ["panic", PANIC_POP]], ["sstore", s, ["sub", ln, 1]]]
            if t.elem.is_word:
                v, sl = self.tmp("v"), self.tmp("sl")
                body.append(["with", sl, last, ["with", v, ["sload", sl], ["seq", ["sstore", sl, 0], v]]])
            return ["with", s, place.addr, ["with", ln, ["sload", s], body]]
        if name == "abi.encode":
            return self.encode([self.a.types[x] for x in args], [self.expr(x) for x in args])
        if name == "abi.decode":
            t = self.a.consts[args[1]]
            p, end = self.tmp("ap"), self.tmp("aend")
            return ["with", p, self.expr(args[0]), ["with", end, ["add", ["add", p, 32], ["mload", p]], ["seq",
                    ["if", ["lt", ["mload", p], t.abi_head], REVERT0],
                    self.decode(t, ["add", p, 32], ["add", p, 32], end, "memory")]]]
        if name == "ai.infer":
            inp = self.encode(_param_types("ai.infer"), [self.expr(args[0]), self.expr(args[1])])
            def result(rd):
                end = self.tmp("end")
                return ["with", end, ["add", ["add", rd, 32], ["mload", rd]], ["seq",
                        ["if", ["lt", ["mload", rd], 64], REVERT0],
                        self.decode(T.BYTES, ["add", rd, 32], ["add", rd, 32], end, "memory")]]
            return self.precompile_call(AI_INFER, inp, BUILTINS[name].static, result)
        if name == "pqc.verify":
            alg, fam = self.tmp("alg"), self.tmp("fam")
            inp = self.encode(_param_types("pqc.verify"), [alg] + [self.expr(x) for x in args[1:]])
            def result(rd):
                return ["and", ["iszero", ["lt", ["mload", rd], 32]], ["eq", ["mload", ["add", rd, 32]], 1]]
            return ["with", alg, self.expr(args[0]), ["with", fam, ["shr", 8, alg], ["seq",
                    ["if", ["or", ["iszero", fam], ["gt", fam, len(BUILTINS["pqc.verify"].addresses)]], self.revert_string("unknown PQC signature family")],
                    self.precompile_call(["add", PQC_FAMILY_BASE, fam], inp, BUILTINS[name].static, result)]]]
        if name == "quorum.verify":
            def result(rd):
                return ["and", ["iszero", ["lt", ["mload", rd], 32]], ["eq", ["mload", ["add", rd, 32]], 1]]
            return self.precompile_call(QUORUM, self.expr(args[0]), BUILTINS[name].static, result)
        if name == "ecrecover":
            inp = self.encode(_param_types("ecrecover"), [self.expr(x) for x in args])
            def result(rd):  # no output (a bad signature) reads as address 0
                return ["if", ["lt", ["mload", rd], 32], 0, ["mload", ["add", rd, 32]]]
            return self.precompile_call(ECRECOVER, inp, BUILTINS[name].static, result)
        if name in ("bridge.send", "bridge.receive"):
            if name == "bridge.send":
                inp, address = self.expr(args[0]), BRIDGE_SEND
                def result(rd):  # the precompile returns the sequenced message's raw bytes
                    return rd
            else:
                inp, address = self.encode(_param_types("bridge.receive"), [self.expr(x) for x in args]), BRIDGE_RECEIVE
                def result(rd):
                    return ["seq", ["if", ["lt", ["mload", rd], 32], REVERT0], ["mload", ["add", rd, 32]]]
            return self.precompile_call(address, inp, BUILTINS[name].static, result)
        raise InternalCompilerError(f"unknown builtin {name}")


def _param_types(builtin: str) -> list:
    return [T.base_type(t) for _, t in BUILTINS[builtin].params]


def _no_calls(x: Any) -> bool:
    """True when the IR holds no jump to a subroutine (so evaluating it cannot clobber a frame)."""
    if isinstance(x, IRNode):
        return x.op not in ("goto", "call", "staticcall", "delegatecall") and all(_no_calls(a) for a in x.args)
    if isinstance(x, (list, tuple)):
        return (not x or x[0] not in ("goto", "call", "staticcall", "delegatecall")) and all(_no_calls(a) for a in x)
    return True


ENV_IR = {
    "msg.sender": ["caller"], "msg.value": ["callvalue"], "msg.gas": ["gas"],
    "block.number": ["number"], "block.timestamp": ["timestamp"], "block.chainid": ["chainid"],
    "block.coinbase": ["coinbase"], "block.basefee": ["basefee"], "block.prevrandao": ["prevrandao"],
    "block.gaslimit": ["gaslimit"], "tx.origin": ["origin"], "tx.gasprice": ["gasprice"],
}


def lower(a: Analysis) -> Program:
    """Lower a checked contract to IR (init and runtime)."""
    return Lowering(a).run()
