"""The one adapter between AIVM and py-evm.

A `Chain` builds blocks itself (no eth-tester, no MiningChain re-validation):
it applies a batch of signed transactions on the pending header, seals the
block, and writes py-evm's data and the node's RPC records in one atomic batch.
Blocks are built on one thread (the node's chain thread). State reads (calls,
balances, code, storage) may come from any thread: they run on that thread's
own warm read-only py-evm state over the committed head (`vm.reader`), so they
never wait for the chain thread, even while it sits inside a long block.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Optional

from eth.chains.base import Chain as PyEvmChain
from eth.exceptions import CanonicalHeadNotFound

import precompiles
from vm.fork import vm_with_services
from vm import trie_cache

trie_cache.install()
from vm.reader import HeadReader
from vm.store.atomic import AtomicStore, CommittedView
from vm.store.index import ChainIndex
from vm.store.kv import KV, LevelKV, MemoryKV

from vm.block_builder import BlockBuilder
from vm.chain_calls import ChainCalls
from vm.chain_dev import ChainDevEdits
from vm.chain_mining import ChainMining
from vm.chain_reads import ChainReads
from vm.chain_records import (DEV_MNEMONIC, ETHER, BlockId, ChainConfig, DevAccount, ExecutionFailed, ExecutionResult,
                              Log, MinedBlock, TxRejected, UnknownBlock, derive_dev_accounts)
from vm.chain_results import _error_text, _friendly_validation, _result_from_computation, decode_revert_reason
from vm.chain_signing import ChainSigning
from vm.chain_snapshots import ChainSnapshots
from vm.chain_txs import ChainTransactions


class Chain(ChainReads, ChainCalls, ChainTransactions, ChainSigning, ChainMining, ChainDevEdits, ChainSnapshots):
    """An AIVM chain over a KV store (LevelDB on disk or memory)."""

    def __init__(self, kv: KV, config: Optional[ChainConfig] = None, services: Any = None) -> None:
        self.config = config or ChainConfig()
        self.store = AtomicStore(kv)
        self.index = ChainIndex(self.store)
        self._committed = CommittedView(kv)
        from vm import forking  # (imports this module)

        self._remote = forking.prepare(self.config, self.index) if self.config.fork else None
        self.vm_class = vm_with_services(services)
        if self._remote is not None:  # state reads fall back to the forked chain
            self.vm_class = forking.forked_vm(self.vm_class, forking.Fetcher(self._remote, kv))
        self.services = services
        self._chain_class = PyEvmChain.configure(
            __name__="AIVMChain",
            vm_configuration=((0, self.vm_class),),
            chain_id=self.config.chain_id,
        )
        self.accounts = derive_dev_accounts(self.config.mnemonic, self.config.accounts)
        self._keys = {a.address: a.key for a in self.accounts}
        self._impersonated: set[bytes] = set()
        try:
            head = self._chain_class(self.store).get_canonical_head()
        except CanonicalHeadNotFound:
            head = forking.create_genesis(self, self._remote) if self._remote else self._create_genesis()
        self._chain = self._chain_class(self.store)
        self._check_index(head)
        self.index.forget_stale_pre_roots(head.block_number)
        self._head = head
        self._pending_root = bytes.fromhex(self.index.meta("pending_root", head.state_root.hex()))
        self.reader = HeadReader(self._chain_class, self._committed)
        self._read_chaindb = self._chain_class(self._committed).chaindb
        self._publish_view()
        self._snapshots: dict[int, dict] = {}
        self._snapshot_ids = itertools.count(1)

    # -- construction --
    @classmethod
    def ephemeral(cls, config: Optional[ChainConfig] = None, services: Any = None) -> "Chain":
        return cls(MemoryKV(), config, services)

    @classmethod
    def open(cls, path: str, config: Optional[ChainConfig] = None, services: Any = None) -> "Chain":
        return cls(LevelKV(path), config, services)

    def close(self) -> None:
        self.store.close()

    def _create_genesis(self):
        cfg = self.config
        state = {
            a.address: {"balance": cfg.balance_eth * ETHER, "nonce": 0, "code": b"", "storage": {}}
            for a in self.accounts
        }
        state.update(precompiles.genesis_accounts())
        state.update(cfg.extra_genesis)
        params = {
            "difficulty": 0,
            "gas_limit": cfg.gas_limit,
            "timestamp": cfg.genesis_timestamp or int(time.time()),
            "base_fee_per_gas": cfg.initial_base_fee,
            "coinbase": cfg.coinbase,
            "nonce": b"\x00" * 8,
            "mix_hash": b"\x00" * 32,
            "extra_data": b"AIVM",
        }
        with self.store.transaction():
            chain = self._chain_class.from_genesis(self.store, params, state)
            genesis = chain.get_canonical_block_by_number(0)
            self.index.add_block(genesis, [], [])
            self.index.set_meta("chain_id", cfg.chain_id)
        return genesis.header

    def _check_index(self, head) -> None:
        stored_id = self.index.meta("chain_id")
        if stored_id is not None and stored_id != self.config.chain_id:
            raise RuntimeError(
                f"the data dir holds chain id {stored_id}, but chain id {self.config.chain_id} "
                "was asked for: use another data dir or the same chain id"
            )
        indexed = self.index.latest_number()
        if indexed != head.block_number:
            raise RuntimeError(
                f"data dir is inconsistent: chain head #{head.block_number}, "
                f"index head #{indexed}"
            )


__all__ = [
    "DEV_MNEMONIC",
    "ETHER",
    "BlockBuilder",
    "BlockId",
    "Chain",
    "ChainConfig",
    "DevAccount",
    "ExecutionFailed",
    "ExecutionResult",
    "Log",
    "MinedBlock",
    "TxRejected",
    "UnknownBlock",
    "_error_text",
    "_friendly_validation",
    "_result_from_computation",
    "decode_revert_reason",
    "derive_dev_accounts",
]
