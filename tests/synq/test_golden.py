"""Every shipped SynQ program compiles to its pinned bytecode and ABI, and every node type and builtin
has its one check method and its one lowering method."""
from __future__ import annotations

import dataclasses
import json

import pytest

from synq.ast import nodes as n
from synq.builtins import BUILTINS
from synq.ir.lowering import BUILTIN_LOWERINGS, Lowering
from synq.semantics.analyzer import BUILTIN_CHECKS, DECLARATION_PHASES, Analyzer
from tests.synq import golden


@pytest.fixture(scope="module")
def now() -> dict[str, dict]:
    return golden.current()


def test_shipped_programs_compile_to_their_pinned_output(now):
    diff = golden.differences(json.loads(golden.PIN.read_text()), now)
    assert not diff, "\n".join(diff)


def test_every_shipped_contract_is_pinned():
    pinned = json.loads(golden.PIN.read_text())
    assert {name for name in golden.shipped_sources() if "#" not in name} <= set(pinned)
    assert any(name.startswith("contracts/") for name in pinned)


def test_the_pin_check_sees_a_changed_output_and_a_changed_source(now):
    name = "contracts/ERC20.synq"
    changed = json.loads(json.dumps(now))
    changed[name]["O1"]["runtime"] = "0" * 64
    assert golden.differences(changed, now) == [
        f"{name}: the compiler now emits a different runtime at -O1 for the same source"]
    changed = json.loads(json.dumps(now))
    changed[name]["source"] = "0" * 64
    assert "its source changed" in golden.differences(changed, now)[0]


def _concrete(base: type) -> list[type]:
    return [c for c in vars(n).values()
            if isinstance(c, type) and issubclass(c, base) and c is not base and dataclasses.is_dataclass(c)
            and not any(issubclass(d, c) and d is not c for d in vars(n).values() if isinstance(d, type))]


@pytest.mark.parametrize("node", _concrete(n.Stmt), ids=lambda c: c.__name__)
def test_every_statement_has_a_check_and_a_lowering(node):
    assert callable(getattr(Analyzer, "stmt_" + node.__name__, None))
    assert callable(getattr(Lowering, "lower_" + node.__name__, None))


@pytest.mark.parametrize("node", _concrete(n.Expr), ids=lambda c: c.__name__)
def test_every_expression_has_a_check(node):
    assert callable(getattr(Analyzer, "expr_" + node.__name__, None))


@pytest.mark.parametrize("node", _concrete(n.TypeExpr), ids=lambda c: c.__name__)
def test_every_type_expression_resolves(node):
    assert callable(getattr(Analyzer, "typeexpr_" + node.__name__, None))


@pytest.mark.parametrize("node", _concrete(n.Decl), ids=lambda c: c.__name__)
def test_every_declaration_is_declared_in_some_phase(node):
    assert any(callable(getattr(Analyzer, phase + node.__name__, None)) for phase in DECLARATION_PHASES)


def test_every_builtin_has_a_check_and_a_lowering():
    checked = set(BUILTIN_CHECKS) | set(BUILTINS)
    lowered = set(BUILTIN_LOWERINGS)
    assert checked | {"push", "pop"} == lowered  # push/pop are checked as storage-array methods (calls.py)
    for method in BUILTIN_CHECKS.values():
        assert callable(getattr(Analyzer, method))
    for method in BUILTIN_LOWERINGS.values():
        assert callable(getattr(Lowering, method))


def test_every_word_type_says_which_words_it_refuses():
    """ABI decoding checks each word with its type's `badword_<Type>` (a new word type needs one)."""
    from synq.semantics import types as T

    word_types = [c for c in vars(T).values() if isinstance(c, type) and issubclass(c, T.Type) and c.is_word]
    assert len(word_types) >= 7
    for c in word_types:
        assert callable(getattr(Lowering, "badword_" + c.__name__, None)), c.__name__


def test_every_value_type_is_a_conversion_target():
    """`T(x)` lowers through the target's `convert_to_<Type>` (a new convertible type needs one)."""
    from synq.semantics import types as T

    targets = [c for c in vars(T).values() if isinstance(c, type) and issubclass(c, T.Type)
               and (c.is_word or issubclass(c, T.BytesT))]
    assert {c.__name__ for c in targets} >= {"UintT", "IntT", "AddressT", "BytesNT", "BoolT", "EnumT", "BytesT", "StringT"}
    for c in targets:
        assert callable(getattr(Lowering, "convert_to_" + c.__name__, None)), c.__name__
