"""Commitments as the node checks them: the same digests validators sign, computed without weights.

Beside the protocol rather than in the scheduler package: `protocol.task_vote` (the validator's vote builder)
needs it, and importing `ai.scheduler` would load the scheduler and py-evm into every validator process.

A validator commits with its runner (`runner.commitment`); the node recomputes
the commitment from the submitted output bytes so it can rebuild the vote the
validator must have signed. Both use `models.commit`, so they cannot drift.
"""
from __future__ import annotations

from models.catalog import MODELS
from models.commit import canonical_hidden_states, commitment_digest
from models.errors import InvalidInputError


def commitment(model_id: str, stage: int, output: bytes) -> bytes:
    info = MODELS[model_id]
    if info.module:  # the small trained models: their module's rule (models/small.py)
        from models.small import commitment as small_commitment

        return small_commitment(info, stage, output)
    if info.num_stages == 1:
        if model_id == "digits_cnn" and (len(output) != 1 or output[0] > 9):
            raise InvalidInputError("digits_cnn output is one byte 0..9")
        return commitment_digest(model_id, info.version, None, output)
    from models.tensorio import decode_tensor, encode_tensor

    if stage == info.num_stages - 1:
        import torch

        token = decode_tensor(output)
        if token.dtype != torch.int64 or list(token.shape) != [1]:
            raise InvalidInputError("last stage output is AIVT int64 [1]")
        return commitment_digest(model_id, info.version, stage, encode_tensor(token))
    return commitment_digest(model_id, info.version, stage, canonical_hidden_states(output))


def validate_request(model_id: str, data: bytes) -> None:
    """Refuse inputs no validator could run, before any work is handed out."""
    info = MODELS.get(model_id)
    if info is not None and info.module:
        from models.small import model_module

        model_module(info).check_input(data)
        return
    if model_id == "digits_cnn":
        if len(data) != 64 or max(data, default=0) > 16:
            raise InvalidInputError("digits_cnn input is 64 bytes of pixel values 0..16 (an 8x8 image)")
    elif model_id in ("distributed_ai_model", "gpt_oss_chat"):
        if not data:
            raise InvalidInputError(f"{model_id} input is a non-empty UTF-8 prompt")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(f"{model_id} input must be UTF-8 text") from None


REJECT = b"aivm.reject.v1"


def chunk_commitment(model_id: str, stage: int, proposal: bytes) -> bytes:
    """A text chunk's commitment: the last stage's token ids (all generated so far) exactly, or the
    proposed hidden states of the chunk's positions (rounded to bfloat16 as everywhere)."""
    from models.tensorio import decode_tensor, encode_tensor

    info = MODELS[model_id]
    if stage == info.num_stages - 1:
        import torch

        tokens = decode_tensor(proposal)
        if tokens.dtype != torch.int64 or tokens.dim() != 1:
            raise InvalidInputError("a text chunk's last-stage proposal is AIVT int64 [n]")
        return commitment_digest(model_id, info.version, stage, encode_tensor(tokens))
    return commitment_digest(model_id, info.version, stage, canonical_hidden_states(proposal))


def verdict_commitment(model_id: str, stage: int, proposal: bytes, accept: bool) -> bytes:
    """What a verifier signs: the proposal's commitment to accept it, a derived digest to reject it."""
    from eth_hash.auto import keccak

    c = chunk_commitment(model_id, stage, proposal)
    return c if accept else keccak(REJECT + c)
