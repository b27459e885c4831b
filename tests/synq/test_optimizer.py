"""Optimizer passes, each checked on IR text before and after; the IR prints and reads back."""
from __future__ import annotations

import pytest

import synq
from synq.ir import parse_ir
from synq.optimizer import ConstantFold, DeadCode, FlattenSeq, Identities, InlineWith, optimize

CASES = [
    (ConstantFold, "(add 1 2)", "3"),
    (ConstantFold, "(sub 5 1)", "4"),
    (ConstantFold, "(not 31)", "(not 31)"),  # kept: 2 pushes are shorter than a PUSH32
    (ConstantFold, "(shl 224 147028384)", "(shl 224 147028384)"),
    (ConstantFold, "(if 1 (sstore 0 1) (sstore 0 2))", "(sstore 0 1)"),
    (ConstantFold, "(if (iszero 5) (revert 0 0))", "pass"),
    (ConstantFold, "(shl 8 (add 1 1))", "512"),
    (Identities, "(add (caller) 0)", "(caller)"),
    (Identities, "(mul 1 (callvalue))", "(callvalue)"),
    (InlineWith, "(with x 5 (add x x))", "(add 5 5)"),
    (InlineWith, "(with x (caller) x)", "(caller)"),
    (InlineWith, "(with x 5 (seq (set x 6) x))", "(with x 5 (seq (set x 6) x))"),
    (FlattenSeq, "(seq (seq (sstore 0 1) (sstore 1 2)) (sstore 2 3))", "(seq (sstore 0 1) (sstore 1 2) (sstore 2 3))"),
    (DeadCode, "(seq (revert 0 0) (sstore 0 1))", "(seq (revert 0 0))"),
    (DeadCode, "(seq (goto L) (sstore 0 1) (label L) (sstore 1 1))", "(seq (goto L) (label L) (sstore 1 1))"),
]


@pytest.mark.parametrize("cls,before,after", CASES)
def test_pass(cls, before, after):
    node = parse_ir(before)
    assert node.flat() == before  # prints back as read
    assert cls().run(node).flat() == after


def test_pipeline_reaches_fixed_point():
    node = parse_ir("(seq (with a 2 (with b (mul a 3) (sstore 0 (add b 0)))) (stop) (sstore 1 1))")
    assert optimize(node).flat() == "(seq (sstore 0 6) (stop))"


def test_optimized_code_is_smaller_and_equivalent(env):
    src = "external pure fn f(x: uint256) -> uint256 { let k: uint256 = 2 ** 10 + 24; return x * k + 0; }"
    o0, o1 = synq.compile_source(src, optimize=0), synq.compile_source(src, optimize=1)
    assert len(o1.runtime_bytecode) < len(o0.runtime_bytecode)
    for out in (o0, o1):
        c = env.deploy(out)
        assert c.f(3) == 3 * 1048


def test_real_ir_prints_and_reads_back():
    from pathlib import Path

    from synq.compiler import CompilerData

    src = (Path(__file__).resolve().parents[2] / "contracts" / "AIGovernance.synq").read_text()
    prog = CompilerData(src).ir_optimized
    for tree in (prog.init, prog.runtime):
        assert parse_ir(tree.pretty()).flat() == tree.flat()
