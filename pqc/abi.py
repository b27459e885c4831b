"""A strict, fast decoder for the few ABI shapes the PQC precompiles take.

Strict means canonical: offsets must be where `abi.encode` puts them, padding
must be zero, integers must fit their type, nothing may trail. So any change
to the input either changes a decoded value or is refused, which is what
makes bit-flip fuzzing of precompile input meaningful. It is also several times
faster than eth_abi, which keeps precompile overhead small.
Supported types: uintN, bytes32, bytes, bytes[].
"""
from __future__ import annotations

from functools import lru_cache

from pqc.errors import FormatError

_FROM = int.from_bytes


def _uint(data: bytes, pos: int, field: str, bits: int = 256) -> int:
    if pos + 32 > len(data):
        raise FormatError(f"ABI input truncated in {field} at byte {pos}")
    value = _FROM(data[pos:pos + 32], "big")
    if value >> bits:
        raise FormatError(f"ABI {field} does not fit uint{bits}")
    return value


def _bytes_at(data: bytes, pos: int, field: str) -> tuple[bytes, int]:
    """The bytes value whose length word is at `pos`, and the canonical position after it."""
    if pos + 32 > len(data):
        raise FormatError(f"ABI input truncated in {field} length at byte {pos}")
    n = _FROM(data[pos:pos + 32], "big")
    start = pos + 32
    end = start + n
    padded = start + (n + 31) // 32 * 32
    if padded > len(data):
        raise FormatError(f"ABI input truncated in {field} (needs {n} bytes at byte {start})")
    if padded != end and data[end:padded].strip(b"\x00"):
        raise FormatError(f"ABI {field} has non-zero padding")
    return data[start:end], padded


@lru_cache(maxsize=64)
def _plan(types: tuple[str, ...]) -> tuple[tuple[str, str, int], ...]:
    """(type, field name, bits) per argument: names are formatted once, not per call."""
    plan = []
    for i, t in enumerate(types):
        if t not in ("bytes", "bytes[]", "bytes32") and not t.startswith("uint"):
            raise ValueError(f"unsupported ABI type {t}")
        plan.append((t, f"argument {i} ({t})", int(t[4:] or 256) if t.startswith("uint") else 0))
    return tuple(plan)


def decode(types: "tuple[str, ...] | list[str]", data: bytes) -> list:
    """Decode canonical `abi.encode(...)` output of `types`; FormatError otherwise.

    Written flat (few calls, no string work unless failing) because it runs on
    every precompile call.
    """
    data = bytes(data)
    plan = _plan(types if type(types) is tuple else tuple(types))
    tail = 32 * len(plan)
    out: list = []
    for i, (t, field, bits) in enumerate(plan):
        head = 32 * i
        if bits:
            out.append(_uint(data, head, field, bits))
        elif t == "bytes32":
            if head + 32 > len(data):
                raise FormatError(f"ABI input truncated in {field} at byte {head}")
            out.append(data[head:head + 32])
        else:
            if _uint(data, head, field) != tail:
                raise FormatError(f"ABI {field} offset is not canonical")
            if t == "bytes":
                value, tail = _bytes_at(data, tail, field)
            else:
                value, tail = _bytes_array(data, tail, field)
            out.append(value)
    if tail != len(data):
        raise FormatError(f"ABI input has {len(data) - tail} trailing bytes")
    return out


def _bytes_array(data: bytes, pos: int, field: str) -> tuple[list[bytes], int]:
    count = _uint(data, pos, field + " count", 16)
    base = pos + 32
    tail = base + 32 * count
    items = []
    for j in range(count):
        if _uint(data, base + 32 * j, field) != tail - base:
            raise FormatError(f"ABI {field}[{j}] offset is not canonical")
        item, tail = _bytes_at(data, tail, field)
        items.append(item)
    return items, tail


def peek_uint(data: bytes, index: int, bits: int = 256) -> int:
    """Head word `index` as an integer, without decoding the rest (for gas functions)."""
    return _uint(bytes(data), 32 * index, f"argument {index}", bits)


def peek_array_length(data: bytes, index: int) -> int:
    """The element count of the dynamic array argument `index` (for gas functions)."""
    data = bytes(data)
    offset = _uint(data, 32 * index, f"argument {index} offset", 32)
    return _uint(data, offset, f"argument {index} count", 16)
