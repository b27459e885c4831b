"""ABI plumbing shared by contracts, events and errors: canonical types, selectors, decoding."""
from __future__ import annotations

from typing import Any

import eth_abi
from eth_utils import keccak, to_checksum_address


def abi_type(p: dict) -> str:
    """The canonical type of one ABI parameter (tuples spelled out)."""
    t = p["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in p.get("components", [])) + ")" + t[len("tuple"):]
    return t


def signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(abi_type(i) for i in entry.get('inputs', []))})"


def selector(entry: dict) -> bytes:
    return keccak(text=signature(entry))[:4]


def encode(params: list[dict], values: tuple) -> bytes:
    return eth_abi.encode([abi_type(p) for p in params], [_to_abi(v) for v in values])


def decode(params: list[dict], data: bytes) -> tuple:
    """Values as tests compare them: addresses checksummed, arrays as lists, structs as tuples."""
    values = eth_abi.decode([abi_type(p) for p in params], data)
    return tuple(_from_abi(p, v) for p, v in zip(params, values))


class Codec:
    """`encode`/`decode` for one parameter list, with eth-abi's tuple coder looked up once
    (what `eth_abi.encode`/`decode` look up on every call): a contract function keeps one
    for its inputs and one for its outputs. Same coders, same validation, same values."""

    __slots__ = ("params", "_encoder", "_decoder", "_plain")

    def __init__(self, params: list[dict]) -> None:
        from eth_abi.registry import registry  # the registry eth_abi.encode/decode use

        types = [abi_type(p) for p in params]
        self.params = params
        self._encoder = registry.get_tuple_encoder(*types)
        self._decoder = registry.get_tuple_decoder(*types, strict=True)
        # values that come out of eth-abi as they are compared (no address, array or tuple inside)
        self._plain = all(not (t.endswith("]") or t.startswith("(") or "address" in t) for t in types)

    def encode(self, values: tuple) -> bytes:
        return self._encoder([_to_abi(v) for v in values])

    def decode(self, data: bytes) -> tuple:
        from eth_abi.decoding import ContextFramesBytesIO
        from eth_utils import is_bytes

        if not is_bytes(data):
            return decode(self.params, data)  # eth-abi's own error for it
        values = self._decoder(ContextFramesBytesIO(data))
        if self._plain:
            return tuple(values)
        return tuple(_from_abi(p, v) for p, v in zip(self.params, values))


def _to_abi(v: Any) -> Any:
    """Lists for tuples/arrays as eth-abi wants; everything else as given (checksum strings welcome)."""
    if isinstance(v, (list, tuple)):
        return [_to_abi(x) for x in v]
    if hasattr(v, "address") and isinstance(getattr(v, "address"), str):  # a contract object
        return v.address
    return v


def _from_abi(p: dict, v: Any) -> Any:
    t = p["type"]
    if t.endswith("]"):
        inner = {**p, "type": t[:t.rindex("[")]}
        return [_from_abi(inner, x) for x in v]
    if t == "tuple":
        return tuple(_from_abi(c, x) for c, x in zip(p.get("components", []), v))
    if t == "address":
        return to_checksum_address(v)
    return v
