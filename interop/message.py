"""The bridge message: what validators attest and destination verifiers check.

One message format for every chain. It is the ABI encoding of one tuple, so
SynQ contracts decode it with `abi.decode(message, Message)` and Python with
eth-abi; the digest every verifier checks is keccak256 of those exact bytes,
so it binds every field, the version included:

    (uint8 version, uint8 kind, uint8 level,
     uint256 srcChain, bytes32 srcBridge, uint256 dstChain, bytes32 dstBridge,
     uint256 sequence, bytes32 sender, bytes32 recipient,
     uint256 tokenChain, bytes32 token, uint256 amount, bytes payload)

Addresses are left-padded to 32 bytes (an EVM address) or are 32 bytes
already (a Solana public key). `tokenChain`/`token` name the token's origin:
a destination that is the origin releases what it locked, any other mints a
wrapped token. A call carries `payload` and no amount.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak

from pqc.errors import FormatError
from pqc.levels import SecurityLevel

VERSION = 1
TUPLE = "(uint8,uint8,uint8,uint256,bytes32,uint256,bytes32,uint256,bytes32,bytes32,uint256,bytes32,uint256,bytes)"
MAX_PAYLOAD = 16_384
NATIVE_TOKEN = bytes.fromhex("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee").rjust(32, b"\0")
"""The source chain's own coin (ETH on an EVM chain): the usual 0xEeee… marker, never zero."""


class Kind(IntEnum):
    TRANSFER = 1   # tokens: release on the origin chain, mint wrapped elsewhere
    CALL = 2       # payload delivered to recipient.onBridgeMessage(srcChain, sender, payload)
    SEALED = 3     # a PQC-sealed message (pqc/crosschain.py) delivered as a call payload


class MessageError(ValueError):
    """A message that is malformed or can never be valid; the text says which field."""


def word(value: "bytes | str | int") -> bytes:
    """A 20-byte address, 32-byte key, hex string or int as a 32-byte big-endian word."""
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    if isinstance(value, str):
        text = value[2:] if value.lower().startswith("0x") else value
        value = bytes.fromhex(text)
    if len(value) not in (20, 32):
        raise MessageError(f"expected a 20-byte address or a 32-byte key, got {len(value)} bytes")
    return value.rjust(32, b"\0")


def address_of(w: bytes) -> str:
    """The EVM address in a 32-byte word (its top 12 bytes must be zero)."""
    if len(w) != 32 or any(w[:12]):
        raise MessageError(f"{w.hex()} is not an EVM address word")
    return "0x" + w[12:].hex()


@dataclass(frozen=True)
class Message:
    kind: Kind
    level: SecurityLevel
    src_chain: int
    src_bridge: bytes
    dst_chain: int
    dst_bridge: bytes
    sequence: int
    sender: bytes
    recipient: bytes
    token_chain: int = 0
    token: bytes = b"\0" * 32
    amount: int = 0
    payload: bytes = b""
    version: int = field(default=VERSION)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
            object.__setattr__(self, "level", SecurityLevel.parse(self.level))
        except (ValueError, FormatError):
            raise MessageError(f"unknown message kind {self.kind} or security level {self.level}") from None

    def fields(self) -> tuple:
        return (self.version, int(self.kind), int(self.level), self.src_chain, self.src_bridge,
                self.dst_chain, self.dst_bridge, self.sequence, self.sender, self.recipient,
                self.token_chain, self.token, self.amount, self.payload)

    def encode(self) -> bytes:
        self.validate()
        return abi_encode([TUPLE], [self.fields()])

    @property
    def digest(self) -> bytes:
        return keccak(self.encode())

    @property
    def lane(self) -> tuple[int, bytes, int, bytes]:
        return (self.src_chain, self.src_bridge, self.dst_chain, self.dst_bridge)

    def with_sequence(self, sequence: int) -> "Message":
        return replace(self, sequence=sequence)

    def validate(self) -> None:
        """Refuse what no verifier may ever accept: zero ids, zero bridges, an empty transfer."""
        if self.version != VERSION:
            raise MessageError(f"version {self.version} is not supported (expected {VERSION})")
        for name in ("src_chain", "dst_chain"):
            if not 0 < getattr(self, name) < 2**64:
                raise MessageError(f"{name} must be a chain id between 1 and 2^64-1")
        if self.src_chain == self.dst_chain:
            raise MessageError("source and destination chain are the same")
        for name in ("src_bridge", "dst_bridge", "sender", "recipient"):
            value = getattr(self, name)
            if len(value) != 32:
                raise MessageError(f"{name} must be 32 bytes")
            if not any(value):
                raise MessageError(f"{name} is zero")
        if not 0 < self.sequence < 2**64:
            raise MessageError("sequence must be between 1 and 2^64-1 (0 is never valid)")
        if len(self.payload) > MAX_PAYLOAD:
            raise MessageError(f"payload is {len(self.payload)} bytes, at most {MAX_PAYLOAD}")
        if self.kind is Kind.TRANSFER:
            if not (0 < self.amount < 2**256):
                raise MessageError("a transfer must move a positive amount")
            if not any(self.token) or not 0 < self.token_chain < 2**64:
                raise MessageError("a transfer must name its token and the token's origin chain")
        elif self.amount or any(self.token) or self.token_chain:
            raise MessageError(f"a {self.kind.name.lower()} message carries no token or amount")


def decode(data: bytes) -> Message:
    """Bytes from an event or calldata back to a Message; MessageError if malformed or invalid."""
    try:
        (values,) = abi_decode([TUPLE], bytes(data), strict=True)
    except (DecodingError, ValueError, TypeError) as exc:
        raise MessageError(f"malformed bridge message: {exc}") from None
    version, kind, level, *rest = values
    try:
        kind, level = Kind(kind), SecurityLevel(level)
    except ValueError:
        raise MessageError(f"unknown message kind {kind} or security level {level}") from None
    msg = Message(kind, level, *rest, version=version)
    msg.validate()
    if msg.encode() != bytes(data):
        raise MessageError("message bytes are not in canonical form")
    return msg
