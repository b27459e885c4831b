"""Stage 2: AST -> checked Analysis (`analyze`)."""
from synq.semantics import types
from synq.semantics.analysis import Analysis
from synq.semantics.analyzer import analyze

__all__ = ["Analysis", "analyze", "types"]
