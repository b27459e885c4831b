"""Account addresses in 0x form and in the guide's `sYn…` form.

`sYn` + base32 (lower case, no padding) of the 20-byte address followed by the
first 4 bytes of keccak256(b"sYn" + address). The checksum catches typos; both
forms name the same account and every RPC method accepts either.
"""
from __future__ import annotations

import base64
import functools

from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from vm.codec import checksum

PREFIX = "sYn"


def to_syn(address: bytes) -> str:
    if type(address) is bytes:  # remembered: the AI scheduler names the same few validators in every task
        return _syn(address)
    return _encode_syn(address)


def _encode_syn(address: bytes) -> str:
    if len(address) != 20:
        raise ValueError("an address is 20 bytes")
    check = keccak(PREFIX.encode() + address)[:4]
    return PREFIX + base64.b32encode(address + check).decode().rstrip("=").lower()


_syn = functools.lru_cache(maxsize=1 << 14)(_encode_syn)  # a refusal raises, and is not remembered


def from_syn(text: str) -> bytes:
    if not text.startswith(PREFIX):
        raise ValueError(f"not a sYn address: {text[:12]!r}")
    body = text[len(PREFIX):].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except Exception:
        raise ValueError(f"invalid sYn address {text!r}: not base32") from None
    if len(raw) != 24:
        raise ValueError(f"invalid sYn address {text!r}: wrong length")
    address, check = raw[:20], raw[20:]
    if keccak(PREFIX.encode() + address)[:4] != check:
        raise ValueError(f"invalid sYn address {text!r}: checksum mismatch")
    return address


def parse_any_address(text: str) -> bytes:
    """0x… (EIP-55 checked when mixed case) or sYn…; raises ValueError."""
    if text.startswith(PREFIX):
        return from_syn(text)
    if not text.startswith(("0x", "0X")) or len(text) != 42:
        raise ValueError(f"expected a 0x address of 40 hex digits or a sYn address, got {text[:46]!r}")
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"invalid hex in address {text!r}") from None
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and checksum(raw) != text:
        raise ValueError(f"address {text} has a bad EIP-55 checksum")
    return raw


def to_0x(address: bytes) -> str:
    return to_checksum_address(address)
