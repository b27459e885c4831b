"""vm/trie_nibbles.py's helpers equal py-trie's: same values, same errors."""
from __future__ import annotations

import itertools
import random

import pytest

from vm import trie_nibbles as fast

ORIG = fast.ORIGINALS


def _same(name, *args):
    def run(fn):
        try:
            return "ok", fn(*args)
        except Exception as exc:  # noqa: BLE001 - the error type is part of the behaviour
            return "error", type(exc).__name__, str(exc)
    got, want = run(getattr(fast, name)), run(ORIG[name])
    assert got == want, (name, args, got, want)
    if got[0] == "ok" and isinstance(want[1], tuple):
        assert type(got[1]) is tuple


def _nibble_seqs(rng):
    for n in range(0, 5):
        yield from itertools.product(range(17), repeat=n) if n <= 3 else (
            tuple(rng.randrange(17) for _ in range(n)) for _ in range(500))
    for _ in range(300):
        yield tuple(rng.randrange(16) for _ in range(rng.randrange(5, 70))) + ((16,) if rng.random() < .5 else ())
    yield (17,)
    yield (-1, 2)


def test_nibble_helpers_equal_py_trie():
    rng = random.Random(14)
    for seq in _nibble_seqs(rng):
        for name in ("add_nibbles_terminator", "remove_nibbles_terminator", "encode_nibbles",
                     "is_nibbles_terminated", "nibbles_to_bytes"):
            _same(name, seq)
            _same(name, list(seq))
    for n in range(0, 3):
        for value in itertools.product(range(256), repeat=n) if n < 2 else (
                tuple(rng.randrange(256) for _ in range(n)) for _ in range(2000)):
            _same("bytes_to_nibbles", bytes(value))
            _same("decode_nibbles", bytes(value))
    for _ in range(2000):
        value = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        _same("bytes_to_nibbles", value)
        _same("bytes_to_nibbles", bytearray(value))
        _same("decode_nibbles", value)


def test_installed_where_py_trie_looks_them_up():
    import trie.hexary
    import trie.utils.nodes

    import vm  # noqa: F401
    from vm import trie_cache

    if trie_cache.enabled():
        assert trie.hexary.decode_nibbles is fast.decode_nibbles
        assert trie.utils.nodes.encode_nibbles is fast.encode_nibbles
    else:
        pytest.skip("AIVM_TRIE_CACHE=0 leaves py-trie as it is")
