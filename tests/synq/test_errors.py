"""Bad programs: the error each one gets, and golden tests of the rendered text."""
from __future__ import annotations

import pytest

import synq
from synq.errors import ErrorList, SynqUserError


def error_of(src: str) -> SynqUserError:
    with pytest.raises(SynqUserError) as info:
        synq.compile_source(src, "t.synq")
    return info.value


CASES = [
    ("storage x: uint256", "unexpected end of file, expected ';'"),
    ("fn f( { }", "unexpected '{', expected ')' or a name"),
    ('fn f() { let s: string = "abc; }', "unexpected character '\"'"),
    ("fn f() { let x: uint8 = 256; }", "256 does not fit in uint8"),
    ("fn f() -> uint256 { }", "function 'f' must end in a return or revert on every path"),
    ("fn f() { y = 1; }", "unknown name 'y'"),
    ("storage x: uint256; external view fn f() { x = 1; }", "this changes state, but 'f' is view"),
    ("external pure fn f() -> uint256 { return block.number; }", "this reads state or the environment, but 'f' is pure"),
    ("fn f() { let a: uint256 = 1; let b: int256 = 2; let c: uint256 = a + b; }",
     "'+' needs operands of the same type, got uint256 and int256"),
    ("fn f(n: uint256) { for i in range(n) { } }", "a loop over a range that is not constant needs a bound: 'max N'"),
    ("fn f() { break; }", "'break' outside a loop"),
    ("fn a() { b(); } fn b() { a(); }", "recursion is not allowed"),
    ("external fn f() -> uint256 { return msg.value; }", "msg.value is only available in payable functions"),
    ("struct P { x: uint256 } fn f() { let p: P = P(1, 2); }", "struct 'P' takes 1 argument(s), got 2"),
    ("fn f() { let x: foo = 1; }", "unknown type 'foo'"),
    ("event E(a: uint256); fn f() { emit E(1, 2); }", "event 'E' takes 1 argument(s), got 2"),
    ("storage m: map[address, uint256]; fn f() { m = 1; }", "a mapping cannot be assigned as a whole"),
    ("constructor(x: map[uint256, uint256]) {}", "mappings can only be storage variables"),  # its args are ABI
    ("immutable X: uint256; external fn f() { X = 1; }", "immutable 'X' can only be set in the constructor"),
    ("fn f() { let a: uint256[3] = [uint256(1), 2, 3]; let b: uint256 = a[3]; }", "index 3 is out of range for uint256[3]"),
    ("const C: uint256 = 1 / 0;", "this constant expression cannot be evaluated"),
    ("fn f() { let x: uint256 = 1; let x: uint256 = 2; }", "'x' is already declared"),
    ("interface I { fn g() -> uint256; } fn f() { I(address(0)).h(); }", "interface 'I' has no function 'h'"),
    ("storage quorum: uint256;", "'quorum' is a reserved name"),
    ("fn f() { for i in range(3) { i = 2; } }", "loop variable 'i' cannot be assigned"),
    ("external fn f() {} external fn f() {}", "'f' is already declared"),
    ("fn f() { let x: bool = !3; }", "expected bool, got uint256"),
    ("fn f() { ai.infer(\"m\"); }", "ai.infer takes 2 argument(s), got 1"),
    ("external view fn f() -> bytes { return ai.infer(\"m\", hex\"00\"); }", "makes a state-changing call, but 'f' is view"),
    ("fn f() { 1 + 2; }", "this expression does nothing"),
    ("fn f() { let x: uint256 = 2 ** 256; }", "does not fit in uint256"),
    ("fn f() { let x: address = msg.sender + 1; }", "'+' needs operands of the same type"),
    ("error E(); fn f() { let x: uint256 = E(); }", "custom error 'E' can only be used in revert or require"),
    ("constructor() {} constructor() {}", "at most one constructor"),
    ("fn f() { revert Nope(); }", "unknown error 'Nope'"),
    ("external fn f() { send(msg.sender); }", "send takes 2 argument(s), got 1"),
]


@pytest.mark.parametrize("src,message", CASES, ids=[m[:40] for _, m in CASES])
def test_bad_program(src, message):
    err = error_of(src)
    assert message in err.render()


def test_golden_syntax_error():
    src = "external fn f() {\n    let x: uint256 = 1\n}\n"
    err = error_of(src)
    text = err.render()
    assert text.splitlines()[0].startswith("t.synq:3:1: error: unexpected '}', expected ';'")
    assert text.splitlines()[1:] == ["  }", "  ^"]


def test_golden_several_errors_sorted():
    src = ("storage total: uint256;\n"
           "external view fn f() { total = 3; }\n"
           "external fn g() -> uint8 { let z: uint8 = 300; return z; }\n"
           "fn h() { let a: uint256 = nope; }\n")
    err = error_of(src)
    assert isinstance(err, ErrorList) and len(err.errors) == 3
    assert err.render() == (
        "t.synq:2:24: error: this changes state, but 'f' is view\n"
        "  external view fn f() { total = 3; }\n"
        "                         ^^^^^\n"
        "t.synq:3:43: error: 300 does not fit in uint8\n"
        "  external fn g() -> uint8 { let z: uint8 = 300; return z; }\n"
        "                                            ^^^\n"
        "t.synq:4:27: error: unknown name 'nope'\n"
        "  fn h() { let a: uint256 = nope; }\n"
        "                            ^^^^"
    )


def test_golden_hint():
    err = error_of("external fn f() -> uint256 {\n    return msg.value;\n}\n")
    assert err.render() == (
        "t.synq:2:12: error: msg.value is only available in payable functions\n"
        "      return msg.value;\n"
        "             ^^^^^^^^^\n"
        "  hint: mark the function 'payable'"
    )


def test_errors_are_not_internal():
    for src, _ in CASES:
        try:
            synq.compile_source(src)
        except SynqUserError:
            pass
