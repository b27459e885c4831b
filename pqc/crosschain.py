"""Cross-chain messages: the guide's `synergy_createSecureCrossChainMessage`.

The guide's seven parameters (source chain, destination chain, sender,
recipient, data, message type, level) become one sealed message: the chains
are bound into the sender and recipient ids ("ethereum:0xabc…") and the chains,
type and data form the sealed payload, so none of them can be changed or
replayed toward another chain without opening failing or the check below
refusing it. The recipient's KEM keys at that level come from the caller
(the node's directory of bridge keys).

Payload bytes: "XC" | version 1 | source u8-len | destination u8-len |
type u8-len | data u32-len.
"""
from __future__ import annotations

from dataclasses import dataclass

from pqc.codec import Reader, u8, u32
from pqc.errors import FormatError, SealError
from pqc.keys import KeySet, PublicKeys
from pqc.levels import SecurityLevel
from pqc.seal import SealedMessage, open_sealed, seal

MAGIC = b"XC"
VERSION = 1


@dataclass(frozen=True)
class CrossChainMessage:
    source_chain: str
    destination_chain: str
    sender: str
    recipient: str
    data: bytes
    message_type: str
    level: SecurityLevel

    def payload(self) -> bytes:
        parts = [MAGIC, u8(VERSION)]
        for text in (self.source_chain, self.destination_chain, self.message_type):
            raw = text.encode()
            if not 0 < len(raw) < 256:
                raise SealError(f"chain names and message type must be 1-255 bytes, got {text!r}")
            parts += [u8(len(raw)), raw]
        return b"".join(parts + [u32(len(self.data)), self.data])


def _party(chain: str, who: str) -> bytes:
    return f"{chain}:{who}".encode()


def create(source_chain: str, destination_chain: str, sender: str, recipient: str,
           data: bytes, message_type: str, level: "SecurityLevel | str",
           recipient_keys: "PublicKeys | bytes") -> SealedMessage:
    """Seal a cross-chain message at `level` to the recipient's KEM keys (same level)."""
    level = SecurityLevel.parse(level)
    if not isinstance(recipient_keys, PublicKeys):
        recipient_keys = PublicKeys.decode(recipient_keys)
    if recipient_keys.level != level:
        raise SealError(f"recipient keys are level {recipient_keys.level.title}, "
                        f"the message asks for {level.title}")
    msg = CrossChainMessage(source_chain, destination_chain, sender, recipient, bytes(data),
                            message_type, level)
    return seal(msg.payload(), recipient_keys, sender=_party(source_chain, sender),
                recipient=_party(destination_chain, recipient))


def open_message(sealed: "SealedMessage | bytes", keys: KeySet, *,
                 destination_chain: str | None = None) -> CrossChainMessage:
    """Open and decode; with `destination_chain`, refuse messages meant for another chain."""
    opened = open_sealed(sealed, keys)
    r = Reader(opened.payload, "cross-chain payload")
    r.expect(MAGIC, "magic")
    if r.uint(1, "version") != VERSION:
        raise FormatError("cross-chain payload: unsupported version")
    source, destination, kind = (r.sized(1, name, 255).decode() for name in
                                 ("source chain", "destination chain", "message type"))
    data = r.sized(4, "data", len(opened.payload))
    r.end()
    sender = opened.sender.decode()
    recipient = opened.recipient.decode()
    if not (sender.startswith(source + ":") and recipient.startswith(destination + ":")):
        raise SealError("sealed parties do not match the chains in the payload")
    if destination_chain is not None and destination != destination_chain:
        raise SealError(f"message is for {destination}, not {destination_chain}")
    return CrossChainMessage(source, destination, sender[len(source) + 1:],
                             recipient[len(destination) + 1:], data, kind, opened.level)
