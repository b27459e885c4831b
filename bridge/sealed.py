"""Sealed cross-chain messages (pqc/crosschain.py) made deliverable.

`synergy_createSecureCrossChainMessage` seals the payload to the recipient's
KEM keys and sends the sealed bytes as a SEALED bridge message from the
source chain's bridge; the destination bridge hands them to the recipient's
`onBridgeMessage`, and only the recipient can open them.

The recipient's KEM keys come from the hub's directory, which only the
recipient can write: it signs (EIP-191) keccak256(domain | chain | keys) with
the key of the address the keys are for. The caller never supplies them.
"""
from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak

from bridge.hub import BridgeError, BridgeHub
from pqc import crosschain
from pqc.errors import PQCError
from pqc.keys import PublicKeys, Role
from pqc.levels import SecurityLevel

DOMAIN = b"AIVM-bridge/recipient-keys/v1"


def keys_digest(chain: str, kem_keys: bytes) -> bytes:
    return keccak(DOMAIN + chain.encode() + b"\0" + kem_keys)


def sign_keys(private_key: str, chain: str, kem_keys: bytes) -> bytes:
    """What a recipient sends to register its keys (for tools and tests)."""
    return Account.sign_message(encode_defunct(keys_digest(chain, kem_keys)), private_key).signature


def _address(text: str) -> str:
    from vm.addresses import parse_any_address

    try:
        return "0x" + parse_any_address(text).hex()
    except ValueError as exc:
        raise BridgeError(f"recipient: {exc}") from None


def register_keys(hub: BridgeHub, chain: str, recipient: str, kem_keys: bytes, signature: bytes) -> dict:
    """Chain thread."""
    hub.lane(chain)
    who = _address(recipient)
    try:
        keys = PublicKeys.decode(kem_keys)
    except PQCError as exc:
        raise BridgeError(f"bad KEM key bundle: {exc}") from None
    if keys.role is not Role.KEM:
        raise BridgeError("register KEM keys (a signing key bundle cannot receive sealed messages)")
    try:
        signer = Account.recover_message(encode_defunct(keys_digest(chain, kem_keys)), signature=signature)
    except Exception as exc:
        raise BridgeError(f"signature refused: {exc}") from None
    if signer.lower() != who:
        raise BridgeError("the keys must be signed by the recipient's own key")
    name = f"bridge/recipient/{chain}/{who}/{keys.level.title}"
    hub._write({name: kem_keys.hex()})
    return {"chain": chain, "recipient": who, "level": keys.level.title}


async def seal_for(hub: BridgeHub, source: str, dest: str, sender: str, recipient: str, payload: str,
                   kind: str, level: str):
    from bridge.actions import SOLANA_TRANSFERS_ONLY, check_level

    try:
        lvl = SecurityLevel.parse(level)
    except PQCError as exc:
        raise BridgeError(str(exc)) from None
    check_level(lvl)
    hub.lane(source)
    if hub.lane(dest).kind == "solana":
        raise BridgeError(SOLANA_TRANSFERS_ONLY)
    who = _address(recipient)
    data = payload.encode() if not payload.startswith("0x") else _hex(payload)
    stored = await hub.node.run(hub._read, f"bridge/recipient/{dest}/{who}/{lvl.title}")
    if stored is None:
        raise BridgeError(f"{recipient} has no {lvl.title} KEM keys registered for {dest} "
                          f"(synergy_registerBridgeRecipientKeys)")
    try:
        return crosschain.create(source, dest, sender, recipient, data, kind, lvl, bytes.fromhex(stored))
    except PQCError as exc:
        raise BridgeError(str(exc)) from None


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise BridgeError("payload: 0x-prefixed text must be hex bytes") from None
