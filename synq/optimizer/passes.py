"""Small IR rewrites. Each pass maps a node to a node bottom-up and says whether it changed."""
from __future__ import annotations

from synq.ir.node import TERMINATORS, IRNode

MASK = 2**256 - 1


def _signed(x: int) -> int:
    return x - 2**256 if x >> 255 else x


def _sdiv(a: int, b: int) -> int:
    if b == 0:
        return 0
    sa, sb = _signed(a), _signed(b)
    q = abs(sa) // abs(sb)
    return (q if (sa >= 0) == (sb >= 0) else -q) & MASK


FOLD = {
    "add": lambda a, b: (a + b) & MASK,
    "sub": lambda a, b: (a - b) & MASK,
    "mul": lambda a, b: (a * b) & MASK,
    "div": lambda a, b: a // b if b else 0,
    "sdiv": _sdiv,
    "mod": lambda a, b: a % b if b else 0,
    "shl": lambda s, x: (x << s) & MASK if s < 256 else 0,
    "shr": lambda s, x: x >> s if s < 256 else 0,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "eq": lambda a, b: int(a == b),
    "lt": lambda a, b: int(a < b),
    "gt": lambda a, b: int(a > b),
    "slt": lambda a, b: int(_signed(a) < _signed(b)),
    "sgt": lambda a, b: int(_signed(a) > _signed(b)),
    "iszero": lambda a: int(a == 0),
    "not": lambda a: a ^ MASK,
}


def _width(x: int) -> int:
    return (x.bit_length() + 7) // 8


class Pass:
    name = "pass"

    def __init__(self) -> None:
        self.changed = False

    def run(self, node: IRNode) -> IRNode:
        node = IRNode(node.op, [self.run(a) for a in node.args], node.span)
        new = self.rewrite(node)
        if new is not node:
            self.changed = True
        return new

    def rewrite(self, node: IRNode) -> IRNode:
        return node


class ConstantFold(Pass):
    """(add 1 2) -> 3; (if 1 a b) -> a; (if 0 a) -> pass."""

    name = "constant-fold"

    def rewrite(self, node: IRNode) -> IRNode:
        op = node.op
        if op in FOLD and node.args and all(a.is_literal for a in node.args):
            value = FOLD[op](*[a.op for a in node.args])
            widest = max(_width(a.op) for a in node.args)
            if _width(value) <= max(4, widest + 1):  # keep (not 31), (shl 224 sel): shorter than a PUSH32
                return IRNode(value, [], node.span)
        if op == "if" and node.args[0].is_literal:
            if node.args[0].op:
                return node.args[1]
            return node.args[2] if len(node.args) == 3 else IRNode("pass", [], node.span)
        return node


class Identities(Pass):
    """(add x 0) -> x, (mul x 1) -> x, (iszero (iszero (iszero x))) -> (iszero x)."""

    name = "identities"

    def rewrite(self, node: IRNode) -> IRNode:
        op, args = node.op, node.args
        if op in ("add", "or", "xor") and len(args) == 2:
            if args[1].is_literal and args[1].op == 0:
                return args[0]
            if args[0].is_literal and args[0].op == 0:
                return args[1]
        if op == "sub" and args[1].is_literal and args[1].op == 0:
            return args[0]
        if op == "mul" and len(args) == 2:
            if args[1].is_literal and args[1].op == 1:
                return args[0]
            if args[0].is_literal and args[0].op == 1:
                return args[1]
        if op == "iszero" and args[0].op == "iszero" and args[0].args[0].op == "iszero":
            return args[0].args[0]
        return node


class FlattenSeq(Pass):
    """Inline nested value-less seqs into their parent and drop `pass`."""

    name = "flatten-seq"

    def rewrite(self, node: IRNode) -> IRNode:
        if node.op != "seq":
            return node
        out: list[IRNode] = []
        changed = False
        for i, a in enumerate(node.args):
            last = i == len(node.args) - 1
            if a.op == "pass" and not last:
                changed = True
                continue
            if a.op == "seq":
                out.extend(a.args)
                changed = True
                continue
            out.append(a)
        if not changed:
            return node
        new = out[0] if len(out) == 1 else IRNode("seq", out, node.span)
        return new if new.valency == node.valency else node


class DeadCode(Pass):
    """Drop what follows a terminator in a seq, up to the next label."""

    name = "dead-code"

    def rewrite(self, node: IRNode) -> IRNode:
        if node.op != "seq":
            return node
        out: list[IRNode] = []
        dead = False
        for a in node.args:
            if dead and a.op not in ("label", "function_body"):
                continue
            dead = False
            out.append(a)
            if a.op in TERMINATORS or (a.op == "if" and len(a.args) == 3
                                        and _terminates(a.args[1]) and _terminates(a.args[2])):
                dead = True
        if len(out) == len(node.args):
            return node
        if out and out[-1].valency != node.valency:
            return node  # keep the seq's value shape
        return IRNode("seq", out, node.span)


def _terminates(node: IRNode) -> bool:
    if node.op in TERMINATORS:
        return True
    if node.op == "seq" and node.args:
        return _terminates(node.args[-1])
    return False


class InlineWith(Pass):
    """(with x 5 body) -> body[x := 5] when x is never set; (with x e x) -> e."""

    name = "inline-with"

    def rewrite(self, node: IRNode) -> IRNode:
        if node.op != "with":
            return node
        name, value, body = node.args
        if body.op == name.op and not body.args:
            return value
        if value.is_literal and not _assigns(body, name.op):
            return _substitute(body, name.op, value)
        if not _uses(body, name.op) and _pure(value):
            return body
        return node


PURE_OPS = set(FOLD) | {"mload", "sload", "tload", "calldataload", "calldatasize", "caller", "callvalue", "address",
                        "origin", "timestamp", "number", "chainid", "gas", "returndatasize", "selfbalance",
                        "codesize", "gasprice", "coinbase", "basefee", "prevrandao", "gaslimit", "signextend"}


def _pure(node: IRNode) -> bool:
    """No side effects and cannot fail: safe to drop when unused."""
    if node.is_literal:
        return True
    if node.op in PURE_OPS:
        return all(_pure(a) for a in node.args)
    return not node.args and isinstance(node.op, str) and node.op not in ("pass",) and node.op.isidentifier() \
        and node.op not in {"break_range", "continue_range", "runtime_offset", "runtime_size", "seq"}


def _uses(node: IRNode, name: str) -> bool:
    if node.op == name and not node.args:
        return True
    return any(_uses(a, name) for a in node.args)


def _assigns(node: IRNode, name: str) -> bool:
    if node.op == "set" and node.args[0].op == name:
        return True
    return any(_assigns(a, name) for a in node.args)


def _substitute(node: IRNode, name: str, value: IRNode) -> IRNode:
    if node.op == name and not node.args:
        return IRNode(value.op, [], node.span)
    if node.op == "with" and node.args[0].op == name:  # shadowed below
        return IRNode("with", [node.args[0], _substitute(node.args[1], name, value), node.args[2]], node.span)
    if not node.args:
        return node
    return IRNode(node.op, [_substitute(a, name, value) for a in node.args], node.span)


PASSES: list[type[Pass]] = [ConstantFold, Identities, InlineWith, FlattenSeq, DeadCode]


def optimize(node: IRNode, level: int = 1, passes: list[type[Pass]] | None = None) -> IRNode:
    """Run the passes until nothing changes (at most 10 rounds). Level 0 returns `node` as is."""
    if level == 0:
        return node
    for _ in range(10):
        changed = False
        for cls in passes or PASSES:
            p = cls()
            node = p.run(node)
            changed |= p.changed
        if not changed:
            break
    return node
