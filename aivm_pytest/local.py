"""The in-process backend: a `vm.chain.Chain`, the same VM and precompiles as the node.

Every transaction is applied exactly as the node applies it, in its own transaction
context (warm/cold slots and refunds per transaction), so its gas is what a node
charges. What is deferred is the block: transactions go into an open block
(`vm.fastblock.OpenBlock` over `vm.chain.BlockBuilder`), signed and given
receipts only when something needs them, and sealed (state root, receipts,
persistence) only when something needs a block: a receipt, time, a snapshot, mining,
the raw chain, or a transaction that does not fit. Calls and balance/code/nonce reads
run on the open block's state. A revert simply drops an open block.
"""
from __future__ import annotations

from typing import Any, Optional

from vm.chain import Chain, ChainConfig, ExecutionResult, TxRejected
from vm.fastblock import TIP, FastResult, NeedsSealedBlock, OpenBlock, same_with_more_gas
from vm.node import Services


class LocalBackend:
    """What `Env` needs from a chain, over an in-memory `vm.chain.Chain`."""

    def __init__(self, chain: Optional[Chain] = None, config: Optional[ChainConfig] = None,
                 services: Any = None) -> None:
        # the node's services, empty: an AI cluster attached later sets their `ai`
        self.services = services if services is not None else Services()
        self._chain = chain or Chain.ephemeral(config, self.services)
        self._open: Optional[OpenBlock] = None
        self.accounts = [a.address for a in self._chain.accounts]
        self.gas_limit = self._chain.config.gas_limit

    @property
    def chain(self) -> Chain:
        """The chain with every transaction sealed into a block (what `chain.raw` hands out)."""
        self.seal()
        return self._chain

    def seal(self) -> None:
        """Seal the open block, if it holds anything."""
        b, self._open = self._open, None
        if b is not None and b.included:
            b.seal()

    def _open_block(self) -> Optional[OpenBlock]:
        """The open block when it holds transactions (reads then see its state, unsealed)."""
        b = self._open
        return b if b is not None and b.included else None

    # -- execution
    def transact(self, sender: bytes, to: Optional[bytes], data: bytes, value: int,
                 gas: Optional[int]) -> ExecutionResult:
        if self.services.ai is not None:
            # AI validators read and pay through the chain itself: one block per transaction
            return self.chain.transact(sender, to, data, value, gas or self.gas_limit)
        full = gas or self.gas_limit
        if self._open is not None and self._open.gas_left < (full if gas else full // 2):
            self.seal()
        b = self._builder()
        # a fixed limit, not an estimate: the block gas limit, or what is left of it in the open
        # block; a transaction that fails with less than the full limit is undone and run again
        # with the full limit in a block of its own, so a failure is reported like on a node
        tx_gas = full if gas else min(full, b.gas_left)
        keep = None if tx_gas == full else same_with_more_gas
        fixed = gas is not None
        result = self._apply(b, sender, to, data, value, tx_gas, keep, fixed)
        if result is None:  # refused by keep: retry alone with the full limit
            self.seal()
            result = self._apply(self._builder(), sender, to, data, value, full, None, fixed)
        return result

    def _builder(self) -> OpenBlock:
        if self._open is None:
            self._open = OpenBlock(self._chain, self._chain.open_block())
        return self._open

    def _apply(self, b: OpenBlock, sender: bytes, to: Optional[bytes], data: bytes, value: int,
               gas: int, keep: Any, fixed: bool) -> Optional[ExecutionResult]:
        result = b.apply(sender, to, data, value, gas, keep, fixed)
        if result is NotImplemented:  # not the common case: the node's way, full validation
            result = self._apply_signed(b, sender, to, data, value, gas, keep)
        if result is not None:
            result._backend = self
        return result

    def _apply_signed(self, b: OpenBlock, sender: bytes, to: Optional[bytes], data: bytes, value: int,
                      gas: int, keep: Any) -> Optional[ExecutionResult]:
        chain = self._chain
        intrinsic = chain._intrinsic_gas(to, data)
        if gas < intrinsic:
            raise TxRejected(f"intrinsic gas too low: need {intrinsic}, transaction gives {gas}")
        cap = 2 * b.builder.header.base_fee_per_gas + TIP
        tx, sender = chain.sign(sender, to, data, value, gas, nonce=b.nonce(sender),
                                max_fee_per_gas=cap, max_priority_fee_per_gas=TIP)
        rejected = b.builder.rejected
        count = len(rejected)
        result = b.apply_signed(tx, sender, keep)
        if result is None and len(rejected) > count:
            raise TxRejected(rejected.pop()[1])
        if result is not None:
            result.__class__ = FastResult
        return result

    def call(self, sender: bytes, to: bytes, data: bytes, value: int, gas: Optional[int]) -> ExecutionResult:
        b = self._open_block()
        if b is not None:
            try:  # on the open block's state, as the node answers right after sealing it
                return b.call(sender, to, data, value, gas)
            except NeedsSealedBlock:  # BLOCKHASH of the open block: seal it, then the node's way
                pass
        return self.chain.call(sender, to, data, value, gas)

    def revert_frames(self, result: ExecutionResult) -> list[tuple[bytes, int, bool]]:
        """(code address, pc, in init code) of the failing REVERT, outermost call first.

        When a call failed only by bubbling up a child's revert data, the child's frame follows;
        the caller picks the deepest frame it has a source map for (a precompile has none).
        """
        comp = result.computation
        frames: list[tuple[bytes, int, bool]] = []
        while comp is not None and not result.success:
            msg = comp.msg
            frames.append((msg.storage_address if msg.is_create else msg.code_address,
                           comp.code.program_counter - 1, msg.is_create))
            comp = next((c for c in reversed(comp.children)
                         if c.is_error and comp.output and c.output == comp.output), None)
        return frames

    # -- snapshots
    def snapshot(self) -> int:
        return self.chain.snapshot()

    def revert(self, snapshot_id: int) -> bool:
        ok = self._chain.revert(snapshot_id)
        if ok:
            self._open = None  # opened after the snapshot was taken: dropping it is the revert
        return ok

    # -- state and time
    def balance(self, address: bytes) -> int:
        b = self._open_block()
        return b.balance(address) if b is not None else self._chain.balance(address)

    def set_balance(self, address: bytes, wei: int) -> None:
        self.chain.set_balance(address, wei)

    def code(self, address: bytes) -> bytes:
        b = self._open_block()
        return b.code(address) if b is not None else self._chain.code(address)

    def nonce(self, address: bytes) -> int:
        b = self._open_block()
        return b.nonce(address) if b is not None else self._chain.nonce(address)

    def impersonate(self, address: bytes, on: bool = True) -> None:
        self._chain.impersonate(address, on)

    def increase_time(self, seconds: int) -> None:
        self.chain.increase_time(seconds)

    def set_next_timestamp(self, timestamp: int) -> None:
        self.chain.set_next_timestamp(timestamp)

    def mine(self, timestamp: Optional[int] = None) -> None:
        self.chain.mine([], timestamp)

    @property
    def block_number(self) -> int:
        """The open block counts as the latest (it is what sealing would make the head)."""
        b = self._open_block()
        return b.number if b is not None else self._chain.head_number

    @property
    def timestamp(self) -> int:
        b = self._open_block()
        return b.timestamp if b is not None else self._chain.head.timestamp
