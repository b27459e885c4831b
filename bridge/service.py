"""The bridge's operations as callers outside the chain thread use them (the RPC handlers).

The hub's methods are either chain-thread work (they write the index or the
registry) or read-only functions; each method here runs one of them where it
belongs — `node.run` (the chain thread) or `node.read` (a reader thread beside
it) — or hands off to bridge/actions.py and bridge/sealed.py, so a handler only
parses its params, calls one method and shapes the answer. Refusals are
`BridgeError`s (mapped with every other refusal in app/rpc/errors.py).
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from bridge.hub import BridgeError, BridgeHub
from interop import guardians
from interop.message import Kind


class BridgeService:
    """Async operations over one hub (cheap: made per request from `node.bridge`)."""

    def __init__(self, hub: BridgeHub) -> None:
        self.hub = hub
        self.node = hub.node

    # -- the guide's methods --
    async def initiate_transfer(self, source_chain: str, token: str, amount: int, recipient: str,
                                dest_chain: str) -> dict:
        from bridge.actions import initiate_transfer

        return await initiate_transfer(self.hub, source_chain, token, amount, recipient, dest_chain)

    async def send_calls(self, chains: list[str], address: str, payload: bytes) -> list[dict]:
        """One cross-chain call per destination, in order."""
        from bridge.actions import send_call

        return [await send_call(self.hub, chain, address, payload, Kind.CALL) for chain in chains]

    async def send_sealed(self, source: str, dest: str, sender: str, recipient: str, payload: str, kind: str,
                          level: str) -> tuple[Any, dict]:
        """Seal `payload` for the recipient's registered KEM keys and send it; (sealed, sent)."""
        from bridge.actions import send_call
        from bridge.sealed import seal_for

        sealed = await seal_for(self.hub, source, dest, sender, recipient, payload, kind, level)
        sent = await send_call(self.hub, dest, recipient, sealed.encode(), Kind.SEALED, sealed.level, source)
        return sealed, sent

    async def register_recipient_keys(self, chain: str, recipient: str, kem_keys: bytes, signature: bytes) -> dict:
        from bridge.sealed import register_keys

        return await self.node.run(register_keys, self.hub, chain, recipient, kem_keys, signature)

    async def status(self, transfer_id: str) -> dict:
        return await self.node.run(self.hub.status, transfer_id)

    # -- validators and relayers --
    async def lanes(self) -> dict:
        """The lanes, the current guardian set index and where guardian sets come from."""
        hub = self.hub
        current = await self.node.run(guardians.current_index, hub.storage_read)
        return {"chain_id": hub.chain_id, "lanes": [lane.to_json() for lane in hub.lanes.values()],
                "guardian_set": current, "guardian_source": hub.guardian_source, "unreachable": hub.unreachable}

    async def register_attester(self, pqc_keys: bytes, evm_address: str, ed25519: bytes, signature: bytes,
                                endorsement: Optional[dict]) -> dict:
        return await self.node.run(self.hub.register_attester, pqc_keys, evm_address, ed25519, signature,
                                   endorsement)

    async def guardian_set(self, index: Optional[int]) -> dict:
        return await self.node.read(self.hub.guardian_set, index)

    async def submit_rotation(self, lane: str, rotation: dict) -> dict:
        return await self.node.run(self.hub.submit_rotation, lane, rotation)

    async def rotations(self) -> list:
        return await self.node.read(self.hub.rotations)

    async def submit_attestation(self, attestation: dict) -> dict:
        return await self.node.run(self.hub.submit, attestation)

    async def pending(self, dest_chain: Optional[str]) -> list:
        return await self.node.run(self.hub.pending, dest_chain)

    async def report_delivery(self, transfer_id: str, outcome: str, tx_hash: Any, reason: str) -> dict:
        """Check a relayer's report (asking the destination chain: on the chain thread when that is
        this node, else on a worker thread), then record it on the chain thread."""
        hub = self.hub
        rec = await self.node.run(hub.status, transfer_id)
        dest = hub.lanes.get(rec["dest_chain"])
        if dest is not None and dest.chain_id == hub.chain_id:
            checked = await self.node.run(hub.report, transfer_id, outcome, tx_hash, reason)
        else:
            checked = await asyncio.to_thread(hub.report, transfer_id, outcome, tx_hash, reason)
        return await self.node.run(hub.apply_report, checked)

    async def request_solana(self, transfer_id: str, message: bytes) -> dict:
        return await self.node.run(self.hub.request_solana, transfer_id, message)

    async def solana_requests(self) -> list:
        return await self.node.run(self.hub.solana_requests)

    async def submit_solana_signature(self, transfer_id: str, pubkey: str, signature: str) -> dict:
        return await self.node.run(self.hub.submit_solana_signature, transfer_id, pubkey, signature)

    async def set_guardians(self, bundles: list[bytes], stakes: Optional[list[int]]) -> dict:
        """Governance override: install a guardian set by hand. BridgeError on a node whose sets follow
        the validator registry; ValueError / pqc FormatError for bundles or stakes that make no set."""
        hub = self.hub
        self.require_governance()

        def apply() -> dict:
            members = guardians.governance_set(bundles, stakes)
            index = hub.install_guardians(members)
            return {"guardian_set": index, "members": len(bundles),
                    "total_stake": str(sum(g.stake for g in members)), "grace_seconds": guardians.GRACE_SECONDS}

        return await self.node.run(apply)

    def require_governance(self) -> None:
        """BridgeError unless guardian sets are set by hand here (guardian_source = "governance")."""
        if self.hub.guardian_source != "governance":
            raise BridgeError("this node derives its bridge guardian sets from the validator registry "
                              "([interoperability] guardian_source = \"validators\"): they cannot be set by hand")

    def delivered_count(self) -> int:
        """Delivered cross-chain messages (an index read: any thread)."""
        return self.hub.delivered_count()
