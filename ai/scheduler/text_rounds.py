"""Text generation through the quorum: propose with a KV cache, verify a chunk per round.

A computation of the sharded text model runs as one *proposal* and rounds of *verification*:

1. Proposers: per stage, one eligible holder (a validator holding every stage proposes the whole
   loop in its own process). They decode incrementally with KV caches, exactly as one-process
   ``generate``; each output they make is relayed, signed, through the node
   (``synergy_relayAIState``), which forwards it to the next stage's proposer and records it.
2. As soon as a chunk of ``CHUNK_TOKENS`` generated tokens (chunk 0: the prompt too) has every
   stage's output, one round per stage opens for it, all at once: the stage's holders check the
   proposed output of the chunk's positions in one forward pass, taking the *proposed* upstream
   outputs as input (so stages are checked independently), and sign accept or reject
   (``models.decoding`` states the near-tie rule). The stage's proposer signs too (it checks the
   recorded proposal against its own outputs). A round is decided by the usual quorum rule
   (``Round.decided``: the stake-weighted rule): accept -> the chunk's stage is certified; reject -> the proposer and
   whoever accepted are slashed and the text is proposed again from the last agreed chunk by
   other proposers. A chunk is agreed when all its stages are; agreed tokens are streamed in
   ``generation.generated``.
3. The last chunk's last-stage certificate binds the prompt (request_hash), every token id
   (commitment over all of them) and the answer text (result_hash).

Called with the scheduler's lock held, like the rest of the scheduler's round logic.
"""
from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from models.decoding import CHUNK_TOKENS, Limits, chunk_bounds
from models.tensorio import decode_tensor, encode_tensor

log = logging.getLogger("aivm.ai")

# Share of verification rounds in which one verifier (the one with the fewest so far) gets a *canary*
# instead of the real proposal: a copy with one position made plainly wrong. It looks like any task;
# an honest verifier rejects it, one that signs without checking accepts it and is slashed.
CANARY_RATE = float(os.environ.get("AIVM_TEXT_CANARY_RATE", "0.125"))


def canary(proposal: bytes, is_last: bool, first_token: int) -> bytes:
    """The proposal with one position of the chunk made wrong (far outside the near-tie rule)."""
    import torch

    t = decode_tensor(proposal).clone()
    if is_last:
        i = random.randrange(first_token, t.shape[0])
        t[i] = (int(t[i]) + 1 + random.randrange(1000)) % 49152
    else:
        i = random.randrange(t.shape[1])
        t[0, i] += torch.randn_like(t[0, i]) * 10 * float(t[0, i].pow(2).mean().sqrt())
    return encode_tensor(t)


class RelayError(Exception):
    """A relayed output the node refuses (the message is for the proposer)."""


@dataclass
class Proposer:
    task_id: str
    address: bytes
    first: int
    last: int
    epoch: int
    task: Optional[dict] = None  # the propose task as sent (the polling fallback lists it)


@dataclass
class TextState:
    """The proposal being verified, and what is agreed of it."""

    generation: Any  # models.generation.Generation: prompt ids, limits, agreed tokens (`generated`)
    num_stages: int
    chunk_tokens: int = CHUNK_TOKENS
    epoch: int = 0
    proposers: list = field(default_factory=list)  # Proposer per stage (the same one for a stage range)
    by_task: dict = field(default_factory=dict)  # propose task id -> Proposer (current epoch only)
    hidden: list = field(default_factory=list)  # per stage < last: list of float32 [1, n, H] pieces
    hidden_len: list = field(default_factory=list)
    tokens: list = field(default_factory=list)  # proposed token ids (the agreed ones first)
    next_chunk: int = 0  # the next chunk to open rounds for
    rounds: dict = field(default_factory=dict)  # (chunk, stage) -> Round, open or decided this epoch
    accepted: dict = field(default_factory=dict)  # chunk -> stages certified
    agreed_chunks: int = 0
    excluded: set = field(default_factory=set)  # proposers this computation stopped trusting
    last_progress: float = 0.0
    done_told: bool = False  # verifiers with open checks were told the proposal is complete (this epoch)
    final_round: Any = None
    gaps: set = field(default_factory=set)  # (validator, stage) whose verifier cache may miss a chunk
    touched: set = field(default_factory=set)  # validators whose records changed outside a round
    wire_bytes: int = 0  # relay and verify payload bytes through the node (bench figure)

    @property
    def prompt_len(self) -> int:
        return len(self.generation.prompt_ids)

    @property
    def limits(self) -> Limits:
        return self.generation.limits

    def reset(self, epoch: int) -> None:
        agreed = list(self.generation.generated)
        self.epoch, self.tokens, self.next_chunk = epoch, agreed, self.agreed_chunks
        if self.agreed_chunks == 0:
            self.hidden = [[] for _ in range(self.num_stages - 1)]
            self.hidden_len = [0] * (self.num_stages - 1)
        else:  # keep the agreed positions (verifiers' caches hold them), drop the rest
            _, _, _, keep = chunk_bounds(self.prompt_len, self.agreed_chunks - 1, len(agreed), self.chunk_tokens)
            self.hidden = [[self.hidden_slice(k, 0, keep)] for k in range(self.num_stages - 1)]
            self.hidden_len = [keep] * (self.num_stages - 1)
        self.rounds = {key: r for key, r in self.rounds.items() if key[0] < self.agreed_chunks}
        self.accepted = {c: s for c, s in self.accepted.items() if c < self.agreed_chunks}
        self.proposers, self.by_task = [], {}
        self.last_progress = time.time()
        self.done_told = False

    def hidden_slice(self, stage: int, start: int, end: int):
        import torch

        whole = torch.cat(self.hidden[stage], dim=1) if len(self.hidden[stage]) > 1 else self.hidden[stage][0]
        self.hidden[stage] = [whole]
        return whole[:, start:end, :]

    def finished(self) -> bool:
        return self.limits.done(self.tokens)

    def chunk_ready(self, chunk: int) -> bool:
        first = chunk * self.chunk_tokens
        if len(self.tokens) <= first:
            return False
        _, end, _, stop = chunk_bounds(self.prompt_len, chunk, len(self.tokens), self.chunk_tokens)
        if end - first < self.chunk_tokens and not self.finished():
            return False
        return all(n >= stop for n in self.hidden_len)

    def last_chunk(self) -> int:
        return (len(self.tokens) - 1) // self.chunk_tokens

    def stage_input(self, stage: int, start: int, end: int) -> bytes:
        import torch

        if stage == 0:
            ids = self.generation.prompt_ids + self.tokens
            return encode_tensor(torch.tensor([ids[start:end]], dtype=torch.int64))
        return encode_tensor(self.hidden_slice(stage - 1, start, end).contiguous())

    def proposal(self, stage: int, chunk: int) -> bytes:
        import torch

        _, end, start, stop = chunk_bounds(self.prompt_len, chunk, len(self.tokens), self.chunk_tokens)
        if stage == self.num_stages - 1:
            return encode_tensor(torch.tensor(self.tokens[:end], dtype=torch.int64))
        return encode_tensor(self.hidden_slice(stage, start, stop).contiguous())


def accept_relay(st: TextState, p: Proposer, stage: int, start: int, data: bytes) -> Optional[dict]:
    """Record one relayed output; returns the relay message for the next stage's proposer, if remote."""
    import torch

    if not p.first <= stage <= p.last:
        raise RelayError(f"stage {stage} is not in this proposer's stages {p.first}..{p.last}")
    tensor = decode_tensor(data)
    if stage < st.num_stages - 1:
        if tensor.dtype != torch.float32 or tensor.dim() != 3 or tensor.shape[0] != 1 or tensor.shape[1] < 1:
            raise RelayError("a hidden-state relay is AIVT float32 [1, n, H]")
        if not bool(torch.isfinite(tensor).all()):
            raise RelayError("relayed hidden states contain NaN or inf")
        have = st.hidden_len[stage]
        if start > have:
            raise RelayError(f"stage {stage} relay starts at position {start}, the node has {have}")
        new = tensor[:, have - start:, :]  # a re-proposal repeats the agreed prefix: keep only what is new
        if new.shape[1]:
            st.hidden[stage].append(new)
            st.hidden_len[stage] += new.shape[1]
    else:
        if tensor.dtype != torch.int64 or tensor.dim() != 1 or tensor.numel() < 1:
            raise RelayError("a token relay is AIVT int64 [n]")
        have = len(st.tokens)
        if start > have:
            raise RelayError(f"token relay starts at index {start}, the node has {have}")
        new = [int(t) for t in tensor[have - start:]]
        if any(not 0 <= t < 2**31 for t in new):
            raise RelayError("token id out of range")
        if st.finished() and new:
            raise RelayError("the generation already ended")
        tokens = st.tokens + new
        if not st.limits.valid(tokens, since=have):
            raise RelayError("tokens proposed after the generation ended")
        st.tokens = tokens
    st.last_progress = time.time()
    nxt = st.proposers[(stage + 1) % st.num_stages]
    if nxt.address == p.address or (stage == st.num_stages - 1 and st.finished()):
        return None
    return {"kind": "relay", "task_id": nxt.task_id, "computation_id": None, "stage": stage, "start": start,
            "data": data.hex()}


def stalled_proposer(st: TextState) -> Optional[Proposer]:
    """The proposer the proposal waits on (the first stage whose output lags its input)."""
    if not st.proposers or st.finished() and all(n >= st.prompt_len - 1 + len(st.tokens) for n in st.hidden_len):
        return None
    inputs = st.prompt_len + len(st.tokens) - (1 if st.finished() else 0)
    for k in range(st.num_stages - 1):
        if st.hidden_len[k] < inputs:
            return st.proposers[k]
        inputs = st.hidden_len[k]
    return st.proposers[-1]
