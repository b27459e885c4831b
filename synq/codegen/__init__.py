"""Stage 5: IR -> EVM assembly (`generate`)."""
from synq.codegen.emit import Instr, generate

__all__ = ["Instr", "generate"]
