"""Places: where an assignable expression lives (storage slot, memory word, immutable in code),
and reading / writing one."""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.dispatch import method_for
from synq.errors import InternalCompilerError
from synq.ir.lowering.base import FREE_PTR, PANIC_INDEX, LoweringBase, Place
from synq.semantics import types as T
from synq.semantics.symbols import (
    ImmutableVar,
    LocalVar,
    StorageVar,
)


class PlaceLowering(LoweringBase):
    def place(self, e: n.Expr) -> Place:
        method = method_for(self, "place_", e)
        if method is None:  # any other expression of reference type: a temporary in memory
            return Place("value", self.expr(e), self.a.types[e])
        return method(self, e, self.a.types[e])

    def place_Name(self, e: n.Name, t: T.Type) -> Place:
        sym = self.a.symbols[e]
        if isinstance(sym, LocalVar):
            return Place("memory", self.mem[sym], t)
        if isinstance(sym, StorageVar):
            return Place("storage", sym.slot, t)
        if isinstance(sym, ImmutableVar):
            if self.is_init:
                return Place("memory", self.imm_base + 32 * sym.index, t)
            return Place("immutable_code", sym.index, t)
        raise InternalCompilerError(f"no place for {e.id}")

    def place_Index(self, e: n.Index, t: T.Type) -> Place:
        base = self.place(e.value)
        return self.index_place(base, self.expr(e.index))

    def place_Attribute(self, e: n.Attribute, t: T.Type) -> Place:
        base = self.place(e.value)
        st: T.StructT = base.type
        if base.kind == "storage":
            return Place("storage", ["add", base.addr, st.storage_offset(e.attr)], t)
        return Place("memory", ["add", self.read_place(base), 32 * st.field_index(e.attr)], t)

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

