"""Small helpers shared by the PQC tests (imported as a top-level module)."""
from __future__ import annotations

MESSAGE = b"AIVM quorum message"


def flip(data: bytes, bit: int) -> bytes:
    """`data` with one bit flipped (bit index over the whole byte string)."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


class Storage(dict):
    """{(address, slot): value} with the read/apply interface the node gives the consensus registry."""

    def read(self, address: bytes, slot: int) -> int:
        return self.get((address, slot), 0)

    def apply(self, writes) -> None:
        for address, slot, value in writes:
            self[(address, slot)] = value
