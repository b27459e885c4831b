"""What the AI precompiles (0x0120 ai_infer, 0x0121 ai_request) need from the AI service: the port they own.

Written as `typing.Protocol`s (structural: an implementation need not subclass them). The precompiles sit below
the AI layer, so the interface lives here and the AI layer implements it (`ai.service.AIService`,
`aivm_pytest.cluster.LocalCluster`); the chain hands it to precompiles as `services.ai` (None while AI is off).

    InferenceService  the precompiles -> the AI service: answers, asynchronous requests, limits
    AnswerBook        the scheduler's record of answers, as the precompiles read it (replays never recompute)
    AIError           what the AI side raises for a refused request, with a reason for the caller
"""
from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable


class AIError(Exception):
    """A refused request or submission; the message is for the caller."""


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
