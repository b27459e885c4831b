"""What the guide's cross-chain methods do on a dev network: act from the node's dev account.

As `synergy_deployAIVMContract` does on AIVM, these send the source-chain
transaction from dev account 0 (the standard dev mnemonic, which Anvil and
Hardhat fund too), then record the message in the hub as `initiated`.
"""
from __future__ import annotations

import asyncio

from eth_hash.auto import keccak

from interop.config import Lane
from bridge.evm import ChainError, calldata, sent_messages
from bridge.hub import BridgeError, BridgeHub
from interop.message import NATIVE_TOKEN, Kind, MessageError, word
from interop.verify import ZK_LEVELS, ZK_REFUSAL
from pqc.levels import SecurityLevel

NATIVE_NAMES = ("native", "eth", "matic", "aivm", "0x" + NATIVE_TOKEN[12:].hex())


def parse_token(token: str) -> str:
    if token.lower() in NATIVE_NAMES:
        return "0x" + NATIVE_TOKEN[12:].hex()
    return _evm_address(token, "token")


def _evm_address(text: str, what: str) -> str:
    from vm.addresses import parse_any_address

    try:
        return "0x" + parse_any_address(text).hex()
    except ValueError as exc:
        raise BridgeError(f"{what}: {exc}") from None


def parse_recipient(text: str, dest: Lane) -> bytes:
    """32 bytes: an EVM (0x or sYn) address, or a base58 Solana owner for a Solana lane."""
    if dest.kind == "solana":
        from solders.pubkey import Pubkey

        try:
            return bytes(Pubkey.from_string(text))
        except ValueError:
            raise BridgeError(f"recipient: {text!r} is not a base58 Solana address") from None
    return word(_evm_address(text, "recipient"))


def check_level(level: SecurityLevel) -> None:
    if level in ZK_LEVELS:
        raise BridgeError(ZK_REFUSAL.format(level=level.title))


async def _send_on(hub: BridgeHub, lane: Lane, to: str, data: bytes, value: int = 0) -> tuple[str, list]:
    """Send a transaction on `lane` from dev account 0; (tx hash, receipt logs)."""
    node = hub.node
    if lane.chain_id == hub.chain_id:
        from vm.chain import ExecutionFailed, TxRejected
        from vm.codec import data as hexdata

        sender = node.chain.accounts[0].address
        try:
            tx_hash, result = await node.send_unsigned({"sender": sender, "to": bytes.fromhex(to[2:]), "data": data,
                                                        "value": value, "gas": None})
        except ExecutionFailed as exc:
            raise BridgeError(f"{lane.name}: transaction reverted: {_reason(exc.result.output)}") from None
        except TxRejected as exc:
            raise BridgeError(f"{lane.name}: transaction rejected: {exc}") from None
        if result is None:
            raise BridgeError("the cross-chain methods need automine on this node")
        if not result.success:
            raise BridgeError(f"{lane.name}: transaction reverted: {_reason(result.output)}")
        logs = [{"address": "0x" + l.address.hex(), "topics": [hexdata(t) for t in l.topics],
                 "data": hexdata(l.data)} for l in result.logs]
        return hexdata(tx_hash), logs
    key = "0x" + node.chain.accounts[0].key.to_bytes().hex()
    client = hub.client(lane)

    def go():
        reason = client.revert_reason(to, data, node.chain.accounts[0].key.public_key.to_checksum_address()) \
            if value == 0 else ""
        if reason:
            raise BridgeError(f"{lane.name}: transaction would revert: {reason}")
        rc = client.send(key, to, data, value)
        return rc.tx_hash, rc.logs

    try:
        return await asyncio.to_thread(go)
    except ChainError as exc:
        raise BridgeError(str(exc)) from None


def _reason(output: bytes) -> str:
    if output[:4] == bytes.fromhex("08c379a0"):
        from eth_abi import decode

        return decode(["string"], output[4:])[0]
    return "0x" + output.hex()


async def _record(hub: BridgeHub, lane: Lane, tx: str, logs: list) -> list[dict]:
    messages = sent_messages(logs, lane.bridge_address)
    if not messages:
        raise BridgeError(f"{lane.name}: the bridge emitted no message")
    out = []
    for m in messages:
        rec = await hub.node.run(hub.record_initiated, m, lane, tx, None)
        out.append({"transfer_id": "0x" + keccak(m).hex(), "sequence": rec["sequence"]})
    return out


async def initiate_transfer(hub: BridgeHub, source_chain: str, token: str, amount: int, recipient: str,
                            dest_chain: str) -> dict:
    src, dst = hub.lane(source_chain), hub.lane(dest_chain)
    if src.name == dst.name:
        raise BridgeError("source and destination chain are the same")
    if src.kind == "solana":
        from bridge.solana.client import initiate_burn

        return await initiate_burn(hub, src, dst, amount, recipient, token)
    if amount <= 0:
        raise BridgeError("amount must be positive")
    check_level(dst.level)
    token_addr = parse_token(token)
    to = parse_recipient(recipient, dst)
    if dst.kind == "solana":
        from bridge.solana.client import DECIMALS, SCALE

        if amount % SCALE:
            raise BridgeError(f"amount must be a multiple of 10^{18 - DECIMALS}: Solana mints have {DECIMALS} decimals")
    value = amount if token_addr == "0x" + NATIVE_TOKEN[12:].hex() else 0
    if not value:
        # an ERC20 the bridge locks, or a wrapped token it burns: approve first (burn ignores it)
        await _send_on(hub, src, token_addr, calldata("ERC20", "approve", bytes.fromhex(src.bridge_address[2:]), amount))
    data = calldata("PQCBridge", "sendTransfer", dst.chain_id, bytes.fromhex(token_addr[2:]), amount, to,
                    int(dst.level))
    tx, logs = await _send_on(hub, src, src.bridge_address, data, value)
    (rec,) = await _record(hub, src, tx, logs)
    return {"success": True, **rec, "status": "initiated", "source_chain": src.name, "dest_chain": dst.name,
            "source_tx": tx, "amount": amount, "message": "cross-chain transfer initiated; validators attest it "
            f"after {src.confirmations} confirmation(s)"}


async def send_call(hub: BridgeHub, dest_chain: str, address: str, payload: bytes, kind: Kind,
                    level: SecurityLevel | None = None, source_chain: str | None = None) -> dict:
    """A call (or sealed message) from `source_chain`'s bridge (default: this node's chain)."""
    src = hub.lane(source_chain) if source_chain else hub.own_lane()
    if src is None:
        raise BridgeError("this node's own chain has no [interoperability.chains.*] entry (kind = \"aivm\")")
    if src.kind == "solana":
        raise BridgeError("Solana lanes carry token transfers only")
    dst = hub.lane(dest_chain)
    if src.name == dst.name:
        raise BridgeError("source and destination chain are the same")
    if dst.kind == "solana":
        raise BridgeError(SOLANA_TRANSFERS_ONLY)
    level = level or dst.level
    check_level(level)
    data = calldata("PQCBridge", "sendCall", dst.chain_id, word(_evm_address(address, "address")), payload,
                    int(kind), int(level))
    tx, logs = await _send_on(hub, src, src.bridge_address, data)
    (rec,) = await _record(hub, src, tx, logs)
    return {**rec, "chain": dst.name, "status": "initiated", "source_tx": tx}


SOLANA_TRANSFERS_ONLY = ("Solana lanes carry token transfers only (no contract calls or sealed messages: "
                         "custom Solana programs cannot be built here, and a Memo only records text — it "
                         "can neither check the guardians' quorum nor call a program)")


def selector_bytes(selector: str) -> bytes:
    """'0xa9059cbb' or 'transfer(address,uint256)'."""
    s = selector.strip()
    if s.startswith("0x") and len(s) == 10:
        try:
            return bytes.fromhex(s[2:])
        except ValueError:
            pass
    if "(" in s and s.endswith(")"):
        return keccak(s.encode())[:4]
    raise BridgeError(f"selector: expected 0x and 8 hex digits or a signature like 'f(uint256)', got {selector!r:.40}")


__all__ = ["initiate_transfer", "send_call", "selector_bytes", "MessageError"]
