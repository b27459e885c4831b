"""The two programs: the frame layout, the runtime (selector dispatch + reachable internal
functions) and the init code (constructor, immutables, deployment)."""
from __future__ import annotations

from synq.errors import NO_SPAN
from synq.ir.lowering.base import FREE_PTR, REVERT0, LoweringBase, Program
from synq.semantics.symbols import (
    FunctionInfo,
)


class ProgramLowering(LoweringBase):
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
