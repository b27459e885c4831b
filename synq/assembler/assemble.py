"""Resolve labels, size PUSHes, and emit bytecode with a pc -> source map.

Label references are always PUSH2 (code stays under 64 KiB, checked), so one pass
finds every label's offset and a second writes the bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from synq.codegen.emit import Instr
from synq.errors import InternalCompilerError, SynqUserError
from synq.ir.node import OPCODES

_BYTE = {name.upper(): code for name, (code, _, _) in OPCODES.items()}
for _n in range(1, 17):
    _BYTE[f"DUP{_n}"] = 0x7F + _n
    _BYTE[f"SWAP{_n}"] = 0x8F + _n
MAX_CODE = 0xFFFF


@dataclass
class Assembled:
    bytecode: bytes
    labels: dict[str, int]
    source_map: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)


def _push_size(arg) -> int:
    if isinstance(arg, str):
        return 3
    if arg == 0:
        return 1  # PUSH0
    return 1 + (arg.bit_length() + 7) // 8


def _size(ins: Instr) -> int:
    if ins.op == "LABEL":
        return 0
    if ins.op == "DATA":
        return len(ins.arg)
    if ins.op == "PUSH":
        return _push_size(ins.arg)
    return 1


def assemble(instrs: list[Instr]) -> Assembled:
    labels: dict[str, int] = {}
    pc = 0
    for ins in instrs:
        if ins.op == "LABEL":
            if ins.arg in labels:
                raise InternalCompilerError(f"label {ins.arg} defined twice")
            labels[ins.arg] = pc
            if not ins.arg.startswith(("_runtime", "_init_end", "_code_end")):
                pc += 1  # JUMPDEST
        else:
            pc += _size(ins)
    if pc > MAX_CODE:
        raise SynqUserError(f"the contract is too large ({pc} bytes of code; at most {MAX_CODE})")
    out = bytearray()
    smap: dict[int, tuple[int, int, int, int]] = {}
    for ins in instrs:
        at = len(out)
        if ins.span:
            smap[at] = (ins.span.line, ins.span.col, ins.span.end_line, ins.span.end_col)
        if ins.op == "LABEL":
            if not ins.arg.startswith(("_runtime", "_init_end", "_code_end")):
                out.append(0x5B)
        elif ins.op == "DATA":
            out += ins.arg
        elif ins.op == "PUSH":
            if isinstance(ins.arg, str):
                if ins.arg not in labels:
                    raise InternalCompilerError(f"unknown label {ins.arg}")
                out += bytes([0x61]) + labels[ins.arg].to_bytes(2, "big")
            elif ins.arg == 0:
                out.append(0x5F)
            else:
                size = (ins.arg.bit_length() + 7) // 8
                out += bytes([0x5F + size]) + ins.arg.to_bytes(size, "big")
        else:
            if ins.op not in _BYTE:
                raise InternalCompilerError(f"unknown opcode {ins.op}")
            out.append(_BYTE[ins.op])
    return Assembled(bytes(out), labels, smap)


def format_asm(instrs: list[Instr]) -> str:
    """Readable assembly, one instruction a line, labels flush left."""
    lines = []
    for ins in instrs:
        if ins.op == "DATA":
            lines.append(f"  DATA <{len(ins.arg)} bytes>")
        else:
            lines.append(str(ins))
    return "\n".join(lines)
