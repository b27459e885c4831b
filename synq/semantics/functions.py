"""Function bodies and the contract-wide checks over them: every path returns, no recursion,
transitive effects against the declared mutability, unique selectors."""
from __future__ import annotations

from synq.ast import nodes as n
from synq.semantics.base import CheckerBase
from synq.semantics.symbols import (
    FunctionInfo,
)


class FunctionChecker(CheckerBase):
    def check_function(self, f: FunctionInfo) -> None:
        self.fn = f
        self.scopes = [{p.name: p for p in f.params}]
        for p, node in zip(f.params, f.node.params):
            self.a.symbols[node] = p
        self.loop_depth = 0
        self.block(f.node.body)
        if f.returns and not self.terminates(f.node.body):
            self.err(f"function '{f.name}' must end in a return or revert on every path", f.node)
        self.fn = None

    def terminates(self, b: n.Block) -> bool:
        for s in b.stmts:
            if isinstance(s, (n.Return, n.Revert)):
                return True
            if isinstance(s, n.If) and s.orelse is not None and self.terminates(s.body) and self.terminates(s.orelse):
                return True
            if isinstance(s, n.Assert) and self.a.consts.get(s.cond) is False:
                return True
        return False

    def check_call_graph(self) -> None:
        fns = list(self.a.functions.values()) + ([self.a.constructor] if self.a.constructor else [])
        # recursion
        state: dict[FunctionInfo, int] = {}

        def visit(f: FunctionInfo, stack: list[FunctionInfo]) -> None:
            state[f] = 1
            for g, sites in f.calls.items():
                if state.get(g) == 1:
                    self.err(f"recursion is not allowed ('{f.name}' calls '{g.name}' which calls back)", sites[0])
                elif g not in state:
                    visit(g, stack + [g])
            state[f] = 2

        for f in fns:
            if f not in state:
                visit(f, [f])
        # transitive effects
        changed = True
        closure = {f: {k for k in f.effects} for f in fns}
        while changed:
            changed = False
            for f in fns:
                for g in f.calls:
                    new = closure[g] - closure[f]
                    if new:
                        closure[f] |= new
                        changed = True
        for f in fns:
            f.transitive = closure[f]  # type: ignore[attr-defined]
            if f.is_constructor:
                continue
            limit = f.mutability
            if limit in ("pure", "view"):
                bad = {"write", "call"} | ({"read"} if limit == "pure" else set())
                for kind in sorted(bad):
                    for node in f.effects.get(kind, []):
                        what = {"write": "changes state", "call": "makes a state-changing call", "read": "reads state or the environment"}[kind]
                        self.err(f"this {what}, but '{f.name}' is {limit}", node)
                for g, sites in f.calls.items():
                    if closure[g] & bad:
                        self.err(f"'{g.name}' may change or read state, but '{f.name}' is {limit}", sites[0])

    def check_selectors(self) -> None:
        seen: dict[bytes, str] = {}
        for f in self.a.external_functions:
            if f.selector in seen and seen[f.selector] != f.name:
                node = f.node or f.getter_of
                self.err(f"selector of '{f.signature}' collides with '{seen[f.selector]}'", getattr(node, "span", None) and node)
            elif f.name in seen.values():
                self.err(f"external function '{f.name}' is declared twice", f.node)
            seen[f.selector] = f.name

