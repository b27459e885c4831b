"""EIP-1186 Merkle proofs (eth_getProof) from the chain's own state trie.

The account proof is the path of RLP trie nodes from the block's state root
to keccak(address); each storage proof the path from the account's storage
root to keccak(slot). A client verifies them against the block header's
stateRoot with any MPT library (the tests use py-trie).
"""
from __future__ import annotations

from typing import Any, Sequence

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_hash.auto import keccak
from trie import HexaryTrie

from vm.codec import checksum, data, quantity


def get_proof(chain: Any, address: bytes, slots: Sequence[int], block: Any = "latest") -> dict:
    header = chain.header_at(block)
    # reader thread: committed data only; on a fork, reading the account and slots first fetches them
    chain.balance(address, block)
    for slot in slots:
        chain.storage(address, slot, block)
    db = getattr(chain, "_committed", chain.store)
    state_trie = HexaryTrie(db, header.state_root)
    account_key = keccak(address)
    account_proof = state_trie.get_proof(account_key)
    encoded = state_trie.get(account_key)
    if encoded:
        nonce, balance, storage_root, code_hash = rlp.decode(encoded)
        nonce, balance = int.from_bytes(nonce, "big"), int.from_bytes(balance, "big")
    else:
        nonce, balance, storage_root, code_hash = 0, 0, BLANK_ROOT_HASH, EMPTY_SHA3
    storage_trie = HexaryTrie(db, storage_root)
    storage = []
    for slot in slots:
        key = keccak(slot.to_bytes(32, "big"))
        raw = storage_trie.get(key)
        value = rlp.decode(raw, sedes=rlp.sedes.big_endian_int) if raw else 0
        storage.append({
            "key": data(slot.to_bytes(32, "big")),
            "value": quantity(value),
            "proof": [data(rlp.encode(node)) for node in storage_trie.get_proof(key)],
        })
    return {
        "address": checksum(address),
        "accountProof": [data(rlp.encode(node)) for node in account_proof],
        "balance": quantity(balance),
        "codeHash": data(code_hash),
        "nonce": quantity(nonce),
        "storageHash": data(storage_root),
        "storageProof": storage,
    }
