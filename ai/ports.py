"""The AI layer's ports: what it needs from the chain, and what the AI precompiles need from it.

Written as `typing.Protocol`s (structural: an implementation need not subclass them), so each side can be
replaced without the other importing it. A leaf module, importing nothing of the project: the precompiles,
which sit below the node, and the scheduler, which sits above it, both read it (tests/test_layering.py).

    ChainHooks       the scheduler -> the chain: stake locking, the on-chain validator sets, burning.
                     Implemented by `ai.service.NodeChainHooks` (a node, on its chain thread) and by the
                     in-process cluster's hooks (`aivm_pytest.cluster`, an in-process `vm.chain.Chain`).
    InferenceService the AI precompiles (0x0120 ai_infer, 0x0121 ai_request) -> the AI service.
                     Implemented by `ai.service.AIService` and `aivm_pytest.cluster.LocalCluster`;
                     the chain hands it to precompiles as `services.ai` (None while AI is off).
    AIError          what either side raises for a refused request, with a reason for the caller.
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol, runtime_checkable


class AIError(Exception):
    """A refused request or submission; the message is for the caller."""


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


@runtime_checkable
class AnswerBook(Protocol):
    """The scheduler's record of answers, as the AI precompiles read it (replays never recompute)."""

    def max_tokens_for(self, model_id: str, max_tokens: Optional[int]) -> Optional[int]:
        """A text model's answer length (the node's default when not asked); None for other models."""

    def recorded(self, model_id: str, request_hash: bytes, max_tokens: Optional[int] = None) -> Optional[dict]:
        """The completed computation that first answered (model, keccak(input)[, length]), if any."""


@runtime_checkable
class InferenceService(Protocol):
    """What the AI precompiles need from the AI service."""

    scheduler: AnswerBook
    max_gas_per_execution: int  # [aivm] max_gas_per_execution: the most one AI execution may cost
    infer_timeout: float  # seconds ai_infer waits for the quorum
    replay: bool  # answer a repeated (model, input) from its record (False: compute every call anew)

    def infer(self, model_id: str, data: bytes, requester: str, timeout: float,
              max_tokens: Optional[int] = None) -> tuple[bytes, dict, str]:
        """The quorum's answer, its certificate and the computation id; AIError on failure or timeout."""

    def request_async(self, model_id: str, data: bytes, caller: bytes, selector: bytes, request_id: bytes,
                      max_tokens: Optional[int] = None) -> str:
        """Start a computation answered later by a callback transaction to `caller`; its computation id."""
