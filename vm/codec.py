"""Ethereum JSON-RPC value encoding: quantities and data as 0x-hex.

One place that decides what a valid quantity, address or hash looks like, so
every RPC method rejects bad input with the same clear words.
"""
from __future__ import annotations

import functools
from typing import Any


class InvalidValue(ValueError):
    """A parameter that does not parse; the message says what was expected."""


def quantity(n: int) -> str:
    return hex(n)


def data(b: bytes) -> str:
    return "0x" + b.hex()


def parse_quantity(value: Any, what: str = "quantity") -> int:
    if isinstance(value, bool):
        raise InvalidValue(f"{what}: expected a hex quantity, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise InvalidValue(f"{what}: must not be negative")
        return value
    if not isinstance(value, str):
        raise InvalidValue(f"{what}: expected a hex quantity string, got {type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        raise InvalidValue(f"{what}: hex string without 0x prefix: {value[:20]!r}")
    digits = value[2:]
    if not digits or len(digits) > 64:
        raise InvalidValue(f"{what}: expected 1 to 64 hex digits, got {value[:20]!r}")
    try:
        return int(digits, 16)
    except ValueError:
        raise InvalidValue(f"{what}: invalid hex quantity {value[:20]!r}") from None


def parse_data(value: Any, what: str = "data", size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise InvalidValue(f"{what}: expected a 0x-prefixed hex string, got {type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        raise InvalidValue(f"{what}: hex string without 0x prefix")
    digits = value[2:]
    if len(digits) % 2:
        raise InvalidValue(f"{what}: hex string has an odd number of digits")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise InvalidValue(f"{what}: invalid hex string") from None
    if size is not None and len(raw) != size:
        raise InvalidValue(f"{what}: expected {size} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, what: str = "address") -> bytes:
    from vm.addresses import parse_any_address

    if not isinstance(value, str):
        raise InvalidValue(f"{what}: expected an address string, got {type(value).__name__}")
    try:
        return parse_any_address(value)
    except ValueError as exc:
        raise InvalidValue(f"{what}: {exc}") from None


def parse_hash(value: Any, what: str = "hash") -> bytes:
    return parse_data(value, what, size=32)


@functools.lru_cache(maxsize=65536)
def checksum(address: bytes) -> str:
    """EIP-55 form (cached: a keccak and a Python loop per address, on every record and request)."""
    from eth_utils import to_checksum_address

    return to_checksum_address(address)
