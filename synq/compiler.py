"""The orchestrator: one object per source, each phase computed lazily and cached.

    source -> ast -> analysis -> ir -> optimized ir -> assembly -> bytecode

`OUTPUT_FORMATS` maps each output name to its builder; the CLI's --format and the
Python API share it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from synq import assembler, ast, codegen, ir, optimizer, semantics
from synq.errors import InternalCompilerError, SynqError, SynqUserError
from synq.semantics import types as T
from synq.version import __version__


class CompilerData:
    def __init__(self, source: str, path: str = "<stdin>", optimize: int = 1) -> None:
        self.source = source
        self.path = path
        self.level = optimize

    def _user(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SynqUserError as err:
            raise err.attach(self.path, self.source) from None
        except SynqError:
            raise
        except RecursionError:
            raise SynqUserError("the program is nested too deeply").attach(self.path, self.source) from None
        except Exception as exc:  # a compiler bug: never a bare traceback for the user
            raise InternalCompilerError(f"{type(exc).__name__}: {exc}") from exc

    @cached_property
    def ast(self):
        return self._user(lambda: ast.parse(self.source, self.path))

    @cached_property
    def analysis(self) -> semantics.Analysis:
        tree = self.ast
        return self._user(lambda: semantics.analyze(tree))

    @cached_property
    def ir(self) -> ir.Program:
        a = self.analysis
        return self._user(lambda: ir.lower(a))

    @cached_property
    def ir_optimized(self) -> ir.Program:
        prog = self.ir
        return self._user(lambda: ir.Program(optimizer.optimize(prog.init, self.level),
                                             optimizer.optimize(prog.runtime, self.level)))

    @cached_property
    def runtime_asm(self) -> list[codegen.Instr]:
        prog = self.ir_optimized
        return self._user(lambda: codegen.generate(prog.runtime))

    @cached_property
    def runtime_assembled(self) -> assembler.Assembled:
        asm = self.runtime_asm
        return self._user(lambda: assembler.assemble(asm))

    @cached_property
    def init_asm(self) -> list[codegen.Instr]:
        prog, runtime = self.ir_optimized, self.runtime_assembled.bytecode
        return self._user(lambda: codegen.generate(prog.init, runtime))

    @cached_property
    def init_assembled(self) -> assembler.Assembled:
        asm = self.init_asm
        return self._user(lambda: assembler.assemble(asm))

    # ---- outputs
    @cached_property
    def abi(self) -> list[dict]:
        return build_abi(self.analysis)

    @property
    def bytecode(self) -> bytes:
        return self.init_assembled.bytecode

    @property
    def runtime_bytecode(self) -> bytes:
        return self.runtime_assembled.bytecode

    @property
    def asm(self) -> str:
        return ("; init\n" + assembler.format_asm(self.init_asm) + "\n; runtime\n"
                + assembler.format_asm(self.runtime_asm))

    @property
    def source_map(self) -> dict:
        return {
            "init": {str(pc): list(v) for pc, v in self.init_assembled.source_map.items()},
            "runtime": {str(pc): list(v) for pc, v in self.runtime_assembled.source_map.items()},
        }

    @property
    def storage_layout(self) -> dict:
        return {
            name: {"slot": v.slot, "type": str(v.type), "slots": v.type.storage_slots}
            for name, v in self.analysis.storage.items()
        }

    @property
    def immutables_layout(self) -> dict:
        return {name: {"index": v.index, "type": str(v.type)} for name, v in self.analysis.immutables.items()}


def _abi_param(name: str, t: T.Type) -> dict:
    out: dict[str, Any] = {"name": name, "type": t.abi}
    base = t
    suffix = ""
    while isinstance(base, T.ArrayT):
        suffix = f"[{'' if base.size is None else base.size}]" + suffix
        base = base.elem
    if isinstance(base, T.StructT):
        out["type"] = "tuple" + suffix
        out["components"] = [_abi_param(fn, ft) for fn, ft in base.fields]
        out["internalType"] = f"struct {base.name}{suffix}"
    elif isinstance(base, T.EnumT):
        out["internalType"] = f"enum {base.name}{suffix}"
    return out


def build_abi(a: semantics.Analysis) -> list[dict]:
    out: list[dict] = []
    if a.constructor is not None:
        out.append({"type": "constructor", "inputs": [_abi_param(p.name, p.type) for p in a.constructor.params],
                    "stateMutability": a.constructor.mutability})
    for f in a.external_functions:
        if f.getter_of is not None:
            inputs = [_abi_param(f"arg{i}", t) for i, t in enumerate(f.getter_keys)]
        else:
            inputs = [_abi_param(p.name, p.type) for p in f.params]
        out.append({"type": "function", "name": f.name, "inputs": inputs,
                    "outputs": [_abi_param("", t) for t in f.returns], "stateMutability": f.mutability})
    for ev in a.events.values():
        out.append({"type": "event", "name": ev.name, "anonymous": False,
                    "inputs": [{**_abi_param(nm, t), "indexed": idx} for nm, t, idx in ev.params]})
    for er in a.errors.values():
        out.append({"type": "error", "name": er.name, "inputs": [_abi_param(nm, t) for nm, t in er.params]})
    return out


@dataclass
class CompilerOutput:
    """Everything a caller needs from one compile."""

    abi: list[dict]
    bytecode: bytes
    runtime_bytecode: bytes
    asm: str
    source_map: dict
    storage_layout: dict
    ir: str
    path: str = "<stdin>"

    def to_json(self) -> dict:
        return {"abi": self.abi, "bytecode": "0x" + self.bytecode.hex(),
                "bytecode_runtime": "0x" + self.runtime_bytecode.hex(), "asm": self.asm,
                "source_map": self.source_map, "storage_layout": self.storage_layout,
                "ir": self.ir, "compiler": f"synq-{__version__}"}


OUTPUT_FORMATS: dict[str, Callable[[CompilerData], str]] = {
    "abi": lambda d: json.dumps(d.abi, indent=2),
    "bin": lambda d: "0x" + d.bytecode.hex(),
    "bin-runtime": lambda d: "0x" + d.runtime_bytecode.hex(),
    "asm": lambda d: d.asm,
    "ir": lambda d: "; init\n" + d.ir_optimized.init.pretty() + "\n; runtime\n" + d.ir_optimized.runtime.pretty(),
    "source-map": lambda d: json.dumps(d.source_map),
    "layout": lambda d: json.dumps({"storage": d.storage_layout, "immutables": d.immutables_layout}, indent=2),
    "json": lambda d: json.dumps(compile_data(d).to_json(), indent=2),
}


def compile_data(d: CompilerData) -> CompilerOutput:
    return CompilerOutput(
        abi=d.abi, bytecode=d.bytecode, runtime_bytecode=d.runtime_bytecode, asm=d.asm,
        source_map=d.source_map, storage_layout=d.storage_layout,
        ir="; init\n" + d.ir_optimized.init.pretty() + "\n; runtime\n" + d.ir_optimized.runtime.pretty(),
        path=d.path,
    )


def compile_source(source: str, path: str = "<stdin>", optimize: int = 1) -> CompilerOutput:
    """Compile SynQ source; raises SynqUserError (rendered with .render()) on a bad program."""
    return compile_data(CompilerData(source, path, optimize))


def check_source(source: str, path: str = "<stdin>") -> semantics.Analysis:
    """Parse and check only (what `synq check` runs)."""
    return CompilerData(source, path).analysis
