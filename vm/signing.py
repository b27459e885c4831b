"""Signing with the node's unlocked dev keys: messages (EIP-191), typed data (EIP-712), transactions.

All of it goes through eth-account; the RPC layer only parses parameters and
shapes the answers.
"""
from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from vm.chain import TxRejected
from vm.codec import InvalidValue, checksum
from vm.store.index import ChainIndex


def dev_key(chain: Any, address: bytes) -> bytes:
    """The private key of an unlocked dev account, or a refusal naming the account."""
    for a in chain.accounts:
        if a.address == address:
            return a.key.to_bytes()
    raise TxRejected(f"account {checksum(address)} is not unlocked on this node (unknown account)")


def sign_message(chain: Any, address: bytes, message: bytes) -> bytes:
    """EIP-191 personal message signature (eth_sign, personal_sign): 65 bytes r||s||v."""
    key = dev_key(chain, address)
    return bytes(Account.sign_message(encode_defunct(primitive=message), key).signature)


def sign_typed_data(chain: Any, address: bytes, typed: Any) -> bytes:
    """EIP-712 v4 signature of a typed-data object (or its JSON text)."""
    key = dev_key(chain, address)
    if isinstance(typed, str):
        try:
            typed = json.loads(typed)
        except ValueError:
            raise InvalidValue("typed data is not valid JSON") from None
    if isinstance(typed, list):
        raise InvalidValue("legacy (v1) typed data arrays are not supported: send EIP-712 v4 typed data")
    if not isinstance(typed, dict):
        raise InvalidValue("typed data must be an object with types, primaryType, domain and message")
    missing = [k for k in ("types", "primaryType", "domain", "message") if k not in typed]
    if missing:
        raise InvalidValue(f"typed data lacks {', '.join(missing)}")
    try:
        msg = encode_typed_data(full_message=typed)
    except Exception as exc:  # eth-account raises several kinds for malformed typed data
        raise InvalidValue(f"invalid typed data: {exc}") from None
    return bytes(Account.sign_message(msg, key).signature)


def transaction_json(tx: Any, sender: bytes) -> dict:
    """A signed transaction as geth prints it outside a block (eth_signTransaction's `tx`)."""
    price = getattr(tx, "max_fee_per_gas", None)
    if price is None:
        price = tx.gas_price
    out = ChainIndex._tx_fields(tx, sender, price)
    if getattr(tx, "type_id", None) == 4:
        out["authorizationList"] = authorization_json(tx.authorization_list)
    return out


def authorization_json(auths: Any) -> list:
    return [
        {"chainId": hex(a.chain_id), "address": checksum(a.address), "nonce": hex(a.nonce),
         "yParity": hex(a.y_parity), "r": hex(a.r), "s": hex(a.s)}
        for a in auths
    ]
