"""What every checker module shares: the names the language reserves, error recording, and the
checking state (the Analysis being filled, the current function, its scopes and loop depth).

Errors are collected (not raised one by one); `fail` records one and abandons the current
expression or statement, `guard` catches that so checking goes on with the next one.
"""
from __future__ import annotations

from synq.ast import nodes as n
from synq.errors import SemanticError, Span, SynqUserError
from synq.semantics import types as T
from synq.semantics.analysis import Analysis
from synq.semantics.symbols import FunctionInfo, LocalVar

ENV_VARS: dict[str, T.Type] = {
    "msg.sender": T.ADDRESS, "msg.value": T.UINT256, "msg.data": T.BYTES, "msg.gas": T.UINT256,
    "block.number": T.UINT256, "block.timestamp": T.UINT256, "block.chainid": T.UINT256,
    "block.coinbase": T.ADDRESS, "block.basefee": T.UINT256, "block.prevrandao": T.UINT256,
    "block.gaslimit": T.UINT256, "tx.origin": T.ADDRESS, "tx.gasprice": T.UINT256,
}
NAMESPACES = {"msg", "block", "tx", "ai", "pqc", "quorum", "abi", "bridge"}
RESERVED = NAMESPACES | {"self", "len", "keccak256", "send", "blockhash", "min", "max", "empty", "ecrecover"}


class Abort(Exception):
    """Stop checking the current expression (an error was recorded)."""


class CheckerBase:
    """The state one analysis run shares across its modules (each module is a mixin of `Analyzer`)."""

    def __init__(self, module: n.Module) -> None:
        self.a = Analysis(module)
        self.errors: list[SynqUserError] = []
        self.fn: FunctionInfo | None = None
        self.scopes: list[dict[str, LocalVar]] = []
        self.loop_depth = 0

    def err(self, msg: str, node: n.Node | Span | None, hint: str | None = None) -> None:
        span = node if isinstance(node, Span) else (node.span if node is not None else Span())
        self.errors.append(SemanticError(msg, span, hint))

    def fail(self, msg: str, node: n.Node | None, hint: str | None = None):
        self.err(msg, node, hint)
        raise Abort()

    def guard(self, fn, *args):
        try:
            return fn(*args)
        except Abort:
            return None

    def effect(self, kind: str, node: n.Node) -> None:
        if self.fn is not None:
            self.fn.effects.setdefault(kind, []).append(node)
