"""Commitments: the 32 bytes validators sign and a quorum compares.

A commitment only covers values that are robust across honest machines, so honest validators
always agree (see docs/models.md, "Determinism"):

* class ids, token ids and generated text are committed exactly;
* float hidden states (pipeline stage outputs) are rounded to bfloat16 first (round to nearest
  even; float32's range, so no overflow — SmolLM2's residual stream reaches ~25,000, close to
  float16's 65,504), because their low float32 bits may change with CPU instruction set or
  library version. Rounding makes a disagreement rare, not impossible: see docs/models.md.

    commitment = sha256( b"aivm.commit.v1" || u16 len || model_id || u16 len || version
                         || i16 stage (-1: whole model) || canonical output bytes )

Binding the model id, version and stage means an output of one model never matches another's.
"""
from __future__ import annotations

import hashlib
import struct

import torch

from .errors import InvalidInputError
from .tensorio import decode_tensor, encode_tensor

DOMAIN = b"aivm.commit.v1"
WHOLE = -1


def commitment_digest(model_id: str, version: str, stage: int | None, canonical: bytes) -> bytes:
    """The sha256 commitment over already-canonical output bytes."""
    mid, ver = model_id.encode(), version.encode()
    header = DOMAIN + struct.pack("<H", len(mid)) + mid + struct.pack("<H", len(ver)) + ver
    header += struct.pack("<h", WHOLE if stage is None else stage)
    return hashlib.sha256(header + bytes(canonical)).digest()


def canonical_hidden_states(output: bytes) -> bytes:
    """Hidden states (AIVT float32) -> AIVT bfloat16: the form that is committed."""
    tensor = decode_tensor(output)
    if tensor.dtype != torch.float32:
        raise InvalidInputError(f"hidden states must be float32, got {tensor.dtype}")
    return encode_tensor(tensor.to(torch.bfloat16))
