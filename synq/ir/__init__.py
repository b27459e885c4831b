"""Stage 3: checked AST -> IR (`lower`), plus the IR node type, printer and reader."""
from synq.ir.lowering import Program, lower
from synq.ir.node import IRNode, parse_ir

__all__ = ["IRNode", "Program", "lower", "parse_ir"]
