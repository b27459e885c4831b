"""Type conversions `T(x)`: range checks where the value may not fit.

One `convert_to_<Type>` method per target type (as the other passes dispatch on node types);
each checks its sources, whose set the semantic pass has already limited to the legal ones.
"""
from __future__ import annotations

from typing import Any

from synq.dispatch import method_for
from synq.errors import InternalCompilerError
from synq.ir.lowering.base import PANIC_ENUM, PANIC_OVERFLOW, LoweringBase
from synq.semantics import types as T


class ConversionLowering(LoweringBase):
    def convert(self, src: T.Type, dst: T.Type, x: Any) -> Any:
        v = self.tmp("cv")
        to = method_for(self, "convert_to_", dst)
        out = None if to is None else to(self, src, dst, x, v)
        if out is None:
            raise InternalCompilerError(f"cannot convert {src} to {dst}")
        return out

    def convert_to_UintT(self, src: T.Type, dst: T.Type, x: Any, v: str) -> Any:
        if isinstance(src, T.BytesNT):
            return ["shr", 256 - 8 * src.n, x]
        if isinstance(src, (T.BoolT, T.EnumT, T.AddressT, T.InterfaceT)):
            return x
        # integer -> integer: revert if the value does not fit
        ovf = ["panic", PANIC_OVERFLOW]
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

    convert_to_IntT = convert_to_UintT

    def convert_to_AddressT(self, src: T.Type, dst: T.Type, x: Any, v: str) -> Any:
        if isinstance(src, T.UintT) and src.bits > 160:
            return ["with", v, x, ["seq", ["if", ["shr", 160, v], ["panic", PANIC_OVERFLOW]], v]]
        if isinstance(src, T.BytesNT):
            return ["shr", 96, x]
        return x

    convert_to_InterfaceT = convert_to_AddressT

    def convert_to_BytesNT(self, src: T.Type, dst: T.BytesNT, x: Any, v: str) -> Any:
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

    def convert_to_EnumT(self, src: T.Type, dst: T.EnumT, x: Any, v: str) -> Any:
        return ["with", v, x, ["seq", ["if", ["iszero", ["lt", v, len(dst.members)]], ["panic", PANIC_ENUM]], v]]

    def convert_to_BoolT(self, src: T.Type, dst: T.Type, x: Any, v: str) -> Any:
        return ["iszero", ["iszero", x]]

    def convert_to_BytesT(self, src: T.Type, dst: T.Type, x: Any, v: str) -> Any:
        return x

    convert_to_StringT = convert_to_BytesT
