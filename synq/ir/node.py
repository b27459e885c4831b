"""The SynQ IR: s-expressions over EVM opcodes plus a few structured forms.

    123                     a constant word
    (add a b)               an EVM opcode; arguments are evaluated last to first,
                            so the first argument ends on top of the stack
    (seq a b ...)           run in order; the value is the last item's (others give none)
    (if c then [else])      branch; both arms give a value or neither does
    (with x val body)       bind x (a stack slot) to val while body runs
    (set x val)             overwrite a `with` variable
    x                       read a `with` variable (a bare name)
    (label L) (goto L)      a jump target and an unconditional jump (stack height must agree)
    (label_addr L)          push L's code offset
    (range i start end body)  i from start up to end (i on the stack), body gives no value
    (break_range) (continue_range)  leave / go on with the innermost range (user loops)
    (leave slot)            internal-function return: drop this frame's stack, jump to mload(slot)
    (function_body L body)  a subroutine compiled at stack height 0, entered with (goto L)
    (dispatch sel (case S body) ... fallback)  jump to the body whose S equals sel (bodies end the call)
    (panic code)            revert with Solidity's Panic(uint256)
    (revert_block L body)   jump to a shared reverting block L (emitted once, at the end)
    (runtime_offset) (runtime_size)  where the runtime code lies inside the init code
    pass                    nothing

Every node may carry the source span it came from; the assembler turns them into a
pc -> source map.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from synq.errors import NO_SPAN, InternalCompilerError, Span

# EVM opcodes: name -> (byte, pops, pushes)
OPCODES: dict[str, tuple[int, int, int]] = {
    "stop": (0x00, 0, 0), "add": (0x01, 2, 1), "mul": (0x02, 2, 1), "sub": (0x03, 2, 1),
    "div": (0x04, 2, 1), "sdiv": (0x05, 2, 1), "mod": (0x06, 2, 1), "smod": (0x07, 2, 1),
    "addmod": (0x08, 3, 1), "mulmod": (0x09, 3, 1), "exp": (0x0A, 2, 1), "signextend": (0x0B, 2, 1),
    "lt": (0x10, 2, 1), "gt": (0x11, 2, 1), "slt": (0x12, 2, 1), "sgt": (0x13, 2, 1),
    "eq": (0x14, 2, 1), "iszero": (0x15, 1, 1), "and": (0x16, 2, 1), "or": (0x17, 2, 1),
    "xor": (0x18, 2, 1), "not": (0x19, 1, 1), "byte": (0x1A, 2, 1), "shl": (0x1B, 2, 1),
    "shr": (0x1C, 2, 1), "sar": (0x1D, 2, 1), "sha3": (0x20, 2, 1),
    "address": (0x30, 0, 1), "balance": (0x31, 1, 1), "origin": (0x32, 0, 1), "caller": (0x33, 0, 1),
    "callvalue": (0x34, 0, 1), "calldataload": (0x35, 1, 1), "calldatasize": (0x36, 0, 1),
    "calldatacopy": (0x37, 3, 0), "codesize": (0x38, 0, 1), "codecopy": (0x39, 3, 0),
    "gasprice": (0x3A, 0, 1), "extcodesize": (0x3B, 1, 1), "extcodecopy": (0x3C, 4, 0),
    "returndatasize": (0x3D, 0, 1), "returndatacopy": (0x3E, 3, 0), "extcodehash": (0x3F, 1, 1),
    "blockhash": (0x40, 1, 1), "coinbase": (0x41, 0, 1), "timestamp": (0x42, 0, 1),
    "number": (0x43, 0, 1), "prevrandao": (0x44, 0, 1), "gaslimit": (0x45, 0, 1),
    "chainid": (0x46, 0, 1), "selfbalance": (0x47, 0, 1), "basefee": (0x48, 0, 1),
    "pop": (0x50, 1, 0), "mload": (0x51, 1, 1), "mstore": (0x52, 2, 0), "mstore8": (0x53, 2, 0),
    "sload": (0x54, 1, 1), "sstore": (0x55, 2, 0), "jump": (0x56, 1, 0), "jumpi": (0x57, 2, 0),
    "pc": (0x58, 0, 1), "msize": (0x59, 0, 1), "gas": (0x5A, 0, 1), "jumpdest": (0x5B, 0, 0),
    "tload": (0x5C, 1, 1), "tstore": (0x5D, 2, 0), "mcopy": (0x5E, 3, 0),
    "log0": (0xA0, 2, 0), "log1": (0xA1, 3, 0), "log2": (0xA2, 4, 0), "log3": (0xA3, 5, 0),
    "log4": (0xA4, 6, 0), "create": (0xF0, 3, 1), "call": (0xF1, 7, 1), "callcode": (0xF2, 7, 1),
    "return": (0xF3, 2, 0), "delegatecall": (0xF4, 6, 1), "create2": (0xF5, 4, 1),
    "staticcall": (0xFA, 6, 1), "revert": (0xFD, 2, 0), "invalid": (0xFE, 0, 0),
}
ZERO_ARG_FORMS = {"break_range", "continue_range", "runtime_offset", "runtime_size", "seq"}
TERMINATORS = {"revert_block", "return", "revert", "stop", "invalid", "goto", "panic", "leave", "jump",
               "break_range", "continue_range"}


@dataclass(eq=False)
class IRNode:
    op: str | int
    args: list["IRNode"] = field(default_factory=list)
    span: Span = field(default=NO_SPAN, repr=False)

    # ---- construction helpers
    @classmethod
    def make(cls, x: Any, span: Span = NO_SPAN) -> "IRNode":
        if isinstance(x, IRNode):
            return x
        if isinstance(x, bool):
            return cls(int(x), span=span)
        if isinstance(x, int):
            if not 0 <= x < 2**256:
                x %= 2**256
            return cls(x, span=span)
        if isinstance(x, str):
            return cls(x, span=span)
        if isinstance(x, (list, tuple)):
            op, *rest = x
            node = cls(op, [cls.make(a, span) for a in rest], span=span)
            return node
        raise InternalCompilerError(f"cannot make IR from {x!r}")

    @property
    def is_literal(self) -> bool:
        return isinstance(self.op, int)

    @property
    def valency(self) -> int:
        """How many words this node leaves on the stack (0 or 1)."""
        op = self.op
        if isinstance(op, int):
            return 1
        if op in OPCODES:
            return OPCODES[op][2]
        if op == "seq":
            return self.args[-1].valency if self.args else 0
        if op == "if":
            return self.args[1].valency if len(self.args) == 3 else 0
        if op == "with":
            return self.args[2].valency
        if op in ("label_addr", "runtime_offset", "runtime_size"):
            return 1
        if not self.args and op not in ZERO_ARG_FORMS and op != "pass":
            return 1  # a variable
        return 0

    # ---- printing / parsing
    def __str__(self) -> str:
        return self.pretty()

    def flat(self) -> str:
        if isinstance(self.op, int):
            return str(self.op) if self.op < 2**32 else hex(self.op)
        if not self.args:
            return f"({self.op})" if self.op in OPCODES or self.op in ZERO_ARG_FORMS else self.op
        return "(" + " ".join([self.op] + [a.flat() for a in self.args]) + ")"

    def pretty(self, indent: int = 0) -> str:
        return "\n".join(self._lines(indent))

    def _lines(self, indent: int) -> list[str]:
        flat = self.flat()
        if len(flat) + indent <= 90 or not self.args:
            return [flat] if indent == 0 else [flat]
        pad = " " * (indent + 2)
        out = [f"({self.op}"]
        for a in self.args:
            sub = a._lines(indent + 2)
            out.append(pad + sub[0])
            out.extend(sub[1:])
        out[-1] += ")"
        return out


_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def parse_ir(text: str) -> IRNode:
    """Read back what IRNode.pretty() prints (names after with/var/label are plain words)."""
    tokens = _TOKEN.findall(text)
    pos = 0

    def read() -> IRNode:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            op = tokens[pos]
            pos += 1
            args = []
            while tokens[pos] != ")":
                args.append(read())
            pos += 1
            return IRNode(op, args)
        if re.fullmatch(r"0x[0-9a-fA-F]+|[0-9]+", tok):
            return IRNode(int(tok, 0))
        return IRNode(tok)

    node = read()
    if pos != len(tokens):
        raise InternalCompilerError("trailing text after IR")
    return node
