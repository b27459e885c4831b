"""The guide's cross-chain methods, and the bridge hub's methods for validators and relayers.

Handlers parse, call the hub (bridge/hub.py) or bridge/actions.py, and shape
the result; BridgeError becomes -32000 with its text, bad params -32602.
"""

from typing import Any

from app.rpc.dispatch import method
from app.rpc.errors import INVALID_PARAMS, SERVER_ERROR, RpcError
from app.rpc.params import Integer, Json, Object, StringList, Text


def _hub(node):
    hub = node.bridge  # declared on Node (None: the bridge is off); handlers get it through the node API
    if hub is None:
        raise RpcError(SERVER_ERROR, "the bridge is not enabled on this node ([interoperability] bridge_enabled)")
    return hub


def _hex(value: str, what: str) -> bytes:
    text = value[2:] if value.startswith("0x") else value
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"{what}: expected hex bytes") from None


async def _guard(coro):
    """BridgeError, MessageError and PQCError become -32000 with their text in app/rpc/errors.py."""
    return await coro


async def _on_chain(node, fn, *args):
    return await node.run(fn, *args)


async def _read(node, fn, *args):
    """A read-only hub method on a reader thread, beside the chain thread (node.read)."""
    from bridge.hub import BridgeError

    try:
        return await node.read(fn, *args)
    except BridgeError as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None


# -- the guide's methods --
@method("synergy_initiateCrossChainTransfer")
async def synergy_initiate_cross_chain_transfer(node, source_chain: Text, token: Text, amount: Integer,
                                                recipient: Text, dest_chain: Text) -> dict:
    from bridge.actions import initiate_transfer

    if amount <= 0 or amount >= 2**256:
        raise RpcError(INVALID_PARAMS, "synergy_initiateCrossChainTransfer param 3 (amount): must be positive")
    return await _guard(initiate_transfer(_hub(node), source_chain, token, amount, recipient, dest_chain))


@method("synergy_executeMultiChainContract")
async def synergy_execute_multi_chain_contract(node, chains: StringList, address: Text, selector: Text,
                                               params: Text) -> dict:
    from bridge.actions import selector_bytes, send_call
    from bridge.hub import BridgeError
    from interop.message import Kind

    hub = _hub(node)
    if not chains:
        raise RpcError(INVALID_PARAMS, "synergy_executeMultiChainContract param 1 (chains): name at least one chain")
    try:
        payload = selector_bytes(selector) + _hex(params, "param 4 (params)")
    except BridgeError as exc:
        raise RpcError(INVALID_PARAMS, f"synergy_executeMultiChainContract param 3 ({exc})") from None
    calls = []
    for chain in chains:
        calls.append(await _guard(send_call(hub, chain, address, payload, Kind.CALL)))
    return {"success": True, "calls": calls, "message": f"cross-chain call sent to {len(calls)} chain(s)"}


@method("synergy_createSecureCrossChainMessage")
async def synergy_create_secure_cross_chain_message(node, source: Text, dest: Text, sender: Text, recipient: Text,
                                                    payload: Text, kind: Text, level: Text) -> dict:
    from bridge.actions import send_call
    from bridge.sealed import seal_for
    from interop.message import Kind

    hub = _hub(node)
    sealed = await _guard(seal_for(hub, source, dest, sender, recipient, payload, kind, level))
    sent = await _guard(send_call(hub, dest, recipient, sealed.encode(), Kind.SEALED, sealed.level, source))
    return {"success": True, "message_id": sent["transfer_id"], **sent, "security_level": sealed.level.title,
            "sealed_size": len(sealed.encode()), "message": "sealed cross-chain message sent"}


@method("synergy_registerBridgeRecipientKeys")
async def synergy_register_bridge_recipient_keys(node, chain: Text, recipient: Text, kem_keys: Text,
                                                 signature: Text) -> dict:
    """A recipient publishes its KEM keys for sealed messages, signed by its own EVM key."""
    from bridge.sealed import register_keys

    hub = _hub(node)
    return await _on_chain(node, register_keys, hub, chain, recipient, _hex(kem_keys, "param 3"),
                           _hex(signature, "param 4"))


@method("synergy_getCrossChainTransferStatus")
async def synergy_get_cross_chain_transfer_status(node, transfer_id: Text) -> dict:
    return await _on_chain(node, _hub(node).status, transfer_id)


# -- validators and relayers --
@method("synergy_getBridgeLanes")
async def synergy_get_bridge_lanes(node) -> dict:
    from interop import guardians

    hub = _hub(node)
    current = await node.run(guardians.current_index, hub.storage_read)
    return {"chain_id": hub.chain_id, "lanes": [l.to_json() for l in hub.lanes.values()],
            "guardian_set": current, "guardian_source": hub.guardian_source, "unreachable": hub.unreachable}


@method("synergy_registerBridgeAttester")
async def synergy_register_bridge_attester(node, pqc_keys: Text, evm_address: Text, ed25519: Text,
                                           signature: Text, endorsement: Json = None) -> dict:
    """An attester binds its secp256k1/ed25519 keys to its PQC identity; `endorsement`
    ({validator, signature}) lets a registered validator's stake vote through another bundle."""
    hub = _hub(node)
    if endorsement is not None and not isinstance(endorsement, dict):
        raise RpcError(INVALID_PARAMS, "synergy_registerBridgeAttester param 5 (endorsement): expected an object "
                                       "{validator, signature}")
    return await _on_chain(node, hub.register_attester, _hex(pqc_keys, "param 1"), evm_address,
                           _hex(ed25519, "param 3"), _hex(signature, "param 4"), endorsement)


@method("synergy_getBridgeGuardianSet")
async def synergy_get_bridge_guardian_set(node, index: Json = None) -> dict:
    """A guardian set (default: the current one): stakes, status, and its mirror for EVM verifiers."""
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise RpcError(INVALID_PARAMS, "synergy_getBridgeGuardianSet param 1 (index): expected a set index >= 0")
    return await _read(node, _hub(node).guardian_set, index)


@method("synergy_submitGuardianRotation")
async def synergy_submit_guardian_rotation(node, lane: Text, rotation: Object) -> dict:
    """An attester's signature of a foreign EVM bridge's rotation to the AIVM set (bridge/rotation.py)."""
    return await _on_chain(node, _hub(node).submit_rotation, lane, rotation)


@method("synergy_getGuardianRotations")
async def synergy_get_guardian_rotations(node) -> list:
    return await _read(node, _hub(node).rotations)


@method("synergy_submitBridgeAttestation")
async def synergy_submit_bridge_attestation(node, attestation: Object) -> dict:
    return await _on_chain(node, _hub(node).submit, attestation)


@method("synergy_getPendingBridgeMessages")
async def synergy_get_pending_bridge_messages(node, dest_chain: Text = "") -> list:
    return await _on_chain(node, _hub(node).pending, dest_chain or None)


@method("synergy_reportBridgeDelivery")
async def synergy_report_bridge_delivery(node, transfer_id: Text, outcome: Text, tx_hash: Json = None,
                                         reason: Text = "") -> dict:
    import asyncio

    from bridge.hub import BridgeError

    hub = _hub(node)
    rec = await _on_chain(node, hub.status, transfer_id)
    dest = hub.lanes.get(rec["dest_chain"])
    try:
        if dest is not None and dest.chain_id == hub.chain_id:
            checked = await node.run(hub.report, transfer_id, outcome, tx_hash, reason)
        else:
            checked = await asyncio.to_thread(hub.report, transfer_id, outcome, tx_hash, reason)
    except BridgeError as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None
    return await _on_chain(node, hub.apply_report, checked)


@method("synergy_requestSolanaSignatures")
async def synergy_request_solana_signatures(node, transfer_id: Text, message: Text) -> dict:
    return await _on_chain(node, _hub(node).request_solana, transfer_id, _hex(message, "param 2"))


@method("synergy_getSolanaSigningRequests")
async def synergy_get_solana_signing_requests(node) -> list:
    return await _on_chain(node, _hub(node).solana_requests)


@method("synergy_submitSolanaSignature")
async def synergy_submit_solana_signature(node, transfer_id: Text, pubkey: Text, signature: Text) -> dict:
    return await _on_chain(node, _hub(node).submit_solana_signature, transfer_id, pubkey, signature)


@method("synergy_setBridgeGuardians")
async def synergy_set_bridge_guardians(node, key_bundles: StringList, stakes: Json = None) -> dict:
    """Governance override (guardian_source = "governance" only): install a guardian set by hand.

    `stakes` (optional, one per bundle, decimal strings or numbers) weigh the guardians; without
    it each weighs 1. The old set gets its grace period. Refused on a node whose guardian sets
    follow the validator registry: there nobody chooses the identities the bridge trusts."""
    from interop import guardians

    hub = _hub(node)
    if hub.guardian_source != "governance":
        raise RpcError(SERVER_ERROR, "this node derives its bridge guardian sets from the validator registry "
                                     "([interoperability] guardian_source = \"validators\"): they cannot be set "
                                     "by hand")
    bundles = [_hex(k, "param 1") for k in key_bundles]
    if stakes is not None:
        if not isinstance(stakes, list) or len(stakes) != len(bundles):
            raise RpcError(INVALID_PARAMS, "synergy_setBridgeGuardians param 2 (stakes): expected one stake per "
                                           "key bundle")
        try:
            stakes = [Integer.parse(x) for x in stakes]
        except Exception as exc:
            raise RpcError(INVALID_PARAMS, f"synergy_setBridgeGuardians param 2 (stakes): {exc}") from None

    def apply() -> dict:
        from pqc.errors import FormatError

        try:
            members = guardians.governance_set(bundles, stakes)
            index = hub.install_guardians(members)
        except (ValueError, FormatError) as exc:
            raise RpcError(INVALID_PARAMS, f"synergy_setBridgeGuardians param 1: {exc}") from None
        return {"guardian_set": index, "members": len(bundles), "total_stake": str(sum(g.stake for g in members)),
                "grace_seconds": guardians.GRACE_SECONDS}

    return await node.run(apply)


def cross_chain_transfers(node) -> int:
    """Chain thread: delivered cross-chain messages (for synergy_getClusterAIStats)."""
    hub = node.bridge  # declared on Node (None: the bridge is off); handlers get it through the node API
    return hub.delivered_count() if hub else 0


__all__: list[Any] = []
