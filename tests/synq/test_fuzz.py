"""Thousands of mutated and random programs: the compiler answers with a SynQ user error or
bytecode, never anything else (no traceback, no internal error)."""
from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synq
from synq.errors import SynqUserError
from tests.synq.fuzzing import VOCAB, mutate, random_program

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "contracts").glob("*.synq"))
COUNT, BUDGET_S = 4000, 40.0


def compile_or_user_error(src: str) -> None:
    try:
        synq.compile_source(src, "fuzz.synq")
    except SynqUserError as err:
        text = err.render()
        assert "error:" in text
    # anything else (InternalCompilerError, KeyError, ...) propagates and fails the test


def test_seeded_mutations():
    sources = [p.read_text() for p in SEEDS]
    rng = random.Random(20261124)
    start = time.monotonic()
    done = 0
    for i in range(COUNT):
        src = mutate(rng.choice(sources), rng) if i % 5 else random_program(rng)
        try:
            compile_or_user_error(src)
        except Exception as exc:
            pytest.fail(f"compiler raised {type(exc).__name__}: {exc}\n--- program ---\n{src}")
        done += 1
        if time.monotonic() - start > BUDGET_S:
            break
    assert done >= 500


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(VOCAB), max_size=60))
def test_random_token_streams(toks):
    compile_or_user_error(" ".join(toks))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=200))
def test_arbitrary_text(text):
    compile_or_user_error(text)


def _grammar_strategy():
    from hypothesis.extra.lark import from_lark

    from synq.ast.parse import parser

    names = ["x", "y", "f", "g", "P", "E", "uint256", "uint8", "int8", "bool", "address", "bytes", "string",
             "bytes32", "msg", "sender", "self", "len"]
    explicit = {
        "NAME": st.sampled_from(names), "DEC_NUMBER": st.sampled_from(["0", "1", "2", "255", "256"]),
        "HEX_NUMBER": st.just("0xff"), "STRING": st.just('"s"'), "HEX_STRING": st.just('hex"00"'),
        "COMMENT": st.just(""), "BLOCK_COMMENT": st.just(""), "WS": st.just(" "),
    }
    return from_lark(parser(), explicit=explicit)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(_grammar_strategy())
def test_grammar_generated_programs(src):
    """Programs the grammar accepts go through every later stage without an internal error."""
    compile_or_user_error(src)
