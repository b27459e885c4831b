"""Checked AST + Analysis -> IR for the init code and the runtime code: `lower(analysis)`.

One `Lowering` object per compile holds the shared state (`base.py`); each concept is its own
module, a mixin of `Lowering`, and node types dispatch by name to one method each
(`lower_<Stmt>`, `lower_<Expr>`, `place_<Expr>`, `call_<kind>`, and `BUILTIN_LOWERINGS` for builtins):

    program      frame layout, runtime dispatcher, init code     entry        external entry points, getters
    statements   lower_<Stmt>                                    expressions  constants, lower_<Expr>
    places       place_<Expr>, read/write a place                storage      storage <-> memory copies
    arithmetic   checked + - * / % ** << >>                      conversions  T(x)
    calls        internal / external / precompile calls          builtin_calls  one method per builtin
    abi          ABI encode / decode                             events, reverts
"""
from __future__ import annotations

from synq.ir.lowering.abi import AbiLowering
from synq.ir.lowering.arithmetic import ArithmeticLowering
from synq.ir.lowering.base import Place, Program
from synq.ir.lowering.builtin_calls import BUILTIN_LOWERINGS, BuiltinLowering
from synq.ir.lowering.calls import CallLowering
from synq.ir.lowering.conversions import ConversionLowering
from synq.ir.lowering.entry import EntryLowering
from synq.ir.lowering.events import EventLowering
from synq.ir.lowering.expressions import ExpressionLowering
from synq.ir.lowering.places import PlaceLowering
from synq.ir.lowering.program import ProgramLowering
from synq.ir.lowering.reverts import RevertLowering
from synq.ir.lowering.statements import StatementLowering
from synq.ir.lowering.storage import StorageLowering
from synq.semantics.analysis import Analysis


class Lowering(ProgramLowering, EntryLowering, StatementLowering, ExpressionLowering, PlaceLowering,
               StorageLowering, ArithmeticLowering, ConversionLowering, CallLowering, BuiltinLowering,
               AbiLowering, EventLowering, RevertLowering):
    """One lowering run: the modules' methods over one shared state."""


def lower(a: Analysis) -> Program:
    """Lower a checked contract to IR (init and runtime)."""
    return Lowering(a).run()


__all__ = ["BUILTIN_LOWERINGS", "Lowering", "Place", "Program", "lower"]
