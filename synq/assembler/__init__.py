"""Stage 6: assembly -> bytecode and a pc -> source map (`assemble`)."""
from synq.assembler.assemble import Assembled, assemble, format_asm

__all__ = ["Assembled", "assemble", "format_asm"]
