"""Stage 4: IR -> smaller IR (`optimize`), a list of small passes run to a fixed point."""
from synq.optimizer.passes import PASSES, ConstantFold, DeadCode, FlattenSeq, Identities, InlineWith, optimize

__all__ = ["PASSES", "ConstantFold", "DeadCode", "FlattenSeq", "Identities", "InlineWith", "optimize"]
