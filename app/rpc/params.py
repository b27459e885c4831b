"""Typed JSON-RPC parameters: each class parses one kind of value or raises InvalidValue."""
from typing import Any, Union

from vm import codec
from vm.codec import InvalidValue


class Param:
    @classmethod
    def parse(cls, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Address(Param):
    parse = staticmethod(codec.parse_address)


class Hash(Param):
    parse = staticmethod(codec.parse_hash)


class Data(Param):
    parse = staticmethod(codec.parse_data)


class Quantity(Param):
    parse = staticmethod(codec.parse_quantity)


class Bool(Param):
    @staticmethod
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidValue(f"expected true or false, got {type(value).__name__}")
        return value


class Text(Param):
    @staticmethod
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue(f"expected a string, got {type(value).__name__}")
        return value


class Integer(Param):
    """A plain JSON number or a hex quantity (the guide passes amounts as numbers)."""

    @staticmethod
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise InvalidValue("expected a number, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.startswith("0x"):
            return codec.parse_quantity(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise InvalidValue(f"expected an integer, got {value!r:.40}")


class StringList(Param):
    @staticmethod
    def parse(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidValue("expected a list of strings")
        return value


BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
BlockRef = Union[str, int, bytes]


class Block(Param):
    """A block tag, number, or an EIP-1898 {blockNumber|blockHash} object."""

    @staticmethod
    def parse(value: Any) -> BlockRef:
        if isinstance(value, str) and value in BLOCK_TAGS:
            return value
        if isinstance(value, dict):
            if "blockHash" in value:
                return codec.parse_hash(value["blockHash"], "blockHash")
            if "blockNumber" in value:
                return Block.parse(value["blockNumber"])
            raise InvalidValue("block object needs blockNumber or blockHash")
        if isinstance(value, str) and value.startswith("0x"):
            if len(value) == 66:
                return codec.parse_hash(value, "block hash")
            return codec.parse_quantity(value, "block number")
        raise InvalidValue(
            f"expected a block number, hash or one of {', '.join(BLOCK_TAGS)}, got {value!r:.40}"
        )


class Object(Param):
    @staticmethod
    def parse(value: Any) -> dict:
        if not isinstance(value, dict):
            raise InvalidValue(f"expected an object, got {type(value).__name__}")
        return value


class Json(Param):
    """Anything JSON: the method checks it."""

    @staticmethod
    def parse(value: Any) -> Any:
        return value


_TX_KNOWN = frozenset({"from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value",
                       "data", "input", "nonce", "type", "accessList", "chainId"})
_TX_IGNORED = frozenset({"blobVersionedHashes", "maxFeePerBlobGas", "authorizationList", "blobs", "sidecars"})
_TX_FIELDS = _TX_KNOWN | _TX_IGNORED
_TX_QUANTITIES = (("gas", "gas"), ("gasPrice", "gas_price"), ("maxFeePerGas", "max_fee_per_gas"),
                  ("maxPriorityFeePerGas", "max_priority_fee_per_gas"), ("value", "value"), ("nonce", "nonce"))


def tx_fields(obj: dict) -> dict:
    """Parse an eth_call / eth_sendTransaction object into python values (every eth_call
    passes here: the field sets are built once)."""
    if not _TX_FIELDS.issuperset(obj):
        unknown = set(obj) - _TX_FIELDS
        raise InvalidValue(f"unknown transaction field(s): {', '.join(sorted(unknown))}")
    out: dict = {}
    get = obj.get
    if get("from") is not None:
        out["sender"] = codec.parse_address(obj["from"], "from")
    if get("to") is not None:
        out["to"] = codec.parse_address(obj["to"], "to")
    for key, name in _TX_QUANTITIES:
        if get(key) is not None:
            out[name] = codec.parse_quantity(obj[key], key)
    given_input, given_data = get("input"), get("data")
    if given_input is not None and given_data is not None and given_input != given_data:
        raise InvalidValue("both input and data given with different values")
    raw = given_input if given_input is not None else given_data
    if raw is not None:
        out["data"] = codec.parse_data(raw, "input")
    if obj.get("accessList"):
        lst = obj["accessList"]
        if not isinstance(lst, list):
            raise InvalidValue("accessList must be a list")
        out["access_list"] = [
            (codec.parse_address(e.get("address"), "accessList address"),
             [int.from_bytes(codec.parse_hash(k, "storage key"), "big") for k in e.get("storageKeys", [])])
            for e in lst
        ]
    return out
