"""Propose-and-verify decoding of the sharded text model: what validators run for one computation.

One *proposer* per stage decodes incrementally with a KV cache, exactly as ``generate`` does (a
validator holding every stage proposes the whole loop locally). The other holders of a stage
*verify* a chunk of the proposal in one forward pass over the chunk's positions (a prefill on top
of their own cache of the earlier, agreed positions), taking the proposal's own upstream outputs as
their input, so every stage is checked independently and all stages of a chunk are checked at once.

The near-tie rule (batched and incremental paths differ in the low float bits, ~1e-5 relative):

* hidden states (stage < last): the proposed output at a position is accepted when
  ``max |proposed - own| <= HIDDEN_RTOL * rms(own)`` (``HIDDEN_RTOL`` = 1e-3, ~100x the honest gap);
* tokens (last stage): the ``TokenRule`` decides; greedy accepts token ``t`` at a position when
  ``logits[t] >= max(logits) - LOGIT_EPS`` (``LOGIT_EPS`` = 2e-3 logits, ~40x the honest gap). An
  honest proposer picks the argmax of its own path, so within a genuine near-tie it may pick either.

Every tensor crosses the wire as AIVT (``tensorio``). Positions are absolute sequence positions;
the last stage's output at position ``P - 1 + j`` (prompt length ``P``) is generated token ``j``.
"""
from __future__ import annotations

import os

from dataclasses import dataclass, field
from typing import Protocol

from .errors import InvalidInputError
from .smollm2 import offline_env

offline_env()
import torch  # noqa: E402

HIDDEN_RTOL = 1e-3
LOGIT_EPS = 2e-3
# generated tokens certified per verification round (one round per stage per chunk); the environment
# variable is for benchmarks comparing chunk sizes (the node's scheduler reads it once, at start)
CHUNK_TOKENS = int(os.environ.get("AIVM_TEXT_CHUNK_TOKENS", "8"))


class TokenRule(Protocol):
    """How the last stage's logits become a token, and how a verifier checks a proposed one.

    ``index`` is the generated token's index (0-based), so a seeded sampling rule can derive its
    randomness per position from the request. ``spec`` travels in the propose and verify tasks.
    """

    spec: dict

    def select(self, logits: torch.Tensor, index: int) -> int: ...

    def accepts(self, logits: torch.Tensor, token: int, index: int) -> bool: ...


class GreedyRule:
    """Argmax (ties -> lowest id); a proposed token within ``LOGIT_EPS`` of the max is accepted."""

    spec = {"name": "greedy"}
    near_tie = True  # verified from batched logits

    def select(self, logits: torch.Tensor, index: int) -> int:
        return int(logits.argmax())

    def accepts(self, logits: torch.Tensor, token: int, index: int) -> bool:
        return 0 <= token < logits.shape[-1] and float(logits[token]) >= float(logits.max()) - LOGIT_EPS


class SampleRule:
    """A chat request's seeded sampling (``models.sampling``, rule ``aivm.sample/1``).

    Its draw depends on every candidate's fixed-point weight, so a verifier must see the proposer's
    exact logits: the last stage is verified on the incremental path (one position at a time on the
    KV cache, from the proposed stage inputs, as the proposer ran it) and the token must be equal.
    """

    near_tie = False

    def __init__(self, spec: dict) -> None:
        from .sampling import Sampling

        self.spec = dict(spec)
        self.sampling = Sampling.from_json({k: v for k, v in spec.items() if k != "name"})

    def select(self, logits: torch.Tensor, index: int) -> int:
        from .sampling import sample_token

        return sample_token(logits, self.sampling, index)

    def accepts(self, logits: torch.Tensor, token: int, index: int) -> bool:
        return self.select(logits, index) == token


def token_rule(spec: dict | None) -> TokenRule:
    """The rule named by a task's ``rule`` field: greedy, or a chat request's seeded sampling."""
    name = (spec or {}).get("name", "greedy")
    if name == "greedy":
        return GreedyRule()
    if name == "sample":
        return SampleRule(spec)
    raise InvalidInputError(f"unknown token rule {name!r}")


@dataclass
class Limits:
    """When a generation ends: a stop token, ``max_new_tokens``, or a stop string in the decoded text
    (``decoder``: token ids -> text, needed only when there are stop strings)."""

    max_new_tokens: int
    stop_ids: tuple = ()
    stop: tuple = ()  # stop strings (a chat request's `stop`)
    decoder: object = field(default=None, repr=False, compare=False)

    def done(self, tokens: list) -> bool:
        if len(tokens) >= self.max_new_tokens or bool(tokens and tokens[-1] in self.stop_ids):
            return True
        if self.stop and tokens and None not in tokens:
            text = self.decoder(list(tokens))
            return any(s in text for s in self.stop)
        return False

    def valid(self, tokens: list, since: int = 0) -> bool:
        """No token after the end (a proposal that runs on past a stop is malformed); tokens before
        ``since`` were checked already."""
        return not any(self.done(tokens[:i]) for i in range(max(1, since), len(tokens)))

    def to_json(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "stop_ids": list(self.stop_ids), "stop": list(self.stop)}

    @classmethod
    def from_json(cls, d: dict, decoder=None) -> "Limits":
        return cls(int(d["max_new_tokens"]), tuple(int(i) for i in d.get("stop_ids", ())),
                   tuple(str(s) for s in d.get("stop", ())), decoder)


def chunk_bounds(prompt_len: int, chunk: int, tokens: int, chunk_tokens: int) -> tuple[int, int, int, int]:
    """(first token, end token, first position, end position) of chunk ``chunk`` when ``tokens`` exist.

    Chunk 0 also covers the prompt's positions; the last position of a chunk is the one whose logits
    give its last token (so a chunk's stage outputs end at ``prompt_len - 1 + end token``).
    """
    first = chunk * chunk_tokens
    end = min(tokens, first + chunk_tokens)
    return first, end, (0 if chunk == 0 else prompt_len - 1 + first), prompt_len - 1 + end


@dataclass
class StageProposer:
    """A proposer's stages ``first..last`` (consecutive, all held here) and their KV caches."""

    runners: list  # StageRunner per stage of the range, in order
    rule: TokenRule = field(default_factory=GreedyRule)

    def __post_init__(self) -> None:
        from .pipeline import StageCache

        self.caches = [StageCache() for _ in self.runners]
        self.first = self.runners[0].stage
        self.is_last = self.runners[-1].module.is_last

    def feed(self, x: torch.Tensor, next_index: int) -> list[torch.Tensor]:
        """New positions in (token ids or hidden states); every stage's output of them out.

        The last stage's "output" is the selected next token (int64 [1]), generated index ``next_index``.
        """
        outs = []
        for runner, cache in zip(self.runners, self.caches):
            x = runner.extend(x, cache)
            outs.append(x)
        if self.is_last:
            outs[-1] = torch.tensor([self.rule.select(x[0, -1], next_index)], dtype=torch.int64)
        return outs


def hidden_close(proposed: torch.Tensor, own: torch.Tensor) -> int:
    """-1 when every position of ``proposed`` is within the rule of ``own``, else the first bad position."""
    if proposed.shape != own.shape or proposed.dtype != own.dtype or not bool(torch.isfinite(proposed).all()):
        return 0
    gap = (proposed - own).abs().amax(-1)[0]
    scale = own.pow(2).mean(-1).sqrt()[0]
    bad = (gap > HIDDEN_RTOL * scale).nonzero()
    return int(bad[0, 0]) if bad.numel() else -1


def verify_chunk(runner, cache, x: torch.Tensor, start: int, proposal: torch.Tensor, rule: TokenRule,
                 prompt_len: int) -> tuple[bool, str]:
    """Check one stage's proposed output for positions ``start..`` in a single forward pass.

    ``x`` holds the stage input from ``cache.length`` on (the cache holds the earlier positions);
    ``proposal`` is the stage's proposed output (hidden states of the new positions, or for the last
    stage all generated token ids through this chunk).
    """
    if runner.module.is_last and not getattr(rule, "near_tie", True):
        if cache.length > start:
            raise InvalidInputError(f"cache holds {cache.length} positions, the chunk starts at {start}")
        return _verify_exact(runner, cache, x, start, proposal, rule, prompt_len)
    return verify_chunks(runner, cache, x, [(start, cache.length + x.shape[1], proposal)], rule, prompt_len)[0]


def verify_chunks(runner, cache, x: torch.Tensor, chunks: list, rule: TokenRule, prompt_len: int) -> list:
    """Check consecutive chunks of one stage in a single forward pass: a verdict ``(ok, why)`` per chunk.

    ``chunks``: ``(start, end, proposal)`` per chunk, in order, each starting where the one before ends;
    ``x`` holds the stage input from ``cache.length`` to the last chunk's end. A forward pass over 40
    positions costs about what one over 8 does (streaming the stage's weights dominates), so a verifier
    holding several chunks checks them at once. Each verdict depends only on its chunk's own positions
    (the cache grows from the inputs, whatever a proposal says), so it is the verdict of checking that
    chunk alone, up to the batched path's rounding, which the near-tie rule covers. A sampled answer's
    last stage is checked exactly on the proposer's path instead (``verify_chunk``).
    """
    start = chunks[0][0]
    if cache.length > start:
        raise InvalidInputError(f"cache holds {cache.length} positions, the chunk starts at {start}")
    before = cache.length
    if runner.module.is_last:
        if not getattr(rule, "near_tie", True):
            raise InvalidInputError("a sampled answer's tokens are checked on the proposer's path (verify_chunk)")
        first_pos = max(start, prompt_len - 1)  # logits only where a token is predicted
        out = runner.extend(x, cache, logits_from=first_pos - before)[0]  # row r: position first_pos + r
        verdicts = []
        for begin, end, proposal in chunks:
            first = max(begin, prompt_len - 1)
            first_token = first - (prompt_len - 1)
            rows = out[first - first_pos:end - first_pos]
            tokens = [int(t) for t in proposal.reshape(-1)[first_token:]]
            verdicts.append(_tokens_verdict(rows, tokens, first_token, rule))
        return verdicts
    out = runner.extend(x, cache)[:, start - before:, :]  # positions of x before the chunks: a verifier catching up
    verdicts = []
    for begin, end, proposal in chunks:
        bad = hidden_close(proposal, out[:, begin - start:end - start, :])
        verdicts.append((False, f"hidden state at position {begin + bad} is off") if bad >= 0 else (True, ""))
    return verdicts


def _tokens_verdict(rows: torch.Tensor, tokens: list, first_token: int, rule: TokenRule) -> tuple[bool, str]:
    if len(tokens) != rows.shape[0]:
        return False, f"{len(tokens)} tokens proposed for {rows.shape[0]} positions"
    for j, token in enumerate(tokens):
        if not rule.accepts(rows[j], token, first_token + j):
            return False, f"token {first_token + j} ({token}) is not what the rule selects"
    return True, ""


def propose(proposer: StageProposer, prompt_ids: list[int], limits: Limits, on_output=None) -> dict:
    """Decode to the end with every stage local (``proposer`` holds them all): the whole transcript.

    ``on_output(stage, start, tensor)`` sees each stage's output as it is made (a validator relays it).
    Returns ``{"tokens": [...], "hidden": [tensor [1, T, H] per stage < last]}``.
    """
    if proposer.first != 0 or not proposer.is_last:
        raise InvalidInputError("a local proposal needs every stage")
    tokens: list[int] = []
    hidden: list[list[torch.Tensor]] = [[] for _ in proposer.runners[:-1]]
    x, pos = torch.tensor([prompt_ids], dtype=torch.int64), 0
    while not limits.done(tokens):
        outs = proposer.feed(x, len(tokens))
        for k, out in enumerate(outs[:-1]):
            hidden[k].append(out)
            if on_output:
                on_output(k, pos, out)
        tokens.append(int(outs[-1][0]))
        if on_output:
            on_output(len(outs) - 1, len(tokens) - 1, outs[-1])
        pos += x.shape[1]
        x = outs[-1].reshape(1, 1)
    return {"tokens": tokens, "hidden": [torch.cat(h, dim=1) for h in hidden]}


def _verify_exact(runner, cache, x: torch.Tensor, start: int, proposal: torch.Tensor, rule: TokenRule,
                  prompt_len: int) -> tuple[bool, str]:
    """The last stage as the proposer ran it: the prompt in one pass, then one position at a time.

    It runs to the chunk's end even past a wrong token: the cache then holds the whole chunk, as the
    node assumes when it sends this verifier the next chunk (a re-proposal truncates it anyway)."""
    tokens = [int(t) for t in proposal.reshape(-1)]
    pos, i, why = cache.length, 0, ""
    while i < x.shape[1]:
        n = prompt_len - pos if pos < prompt_len else 1
        logits = runner.extend(x[:, i:i + n], cache)[0, -1]
        pos, i = pos + n, i + n
        index = pos - prompt_len
        if not why and pos >= max(start, prompt_len) and index < len(tokens):
            if not rule.accepts(logits, tokens[index], index):
                why = f"token {index} ({tokens[index]}) is not what the rule selects"
    return not why, why
