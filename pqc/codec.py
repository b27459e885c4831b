"""Length-checked byte reading and writing for the PQC binary formats.

Every format is big-endian with explicit lengths; a Reader reports truncation
and trailing bytes with the offset, so a corrupt blob fails with a reason.
"""
from __future__ import annotations

from pqc.errors import FormatError


class Reader:
    def __init__(self, data: bytes, what: str) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise FormatError(f"{what}: expected bytes, got {type(data).__name__}")
        self.data = bytes(data)
        self.pos = 0
        self.what = what

    def take(self, n: int, field: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise FormatError(
                f"{self.what}: truncated in {field} at byte {self.pos} "
                f"(need {n} bytes, {len(self.data) - self.pos} left)"
            )
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")

    def sized(self, len_size: int, field: str, limit: int) -> bytes:
        """A length-prefixed field; lengths above `limit` are refused before reading."""
        n = self.uint(len_size, f"{field} length")
        if n > limit:
            raise FormatError(f"{self.what}: {field} is {n} bytes, more than the {limit} allowed")
        return self.take(n, field)

    def expect(self, value: bytes, field: str) -> None:
        got = self.take(len(value), field)
        if got != value:
            raise FormatError(f"{self.what}: bad {field} {got.hex()} (expected {value.hex()})")

    def end(self) -> None:
        if self.pos != len(self.data):
            raise FormatError(
                f"{self.what}: {len(self.data) - self.pos} trailing bytes after byte {self.pos}"
            )


def u8(v: int) -> bytes:
    return v.to_bytes(1, "big")


def u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def u32(v: int) -> bytes:
    return v.to_bytes(4, "big")
