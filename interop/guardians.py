"""The AIVM-side guardian sets: which validators attest bridge messages, and with what stake.

A guardian set is one *epoch* of the stake-weighted registry set `GUARDIANS_SET_ID`
in the consensus precompile's storage (pqc/validators.py, the same layout as
issue 11's AI stage sets): guardian set `index` is epoch `index + 1`, recording
each guardian's stake under every signing-key hash that votes for it, the set's
total stake and its member count. A certificate for set `index` is therefore
judged exactly as 0x0118 judges a stake-weighted certificate (pqc/quorum.py):
distinct members with valid bundles must hold the level's fraction of the total
(exact integers, Basic 2/3, Enhanced 3/4; duplicates count once).

The bridge precompile (0x0130) keeps in its own storage which index is current
and until when each older index stays valid:

    current slot = keccak256("aivm.bridge.current")            -> index + 1 (0: no set yet)
    expiry slot  = keccak256("aivm.bridge.expiry" | index u256) -> unix time (0: never set)

A rotation makes the new index current and gives the old one `GRACE_SECONDS`
(one day, as Wormhole's guardian sets and the EVM verifier's GRACE) so
attestations in flight still land; after that the old set is refused. When the
registry has no active validator left, the current set is *retired*: it gets
the same grace and then nothing is valid. An index that was never current, an
empty set and index 0 before any rotation are all refused: nothing
uninitialised is ever valid (Nomad's lesson).

Where sets come from (`[interoperability] guardian_source`):
  * "validators" (default): derived by the node from the validator registry
    (`derive`): every validator active in at least one AI stage set (issue 11:
    attested, staked >= the minimum, score, join delay, heartbeats) is a
    guardian with its stake; slashing or lapsing changes the set at the next
    sync. Nobody can install a set by hand.
  * "governance": installed by `synergy_setBridgeGuardians` (a dev-chain /
    governance override for chains without AI validators, e.g. the devnet).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from eth_hash.auto import keccak

from pqc import validators as registry
from pqc.keys import PublicKeys
from pqc.validators import CONSENSUS_ADDRESS, Read, Write

BRIDGE_RECEIVE_ADDRESS = (0x0130).to_bytes(20, "big")
GRACE_SECONDS = 86_400
GUARDIANS_SET_ID = int.from_bytes(keccak(b"aivm.bridge.guardian-set"), "big") >> 64 << 64
SOURCES = ("validators", "governance")


def epoch_of(index: int) -> int:
    """The registry epoch that records guardian set `index`."""
    return index + 1


def _slot(tag: bytes, *words: int) -> int:
    return int.from_bytes(keccak(tag + b"".join(w.to_bytes(32, "big") for w in words)), "big")


CURRENT_SLOT = _slot(b"aivm.bridge.current")


def expiry_slot(index: int) -> int:
    return _slot(b"aivm.bridge.expiry", index)


def current_index(read: Read) -> int | None:
    raw = read(BRIDGE_RECEIVE_ADDRESS, CURRENT_SLOT)
    return raw - 1 if raw else None


def weight(read: Read, index: int, key_hash: bytes) -> int:
    """Stake (wei, or units for a governance set) that `key_hash` signs with in guardian set `index`."""
    return registry.stake_at(read, GUARDIANS_SET_ID, epoch_of(index), key_hash)


def total(read: Read, index: int) -> int:
    return registry.total_at(read, GUARDIANS_SET_ID, epoch_of(index))


def size(read: Read, index: int) -> int:
    return registry.count_at(read, GUARDIANS_SET_ID, epoch_of(index))


def set_status(read: Read, index: int, now: int) -> str:
    """'' if set `index` may attest at time `now`, else why not."""
    current = current_index(read)
    if current is None:
        return "no guardian set has been installed on this chain"
    if index > current:
        return f"guardian set {index} does not exist (current is {current})"
    expiry = read(BRIDGE_RECEIVE_ADDRESS, expiry_slot(index))
    if index < current and (expiry == 0 or now >= expiry):
        return f"guardian set {index} expired (current is {current})"
    if index == current and expiry and now >= expiry:
        return f"guardian set {index} was retired (no active validator left) and its grace has passed"
    if total(read, index) == 0:
        return f"guardian set {index} is empty"
    return ""


@dataclass(frozen=True)
class Guardian:
    """One guardian: its stake, and every signing-key hash that votes for it (one bundle a level).

    `validator` is its registry address (empty for a governance-installed guardian)."""

    key_hashes: tuple[bytes, ...]
    stake: int
    validator: bytes = b""

    def to_json(self) -> dict:
        return {"validator": "0x" + self.validator.hex() if self.validator else None,
                "key_hashes": ["0x" + h.hex() for h in self.key_hashes], "stake": str(self.stake)}


def key_hash(keys: "PublicKeys | bytes") -> bytes:
    """A signing bundle's registry identity (a 32-byte hash passes through)."""
    if isinstance(keys, bytes) and len(keys) == 32:
        return keys
    return registry.key_hash_of(keys)


def governance_set(members: Sequence["PublicKeys | bytes"], stakes: Sequence[int] | None = None) -> list[Guardian]:
    """Guardians from key bundles (weight 1 each unless `stakes` says otherwise)."""
    stakes = list(stakes) if stakes is not None else [1] * len(members)
    if len(stakes) != len(members):
        raise ValueError(f"{len(members)} key bundles but {len(stakes)} stakes")
    return [Guardian((key_hash(k),), int(s)) for k, s in zip(members, stakes)]


def as_guardians(members) -> list[Guardian]:
    if isinstance(members, Mapping):  # {keys: stake}
        return governance_set(list(members), list(members.values()))
    members = list(members)
    if members and all(isinstance(m, Guardian) for m in members):
        return members
    return governance_set(members)


def epoch_writes(index: int, guardians: Iterable[Guardian]) -> list[Write]:
    """The registry writes that record guardian set `index` (stakes, total, count)."""
    guardians = list(guardians)
    if not guardians:
        raise ValueError("a guardian set needs at least one member")
    set_id, epoch = GUARDIANS_SET_ID, epoch_of(index)
    seen: set[bytes] = set()
    writes: list[Write] = []
    for g in guardians:
        if g.stake <= 0:
            raise ValueError(f"guardian {g.key_hashes[0].hex() if g.key_hashes else '?'} has no stake")
        if not g.key_hashes:
            raise ValueError("a guardian needs at least one signing key")
        for h in g.key_hashes:
            if h in seen:
                raise ValueError(f"signing key {h.hex()} belongs to two guardians")
            seen.add(h)
            writes.append((CONSENSUS_ADDRESS, registry.stake_slot(set_id, epoch, h), g.stake))
    return writes + [(CONSENSUS_ADDRESS, registry.total_slot(set_id, epoch), sum(g.stake for g in guardians)),
                     (CONSENSUS_ADDRESS, registry.count_slot(set_id, epoch), len(guardians)),
                     (CONSENSUS_ADDRESS, registry.epoch_slot(set_id), epoch)]


def rotation_writes(read: Read, members, now: int, *, grace: int = GRACE_SECONDS) -> tuple[int, list[Write]]:
    """Writes installing `members` as the next guardian set; the old one expires after `grace`.

    `members`: Guardians, {key bundle: stake}, or key bundles (weight 1 each)."""
    guardians = as_guardians(members)
    current = current_index(read)
    index = 0 if current is None else current + 1
    writes = epoch_writes(index, guardians)
    if current is not None:
        writes.append((BRIDGE_RECEIVE_ADDRESS, expiry_slot(current), now + grace))
    writes.append((BRIDGE_RECEIVE_ADDRESS, CURRENT_SLOT, index + 1))
    return index, writes


def retire_writes(read: Read, now: int, *, grace: int = GRACE_SECONDS) -> list[Write]:
    """The registry has no active validator left: the current set expires after `grace`."""
    current = current_index(read)
    if current is None or read(BRIDGE_RECEIVE_ADDRESS, expiry_slot(current)):
        return []
    return [(BRIDGE_RECEIVE_ADDRESS, expiry_slot(current), now + grace)]


def matches(read: Read, index: int | None, guardians: Sequence[Guardian]) -> bool:
    """Whether guardian set `index` is exactly `guardians` (same keys, same stakes) and not retired."""
    if index is None or read(BRIDGE_RECEIVE_ADDRESS, expiry_slot(index)):
        return False
    if size(read, index) != len(guardians) or total(read, index) != sum(g.stake for g in guardians):
        return False
    return all(weight(read, index, h) == g.stake for g in guardians for h in g.key_hashes)


# -- derived from the validator registry --
def derive(stage_sets: Iterable, extra_keys: Mapping[bytes, Sequence[bytes]] | None = None) -> list[Guardian]:
    """The guardian set the registry implies: every validator active in at least one stage set
    (ai/scheduler/validator_set.StageSet snapshots), with its stake, voting with its registered
    signing key and any bridge keys bound to it (`extra_keys`: validator address -> key hashes).
    Sorted by validator address, so the same registry always gives the same set."""
    stakes: dict[bytes, int] = {}
    hashes: dict[bytes, bytes] = {}
    for s in stage_sets:
        for address, stake in s.stakes.items():
            if stake > 0:
                stakes[address] = max(stake, stakes.get(address, 0))
                hashes[address] = s.key_hashes[address]
    extra = extra_keys or {}
    out = []
    for address in sorted(stakes):
        keys = (hashes[address],) + tuple(h for h in extra.get(address, ()) if h != hashes[address])
        out.append(Guardian(keys, stakes[address], address))
    return out
