"""IR -> a list of assembly instructions, tracking the stack height for `with` variables."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from synq.errors import NO_SPAN, InternalCompilerError, Span, SynqUserError
from synq.ir.node import OPCODES, IRNode

PANIC_SELECTOR = 0x4E487B71


@dataclass
class Instr:
    """One assembly item: an opcode name, PUSH <value>, PUSH <label>, a LABEL or raw DATA."""

    op: str
    arg: int | str | bytes | None = None
    span: Span = NO_SPAN

    def __str__(self) -> str:
        if self.op == "LABEL":
            return f"{self.arg}:"
        if self.op == "PUSH":
            return f"  PUSH {self.arg:#x}" if isinstance(self.arg, int) else f"  PUSH {self.arg}"
        if self.op == "DATA":
            return f"  DATA 0x{self.arg.hex()}"
        return f"  {self.op}"


class Codegen:
    def __init__(self, runtime_size: int = 0) -> None:
        self.out: list[Instr] = []
        self.ids = itertools.count()
        self.panics: set[int] = set()
        self.runtime_size = runtime_size
        self.blocks: dict[str, IRNode] = {}
        self.span = NO_SPAN

    def emit(self, op: str, arg=None) -> None:
        self.out.append(Instr(op, arg, self.span))

    def push(self, value) -> None:
        self.emit("PUSH", value)

    def fresh(self, base: str) -> str:
        return f"_{base}_{next(self.ids)}"

    def gen(self, node: IRNode, env: dict[str, int], h: int, loops: list[tuple[str, str, int]]) -> int:
        """Emit code for `node` at stack height `h`; returns the new height."""
        saved = self.span
        if node.span:
            self.span = node.span
        try:
            return self._gen(node, env, h, loops)
        finally:
            self.span = saved

    def _gen(self, node: IRNode, env: dict[str, int], h: int, loops) -> int:
        op, args = node.op, node.args
        if isinstance(op, int):
            self.push(op)
            return h + 1
        if op == "pass":
            return h
        if op == "seq":
            for i, a in enumerate(args):
                h2 = self.gen(a, env, h, loops)
                if i == len(args) - 1:
                    return h2
                for _ in range(h2 - h):
                    self.emit("POP")
            return h
        if op == "dispatch":
            # (dispatch sel (case S1 body1) ... fallback): a compare-and-jump table, then the bodies
            sel = args[0]
            labels = []
            for case in args[1:-1]:
                label = self.fresh("fn")
                labels.append(label)
                self.gen(sel, env, h, loops)
                self.push(case.args[0].op)
                self.emit("EQ")
                self.push(label)
                self.emit("JUMPI")
            self.gen(args[-1], env, h, loops)
            for case, label in zip(args[1:-1], labels):
                self.emit("LABEL", label)
                self.gen(case.args[1], env, h, loops)
            return h
        if op == "if":
            cond = args[0]
            else_l, end_l = self.fresh("else"), self.fresh("endif")
            target = self.jump_target(args[1]) if len(args) == 2 else None
            if target is not None:  # (if c <jump away>): one JUMPI straight to the target
                self.gen(cond, env, h, loops)
                self.push(target)
                self.emit("JUMPI")
                return h
            if isinstance(cond.op, str) and cond.op == "iszero":
                self.gen(cond.args[0], env, h, loops)
            else:
                self.gen(cond, env, h, loops)
                self.emit("ISZERO")
            self.push(else_l)
            self.emit("JUMPI")
            h_then = self.gen(args[1], env, h, loops)
            if len(args) == 3:
                self.push(end_l)
                self.emit("JUMP")
                self.emit("LABEL", else_l)
                h_else = self.gen(args[2], env, h, loops)
                self.emit("LABEL", end_l)
                return max(h_then, h_else)
            self.emit("LABEL", else_l)
            return h
        if op == "with":
            name = args[0].op
            self.gen(args[1], env, h, loops)
            inner = dict(env)
            inner[name] = h + 1
            h2 = self.gen(args[2], inner, h + 1, loops)
            if h2 == h + 2:
                self.emit("SWAP1")
                self.emit("POP")
            elif h2 == h + 1:
                self.emit("POP")
            return h2 - 1
        if op == "set":
            name = args[0].op
            self.gen(args[1], env, h, loops)
            depth = h + 1 - env[name]
            if not 1 <= depth <= 16:
                raise SynqUserError("expression too complex: a value is out of the EVM's reach (more than 16 stack slots)", self.span)
            self.emit(f"SWAP{depth}")
            self.emit("POP")
            return h
        if op == "goto":
            self.push(args[0].op)
            self.emit("JUMP")
            return h
        if op == "label":
            self.emit("LABEL", args[0].op)
            return h
        if op == "label_addr":
            self.push(args[0].op)
            return h + 1
        if op == "runtime_offset":
            self.push("_runtime")
            return h + 1
        if op == "runtime_size":
            self.push(self.runtime_size)
            return h + 1
        if op == "range":
            name = args[0].op
            top, cont, exit_ = self.fresh("loop"), self.fresh("cont"), self.fresh("exit")
            self.gen(args[2], env, h, loops)          # end at h+1
            self.gen(args[1], env, h + 1, loops)      # i at h+2
            self.emit("LABEL", top)
            self.emit("DUP2")
            self.emit("DUP2")
            self.emit("LT")
            self.emit("ISZERO")
            self.push(exit_)
            self.emit("JUMPI")
            inner = dict(env)
            inner[name] = h + 2
            self.gen(args[3], inner, h + 2, loops + [(exit_, cont, h + 2)])
            self.emit("LABEL", cont)
            self.push(1)
            self.emit("ADD")
            self.push(top)
            self.emit("JUMP")
            self.emit("LABEL", exit_)
            self.emit("POP")
            self.emit("POP")
            return h
        if op in ("break_range", "continue_range"):
            if not loops:
                raise InternalCompilerError(f"{op} outside a loop")
            exit_, cont, lh = loops[-1]
            for _ in range(h - lh):
                self.emit("POP")
            self.push(exit_ if op == "break_range" else cont)
            self.emit("JUMP")
            return h
        if op == "leave":
            for _ in range(h):
                self.emit("POP")
            self.gen(args[0], env, 0, loops)
            self.emit("MLOAD")
            self.emit("JUMP")
            return h
        if op == "function_body":
            self.emit("LABEL", args[0].op)
            self.gen(args[1], {}, 0, [])
            return h
        if op == "revert_block":
            label = args[0].op
            self.blocks.setdefault(label, args[1])
            self.push(label)
            self.emit("JUMP")
            return h
        if op == "panic":
            code = args[0].op
            self.panics.add(code)
            self.push(f"_panic_{code:x}")
            self.emit("JUMP")
            return h
        if op in OPCODES:
            _, pops, pushes = OPCODES[op]
            if len(args) != pops:
                raise InternalCompilerError(f"{op} takes {pops} arguments, got {len(args)}")
            hh = h
            for a in reversed(args):
                hh = self.gen(a, env, hh, loops)
            self.emit(op.upper())
            return h + pushes
        if not args:
            if op not in env:
                raise InternalCompilerError(f"unknown IR variable {op!r}")
            depth = h - env[op] + 1
            if not 1 <= depth <= 16:
                raise SynqUserError("expression too complex: a value is out of the EVM's reach (more than 16 stack slots)", self.span)
            self.emit(f"DUP{depth}")
            return h + 1
        raise InternalCompilerError(f"unknown IR form {op!r}")

    def jump_target(self, node: IRNode) -> str | None:
        """The label a branch jumps to when it is nothing but a jump to a shared block."""
        op = node.op
        if op == "panic":
            self.panics.add(node.args[0].op)
            return f"_panic_{node.args[0].op:x}"
        if op == "revert_block":
            self.blocks.setdefault(node.args[0].op, node.args[1])
            return node.args[0].op
        if op == "goto":
            return node.args[0].op
        if op == "revert" and all(a.is_literal and a.op == 0 for a in node.args):
            self.blocks.setdefault("_revert0", IRNode("revert", [IRNode(0), IRNode(0)]))
            return "_revert0"
        return None

    def finish(self) -> None:
        done: set[str] = set()
        while len(done) < len(self.blocks):
            for label, body in list(self.blocks.items()):
                if label in done:
                    continue
                done.add(label)
                self.span = NO_SPAN
                self.emit("LABEL", label)
                self.gen(body, {}, 0, [])
        for code in sorted(self.panics):
            self.span = NO_SPAN
            self.emit("LABEL", f"_panic_{code:x}")
            self.push(PANIC_SELECTOR)
            self.push(224)
            self.emit("SHL")
            self.push(0)
            self.emit("MSTORE")
            self.push(code)
            self.push(4)
            self.emit("MSTORE")
            self.push(36)
            self.push(0)
            self.emit("REVERT")


def peephole(instrs: list[Instr]) -> list[Instr]:
    """DUP1 SWAP1 POP -> nothing; PUSH x POP -> nothing; SWAP1 POP POP -> POP POP."""
    out: list[Instr] = []
    for ins in instrs:
        out.append(ins)
        while True:
            tail = [i.op for i in out[-3:]]
            if tail == ["DUP1", "SWAP1", "POP"]:
                del out[-3:]
            elif len(out) >= 2 and out[-2].op == "PUSH" and out[-1].op == "POP":
                del out[-2:]
            elif tail == ["SWAP1", "POP", "POP"]:
                del out[-3]
            else:
                break
    return out


def generate(ir: IRNode, runtime: bytes | None = None) -> list[Instr]:
    """Assembly for `ir`. With `runtime` given this is init code: the runtime follows as data."""
    cg = Codegen(len(runtime) if runtime is not None else 0)
    cg.gen(ir, {}, 0, [])
    cg.finish()
    if runtime is not None:
        cg.span = NO_SPAN
        cg.emit("LABEL", "_runtime")
        cg.emit("DATA", runtime)
        cg.emit("LABEL", "_init_end")
    else:
        cg.emit("LABEL", "_code_end")
    return peephole(cg.out)
