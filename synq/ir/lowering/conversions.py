"""Type conversions `T(x)`: range checks where the value may not fit."""
from __future__ import annotations

from typing import Any

from synq.errors import InternalCompilerError
from synq.ir.lowering.base import PANIC_ENUM, PANIC_OVERFLOW, LoweringBase
from synq.semantics import types as T


class ConversionLowering(LoweringBase):
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

