"""The in-process backend: a `vm.chain.Chain`, the same VM and precompiles as the node.

Every transaction is signed, checked and mined in its own block, so warm slots and
refunds are counted exactly as a node counts them.
"""
from __future__ import annotations

from typing import Any, Optional

from vm.chain import Chain, ChainConfig, ExecutionResult
from vm.node import Services


class LocalBackend:
    """What `Env` needs from a chain, over an in-memory `vm.chain.Chain`."""

    def __init__(self, chain: Optional[Chain] = None, config: Optional[ChainConfig] = None,
                 services: Any = None) -> None:
        # the node's services mapping, empty: an AI cluster attached later puts "ai" into it
        self.services = services if services is not None else Services()
        self.chain = chain or Chain.ephemeral(config, self.services)
        self.accounts = [a.address for a in self.chain.accounts]
        self.gas_limit = self.chain.config.gas_limit

    # -- execution
    def transact(self, sender: bytes, to: Optional[bytes], data: bytes, value: int,
                 gas: Optional[int]) -> ExecutionResult:
        # a fixed limit, not an estimate: a failing transaction is mined and reported like on a node
        return self.chain.transact(sender, to, data, value, gas or self.gas_limit)

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
        return self.chain.revert(snapshot_id)

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
        self.chain.impersonate(address, on)

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
