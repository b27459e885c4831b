"""Arithmetic, comparisons and ABI coding on random values, against a Python reference."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.synq.harness import Reverted

TYPES = {"uint256": (0, 2**256 - 1), "uint8": (0, 255), "int256": (-2**255, 2**255 - 1), "int16": (-2**15, 2**15 - 1),
         "uint128": (0, 2**128 - 1), "int128": (-2**127, 2**127 - 1)}
OPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}

SRC = "\n".join(
    f"external pure fn {op}_{t}(a: {t}, b: {t}) -> {t} {{ return a {sym} b; }}"
    for t in TYPES for op, sym in OPS.items()
) + "\n" + "\n".join(
    f"external pure fn cmp_{t}(a: {t}, b: {t}) -> (bool, bool, bool, bool, bool, bool) "
    f"{{ return a < b, a <= b, a > b, a >= b, a == b, a != b; }}" for t in TYPES
) + """
external pure fn pow_u(a: uint256, b: uint256) -> uint256 { return a ** b; }
external pure fn pow_i(a: int128, b: uint256) -> int128 { return a ** b; }
struct Item { id: uint64, name: string, tags: bytes32[] }
external pure fn echo(a: uint8, b: int32, c: bool, d: address, e: bytes, f: string, g: uint256[], h: bytes4, i: Item, j: int8[2])
    -> (uint8, int32, bool, address, bytes, string, uint256[], bytes4, Item, int8[2]) {
    return a, b, c, d, e, f, g, h, i, j;
}
external pure fn items(xs: Item[]) -> (uint256, Item[]) { return len(xs), xs; }
external pure fn to_u8(a: int256) -> uint8 { return uint8(a); }
external pure fn to_i16(a: uint256) -> int16 { return int16(a); }
external pure fn to_i8(a: int256) -> int8 { return int8(a); }
external pure fn shifts(a: uint256, b: uint8, c: int256) -> (uint256, uint256, int256, int256) {
    return a << b, a >> b, c >> b, c << b;
}
"""


def reference(op: str, t: str, a: int, b: int):
    """('ok', value) or ('panic', code), as Solidity defines checked arithmetic."""
    lo, hi = TYPES[t]
    if op in ("div", "mod") and b == 0:
        return ("panic", 0x12)
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "div":
        r = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
    else:
        r = abs(a) % abs(b) * (1 if a >= 0 else -1)
    if not lo <= r <= hi:
        return ("panic", 0x11)
    return ("ok", r)


@pytest.fixture(scope="module")
def c(env_session):
    return env_session.deploy(SRC, path="props.synq")


def ints(t):
    lo, hi = TYPES[t]
    edge = st.sampled_from([lo, hi, 0, 1, -1 if lo < 0 else 2, lo + 1, hi - 1, hi // 2])
    return st.one_of(st.integers(lo, hi), edge)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Reverted as r:
        return ("panic", r.panic)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("t", list(TYPES))
@pytest.mark.parametrize("op", list(OPS))
def test_arithmetic(c, op, t):
    @SETTINGS
    @given(ints(t), ints(t))
    def check(a, b):
        assert outcome(c.call, f"{op}_{t}", a, b) == reference(op, t, a, b)

    check()


@pytest.mark.parametrize("t", list(TYPES))
def test_comparisons(c, t):
    @SETTINGS
    @given(ints(t), ints(t))
    def check(a, b):
        assert c.call(f"cmp_{t}", a, b) == (a < b, a <= b, a > b, a >= b, a == b, a != b)

    check()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**256 - 1) | st.integers(0, 20), st.integers(0, 300))
def test_power(c, a, b):
    want = ("ok", a**b) if (a in (0, 1) or b <= 256) and a**b < 2**256 else ("panic", 0x11)
    assert outcome(c.call, "pow_u", a, b) == want


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(-20, 20) | st.sampled_from([-2**127, 2**127 - 1]), st.integers(0, 140))
def test_signed_power(c, a, b):
    r = a**b
    want = ("ok", r) if -2**127 <= r < 2**127 else ("panic", 0x11)
    assert outcome(c.call, "pow_i", a, b) == want


addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
item = st.tuples(st.integers(0, 2**64 - 1), st.text(max_size=40), st.lists(st.binary(min_size=32, max_size=32), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 255), st.integers(-2**31, 2**31 - 1), st.booleans(), addresses, st.binary(max_size=100),
       st.text(max_size=70), st.lists(st.integers(0, 2**256 - 1), max_size=5), st.binary(min_size=4, max_size=4),
       item, st.tuples(st.integers(-128, 127), st.integers(-128, 127)))
def test_abi_round_trip(c, a, b, cc, d, e, f, g, h, i, j):
    got = c.call("echo", a, b, cc, d, e, f, g, h, i, j)
    assert got == (a, b, cc, d, e, f, tuple(g), h, (i[0], i[1], tuple(i[2])), j)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(item, max_size=4))
def test_abi_nested_dynamic(c, xs):
    n, back = c.call("items", xs)
    assert n == len(xs)
    assert back == tuple((x[0], x[1], tuple(x[2])) for x in xs)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(-2**255, 2**255 - 1) | st.integers(-300, 300), st.integers(0, 2**256 - 1) | st.integers(0, 70000))
def test_conversions(c, a, u):
    def ref(v, lo, hi):
        return ("ok", v) if lo <= v <= hi else ("panic", 0x11)
    assert outcome(c.call, "to_u8", a) == ref(a, 0, 255)
    assert outcome(c.call, "to_i8", a) == ref(a, -128, 127)
    assert outcome(c.call, "to_i16", u) == ref(u, -2**15, 2**15 - 1)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**256 - 1), st.integers(0, 255), st.integers(-2**255, 2**255 - 1))
def test_shifts(c, a, b, s):
    def wrap(v):
        v &= 2**256 - 1
        return v - 2**256 if v >> 255 else v
    assert c.call("shifts", a, b, s) == ((a << b) % 2**256, a >> b, s >> b, wrap(s << b))
