"""Reverts: custom errors, Error(string) (one shared block per message) and bubbling a callee's revert."""
from __future__ import annotations

from eth_utils import keccak

from synq.ast import nodes as n
from synq.ir.lowering.base import ERROR_SELECTOR, FREE_PTR, REVERT0, LoweringBase
from synq.semantics import types as T
from synq.semantics.symbols import (
    ErrorInfo,
)


class RevertLowering(LoweringBase):
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

    def bubble_revert(self) -> list:
        p = self.tmp("rp")
        return ["with", p, ["mload", FREE_PTR], ["seq", ["returndatacopy", p, 0, ["returndatasize"]],
                                              ["revert", p, ["returndatasize"]]]]

