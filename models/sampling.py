"""Sampling a quorum can agree on: ``temperature > 0`` as a pure function of (logits, params, seed, step).

Every validator of the last stage must pick the same token from logits it computed itself, on any
thread count, in any process. The rule (version ``aivm.sample/1``):

1. Logits (float32, from the model) are rounded to fixed point: ``q = round(logit * 2**10)`` as
   int64. Thread-count differences in the last float32 bits move a logit by ~1e-6; a different
   ``q`` needs it to straddle a rounding boundary of width 2**-10, so it almost never happens.
2. Candidates: the ``TOP_K`` largest ``q`` (ties: lower token id first) — an exact integer order.
3. Weights in float64 with one libm ``exp`` per candidate, in candidate order:
   ``w = exp((q - q_max) / 2**10 / temperature)``, then turned into integers ``W = floor(w * 2**32)``
   (at least 1 for the top token). All further arithmetic is on integers.
4. Nucleus: keep the shortest prefix of candidates whose ``sum(W)`` reaches ``top_p * total``
   (``top_p`` as 16-bit fixed point), at least one token.
5. Draw: ``r = keccak(seed || step as 8 bytes) mod kept_total``; the token is the first candidate
   whose running sum of ``W`` exceeds ``r``.

``seed`` is 32 bytes derived from the request (``derive_seed``), ``step`` the index of the token
being generated. ``temperature == 0`` is greedy: argmax, ties to the lowest id (as the stage does).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from eth_hash.auto import keccak

from .errors import InvalidInputError

RULE = "aivm.sample/1"
FIXED_BITS = 10
TOP_K = 256
WEIGHT_BITS = 32
TOP_P_BITS = 16
MAX_TEMPERATURE = 2.0


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    seed: bytes  # 32 bytes

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and 0 <= self.temperature <= MAX_TEMPERATURE):
            raise InvalidInputError(f"temperature must be a number in 0..{MAX_TEMPERATURE}, got {self.temperature!r}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise InvalidInputError(f"top_p must be a number in (0, 1], got {self.top_p!r}")
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise InvalidInputError("sampling seed must be 32 bytes")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_json(self) -> dict:
        return {"rule": RULE, "temperature": float(self.temperature), "top_p": float(self.top_p),
                "seed": "0x" + self.seed.hex()}

    @classmethod
    def from_json(cls, d: dict) -> "Sampling":
        if not isinstance(d, dict) or d.get("rule") != RULE:
            raise InvalidInputError(f"sampling must follow rule {RULE}")
        try:
            return cls(float(d["temperature"]), float(d["top_p"]), bytes.fromhex(str(d["seed"])[2:]))
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInputError(f"malformed sampling parameters: {exc}") from None


def derive_seed(request: bytes) -> bytes:
    """The per-request seed: every validator derives the same 32 bytes from the request bytes."""
    return keccak(b"aivm.sample.seed/1" + bytes(request))


def _uniform(seed: bytes, step: int, modulus: int) -> int:
    return int.from_bytes(keccak(seed + int(step).to_bytes(8, "big")), "big") % modulus


def quantize(logits) -> "list[tuple[int, int]]":
    """(q, token id) of the TOP_K best fixed-point logits, best first (ties: lower id)."""
    import torch

    flat = logits.detach().reshape(-1).to(torch.float64)
    if not bool(torch.isfinite(flat).all()):
        raise InvalidInputError("logits contain NaN or inf")
    q = torch.round(flat * (1 << FIXED_BITS)).to(torch.int64)
    k = min(TOP_K, q.numel())
    # a margin beyond k so that ties at the k-th value are broken by id, not by topk's internals
    top = torch.topk(q, min(q.numel(), k + 64)).values[-1]
    ids = torch.nonzero(q >= top).reshape(-1).tolist()
    qs = q[ids].tolist()
    ranked = sorted(zip(qs, ids), key=lambda t: (-t[0], t[1]))
    return ranked[:k]


def sample_token(logits, sampling: Sampling, step: int) -> int:
    """The token every honest validator picks from ``logits`` ([vocab], or [1, 1, vocab])."""
    import torch

    if sampling.greedy:
        flat = logits.detach().reshape(-1)
        return int(torch.argmax(flat))  # first maximum: the lowest id on ties
    ranked = quantize(logits)
    q_max = ranked[0][0]
    scale = float(1 << FIXED_BITS) * float(sampling.temperature)
    weights = []
    for q, _ in ranked:
        w = math.floor(math.exp((q - q_max) / scale) * (1 << WEIGHT_BITS))
        weights.append(max(w, 0))
    weights[0] = max(weights[0], 1)
    total = sum(weights)
    p = round(float(sampling.top_p) * (1 << TOP_P_BITS))
    kept, cum = 0, 0
    for w in weights:
        kept += 1
        cum += w
        if cum << TOP_P_BITS >= p * total:
            break
    r = _uniform(sampling.seed, step, cum)
    run = 0
    for (_, token), w in zip(ranked[:kept], weights[:kept]):
        run += w
        if run > r:
            return token
    return ranked[kept - 1][1]  # unreachable: run reaches cum > r


def run_last_stage(runner, stage_input: bytes, sampling: Sampling, step: int) -> bytes:
    """A last-stage runner's forward pass, with the token chosen by ``sample_token``: AIVT int64 [1]."""
    import torch

    from .tensorio import decode_tensor, encode_tensor

    logits = runner.forward(decode_tensor(stage_input))
    return encode_tensor(torch.tensor([sample_token(logits[0, -1], sampling, step)], dtype=torch.int64))
