"""0x0118 `pqc_quorum_verify`: did enough registered validators sign this hash?

Input is a quorum certificate (pqc/quorum.py), canonical ABI:
    abi.encode(bytes32 messageHash, uint8 level, uint256 setId, uint256 threshold,
               bytes[] keyBundles, bytes[] signatureBundles)
Output: abi.encode(bool passed, uint256 signers, uint256 required).

Stateful: the validator registry lives in this precompile's own storage
(pqc/validators.py), so the answer depends only on the state being executed
against. Gas is charged per vote before any signature is checked.
"""
from __future__ import annotations

from pqc import abi, gas, quorum
from pqc.errors import PQCError
from pqc.levels import SecurityLevel
from pqc.validators import CONSENSUS_ADDRESS
from precompiles.registry import CallContext, Precompile, PrecompileError, register

LEVEL_ARG, VOTES_ARG = 1, 4


def _gas(data: bytes) -> int:
    level = SecurityLevel.parse(abi.peek_uint(data, LEVEL_ARG, 8))
    return gas.consensus_gas(level, abi.peek_array_length(data, VOTES_ARG), len(data))


def _run(ctx: CallContext) -> bytes:
    try:
        cert = quorum.QuorumCertificate.decode(ctx.data)
    except PQCError as exc:
        raise PrecompileError(exc.reason) from None
    return quorum.verify(cert, ctx.read_storage, address=CONSENSUS_ADDRESS).abi_output()


QUORUM_VERIFY = register(Precompile(
    name="pqc_quorum_verify", address=int.from_bytes(CONSENSUS_ADDRESS, "big"),
    gas=_gas, run=_run, stateful=True,
    doc="quorum certificate -> abi.encode(bool passed, uint256 signers, uint256 required)",
))
