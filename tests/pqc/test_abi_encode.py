"""pqc.abi.encode writes what eth_abi writes, for every shape the certificates use (and refuses what eth_abi does)."""
import os
import random

import pytest
from eth_abi import encode as eth_encode

from pqc import abi
from pqc.quorum import ABI_TYPES, LEGACY_ABI_TYPES

SHAPES = [ABI_TYPES, LEGACY_ABI_TYPES, ("uint8", "bytes", "bytes32"), ("bytes[]",), ("uint16", "bytes[]", "bytes")]


def _value(t: str, rng: random.Random):
    if t == "bytes32":
        return os.urandom(32)
    if t == "bytes":
        return os.urandom(rng.choice([0, 1, 31, 32, 33, 64, 1952, 3309]))
    if t == "bytes[]":
        return [os.urandom(rng.choice([0, 1, 32, 33, 100, 1952])) for _ in range(rng.choice([0, 1, 2, 5]))]
    bits = int(t[4:] or 256)
    return rng.choice([0, 1, 2**bits - 1, rng.getrandbits(bits)])


@pytest.mark.parametrize("types", SHAPES, ids=lambda t: ",".join(t))
def test_matches_eth_abi_and_round_trips(types):
    rng = random.Random(7)
    for _ in range(40):
        values = [_value(t, rng) for t in types]
        data = abi.encode(types, values)
        assert data == eth_encode(list(types), values)
        assert abi.decode(types, data) == values


@pytest.mark.parametrize("types,values", [
    (("uint8",), [256]), (("uint8",), [-1]), (("uint256",), [True]), (("bytes32",), [b"\x00" * 31]),
    (("bytes",), ["00"]), (("bytes[]",), [[b"a", "b"]]), (("uint8", "bytes"), [1]),
])
def test_refuses_what_does_not_fit(types, values):
    with pytest.raises(ValueError):
        abi.encode(types, values)
