"""The on-chain validator registry: which key bundles count toward a quorum.

Registrations live in the storage of the consensus precompile's account, so
an `eth_call` on past state sees the validator set of that block. The layout,
shared by the precompile (reading) and the node (writing):

    member slot = keccak256("aivm.pqc.member" | setId u256 | keyHash)  -> 1 if registered
    size slot   = keccak256("aivm.pqc.size" | setId u256)              -> member count

`keyHash` is keccak256 of the validator's canonical signing-key bundle.

Stake-weighted sets (the AI stage sets) are recorded as numbered snapshots
("epochs"), written once and never changed, so a certificate names the epoch
it was decided under and verifies the same way for as long as the chain lives:

    epoch slot  = keccak256("aivm.pqc.epoch" | setId u256)                  -> latest epoch (0: head-count set)
    stake slot  = keccak256("aivm.pqc.stake" | setId u256 | epoch u256 | keyHash) -> member's stake in wei
    total slot  = keccak256("aivm.pqc.total" | setId u256 | epoch u256)     -> the epoch's active stake
    count slot  = keccak256("aivm.pqc.count" | setId u256 | epoch u256)     -> the epoch's member count

A set whose epoch slot is non-zero is stake-weighted: certificates for it must
name an epoch (1..latest); head-count certificates (epoch 0) are refused for it.
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


# -- stake-weighted sets: one immutable snapshot per epoch --
def _u(x: int) -> bytes:
    return x.to_bytes(32, "big")


def epoch_slot(set_id: int) -> int:
    return int.from_bytes(keccak(b"aivm.pqc.epoch" + _u(set_id)), "big")


def stake_slot(set_id: int, epoch: int, key_hash: bytes) -> int:
    return int.from_bytes(keccak(b"aivm.pqc.stake" + _u(set_id) + _u(epoch) + key_hash), "big")


def total_slot(set_id: int, epoch: int) -> int:
    return int.from_bytes(keccak(b"aivm.pqc.total" + _u(set_id) + _u(epoch)), "big")


def count_slot(set_id: int, epoch: int) -> int:
    return int.from_bytes(keccak(b"aivm.pqc.count" + _u(set_id) + _u(epoch)), "big")


def latest_epoch(read: Read, set_id: int, *, address: bytes = CONSENSUS_ADDRESS) -> int:
    return read(address, epoch_slot(set_id))


def stake_at(read: Read, set_id: int, epoch: int, key_hash: bytes, *, address: bytes = CONSENSUS_ADDRESS) -> int:
    return read(address, stake_slot(set_id, epoch, key_hash))


def total_at(read: Read, set_id: int, epoch: int, *, address: bytes = CONSENSUS_ADDRESS) -> int:
    return read(address, total_slot(set_id, epoch))


def count_at(read: Read, set_id: int, epoch: int, *, address: bytes = CONSENSUS_ADDRESS) -> int:
    return read(address, count_slot(set_id, epoch))


def snapshot_writes(set_id: int, epoch: int, stakes: "dict[bytes, int]", *,
                    address: bytes = CONSENSUS_ADDRESS) -> list[Write]:
    """Writes that record epoch `epoch` of set `set_id`: {keyHash: stake wei} (all > 0), total, count.

    Epochs only grow: the writer (the node's scheduler) numbers them; an older
    epoch's slots are never written again.
    """
    if epoch < 1:
        raise ValueError("stake-weighted epochs are numbered from 1")
    writes = [(address, stake_slot(set_id, epoch, h), stake) for h, stake in sorted(stakes.items()) if stake > 0]
    return writes + [(address, total_slot(set_id, epoch), sum(stakes.values())),
                     (address, count_slot(set_id, epoch), len(writes)),
                     (address, epoch_slot(set_id), epoch)]
