"""Builtin functions: one lowering method per builtin, found by its SynQ name in `BUILTIN_LOWERINGS`.

Precompile builtins take their address, call kind and argument ABI types from `synq/builtins.py`
(generated from precompiles/spec.py); each method here only says how to read the precompile's output.
"""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.builtins import BUILTINS
from synq.errors import InternalCompilerError
from synq.ir.lowering.base import (
    AI_INFER,
    BRIDGE_RECEIVE,
    BRIDGE_SEND,
    ECRECOVER,
    MAX_LEN,
    PANIC_OVERFLOW,
    PANIC_POP,
    PQC_FAMILY_BASE,
    QUORUM,
    REVERT0,
    LoweringBase,
)
from synq.semantics import types as T


def param_types(builtin: str) -> list:
    return [T.base_type(t) for _, t in BUILTINS[builtin].params]


class BuiltinLowering(LoweringBase):
    def builtin(self, e: n.Call, name: str) -> Any:
        method = BUILTIN_LOWERINGS.get(name)
        if method is None:
            raise InternalCompilerError(f"unknown builtin {name}")
        return getattr(self, method)(e, e.args)

    # ---- language builtins
    def builtin_keccak256(self, e: n.Call, args) -> Any:
        t = self.a.types[args[0]]
        if isinstance(t, T.BytesNT):
            return ["seq", ["mstore", 0, self.expr(args[0])], ["sha3", 0, t.n]]
        return self.keccak_of(self.expr(args[0]))

    def builtin_len(self, e: n.Call, args) -> Any:
        t = self.a.types[args[0]]
        place = self.place(args[0])
        if isinstance(t, T.ArrayT) and t.size is not None:
            return t.size
        if place.kind == "storage":
            return ["sload", place.addr]
        return ["mload", self.read_place(place)]

    def builtin_send(self, e: n.Call, args) -> Any:
        to, amount = self.tmp("to"), self.tmp("amt")
        return ["with", amount, self.expr(args[1]), ["with", to, self.expr(args[0]),
                ["if", ["iszero", ["call", ["gas"], to, amount, 0, 0, 0, 0]], self.bubble_revert()]]]

    def builtin_blockhash(self, e: n.Call, args) -> Any:
        return ["blockhash", self.expr(args[0])]

    def builtin_min(self, e: n.Call, args) -> Any:
        return self.min_max(e, args, "slt", "lt")

    def builtin_max(self, e: n.Call, args) -> Any:
        return self.min_max(e, args, "sgt", "gt")

    def min_max(self, e: n.Call, args, signed_cmp: str, unsigned_cmp: str) -> Any:
        t = self.a.types[e]
        x, y = self.tmp("x"), self.tmp("y")
        cmp = signed_cmp if isinstance(t, T.IntT) else unsigned_cmp
        return ["with", x, self.expr(args[0]), ["with", y, self.expr(args[1]), ["if", [cmp, x, y], x, y]]]

    def builtin_push(self, e: n.Call, args) -> Any:
        place = self.place(e.func.value)
        t: T.ArrayT = place.type
        s, ln = self.tmp("s"), self.tmp("len")
        dst = ["add", ["seq", ["mstore", 0, s], ["sha3", 0, 32]], ["mul", ln, t.elem.storage_slots]]
        val = self.expr(args[0])
        write = ["sstore", dst, val] if t.elem.is_word else self.memory_to_storage(t.elem, val, dst)
        return ["with", s, place.addr, ["with", ln, ["sload", s], ["seq",
                ["if", ["gt", ln, MAX_LEN], ["panic", PANIC_OVERFLOW]],
                ["sstore", s, ["add", ln, 1]], write]]]

    def builtin_pop(self, e: n.Call, args) -> Any:
        place = self.place(e.func.value)
        t = place.type
        s, ln = self.tmp("s"), self.tmp("len")
        last = ["add", ["seq", ["mstore", 0, s], ["sha3", 0, 32]], ["mul", ["sub", ln, 1], t.elem.storage_slots]]
        body: list = ["seq", ["if", ["iszero", ln], ["panic", PANIC_POP]], ["sstore", s, ["sub", ln, 1]]]
        if t.elem.is_word:
            v, sl = self.tmp("v"), self.tmp("sl")
            body.append(["with", sl, last, ["with", v, ["sload", sl], ["seq", ["sstore", sl, 0], v]]])
        return ["with", s, place.addr, ["with", ln, ["sload", s], body]]

    def builtin_abi_encode(self, e: n.Call, args) -> Any:
        return self.encode([self.a.types[x] for x in args], [self.expr(x) for x in args])

    def builtin_abi_decode(self, e: n.Call, args) -> Any:
        t = self.a.consts[args[1]]
        p, end = self.tmp("ap"), self.tmp("aend")
        return ["with", p, self.expr(args[0]), ["with", end, ["add", ["add", p, 32], ["mload", p]], ["seq",
                ["if", ["lt", ["mload", p], t.abi_head], REVERT0],
                self.decode(t, ["add", p, 32], ["add", p, 32], end, "memory")]]]

    # ---- precompile builtins (synq/builtins.py): the input encoding and how to read the output
    def builtin_ai_infer(self, e: n.Call, args) -> Any:
        inp = self.encode(param_types("ai.infer"), [self.expr(args[0]), self.expr(args[1])])
        def result(rd):
            end = self.tmp("end")
            return ["with", end, ["add", ["add", rd, 32], ["mload", rd]], ["seq",
                    ["if", ["lt", ["mload", rd], 64], REVERT0],
                    self.decode(T.BYTES, ["add", rd, 32], ["add", rd, 32], end, "memory")]]
        return self.precompile_call(AI_INFER, inp, BUILTINS["ai.infer"].static, result)

    def builtin_pqc_verify(self, e: n.Call, args) -> Any:
        alg, fam = self.tmp("alg"), self.tmp("fam")
        inp = self.encode(param_types("pqc.verify"), [alg] + [self.expr(x) for x in args[1:]])
        def result(rd):
            return ["and", ["iszero", ["lt", ["mload", rd], 32]], ["eq", ["mload", ["add", rd, 32]], 1]]
        return ["with", alg, self.expr(args[0]), ["with", fam, ["shr", 8, alg], ["seq",
                ["if", ["or", ["iszero", fam], ["gt", fam, len(BUILTINS["pqc.verify"].addresses)]], self.revert_string("unknown PQC signature family")],
                self.precompile_call(["add", PQC_FAMILY_BASE, fam], inp, BUILTINS["pqc.verify"].static, result)]]]

    def builtin_quorum_verify(self, e: n.Call, args) -> Any:
        def result(rd):
            return ["and", ["iszero", ["lt", ["mload", rd], 32]], ["eq", ["mload", ["add", rd, 32]], 1]]
        return self.precompile_call(QUORUM, self.expr(args[0]), BUILTINS["quorum.verify"].static, result)

    def builtin_ecrecover(self, e: n.Call, args) -> Any:
        inp = self.encode(param_types("ecrecover"), [self.expr(x) for x in args])
        def result(rd):  # no output (a bad signature) reads as address 0
            return ["if", ["lt", ["mload", rd], 32], 0, ["mload", ["add", rd, 32]]]
        return self.precompile_call(ECRECOVER, inp, BUILTINS["ecrecover"].static, result)

    def builtin_bridge_send(self, e: n.Call, args) -> Any:
        def result(rd):  # the precompile returns the sequenced message's raw bytes
            return rd
        return self.precompile_call(BRIDGE_SEND, self.expr(args[0]), BUILTINS["bridge.send"].static, result)

    def builtin_bridge_receive(self, e: n.Call, args) -> Any:
        inp = self.encode(param_types("bridge.receive"), [self.expr(x) for x in args])
        def result(rd):
            return ["seq", ["if", ["lt", ["mload", rd], 32], REVERT0], ["mload", ["add", rd, 32]]]
        return self.precompile_call(BRIDGE_RECEIVE, inp, BUILTINS["bridge.receive"].static, result)


# SynQ name -> the BuiltinLowering method that lowers it (the type checker's table is
# synq/semantics/builtin_calls.py; a test keeps both covering every builtin)
BUILTIN_LOWERINGS: dict[str, str] = {
    "keccak256": "builtin_keccak256", "len": "builtin_len", "send": "builtin_send",
    "blockhash": "builtin_blockhash", "min": "builtin_min", "max": "builtin_max",
    "push": "builtin_push", "pop": "builtin_pop",
    "abi.encode": "builtin_abi_encode", "abi.decode": "builtin_abi_decode",
    "ai.infer": "builtin_ai_infer", "pqc.verify": "builtin_pqc_verify", "quorum.verify": "builtin_quorum_verify",
    "ecrecover": "builtin_ecrecover", "bridge.send": "builtin_bridge_send", "bridge.receive": "builtin_bridge_receive",
}
