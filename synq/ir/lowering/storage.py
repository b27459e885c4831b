"""Storage <-> memory copies of reference types, and zero values."""
from __future__ import annotations

from typing import Any

from synq.errors import InternalCompilerError
from synq.ir.lowering.base import LoweringBase, ceil32
from synq.semantics import types as T


class StorageLowering(LoweringBase):
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

