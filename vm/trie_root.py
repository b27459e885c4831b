"""Roots of the per-block transaction and receipt tries, computed directly.

py-evm builds these tries node by node in the `trie` package (≈1 ms a
transaction here); the node never reads them back (its index serves every
read), so it only needs the root. Same result, checked against py-evm in tests.
"""
from __future__ import annotations

from typing import Sequence

import rlp
import rlp.codec
from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """Root of the trie mapping rlp(index) -> value (transactions, receipts)."""
    if not values:
        return BLANK_ROOT_HASH
    if len(values) == 1 and values[0]:  # one key, rlp(0) = 0x80: one leaf, path nibbles 8 0
        return keccak(rlp.codec.encode_raw([b"\x20\x80", values[0]]))
    items = sorted((_nibbles(rlp.encode(i)), v) for i, v in enumerate(values))
    return keccak(rlp.encode(_node(items, 0)))


def _nibbles(key: bytes) -> tuple[int, ...]:
    out = []
    for b in key:
        out.append(b >> 4)
        out.append(b & 0x0F)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        nibbles = (flag + 1, *nibbles)
    else:
        nibbles = (flag, 0, *nibbles)
    return bytes(nibbles[i] << 4 | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def _ref(node: list) -> object:
    encoded = rlp.encode(node)
    return node if len(encoded) < 32 else keccak(encoded)


def _node(items: list[tuple[tuple[int, ...], bytes]], depth: int) -> list:
    if len(items) == 1:
        key, value = items[0]
        return [_hex_prefix(key[depth:], leaf=True), value]
    first, last = items[0][0], items[-1][0]
    shared = 0
    limit = min(len(first), len(last)) - depth
    while shared < limit and first[depth + shared] == last[depth + shared]:
        shared += 1
    if shared:
        return [_hex_prefix(first[depth:depth + shared], leaf=False), _ref(_branch(items, depth + shared))]
    return _branch(items, depth)


def _branch(items: list[tuple[tuple[int, ...], bytes]], depth: int) -> list:
    slots: list = [b""] * 17
    groups: dict[int, list] = {}
    for key, value in items:
        if len(key) == depth:
            slots[16] = value
        else:
            groups.setdefault(key[depth], []).append((key, value))
    for nibble, group in groups.items():
        slots[nibble] = _ref(_node(group, depth + 1))
    return slots
