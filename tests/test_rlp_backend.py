"""The Rust RLP backend (vm/rlp_backend.py) gives exactly pyrlp's results, errors included."""
from __future__ import annotations

import random

import pytest
import rlp
import rlp.codec
from rlp.exceptions import DecodingError, EncodingError

import vm  # noqa: F401  (installs the backend)
from vm import rlp_backend

pytestmark = pytest.mark.skipif(not rlp_backend.install(), reason="rusty-rlp is a declared dependency")


def _pure():
    return rlp_backend.install.pure


def _item(rng: random.Random, depth: int = 0):
    if depth > 3 or rng.random() < 0.5:
        n = rng.choice([0, 1, 1, 2, 31, 32, 55, 56, 57, 100, 255, 256, 1100])
        if n == 1 and rng.random() < 0.5:
            return bytes([rng.randrange(128)])
        return bytes(rng.randrange(256) for _ in range(n))
    return [_item(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3, 17] if depth < 2 else [0, 1, 2]))]


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except (DecodingError, EncodingError) as exc:
        return "error", type(exc).__name__


def _mutated(rng: random.Random, enc: bytes) -> bytes:
    m = bytearray(enc)
    for _ in range(rng.choice([1, 2])):
        if m:
            m[rng.randrange(len(m))] = rng.randrange(256)
    if rng.random() < 0.3:
        m = m[:rng.randrange(len(m) + 1)]
    if rng.random() < 0.2:
        m += bytes([rng.randrange(256)])
    return bytes(m)


def test_encode_and_decode_equal_pyrlp_on_random_and_mutated_input():
    pure, rng = _pure(), random.Random(14)
    for _ in range(3000):
        value = _item(rng)
        enc = rlp.codec.encode_raw(value)
        assert enc == pure.encode_raw(value)
        assert rlp.codec.decode_raw(enc, True, False)[0] == pure.decode_raw(enc, True, False)[0] == value
        bad = _mutated(rng, enc)
        got, want = _outcome(rlp.codec.decode_raw, bad, True, False), _outcome(pure.decode_raw, bad, True, False)
        assert got[0] == want[0], bad.hex()
        if got[0] == "ok":
            assert got[1][0] == want[1][0]


@pytest.mark.parametrize("raw", ["8100", "817f", "b80100", "b90001aa", "f800", "c35fa2c0", "c256ac", "f90000", "b7"])
def test_malformed_and_non_canonical_input_is_refused_as_pyrlp_refuses_it(raw):
    # "c35fa2c0" and "c256ac" (a string longer than what is left) are accepted by rusty-rlp alone
    with pytest.raises(DecodingError):
        rlp.decode(bytes.fromhex(raw))
    with pytest.raises(DecodingError):
        _pure().decode_raw(bytes.fromhex(raw), True, False)


def test_values_rusty_rlp_refuses_are_encoded_by_pyrlp():
    assert rlp.codec.encode_raw([bytearray(b"x")]) == _pure().encode_raw([bytearray(b"x")]) == b"\xc1x"
    with pytest.raises(EncodingError):
        rlp.codec.encode_raw("text")


def test_serializable_round_trip_keeps_the_cached_encoding():
    from eth.rlp.headers import BlockHeader

    header = BlockHeader(difficulty=1, block_number=7, gas_limit=30_000_000, timestamp=1)
    enc = rlp.encode(header)
    back = rlp.decode(enc, sedes=BlockHeader)
    assert back == header and rlp.encode(back) == enc and back.hash == header.hash
