"""Stage 1: source text -> AST (`parse`)."""
from synq.ast import nodes
from synq.ast.parse import parse

__all__ = ["nodes", "parse"]
