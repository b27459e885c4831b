"""Forking: run on a lazily fetched, cached copy of another chain's state.

`aivm start --fork-url URL [--fork-block-number N]` makes the remote block N
(default: its head) the local chain's first block, header fields and state
root included, and serves state from there. Nothing is copied up front:
py-evm reads state through trie nodes, and a node the local store lacks
raises a Missing*TrieNode / MissingBytecode error where the account DB
knows the address (and slot) it was reading. `ForkAccountDB` catches those,
fetches the EIP-1186 proof for exactly that account or slot (eth_getProof at
the fork block; the proof *is* the trie nodes on the path) or the code
(eth_getCode), writes the nodes into the local store, and reads again. So the
cache is the local store itself: a node is fetched once, proofs are checked
by construction (their nodes are keyed by their own hash and must lead to
the fork block's state root), and local writes build new nodes on top.

`anvil_reset` / `hardhat_reset` swap the node's chain for a fresh one
(re-forked at another block, or not forked at all).
"""
from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional

from eth.db.account import AccountDB
from eth.vm.interrupt import MissingAccountTrieNode, MissingBytecode, MissingStorageTrieNode
from eth_hash.auto import keccak

from vm import defaults
from vm.chain import TxRejected

log = logging.getLogger("aivm.fork")
MAX_REFETCH = 4
TIMEOUT = 30.0


class ForkError(TxRejected, RuntimeError):
    """The remote chain could not be read (unreachable, no such block, bad answer)."""


@dataclass
class ForkSpec:
    url: str
    block_number: Optional[int] = None  # None = the remote head at start


class Remote:
    """A small JSON-RPC client for the forked chain, pinned to one block; counts its requests."""

    def __init__(self, url: str, block_number: Optional[int] = None) -> None:
        self.url = url
        self.requests = 0
        self._lock = threading.Lock()
        self.chain_id = int(self.call("eth_chainId"), 16)
        head = int(self.call("eth_blockNumber"), 16)
        if block_number is not None and block_number > head:
            raise ForkError(f"fork block {block_number} is ahead of the remote head {head}")
        self.block_number = head if block_number is None else block_number
        self.block_tag = hex(self.block_number)

    def call(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with self._lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                reply = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ForkError(f"fork: cannot reach {self.url} ({method}): {exc}") from None
        if "error" in reply:
            raise ForkError(f"fork: {self.url} refused {method}: {reply['error'].get('message')}")
        return reply.get("result")

    def block(self) -> dict:
        blk = self.call("eth_getBlockByNumber", self.block_tag, False)
        if blk is None:
            raise ForkError(f"fork: the remote has no block {self.block_number}")
        return blk

    def proof_nodes(self, address: bytes, slots: tuple = ()) -> list[bytes]:
        keys = ["0x" + s.to_bytes(32, "big").hex() for s in slots]
        proof = self.call("eth_getProof", "0x" + address.hex(), keys, self.block_tag)
        nodes = [bytes.fromhex(n[2:]) for n in proof["accountProof"]]
        for sp in proof.get("storageProof", []):
            nodes += [bytes.fromhex(n[2:]) for n in sp["proof"]]
        return nodes

    def code(self, address: bytes) -> bytes:
        return bytes.fromhex(self.call("eth_getCode", "0x" + address.hex(), self.block_tag)[2:])


class Fetcher:
    """Writes what the remote proves into the local KV store, once per account / slot / code.

    Straight into the KV, past the chain thread's open batch: the entries are content-addressed
    (keyed by their own hash), so they are right at any moment, and reader threads, which read
    only committed data, see them at once. Any thread may fetch (the chain thread and readers).
    """

    def __init__(self, remote: Remote, kv: Any) -> None:
        self.remote = remote
        self.kv = kv

    def _put(self, nodes: list[bytes]) -> None:
        for n in nodes:
            self.kv.put(keccak(n), n)

    def account(self, address: bytes) -> None:
        self._put(self.remote.proof_nodes(address))

    def storage(self, address: bytes, slot: int) -> None:
        self._put(self.remote.proof_nodes(address, (slot,)))

    def code(self, address: bytes) -> None:
        code = self.remote.code(address)
        self.kv.put(keccak(code), code)


class ForkAccountDB(AccountDB):
    """py-evm's account DB, fetching missing trie nodes and code from the forked chain."""

    fetcher: Optional[Fetcher] = None

    def _get_encoded_account(self, address, from_journal=True):
        for _ in range(MAX_REFETCH):
            try:
                return super()._get_encoded_account(address, from_journal)
            except MissingAccountTrieNode:
                self.fetcher.account(address)
        return super()._get_encoded_account(address, from_journal)

    def get_storage(self, address, slot, from_journal=True):
        for _ in range(MAX_REFETCH):
            try:
                return super().get_storage(address, slot, from_journal)
            except MissingStorageTrieNode:
                self.fetcher.storage(address, slot)
        return super().get_storage(address, slot, from_journal)

    def set_storage(self, address, slot, value):
        self.get_storage(address, slot)  # fetch the slot's trie path first: the update walks it
        super().set_storage(address, slot, value)

    def get_code(self, address):
        for _ in range(MAX_REFETCH):
            try:
                return super().get_code(address)
            except MissingBytecode:
                self.fetcher.code(address)
        return super().get_code(address)


def forked_vm(vm_class: type, fetcher: Fetcher) -> type:
    """The VM class whose state reads fall back to the forked chain."""
    db_class = type("ForkAccountDBBound", (ForkAccountDB,), {"fetcher": fetcher})
    state_class = vm_class.get_state_class().configure(__name__="ForkedState", account_db_class=db_class)
    return vm_class.configure(__name__="ForkedAIVM", _state_class=state_class)


def _q(blk: dict, key: str, default: int = 0) -> int:
    v = blk.get(key)
    return default if v is None else int(v, 16)


def _b(blk: dict, key: str, default: bytes) -> bytes:
    v = blk.get(key)
    return default if v is None else bytes.fromhex(v[2:])


def genesis_header(chain: Any, blk: dict) -> Any:
    """The remote block as the local chain's first header (same fields, so the same hash)."""
    from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA256, EMPTY_UNCLE_HASH, ZERO_HASH32

    fields = dict(
        parent_hash=_b(blk, "parentHash", ZERO_HASH32),
        uncles_hash=_b(blk, "sha3Uncles", EMPTY_UNCLE_HASH),
        coinbase=_b(blk, "miner", b"\x00" * 20),
        state_root=_b(blk, "stateRoot", BLANK_ROOT_HASH),
        transaction_root=_b(blk, "transactionsRoot", BLANK_ROOT_HASH),
        receipt_root=_b(blk, "receiptsRoot", BLANK_ROOT_HASH),
        bloom=int.from_bytes(_b(blk, "logsBloom", b"\x00"), "big"),
        difficulty=_q(blk, "difficulty"),
        block_number=_q(blk, "number"),
        gas_limit=_q(blk, "gasLimit", defaults.BLOCK_GAS_LIMIT),
        gas_used=_q(blk, "gasUsed"),
        timestamp=_q(blk, "timestamp"),
        extra_data=_b(blk, "extraData", b""),
        mix_hash=_b(blk, "mixHash", ZERO_HASH32),
        nonce=_b(blk, "nonce", b"\x00" * 8),
        base_fee_per_gas=_q(blk, "baseFeePerGas", 1_000_000_000),
        withdrawals_root=_b(blk, "withdrawalsRoot", BLANK_ROOT_HASH),
        blob_gas_used=_q(blk, "blobGasUsed"),
        excess_blob_gas=_q(blk, "excessBlobGas"),
        parent_beacon_block_root=_b(blk, "parentBeaconBlockRoot", ZERO_HASH32),
        requests_hash=_b(blk, "requestsHash", EMPTY_SHA256),
    )
    return header_type(chain)(**fields)


def header_type(chain: Any) -> type:
    from eth.vm.forks.prague.blocks import PragueBlockHeader

    return PragueBlockHeader


def create_genesis(chain: Any, remote: Remote) -> Any:
    """Chain construction: persist the fork block as the local chain's first block."""
    from eth.db.chain import ChainDB

    blk = remote.block()
    header = genesis_header(chain, blk)
    block = chain.vm_class.get_block_class()(header, [], [])
    with chain.store.transaction():
        chaindb = ChainDB(chain.store)
        chaindb.persist_header_chain([header], genesis_parent_hash=header.parent_hash)
        chaindb._set_as_canonical_chain_head(chain.store, header, header.parent_hash)
        chain.index.add_block(block, [], [])
        chain.index.set_meta("chain_id", chain.config.chain_id)
        chain.index.set_meta("fork", {"url": remote.url, "block": remote.block_number,
                                      "hash": blk.get("hash")})
    log.info("forked %s at block %d (state root %s)", remote.url, remote.block_number, blk.get("stateRoot"))
    return header


def prepare(config: Any, index: Any) -> Optional[Remote]:
    """Connect to the remote of `config.fork` (a ForkSpec), adopting its chain id if none was asked for.

    A data dir that already holds a fork keeps its fork block (a restart must read the same state).
    """
    spec = getattr(config, "fork", None)
    if spec is None:
        return None
    stored = index.meta("fork")
    block = stored["block"] if stored else spec.block_number
    remote = Remote(spec.url, block)
    if config.fork_chain_id_from_remote:
        config.chain_id = remote.chain_id
    return remote


async def reset(node: Any, spec: Optional[ForkSpec]) -> None:
    """anvil_reset / hardhat_reset: a fresh chain, forked at `spec` (or not forked)."""
    import copy

    from vm.chain import Chain

    if node.has_queued():
        raise TxRejected("cannot reset while transactions are queued for mining")
    if node.options.data_dir:
        raise TxRejected("reset needs an in-memory node (start it with --ephemeral): "
                         "it would throw away the chain in the data dir")
    cfg = copy.copy(node.chain.config)
    cfg.fork = spec
    if spec is None:
        cfg.chain_id = node.options.chain.chain_id

    def swap() -> None:
        new = Chain.ephemeral(cfg, node.chain.services)
        old, node.chain = node.chain, new
        old.close()

    await node.run(swap)


def fork_info(chain: Any) -> Optional[dict]:
    return chain.index.meta("fork")



# -- history before the fork block: served by the remote, as Anvil does --
def remote_of(chain: Any) -> Optional[Remote]:
    return getattr(chain, "_remote", None)


def remote_block(chain: Any, number: int, full: bool) -> Optional[dict]:
    """A block up to the fork block, from the remote (None when not forked or after it).

    The fork block itself too: its local copy has the same header (and hash) but not the
    remote's transactions, which ran there."""
    remote = remote_of(chain)
    if remote is None or number > remote.block_number:
        return None
    return remote.call("eth_getBlockByNumber", hex(number), full)


def remote_lookup(chain: Any, method: str, key: bytes) -> Optional[dict]:
    """A transaction, receipt or block by hash that the local chain does not know, when mined before the fork."""
    remote = remote_of(chain)
    if remote is None:
        return None
    found = remote.call(method, "0x" + key.hex(), *([False] if method == "eth_getBlockByHash" else []))
    if not found or found.get("blockNumber" if method != "eth_getBlockByHash" else "number") is None:
        return None
    number = int(found["blockNumber" if method != "eth_getBlockByHash" else "number"], 16)
    return found if number <= remote.block_number else None


def remote_logs(chain: Any, lo: int, hi: int, addresses: Any, topics: Any) -> list:
    """Logs of blocks up to the fork block (their transactions ran on the remote), from the remote."""
    remote = remote_of(chain)
    if remote is None or lo > remote.block_number:
        return []
    flt: dict = {"fromBlock": hex(lo), "toBlock": hex(min(hi, remote.block_number))}
    if addresses:
        flt["address"] = ["0x" + a.hex() for a in addresses]
    if topics:
        flt["topics"] = [None if t is None else ["0x" + x.hex() for x in t] for t in topics]
    return remote.call("eth_getLogs", flt) or []


def remote_trace(chain: Any, tx_hash: bytes, options: Any) -> Optional[Any]:
    """debug_traceTransaction of a transaction mined up to the fork block, by the remote (None otherwise)."""
    if remote_lookup(chain, "eth_getTransactionByHash", tx_hash) is None:
        return None
    return remote_of(chain).call("debug_traceTransaction", "0x" + tx_hash.hex(), options or {})
