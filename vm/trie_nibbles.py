"""py-trie's nibble helpers, the same functions without generators.

`trie.utils.nibbles` builds every nibble tuple through generators (`yield
from` per byte, `@to_tuple`), and every trie read and write converts keys and
hex-prefixed paths many times: ≈10% of sealing a block. These give the same
tuples, bytes and errors (tests/test_trie_nibbles.py compares them with py-trie's
on every short input and random long ones); `install()` puts them where py-trie
looks them up (`trie.hexary`, `trie.utils.nodes`, `trie.utils.nibbles`).
"""
from __future__ import annotations

from typing import Sequence

from trie.exceptions import InvalidNibbles
from trie.utils import nibbles as _orig

TERMINATOR = 16
_HEX_TO_NIBBLE = {c: int(c, 16) for c in "0123456789abcdef"}
_NIBBLE_TO_HEX = "0123456789abcdef"
_VALID = frozenset(range(16))
_hex_get = _HEX_TO_NIBBLE.__getitem__

ORIGINALS = {name: getattr(_orig, name) for name in (
    "bytes_to_nibbles", "nibbles_to_bytes", "add_nibbles_terminator", "remove_nibbles_terminator",
    "encode_nibbles", "decode_nibbles", "is_nibbles_terminated")}


def bytes_to_nibbles(value: bytes) -> tuple[int, ...]:
    if type(value) is not bytes:
        return ORIGINALS["bytes_to_nibbles"](value)
    return tuple(map(_hex_get, value.hex()))


def nibbles_to_bytes(nibbles: Sequence[int]) -> bytes:
    try:
        valid = _VALID.issuperset(nibbles)
    except TypeError:  # unhashable items: py-trie's check decides
        return ORIGINALS["nibbles_to_bytes"](nibbles)
    if not valid:
        raise InvalidNibbles("Nibbles contained invalid value.  Must be constrained between [0, 15]")
    if len(nibbles) % 2:
        raise InvalidNibbles("Nibbles must be even in length")
    return bytes.fromhex("".join([_NIBBLE_TO_HEX[n] for n in nibbles]))


def is_nibbles_terminated(nibbles: Sequence[int]) -> bool:
    return bool(nibbles) and nibbles[-1] == TERMINATOR


def add_nibbles_terminator(nibbles: Sequence[int]) -> tuple[int, ...]:
    nibbles = tuple(nibbles)
    if nibbles and nibbles[-1] == TERMINATOR:
        return nibbles
    return nibbles + (TERMINATOR,)


def remove_nibbles_terminator(nibbles: Sequence[int]) -> tuple[int, ...]:
    if nibbles and nibbles[-1] == TERMINATOR:
        return tuple(nibbles[:-1])
    return tuple(nibbles)


def encode_nibbles(nibbles: Sequence[int]) -> bytes:
    """The hex-prefix function."""
    if nibbles and nibbles[-1] == TERMINATOR:
        flag, raw = 2, tuple(nibbles[:-1])
    else:
        flag, raw = 0, tuple(nibbles)
    flagged = (flag + 1,) + raw if len(raw) % 2 else (flag, 0) + raw
    return nibbles_to_bytes(flagged)


def decode_nibbles(value: bytes) -> tuple[int, ...]:
    """The inverse of the hex-prefix function."""
    with_flag = bytes_to_nibbles(value)
    flag = with_flag[0]
    raw = with_flag[1:] if flag in (1, 3) else with_flag[2:]
    if flag in (2, 3):
        return add_nibbles_terminator(raw)
    return raw


def install() -> None:
    import trie.hexary
    import trie.utils.nodes

    fast = {name: globals()[name] for name in ORIGINALS}
    for module in (_orig, trie.hexary, trie.utils.nodes):
        for name, fn in fast.items():
            if hasattr(module, name):
                setattr(module, name, fn)
