"""0x0130 `bridge_receive` and 0x0131 `bridge_send`: the AIVM end of a bridge lane.

bridge_receive (CALL; SynQ `bridge.receive(message, certificate)`):
    input  abi.encode(bytes message, bytes certificate)
    output abi.encode(bytes32 digest, uint256 signedStake, uint256 totalStake)
    Checks everything in interop/verify.py against the state being executed: the
    message is for this chain id and for the *calling* contract, the PQC quorum
    certificate is signed by guardians holding the level's fraction of the stake
    of the current (or still-in-grace) guardian set (interop/guardians.py: an
    epoch of the validator registry in 0x0118's storage), and the digest was never delivered before (then records it, so a
    message executes once). Refusals revert with Error(string) naming the check.

bridge_send (CALL; SynQ `bridge.send(message)`):
    input  a message (interop/message.py) with sequence 0, built by the caller
    output the same message with the lane's next sequence number filled in
    The source chain must be this chain and the source bridge the caller; the
    lane's counter lives in this precompile's storage, so sequence numbers are
    unique per (source bridge, destination chain, destination bridge).
"""
from __future__ import annotations

from eth_abi import decode, encode
from eth_hash.auto import keccak

from interop import guardians
from interop.message import TUPLE, Message, MessageError, decode as decode_message, word
from interop.verify import DeliveryRefused, check_delivery, refuse_zk
from pqc import gas
from pqc.levels import SecurityLevel
from precompiles.registry import CallContext, Precompile, PrecompileError, PrecompileRevert, register

RECEIVE_ADDRESS = int.from_bytes(guardians.BRIDGE_RECEIVE_ADDRESS, "big")
SEND_ADDRESS = 0x0131
SEND_GAS = 25_000


def error(reason: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], ["bridge: " + reason])


def consumed_slot(digest: bytes) -> int:
    return int.from_bytes(keccak(b"aivm.bridge.consumed" + digest), "big")


def sequence_slot(src_bridge: bytes, dst_chain: int, dst_bridge: bytes) -> int:
    return int.from_bytes(keccak(b"aivm.bridge.sequence" + src_bridge + dst_chain.to_bytes(32, "big")
                                 + dst_bridge), "big")


def _receive_gas(data: bytes) -> int:
    from pqc.quorum import QuorumCertificate

    try:
        _, cert_bytes = decode(["bytes", "bytes"], data)
        cert = QuorumCertificate.decode(cert_bytes)
        level, votes = cert.level, len(cert.votes)
    except Exception:  # priced as one Basic vote; the run refuses it
        level, votes = SecurityLevel.BASIC, 1
    return gas.consensus_gas(level, votes, len(data)) + 2 * 20_000


def _receive(ctx: CallContext) -> bytes:
    if ctx.is_static:
        raise PrecompileError("bridge_receive records the delivery: it cannot run in a static call")
    try:
        message, certificate = decode(["bytes", "bytes"], ctx.data)
    except Exception as exc:
        raise PrecompileRevert(error(f"input must be abi.encode(bytes message, bytes certificate): {exc}")) from None
    try:
        msg, tally = check_delivery(message, certificate, chain_id=ctx.chain_id, caller=ctx.sender,
                                    read=ctx.read_storage, now=ctx.timestamp)
    except DeliveryRefused as exc:
        raise PrecompileRevert(error(exc.reason)) from None
    digest = keccak(message)
    slot = consumed_slot(digest)
    if ctx.read_storage(guardians.BRIDGE_RECEIVE_ADDRESS, slot):
        raise PrecompileRevert(error(f"message {digest.hex()} was already delivered"))
    ctx.write_storage(guardians.BRIDGE_RECEIVE_ADDRESS, slot, 1)
    return encode(["bytes32", "uint256", "uint256"], [digest, tally.signed, tally.total])


def _send(ctx: CallContext) -> bytes:
    if ctx.is_static:
        raise PrecompileError("bridge_send assigns a sequence number: it cannot run in a static call")
    try:
        (values,) = decode([TUPLE], ctx.data, strict=True)
        version, kind, level, *rest = values
        draft = Message(kind, SecurityLevel.parse(level), *rest, version=version)
    except Exception as exc:
        raise PrecompileRevert(error(f"malformed message: {exc}")) from None
    if draft.sequence != 0:
        raise PrecompileRevert(error("leave the sequence 0: the lane assigns it"))
    if draft.src_chain != ctx.chain_id:
        raise PrecompileRevert(error(f"source chain {draft.src_chain} is not this chain ({ctx.chain_id})"))
    if draft.src_bridge != word(ctx.sender):
        raise PrecompileRevert(error("the source bridge must be the calling contract"))
    try:
        refuse_zk(draft.level)
    except DeliveryRefused as exc:
        raise PrecompileRevert(error(exc.reason)) from None
    slot = sequence_slot(draft.src_bridge, draft.dst_chain, draft.dst_bridge)
    sequence = ctx.read_storage(guardians.BRIDGE_RECEIVE_ADDRESS, slot) + 1
    try:
        encoded = draft.with_sequence(sequence).encode()
        decode_message(encoded)
    except MessageError as exc:
        raise PrecompileRevert(error(str(exc))) from None
    ctx.write_storage(guardians.BRIDGE_RECEIVE_ADDRESS, slot, sequence)
    return encoded


BRIDGE_RECEIVE = register(Precompile(
    name="bridge_receive", address=RECEIVE_ADDRESS, gas=_receive_gas, run=_receive, stateful=True,
    doc="abi.encode(bytes message, bytes certificate) -> abi.encode(bytes32 digest, uint256 signed, uint256 total)",
))

BRIDGE_SEND = register(Precompile(
    name="bridge_send", address=SEND_ADDRESS,
    gas=lambda data: SEND_GAS + gas.WORD_GAS * gas.words(len(data)), run=_send, stateful=True,
    doc="message with sequence 0 -> the message with the lane's next sequence",
))
