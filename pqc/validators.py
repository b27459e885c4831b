"""The on-chain validator registry: which key bundles count toward a quorum.

Registrations live in the storage of the consensus precompile's account, so
an `eth_call` on past state sees the validator set of that block. The layout,
shared by the precompile (reading) and the node (writing):

    member slot = keccak256("aivm.pqc.member" | setId u256 | keyHash)  -> 1 if registered
    size slot   = keccak256("aivm.pqc.size" | setId u256)              -> member count

`keyHash` is keccak256 of the validator's canonical signing-key bundle.
"""
from __future__ import annotations

from typing import Callable

from eth_hash.auto import keccak

from pqc.errors import FormatError
from pqc.keys import PublicKeys, Role

CONSENSUS_ADDRESS = (0x0118).to_bytes(20, "big")

Read = Callable[[bytes, int], int]
"""read(address, slot) -> value: `state.get_storage`, `CallContext.read_storage`, or a dict lookup."""

Write = tuple[bytes, int, int]
"""(address, slot, value) for the node to apply with `set_storage`."""


def member_slot(set_id: int, key_hash: bytes) -> int:
    return int.from_bytes(keccak(b"aivm.pqc.member" + set_id.to_bytes(32, "big") + key_hash), "big")


def size_slot(set_id: int) -> int:
    return int.from_bytes(keccak(b"aivm.pqc.size" + set_id.to_bytes(32, "big")), "big")


def key_hash_of(keys: "PublicKeys | bytes") -> bytes:
    """The registry identity of a signing-key bundle (validated on the way)."""
    if not isinstance(keys, PublicKeys):
        keys = PublicKeys.decode(keys)
    if keys.role is not Role.SIGNING:
        raise FormatError("validators register signing keys, not KEM keys")
    return keys.key_hash


def is_registered(read: Read, set_id: int, key_hash: bytes, *,
                  address: bytes = CONSENSUS_ADDRESS) -> bool:
    return read(address, member_slot(set_id, key_hash)) == 1


def set_size(read: Read, set_id: int, *, address: bytes = CONSENSUS_ADDRESS) -> int:
    return read(address, size_slot(set_id))


def registration_writes(keys: "PublicKeys | bytes", read: Read, set_id: int = 0, *,
                        address: bytes = CONSENSUS_ADDRESS) -> list[Write]:
    """Storage writes that add `keys` to set `set_id`; [] if already a member."""
    h = key_hash_of(keys)
    if is_registered(read, set_id, h, address=address):
        return []
    return [(address, member_slot(set_id, h), 1),
            (address, size_slot(set_id), set_size(read, set_id, address=address) + 1)]


def removal_writes(keys: "PublicKeys | bytes", read: Read, set_id: int = 0, *,
                   address: bytes = CONSENSUS_ADDRESS) -> list[Write]:
    """Storage writes that remove `keys` from set `set_id`; [] if not a member."""
    h = key_hash_of(keys)
    if not is_registered(read, set_id, h, address=address):
        return []
    return [(address, member_slot(set_id, h), 0),
            (address, size_slot(set_id), set_size(read, set_id, address=address) - 1)]
