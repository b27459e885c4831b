"""The in-process backend: a `vm.chain.Chain`, the same VM and precompiles as the node.

Every transaction is signed and applied exactly as the node applies it, in its own
transaction context (warm/cold slots and refunds per transaction), so its gas is what
a node charges. What is deferred is the block: transactions go into an open block
(`vm.chain.BlockBuilder`) that is sealed (state root, receipts, persistence) only when
something needs a block: a call or a state read, time, a snapshot, mining, or a
transaction that does not fit. A revert simply drops an open block.
"""
from __future__ import annotations

from typing import Any, Optional

from vm.chain import BlockBuilder, Chain, ChainConfig, ExecutionResult, TxRejected
from vm.node import Services

TIP = 1_000_000_000


def _same_with_more_gas(comp: Any) -> bool:
    """Would this outcome be the same with the full gas limit? Yes for a success, and for a
    REVERT where no frame ran out of gas or burnt it (those depend on how much gas was given)."""
    from eth.exceptions import Revert

    if comp.is_success:
        return True

    def clean(c: Any) -> bool:
        if c.is_error and not isinstance(c.error, Revert):
            return False
        return all(clean(child) for child in c.children)

    return clean(comp)


class _SealedOnRead(ExecutionResult):
    """A result whose block may still be open: reading its receipt seals the block."""

    _backend: Optional["LocalBackend"] = None

    @property
    def receipt(self) -> Optional[dict]:
        if self.__dict__.get("receipt") is None and self._backend is not None:
            self._backend.seal()
        return self.__dict__.get("receipt")

    @receipt.setter
    def receipt(self, value: Optional[dict]) -> None:
        self.__dict__["receipt"] = value


class LocalBackend:
    """What `Env` needs from a chain, over an in-memory `vm.chain.Chain`."""

    def __init__(self, chain: Optional[Chain] = None, config: Optional[ChainConfig] = None,
                 services: Any = None) -> None:
        # the node's services, empty: an AI cluster attached later sets their `ai`
        self.services = services if services is not None else Services()
        self._chain = chain or Chain.ephemeral(config, self.services)
        self._open: Optional[BlockBuilder] = None
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
            self._chain.seal_block(b)

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
        keep = None if tx_gas == full else _same_with_more_gas
        result = self._apply(b, sender, to, data, value, tx_gas, keep)
        if result is None:  # refused by keep: retry alone with the full limit
            self.seal()
            result = self._apply(self._builder(), sender, to, data, value, full, None)
        return result

    def _builder(self) -> BlockBuilder:
        if self._open is None:
            self._open = self._chain.open_block()
        return self._open

    def _apply(self, b: BlockBuilder, sender: bytes, to: Optional[bytes], data: bytes, value: int,
               gas: int, keep: Any) -> Optional[ExecutionResult]:
        chain = self._chain
        intrinsic = chain._intrinsic_gas(to, data)
        if gas < intrinsic:
            raise TxRejected(f"intrinsic gas too low: need {intrinsic}, transaction gives {gas}")
        cap = 2 * b.header.base_fee_per_gas + TIP
        tx, sender = chain.sign(sender, to, data, value, gas, nonce=b.vm.state.get_nonce(sender),
                                max_fee_per_gas=cap, max_priority_fee_per_gas=TIP)
        rejected = len(b.rejected)
        result = b.apply(tx, sender, keep)
        if result is None and len(b.rejected) > rejected:
            raise TxRejected(b.rejected.pop()[1])
        if result is not None:
            result.__class__ = _SealedOnRead
            result._backend = self
        return result

    def call(self, sender: bytes, to: bytes, data: bytes, value: int, gas: Optional[int]) -> ExecutionResult:
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
        return self.chain.balance(address)

    def set_balance(self, address: bytes, wei: int) -> None:
        self.chain.set_balance(address, wei)

    def code(self, address: bytes) -> bytes:
        return self.chain.code(address)

    def nonce(self, address: bytes) -> int:
        return self.chain.nonce(address)

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
        return self.chain.head_number

    @property
    def timestamp(self) -> int:
        return self.chain.head.timestamp
