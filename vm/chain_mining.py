"""`Chain`'s block production: timestamps, the pending header, open/seal a block in one atomic batch (chain thread)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterable, Optional

from eth.abc import SignedTransactionAPI

from vm import fast_records, header_chain
from vm.block_builder import BlockBuilder
from vm.chain_records import MinedBlock, TxRejected
from vm.trie_root import ordered_trie_root

fast_records.install()  # header and account copies, account rlp, without py-evm's rebuilds (vm/fast_records.py)


def _no_block_rewards(vm) -> bool:
    """Post-merge (Paris and later): `_assign_block_rewards` is Paris's no-op."""
    from eth.vm.forks.paris import ParisVM

    return type(vm)._assign_block_rewards is ParisVM._assign_block_rewards


def _prague_headers(vm_class) -> bool:
    """The VM builds its headers with py-evm's Prague function (not overridden)."""
    from eth.vm.forks.prague import PragueVM

    return vm_class.create_header_from_parent is PragueVM.create_header_from_parent


def next_prague_template(template, parent):
    """py-evm's `create_prague_header_from_parent(parent, gas_limit, timestamp=parent's + 1,
    coinbase)` as one copy of an earlier template built by that function with the same gas
    limit and coinbase: post-merge, only these fields depend on the parent (the fork-by-fork
    build makes a dozen header objects; tests/test_header_template.py compares the two)."""
    from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
    from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague

    return template.copy(
        parent_hash=parent.hash,
        block_number=parent.block_number + 1,
        state_root=parent.state_root,
        timestamp=parent.timestamp + 1,
        base_fee_per_gas=calculate_expected_base_fee_per_gas(parent),
        excess_blob_gas=calc_excess_blob_gas_prague(parent),
    )


class ChainMining:
    """Open a `BlockBuilder` on the head, seal it, and persist block and records together."""

    # -- block production --
    def _next_timestamp(self) -> int:
        forced = self.index.meta("next_timestamp")
        if forced is not None:
            return max(forced, self._head.timestamp + 1)
        interval = self.index.meta("timestamp_interval")  # anvil_setBlockTimestampInterval
        if interval is not None:
            return self._head.timestamp + interval
        offset = self.index.meta("time_offset", 0)
        return max(int(time.time()) + offset, self._head.timestamp + 1)

    def _pending_header_template(self, timestamp: Optional[int] = None):
        """The next block's header on the head. Built once per (head, gas limit, coinbase):
        py-evm's fork-by-fork `create_header_from_parent` makes a dozen header objects, and the
        admission check (next base fee) and `open_block` both ask. Post-merge, no field but the
        timestamp depends on the timestamp, so another one is a copy."""
        head = self._head
        key = (head.hash, self.config.gas_limit, self.config.coinbase)
        cached = getattr(self, "_template", None)
        if cached is None or cached[0] != key:
            if cached is not None and cached[0][1:] == key[1:] and _prague_headers(self.vm_class):
                header = next_prague_template(cached[1], head)
            else:
                header = self.vm_class.create_header_from_parent(
                    head, gas_limit=self.config.gas_limit,
                    timestamp=head.timestamp + 1, coinbase=self.config.coinbase,
                )
            cached = self._template = (key, header)
        header = cached[1]
        if timestamp and timestamp != header.timestamp:
            header = header.copy(timestamp=timestamp)
        return header

    def mine(self, txs: Iterable[tuple[SignedTransactionAPI, bytes]] = (), timestamp: Optional[int] = None) -> MinedBlock:
        """Apply (tx, sender) pairs in order into one new block and persist it atomically."""
        builder = self.open_block(timestamp)
        for tx, sender in txs:
            builder.add(tx, sender)
        return self.seal_block(builder)

    def open_block(self, timestamp: Optional[int] = None) -> "BlockBuilder":
        """Start the next block on the head (chain thread); `seal_block` finishes it."""
        ts = timestamp if timestamp is not None else self._next_timestamp()
        if ts <= self._head.timestamp:
            raise TxRejected(
                f"block timestamp {ts} must be after the previous block's {self._head.timestamp}"
            )
        header = self._pending_header_template().copy(timestamp=ts, state_root=self._pending_root)
        if self._pending_root != self._head.state_root:  # dev edits: replays (tracing) start there
            self.index.set_meta(f"block_pre_root/{header.block_number}", self._pending_root.hex())
        # (else none is stored: a block above the head has none — `truncate_after` removes a
        # reverted block's, and `ChainIndex.forget_stale_pre_roots` older data dirs' at start)
        return BlockBuilder(self, header)

    @contextmanager
    def _producing(self, number: int):
        """Tell precompiles (through services) that this execution is a block, not a call."""
        if self.services is not None:
            self.services.producing_block = number
        try:
            yield
        finally:
            if self.services is not None:
                self.services.producing_block = None

    def seal_block(self, builder: "BlockBuilder") -> MinedBlock:
        """Finalise the block and write it, with its records, in one atomic batch."""
        if builder.sealed:
            raise RuntimeError("this block is already sealed")
        if builder.header.parent_hash != self._head.hash:
            raise RuntimeError("the head moved while this block was being built")
        builder.sealed = True
        vm, header, included, receipts = builder.vm, builder.header, builder.included, builder.receipts
        tx_records: dict = {}
        with self.store.transaction():
            roots = dict(
                transaction_root=ordered_trie_root([tx.encode() for tx in included]),
                receipt_root=ordered_trie_root([r.encode() for r in receipts]),
            )
            if _no_block_rewards(vm):
                # py-evm's finalize_block minus what a post-merge block does not need: no
                # rewards to assign, and its debug line formats (and hashes) the block each time.
                vm.state.persist()
                header = header.copy(state_root=vm.state.state_root, **roots)
                block = vm.get_block_class()(header=header, transactions=included, uncles=[], withdrawals=[])
            else:
                block = vm.get_block().copy(header=header.copy(**roots), transactions=included)
                block = vm.finalize_block(block).block
            header_chain.persist_block(self._chain.chaindb, self.store, block)
            record = self.index.add_block(block, receipts, builder.senders, tx_records)
            self.index.set_meta("pending_root", None)
            self.index.set_meta("next_timestamp", None)
        self._head = block.header
        self._pending_root = block.header.state_root
        self._publish_view()
        for tx, r in zip(included, builder.results):
            rec = tx_records[tx.hash]
            r.block_number = block.number
            r.receipt = rec["receipt"]
        return MinedBlock(block.number, record, builder.results, builder.rejected, builder.deferred)
