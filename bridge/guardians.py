"""The AIVM-side guardian sets: which registered validators attest bridge messages.

A guardian set is a set of the on-chain validator registry (pqc/validators.py,
storage of the consensus precompile 0x0118) with its own id,
`guardian_set_id(index)`. The bridge precompile (0x0130) keeps in its own
storage which index is current and until when each older index stays valid:

    current slot = keccak256("aivm.bridge.current")            -> index + 1 (0: no set yet)
    expiry slot  = keccak256("aivm.bridge.expiry" | index u256) -> unix time (0: never set)

A rotation makes the new index current and gives the old one `GRACE_SECONDS`
(one day, as Wormhole's guardian sets) so attestations in flight still land;
after that the old set is refused. An index that was never current, an empty
set, and index 0 before any rotation are all refused: nothing uninitialised
is ever valid (Nomad's lesson).

Weights come from a `StakeRule` so the validator-set work (stake-weighted
quorum) plugs in without touching the verifier: the default counts each
registered validator once.
"""
from __future__ import annotations

from typing import Protocol

from eth_hash.auto import keccak

from pqc import validators as registry
from pqc.keys import PublicKeys
from pqc.validators import CONSENSUS_ADDRESS, Read, Write

BRIDGE_RECEIVE_ADDRESS = (0x0130).to_bytes(20, "big")
GRACE_SECONDS = 86_400
_SET_BASE = int.from_bytes(keccak(b"aivm.bridge.guardian-set"), "big") >> 64 << 64


def guardian_set_id(index: int) -> int:
    """The registry set id of guardian set `index` (apart from every AI stage set)."""
    return _SET_BASE + index


def _slot(tag: bytes, *words: int) -> int:
    return int.from_bytes(keccak(tag + b"".join(w.to_bytes(32, "big") for w in words)), "big")


CURRENT_SLOT = _slot(b"aivm.bridge.current")


def expiry_slot(index: int) -> int:
    return _slot(b"aivm.bridge.expiry", index)


def current_index(read: Read) -> int | None:
    raw = read(BRIDGE_RECEIVE_ADDRESS, CURRENT_SLOT)
    return raw - 1 if raw else None


class StakeRule(Protocol):
    """How much a registered validator weighs in guardian set `set_id`."""

    def weight(self, read: Read, set_id: int, key_hash: bytes) -> int: ...

    def total(self, read: Read, set_id: int) -> int: ...


class CountRule:
    """One validator, one vote: the registry as it is today."""

    def weight(self, read: Read, set_id: int, key_hash: bytes) -> int:
        return 1 if registry.is_registered(read, set_id, key_hash) else 0

    def total(self, read: Read, set_id: int) -> int:
        return registry.set_size(read, set_id)


STAKE_RULE: StakeRule = CountRule()


def set_status(read: Read, index: int, now: int) -> str:
    """'' if set `index` may attest at time `now`, else why not."""
    current = current_index(read)
    if current is None:
        return "no guardian set has been installed on this chain"
    if index > current:
        return f"guardian set {index} does not exist (current is {current})"
    if index < current:
        expiry = read(BRIDGE_RECEIVE_ADDRESS, expiry_slot(index))
        if expiry == 0 or now >= expiry:
            return f"guardian set {index} expired (current is {current})"
    if STAKE_RULE.total(read, guardian_set_id(index)) == 0:
        return f"guardian set {index} is empty"
    return ""


def rotation_writes(read: Read, members: list["PublicKeys | bytes"], now: int, *,
                    grace: int = GRACE_SECONDS) -> tuple[int, list[Write]]:
    """Writes installing `members` as the next guardian set; the old one expires after `grace`."""
    if not members:
        raise ValueError("a guardian set needs at least one member")
    current = current_index(read)
    index = 0 if current is None else current + 1
    sid = guardian_set_id(index)
    writes: list[Write] = []
    seen: dict[int, int] = {}

    def overlay(address: bytes, slot: int) -> int:  # reads see the writes made so far
        return seen[slot] if address == CONSENSUS_ADDRESS and slot in seen else read(address, slot)

    for keys in members:
        for address, slot, value in registry.registration_writes(keys, overlay, sid):
            seen[slot] = value
            writes.append((address, slot, value))
    if current is not None:
        writes.append((BRIDGE_RECEIVE_ADDRESS, expiry_slot(current), now + grace))
    writes.append((BRIDGE_RECEIVE_ADDRESS, CURRENT_SLOT, index + 1))
    return index, writes
