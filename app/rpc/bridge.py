"""The guide's cross-chain methods, and the bridge hub's methods for validators and relayers.

Handlers parse, call one method of the bridge's service (bridge/service.py, which
runs the hub's work on the chain thread or a reader thread), and shape the result;
BridgeError becomes -32000 with its text (app/rpc/errors.py), bad params -32602.
"""

from typing import Any

from vm.errors import invalid, unavailable
from app.rpc.dispatch import method
from app.rpc.params import Integer, Json, Object, StringList, Text


def _bridge(api):
    """The bridge's operations (bridge/service.py) over the node's hub (None: the bridge is off)."""
    from bridge.service import BridgeService

    hub = api.bridge
    if hub is None:
        raise unavailable("the bridge is not enabled on this node ([interoperability] bridge_enabled)")
    return BridgeService(hub)


def _hex(value: str, what: str) -> bytes:
    text = value[2:] if value.startswith("0x") else value
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise invalid(f"{what}: expected hex bytes") from None


# -- the guide's methods --
@method("synergy_initiateCrossChainTransfer")
async def synergy_initiate_cross_chain_transfer(api, source_chain: Text, token: Text, amount: Integer,
                                                recipient: Text, dest_chain: Text) -> dict:
    if amount <= 0 or amount >= 2**256:
        raise invalid("synergy_initiateCrossChainTransfer param 3 (amount): must be positive")
    return await _bridge(api).initiate_transfer(source_chain, token, amount, recipient, dest_chain)


@method("synergy_executeMultiChainContract")
async def synergy_execute_multi_chain_contract(api, chains: StringList, address: Text, selector: Text,
                                               params: Text) -> dict:
    from bridge.actions import selector_bytes
    from bridge.hub import BridgeError

    bridge = _bridge(api)
    if not chains:
        raise invalid("synergy_executeMultiChainContract param 1 (chains): name at least one chain")
    try:
        payload = selector_bytes(selector) + _hex(params, "param 4 (params)")
    except BridgeError as exc:
        raise invalid(f"synergy_executeMultiChainContract param 3 ({exc})") from None
    calls = await bridge.send_calls(chains, address, payload)
    return {"success": True, "calls": calls, "message": f"cross-chain call sent to {len(calls)} chain(s)"}


@method("synergy_createSecureCrossChainMessage")
async def synergy_create_secure_cross_chain_message(api, source: Text, dest: Text, sender: Text, recipient: Text,
                                                    payload: Text, kind: Text, level: Text) -> dict:
    sealed, sent = await _bridge(api).send_sealed(source, dest, sender, recipient, payload, kind, level)
    return {"success": True, "message_id": sent["transfer_id"], **sent, "security_level": sealed.level.title,
            "sealed_size": len(sealed.encode()), "message": "sealed cross-chain message sent"}


@method("synergy_registerBridgeRecipientKeys")
async def synergy_register_bridge_recipient_keys(api, chain: Text, recipient: Text, kem_keys: Text,
                                                 signature: Text) -> dict:
    """A recipient publishes its KEM keys for sealed messages, signed by its own EVM key."""
    bridge = _bridge(api)
    return await bridge.register_recipient_keys(chain, recipient, _hex(kem_keys, "param 3"),
                                                _hex(signature, "param 4"))


@method("synergy_getCrossChainTransferStatus")
async def synergy_get_cross_chain_transfer_status(api, transfer_id: Text) -> dict:
    return await _bridge(api).status(transfer_id)


# -- validators and relayers --
@method("synergy_getBridgeLanes")
async def synergy_get_bridge_lanes(api) -> dict:
    return await _bridge(api).lanes()


@method("synergy_registerBridgeAttester")
async def synergy_register_bridge_attester(api, pqc_keys: Text, evm_address: Text, ed25519: Text,
                                           signature: Text, endorsement: Json = None) -> dict:
    """An attester binds its secp256k1/ed25519 keys to its PQC identity; `endorsement`
    ({validator, signature}) lets a registered validator's stake vote through another bundle."""
    bridge = _bridge(api)
    if endorsement is not None and not isinstance(endorsement, dict):
        raise invalid("synergy_registerBridgeAttester param 5 (endorsement): expected an object "
                      "{validator, signature}")
    return await bridge.register_attester(_hex(pqc_keys, "param 1"), evm_address, _hex(ed25519, "param 3"),
                                          _hex(signature, "param 4"), endorsement)


@method("synergy_getBridgeGuardianSet")
async def synergy_get_bridge_guardian_set(api, index: Json = None) -> dict:
    """A guardian set (default: the current one): stakes, status, and its mirror for EVM verifiers."""
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise invalid("synergy_getBridgeGuardianSet param 1 (index): expected a set index >= 0")
    return await _bridge(api).guardian_set(index)


@method("synergy_submitGuardianRotation")
async def synergy_submit_guardian_rotation(api, lane: Text, rotation: Object) -> dict:
    """An attester's signature of a foreign EVM bridge's rotation to the AIVM set (bridge/rotation.py)."""
    return await _bridge(api).submit_rotation(lane, rotation)


@method("synergy_getGuardianRotations")
async def synergy_get_guardian_rotations(api) -> list:
    return await _bridge(api).rotations()


@method("synergy_submitBridgeAttestation")
async def synergy_submit_bridge_attestation(api, attestation: Object) -> dict:
    return await _bridge(api).submit_attestation(attestation)


@method("synergy_getPendingBridgeMessages")
async def synergy_get_pending_bridge_messages(api, dest_chain: Text = "") -> list:
    return await _bridge(api).pending(dest_chain or None)


@method("synergy_reportBridgeDelivery")
async def synergy_report_bridge_delivery(api, transfer_id: Text, outcome: Text, tx_hash: Json = None,
                                         reason: Text = "") -> dict:
    return await _bridge(api).report_delivery(transfer_id, outcome, tx_hash, reason)


@method("synergy_requestSolanaSignatures")
async def synergy_request_solana_signatures(api, transfer_id: Text, message: Text) -> dict:
    bridge = _bridge(api)
    return await bridge.request_solana(transfer_id, _hex(message, "param 2"))


@method("synergy_getSolanaSigningRequests")
async def synergy_get_solana_signing_requests(api) -> list:
    return await _bridge(api).solana_requests()


@method("synergy_submitSolanaSignature")
async def synergy_submit_solana_signature(api, transfer_id: Text, pubkey: Text, signature: Text) -> dict:
    return await _bridge(api).submit_solana_signature(transfer_id, pubkey, signature)


@method("synergy_setBridgeGuardians")
async def synergy_set_bridge_guardians(api, key_bundles: StringList, stakes: Json = None) -> dict:
    """Governance override (guardian_source = "governance" only): install a guardian set by hand.

    `stakes` (optional, one per bundle, decimal strings or numbers) weigh the guardians; without
    it each weighs 1. The old set gets its grace period. Refused on a node whose guardian sets
    follow the validator registry: there nobody chooses the identities the bridge trusts."""
    from pqc.errors import FormatError

    bridge = _bridge(api)
    bridge.require_governance()
    bundles = [_hex(k, "param 1") for k in key_bundles]
    if stakes is not None:
        if not isinstance(stakes, list) or len(stakes) != len(bundles):
            raise invalid("synergy_setBridgeGuardians param 2 (stakes): expected one stake per "
                          "key bundle")
        try:
            stakes = [Integer.parse(x) for x in stakes]
        except Exception as exc:
            raise invalid(f"synergy_setBridgeGuardians param 2 (stakes): {exc}") from None
    try:
        return await bridge.set_guardians(bundles, stakes)
    except (ValueError, FormatError) as exc:  # bundles that make no guardian set: the caller's input
        raise invalid(f"synergy_setBridgeGuardians param 1: {exc}") from None


def cross_chain_transfers(node) -> int:
    """Delivered cross-chain messages (for synergy_getClusterAIStats; an index read: any thread)."""
    from bridge.service import BridgeService

    hub = node.bridge  # declared on Node (None: the bridge is off); handlers get it through the node API
    return BridgeService(hub).delivered_count() if hub else 0


__all__: list[Any] = []
