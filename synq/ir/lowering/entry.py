"""External entry points: CALLVALUE, calldata size and reentrancy checks, argument decoding,
returns, and the getters of public variables."""
from __future__ import annotations

from synq.ir.lowering.base import FREE_PTR, LOCK_SLOT, REVERT0, LoweringBase, Place
from synq.semantics import types as T
from synq.semantics.symbols import (
    FunctionInfo,
    ImmutableVar,
)


class EntryLowering(LoweringBase):
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
