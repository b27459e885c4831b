"""Checking a computation's answer against its quorum certificate, off-chain.

The same certificate bytes go to the consensus precompile on-chain; here we
also recompute the signed vote from the computation's own record, so a
certificate cannot be reused for another input or another answer.
"""
from __future__ import annotations

from typing import Any, Callable

from eth_hash.auto import keccak

from ai.protocol import TaskVote
from pqc import quorum
from pqc.errors import FormatError


def verify_computation(comp: Any, chain_id: int, read: Callable[[bytes, int], int]) -> dict:
    out = {"computation_id": comp.id, "valid": False, "status": comp.status}
    if comp.status != "Completed" or not comp.certificate:
        out["reason"] = f"computation is {comp.status}: nothing to verify"
        return out
    cert_info = comp.certificate
    try:
        vote = TaskVote.from_json(cert_info["vote"])
        cert = quorum.QuorumCertificate.decode(bytes.fromhex(cert_info["encoded"][2:]))
    except (KeyError, ValueError, FormatError) as exc:
        out["reason"] = f"certificate is malformed: {exc}"
        return out
    checks = [
        (vote.chain_id == chain_id, "certificate is for another chain"),
        (vote.message_hash == cert.message_hash, "certificate signs a different statement than its vote"),
        (vote.model_id == comp.model_id, "certificate is for another model"),
        (vote.request_hash == keccak(comp.input), "certificate is for another input"),
        (vote.result_hash == keccak(comp.result), "certificate is for another result"),
    ]
    for ok, why in checks:
        if not ok:
            out["reason"] = why
            return out
    result = quorum.verify(cert, read)
    out.update(valid=result.passed, signers=result.signers, required=result.required, set_size=result.set_size,
               model_id=comp.model_id, input_hash="0x" + vote.request_hash.hex(),
               output_hash="0x" + vote.result_hash.hex(), certificate=cert_info["encoded"],
               validators=cert_info.get("signers", []), epoch=result.epoch,
               signed_stake=str(result.signed_stake), total_stake=str(result.total_stake),
               required_stake=str(result.required_stake))
    if not result.passed:
        out["reason"] = result.reason or "; ".join(f"vote {i}: {why}" for i, why in result.rejected) or (
            f"signers hold {result.signed_stake} of {result.total_stake} wei, {result.required_stake} needed"
            if result.epoch else "not enough signers")
    return out
