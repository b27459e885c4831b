"""`Chain`'s block production: timestamps, the pending header, open/seal a block in one atomic batch (chain thread)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterable, Optional

from eth.abc import SignedTransactionAPI

from vm.block_builder import BlockBuilder
from vm.chain_records import MinedBlock, TxRejected
from vm.trie_root import ordered_trie_root


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
        return self.vm_class.create_header_from_parent(
            self._head,
            gas_limit=self.config.gas_limit,
            timestamp=timestamp or self._head.timestamp + 1,
            coinbase=self.config.coinbase,
        )

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
        header = self._pending_header_template(ts).copy(state_root=self._pending_root)
        edited = self._pending_root != self._head.state_root  # dev edits: replays (tracing) start there
        self.index.set_meta(f"block_pre_root/{header.block_number}", self._pending_root.hex() if edited else None)
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
            header = header.copy(
                transaction_root=ordered_trie_root([tx.encode() for tx in included]),
                receipt_root=ordered_trie_root([r.encode() for r in receipts]),
            )
            block = vm.get_block().copy(header=header, transactions=included)
            block = vm.finalize_block(block).block
            self._chain.chaindb.persist_block(block)
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
