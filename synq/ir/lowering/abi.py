"""ABI encoding into fresh `bytes` and checked decoding from calldata or memory."""
from __future__ import annotations

from typing import Any

from synq.dispatch import method_for
from synq.ir.lowering.base import FREE_PTR, MAX_LEN, REVERT0, LoweringBase, ceil32
from synq.semantics import types as T


class AbiLowering(LoweringBase):
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
        """IR reverting when the decoded word `x` is not a valid `t` (one `badword_<Type>` per word type)."""
        check = method_for(self, "badword_", t)
        bad = None if check is None else check(self, t, x)
        return ["seq"] if bad is None else ["if", bad, REVERT0]

    # -- what makes a word invalid for each word type (None: every word is valid) --
    def badword_UintT(self, t: T.UintT, x: str) -> list | None:
        return ["gt", x, t.max] if t.bits < 256 else None

    def badword_IntT(self, t: T.IntT, x: str) -> list | None:
        return ["iszero", ["eq", x, ["signextend", t.bits // 8 - 1, x]]] if t.bits < 256 else None

    def badword_BoolT(self, t: T.BoolT, x: str) -> list:
        return ["gt", x, 1]

    def badword_AddressT(self, t: T.Type, x: str) -> list:
        return ["shr", 160, x]

    badword_InterfaceT = badword_AddressT

    def badword_BytesNT(self, t: T.BytesNT, x: str) -> list | None:
        return ["shl", 8 * t.n, x] if t.n < 32 else None

    def badword_EnumT(self, t: T.EnumT, x: str) -> list:
        return ["iszero", ["lt", x, len(t.members)]]

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

