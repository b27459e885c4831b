"""The AI layer's ports: what it needs from the chain (defined here), and what the AI precompiles need from it
(defined by the precompiles, in `precompiles.ai_port`, and re-exported here).

Written as `typing.Protocol`s (structural: an implementation need not subclass them), so each side can be
replaced without the other importing it. The chain implements ChainHooks without importing this module; the
precompiles, which sit below the AI layer, own their port (tests/test_layering.py).

    ChainHooks       the scheduler -> the chain: stake locking, the on-chain validator sets, burning.
                     Implemented by `ai.service.NodeChainHooks` (a node, on its chain thread) and by the
                     in-process cluster's hooks (`aivm_pytest.cluster`, an in-process `vm.chain.Chain`).
    InferenceService the AI precompiles (0x0120 ai_infer, 0x0121 ai_request) -> the AI service.
    AnswerBook       the scheduler's record of answers, as the precompiles read it.
    AIError          what either side raises for a refused request, with a reason for the caller.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from precompiles.ai_port import AIError, AnswerBook, InferenceService  # the precompiles' port, implemented here


StorageReader = Callable[[bytes, int], int]  # (address, slot) -> value
StorageWrites = list  # [(address, slot, value)]


@runtime_checkable
class ChainHooks(Protocol):
    """What the scheduler needs from the chain.

    The chain thread itself waits inside the AI precompile for computations, so
    the scheduler never needs the chain to make progress on one: validator sets
    are decided from its own registry, `update_storage` only queues the on-chain
    mirror (applied in order on the chain thread, never awaited), and the two
    calls that do wait (`lock_stake` at registration, `read_storage` for
    off-chain verification) are never made while holding the scheduler's lock.
    """

    def lock_stake(self, address: bytes, amount: int) -> None:
        """Move `amount` wei from `address` into the staking pool; AIError when it cannot pay."""

    def burn_stake(self, amount: int) -> None:
        """Queue: remove slashed wei from the staking pool (never awaited)."""

    def update_storage(self, compute_writes: Callable[[StorageReader], StorageWrites]) -> None:
        """Queue: atomically on the chain thread, writes = compute_writes(read_storage); apply them."""

    def read_storage(self, address: bytes, slot: int) -> int:
        """One storage word of the committed state."""


__all__ = ["AIError", "AnswerBook", "ChainHooks", "InferenceService", "StorageReader", "StorageWrites"]
