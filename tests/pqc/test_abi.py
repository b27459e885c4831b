"""The strict ABI decoder agrees with eth_abi on canonical input and refuses the rest."""
from __future__ import annotations

import pytest
from eth_abi import encode
from hypothesis import given, settings, strategies as st

from pqc import abi
from pqc.errors import FormatError

TYPES = ["uint16", "bytes", "bytes32", "bytes[]", "uint256"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**16 - 1), st.binary(max_size=100), st.binary(min_size=32, max_size=32),
       st.lists(st.binary(max_size=70), max_size=5), st.integers(0, 2**256 - 1))
def test_agrees_with_eth_abi(a, b, c, d, e):
    data = encode(TYPES, [a, b, c, d, e])
    assert abi.decode(TYPES, data) == [a, b, c, d, e]
    assert abi.peek_uint(data, 0, 16) == a
    assert abi.peek_array_length(data, 3) == len(d)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.lists(st.binary(max_size=40), max_size=3), st.data())
def test_any_bit_flip_changes_the_value_or_fails(b, d, data):
    values = [7, b, bytes(32), d, 1]
    encoded = encode(TYPES, values)
    bit = data.draw(st.integers(0, 8 * len(encoded) - 1))
    flipped = bytearray(encoded)
    flipped[bit // 8] ^= 1 << (bit % 8)
    try:
        decoded = abi.decode(TYPES, bytes(flipped))
    except FormatError:
        return
    assert decoded != values


@pytest.mark.parametrize("data,match", [
    (b"", "truncated"),
    (encode(["uint256", "bytes"], [2**16, b""]), "does not fit uint16"),
    (encode(["uint16", "bytes"], [1, b"ab"])[:-1], "truncated"),
    (encode(["uint16", "bytes"], [1, b"ab"]) + b"\x00", "trailing"),
    (encode(["uint16", "uint256", "uint256"], [1, 0x60, 0]), "offset is not canonical"),
    (encode(["uint16", "uint256", "uint256", "uint256"], [1, 0x40, 1, 0x00FF << 240]), "non-zero padding"),
    (encode(["uint16", "uint256", "uint256"], [1, 0x40, 2**64]), "truncated"),
])
def test_refusals(data, match):
    with pytest.raises(FormatError, match=match):
        abi.decode(["uint16", "bytes"], data)
