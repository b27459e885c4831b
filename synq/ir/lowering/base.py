"""What every lowering module shares: the memory layout constants, `Place`, `Program`, and the
lowering state (fresh names, frame slots, the current function and span).

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

from synq.builtins import BUILTINS
from synq.errors import NO_SPAN, Span
from synq.ir.node import IRNode
from synq.semantics import types as T
from synq.semantics.analysis import Analysis
from synq.semantics.symbols import FunctionInfo, LocalVar

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
    kind: str  # storage | memory | immutable_code | value
    addr: Any  # IR of the slot / memory address / immutable index (the value itself for `value`)
    type: T.Type


@dataclass
class Program:
    init: IRNode
    runtime: IRNode


class LoweringBase:
    """The state one lowering run shares across its modules (each module is a mixin of `Lowering`)."""

    def __init__(self, a: Analysis) -> None:
        self.a = a
        self.ids = itertools.count()
        self.mem: dict[LocalVar, int] = {}
        self.next_mem = FRAME_START
        self.fn: FunctionInfo | None = None
        self.mode = "external"  # external | internal | ctor
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


def no_calls(x: Any) -> bool:
    """True when the IR holds no jump to a subroutine (so evaluating it cannot clobber a frame)."""
    if isinstance(x, IRNode):
        return x.op not in ("goto", "call", "staticcall", "delegatecall") and all(no_calls(a) for a in x.args)
    if isinstance(x, (list, tuple)):
        return (not x or x[0] not in ("goto", "call", "staticcall", "delegatecall")) and all(no_calls(a) for a in x)
    return True
