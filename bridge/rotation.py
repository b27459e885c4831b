"""Foreign EVM guardian sets follow the AIVM set, with its stakes as their weights.

A foreign PQCBridge (ECDSA mode) changes its set only by `rotateGuardians(signers, weights,
sigs)`, signed by 3/4 of the stake of *its* current set over `rotationDigest(index, signers,
weights)` (which binds that chain's id and that bridge's address). Per lane of kind "evm":

* each attester (`RotationSigner.step`, run from its loop) reads the AIVM set's EVM mirror from
  the node (`synergy_getBridgeGuardianSet`: signers ascending, weights = stakes) and checks it
  itself: every weight is the stake AIVM chain state records (0x0118 storage, read with
  eth_getStorageAt) for a key whose PQC signature binds that EVM address, and the weights sum to
  the set's total minus what has no EVM key. If the foreign bridge's current set differs and this
  attester is a member there, it signs the foreign contract's own rotation digest and submits it
  (`synergy_submitGuardianRotation`);
* the relayer (`RotationPusher.step`) takes the signatures the hub collected, keeps those of
  the foreign set's members in ascending order, asks the contract (`quorumReached`, a view) and
  only then sends `rotateGuardians` — anyone may push, the contract decides.

Solana is not rotated here: its SPL multisig is count-based and fixed per mint (docs/bridges.md).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from eth_keys import keys as eth_keys

from interop import guardians
from bridge.evm import ChainError, EvmClient, calldata
from bridge.hub import attester_binding
from pqc import bundle, validators as registry
from pqc.keys import PublicKeys

log = logging.getLogger("aivm.bridge.rotation")
EVERY = 2.0  # seconds between looks (the sets change rarely; each look costs a few views)
ROTATION_LEVEL = 2  # the contract checks rotations at Enhanced (3/4 of the current set's stake)


class RotationRefused(Exception):
    """The node's mirror of the AIVM set does not check out: nothing is signed."""


def foreign_matches(client: EvmClient, bridge: str, signers: list[str], weights: list[int]) -> tuple[bool, int]:
    """(whether the foreign bridge's current set is exactly signers/weights, its current index)."""
    index = client.view(bridge, "PQCBridge", "guardianIndex")
    if client.view(bridge, "PQCBridge", "guardianTotal", index) != sum(weights):
        return False, index
    return all(client.view(bridge, "PQCBridge", "guardianWeight", index, s) == w
               for s, w in zip(signers, weights)), index


def checked_mirror(view: dict, chain_id: int, storage) -> tuple[list[str], list[int]]:
    """The EVM mirror of an AIVM guardian set, verified against AIVM chain state.

    `storage(address, slot) -> int` reads the AIVM chain (eth_getStorageAt); `view` is what the
    node answered to synergy_getBridgeGuardianSet."""
    index = int(view["index"])
    total = registry.total_at(storage, guardians.GUARDIANS_SET_ID, guardians.epoch_of(index))
    if str(total) != view["total_stake"]:
        raise RotationRefused(f"set {index}: the node says total {view['total_stake']}, chain state {total}")
    weight_of: dict[str, int] = {}
    for g in view["guardians"]:
        if not g.get("evm_address"):
            continue
        if not g.get("pqc_keys") or not g.get("binding"):
            raise RotationRefused(f"no binding is recorded for {g['evm_address']}: its attester must register again")
        keys = PublicKeys.decode(bytes.fromhex(g["pqc_keys"]))
        h = keys.key_hash
        ed = bytes.fromhex(g["ed25519"])
        ok, why = bundle.check(bytes.fromhex(g["binding"]), keys, attester_binding(chain_id, h, g["evm_address"], ed))
        if not ok:
            raise RotationRefused(f"the binding of {g['evm_address']} does not verify: {why}")
        stake = guardians.weight(storage, index, h)
        if stake <= 0:
            raise RotationRefused(f"{g['evm_address']}'s key holds no stake in guardian set {index}")
        weight_of.setdefault(g["evm_address"].lower(), stake)
    signers = view["evm"]["signers"]
    weights = [int(w) for w in view["evm"]["weights"]]
    if sorted(weight_of) != sorted(s.lower() for s in signers):
        raise RotationRefused("the node's EVM signers are not the bound keys of the set")
    if any(weight_of[s.lower()] != w for s, w in zip(signers, weights)):
        raise RotationRefused("the node's EVM weights are not the stakes chain state records")
    if [int(s, 16) for s in signers] != sorted({int(s, 16) for s in signers}):
        raise RotationRefused("signers must be strictly ascending")
    if sum(weights) + int(view["evm"]["uncovered_stake"]) != total:
        raise RotationRefused("the mirror's weights and uncovered stake do not add up to the set's total")
    return signers, weights


class RotationSigner:
    """An attester's part: sign the rotation a foreign chain needs, once the mirror checks out."""

    def __init__(self, node: Any, keys, chain_id: int, storage, *, every: float = EVERY,
                 client=EvmClient) -> None:
        self.node, self.keys, self.chain_id, self.storage = node, keys, chain_id, storage
        self.every, self.client = every, client
        self._next = 0.0
        self.signed: set[str] = set()  # digests this attester signed

    def step(self, lanes: list[dict]) -> int:
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.every
        evm = [l for l in lanes if l["kind"] == "evm" and int(l["chain_id"]) != self.chain_id]
        if not evm:
            return 0
        try:
            view = self.node.rpc("synergy_getBridgeGuardianSet")
        except ChainError:
            return 0  # no set yet
        if not view["evm"]["signers"]:
            return 0
        signers, weights = checked_mirror(view, self.chain_id, self.storage)
        me = self.keys.evm_address
        done = 0
        for lane in evm:
            client = self.client(lane["rpc_url"])
            bridge = lane["bridge_address"]
            same, index = foreign_matches(client, bridge, signers, weights)
            if same or client.view(bridge, "PQCBridge", "guardianWeight", index, me) == 0:
                continue
            digest = client.view(bridge, "PQCBridge", "rotationDigest", index + 1, signers, weights)
            r, s, v = self.keys.sign_ecdsa(digest)
            self.node.rpc("synergy_submitGuardianRotation", lane["name"], {
                "digest": "0x" + digest.hex(), "index": index + 1, "aivm_set": view["index"],
                "signers": signers, "weights": [str(w) for w in weights],
                "signature": {"r": "0x" + r.hex(), "s": "0x" + s.hex(), "v": v}})
            self.signed.add(digest.hex())
            done += 1
        return done


class RotationPusher:
    """A relayer's part: send rotateGuardians once the collected signatures reach the foreign quorum."""

    def __init__(self, node: Any, key: str, *, every: float = EVERY, client=EvmClient) -> None:
        self.node, self.key, self.every, self.client = node, key, every, client
        self._next = 0.0
        self.pushed = 0

    def step(self, lanes: dict[str, dict]) -> int:
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.every
        done = 0
        for rot in self.node.rpc("synergy_getGuardianRotations"):
            lane = lanes.get(rot["lane"])
            if lane is None or lane["kind"] != "evm":
                continue
            try:
                done += self._push(rot, lane)
            except ChainError as exc:
                log.warning("rotation of %s: %s", rot["lane"], exc)
        return done

    def _push(self, rot: dict, lane: dict) -> int:
        client = self.client(lane["rpc_url"])
        bridge = lane["bridge_address"]
        weights = [int(w) for w in rot["weights"]]
        same, index = foreign_matches(client, bridge, rot["signers"], weights)
        if same or index + 1 != rot["index"]:
            return 0
        sigs = sorted((s for s in rot["signatures"]
                       if client.view(bridge, "PQCBridge", "guardianWeight", index, s["address"]) > 0),
                      key=lambda s: int(s["address"], 16))
        rs = [bytes.fromhex(s["r"][2:]) for s in sigs]
        ss = [bytes.fromhex(s["s"][2:]) for s in sigs]
        vs = [int(s["v"]) for s in sigs]
        digest = bytes.fromhex(rot["digest"][2:])
        if not sigs or not client.view(bridge, "PQCBridge", "quorumReached", digest, ROTATION_LEVEL, index,
                                       rs, ss, vs):
            return 0
        client.send(self.key, bridge, calldata("PQCBridge", "rotateGuardians", rot["signers"], weights, rs, ss, vs))
        log.info("rotated %s's guardians to AIVM set %s (%d signers, total %d)", rot["lane"], rot["aivm_set"],
                 len(rot["signers"]), sum(weights))
        self.pushed += 1
        return 1


def recover(digest: bytes, sig: dict) -> str:
    """The address that made an (r, s, v) signature over `digest`."""
    r, s, v = int(sig["r"], 16), int(sig["s"], 16), int(sig["v"])
    return eth_keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest).to_checksum_address()


def rpc_storage(client: EvmClient):
    """storage(address, slot) over eth_getStorageAt (the AIVM node's chain state)."""
    def read(addr: bytes, slot: int) -> int:
        return int(client.rpc("eth_getStorageAt", "0x" + addr.hex(), hex(slot), "latest"), 16)

    return read


