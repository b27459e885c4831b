"""Pipeline stages of ``distributed_ai_model``: what a validator holding one stage file runs.

Stage i holds decoder layers [first, last) of SmolLM2 (stage 0 also the token embedding, the last
stage also the final norm and lm_head). One generation step runs every stage in order over the
whole sequence — no KV cache, batch 1, float32, eager attention — so each stage is a pure function
of its input bytes and any validator can run any step:

    stage 0 input : AIVT int64   [1, T]      token ids (prompt + tokens generated so far)
    stage k output: AIVT float32 [1, T, 576] hidden states after its last layer (input of stage k+1)
    last  output  : AIVT int64   [1]         the greedy next token id (argmax of the last position's logits)

The ops are exactly those of ``LlamaModel.forward`` (same modules, same mask and rotary helpers),
so the chained stages give bit-identical logits to the unsharded model (tested).
"""
from __future__ import annotations

import json
from pathlib import Path

from .commit import canonical_hidden_states, commitment_digest
from .errors import ArtifactError, InvalidInputError, UnknownModelError
from .manifest import Manifest, verify_shard
from .smollm2 import CONFIG, MANIFEST, MODEL_ID, NUM_STAGES, VERSION, ensure_smollm2_stages, offline_env
from .tensorio import decode_tensor, encode_tensor

offline_env()
import torch  # noqa: E402
from torch import nn  # noqa: E402

ATTN_IMPLEMENTATION = "eager"
MAX_TOKENS = 2048  # longest sequence a stage accepts (prompt + generated)


def llama_config(config_json: str):
    from transformers import LlamaConfig

    config = LlamaConfig.from_dict(json.loads(config_json))
    config._attn_implementation = ATTN_IMPLEMENTATION
    config.use_cache = False
    return config


class Stage(nn.Module):
    """Layers [first, last) of the Llama stack, plus embedding (first stage) or norm + lm_head (last stage)."""

    def __init__(self, config, stage: int, num_stages: int, first: int, last: int) -> None:
        super().__init__()
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding

        self.config, self.stage, self.num_stages, self.first, self.last = config, stage, num_stages, first, last
        self.is_first, self.is_last = stage == 0, stage == num_stages - 1
        self.rotary_emb = LlamaRotaryEmbedding(config=config)  # no weights: computed from the config
        with torch.device("meta"):  # real tensors come from the stage file (load_state_dict assign=True)
            if self.is_first:
                self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
            self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(first, last))
            if self.is_last:
                self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
                self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    @classmethod
    def from_file(cls, path: Path, config_json: str, stage: int, num_stages: int, layers: tuple[int, int]) -> "Stage":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        first, last = layers
        module = cls(llama_config(config_json), stage, num_stages, first, last)
        state = {}
        for name, tensor in tensors.items():
            if name.startswith("model.layers."):
                index, rest = name[len("model.layers."):].split(".", 1)
                name = f"layers.{int(index) - first}.{rest}"
            # a copy, from torch's allocator (64-byte aligned): safetensors gives tensors at their offsets in the
            # file (24 or 48 past a 64-byte line here), and MKL's sgemm runs slower on those — the staged decode
            # took 63.8 ms a token against 58.0 aligned (1 thread), `generate` 58.7, with the same answer
            state[name.removeprefix("model.")] = tensor.clone()
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:  # the file passed its hash check, so the manifest and code disagree
            raise ArtifactError(f"stage file {path} does not fit stage {stage} layers {first}..{last}: {exc}") from None
        return module.eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids or hidden states in; hidden states or last-position logits [1, 1, vocab] out."""
        from transformers.masking_utils import create_causal_mask

        hidden = self.embed_tokens(x) if self.is_first else x
        position_ids = torch.arange(hidden.shape[1]).unsqueeze(0)
        mask = create_causal_mask(config=self.config, inputs_embeds=hidden, attention_mask=None,
                                  cache=None, position_ids=position_ids)
        position_embeddings = self.rotary_emb(hidden, position_ids=position_ids)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=mask, position_ids=position_ids,
                           position_embeddings=position_embeddings, cache=None, use_cache=False)
        if not self.is_last:
            return hidden
        return self.lm_head(self.norm(hidden)[:, -1:, :])

    @torch.no_grad()
    def extend(self, x: torch.Tensor, cache: "StageCache", logits_from: int | None = None) -> torch.Tensor:
        """Run new positions ``cache.length ..`` on top of the cached keys/values (the incremental path).

        One position at a time is exactly the decoding step of ``generate`` with a KV cache; many at
        once is a prefill (causal among the new positions, full attention to the cached ones). The last
        stage returns logits of the new positions from ``logits_from`` on (relative), default: the last.
        """
        from transformers.masking_utils import create_causal_mask

        hidden = self.embed_tokens(x) if self.is_first else x
        start, new = cache.length, hidden.shape[1]
        position_ids = torch.arange(start, start + new).unsqueeze(0)
        mask = None
        if new > 1:  # a single new position attends to everything: no mask (adding zeros changes nothing)
            mask = create_causal_mask(config=self.config, inputs_embeds=hidden, attention_mask=None,
                                      cache=None, position_ids=torch.arange(new).unsqueeze(0))
            if start:
                mask = torch.cat([torch.zeros(1, 1, new, start, dtype=mask.dtype), mask], dim=-1)
        position_embeddings = self.rotary_emb(hidden, position_ids=position_ids)
        cache.probe = None
        for i, layer in enumerate(self.layers):
            hidden = layer(hidden, attention_mask=mask, position_ids=position_ids,
                           position_embeddings=position_embeddings, cache=cache, use_cache=True)
            if i == 0:
                cache.probe = hidden  # the first layer's output: never published, so a digest of it proves work
        cache.length += new
        if not self.is_last:
            return hidden
        keep = hidden[:, (new - 1 if logits_from is None else logits_from):, :]
        return self.lm_head(self.norm(keep))

    def check_input(self, x: torch.Tensor) -> None:
        if self.is_first:
            if x.dtype != torch.int64 or x.dim() != 2 or x.shape[0] != 1:
                raise InvalidInputError(f"stage 0 takes int64 token ids of shape [1, T], got {x.dtype} {list(x.shape)}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.config.vocab_size):
                raise InvalidInputError(f"token ids must be in 0..{self.config.vocab_size - 1}")
        else:
            width = self.config.hidden_size
            if x.dtype != torch.float32 or x.dim() != 3 or x.shape[0] != 1 or x.shape[2] != width:
                raise InvalidInputError(f"stage {self.stage} takes float32 hidden states [1, T, {width}], got {x.dtype} {list(x.shape)}")
            if not bool(torch.isfinite(x).all()):
                raise InvalidInputError(f"stage {self.stage} input hidden states contain NaN or inf")
        if not 1 <= x.shape[1] <= MAX_TOKENS:
            raise InvalidInputError(f"sequence length {x.shape[1]} is outside 1..{MAX_TOKENS}")


class StageCache:
    """Keys and values of the positions a stage has seen, per layer: what ``extend`` continues from."""

    def __init__(self) -> None:
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}
        self.length = 0
        self.probe: torch.Tensor | None = None

    def truncate(self, length: int) -> None:
        """Forget positions from ``length`` on (a proposal rejected after them)."""
        if length < self.length:
            for i in self.keys:
                self.keys[i] = self.keys[i][:, :, :length, :]
                self.values[i] = self.values[i][:, :, :length, :]
            self.length = length

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *args, **kwargs):
        if layer_idx in self.keys:
            key = torch.cat([self.keys[layer_idx], key], dim=-2)
            value = torch.cat([self.values[layer_idx], value], dim=-2)
        self.keys[layer_idx], self.values[layer_idx] = key, value
        return key, value


class StageRunner:
    """A validator's handle on one verified stage: ``infer`` (bytes -> bytes) and ``commitment``."""

    model_id, version = MODEL_ID, VERSION

    def __init__(self, directory: Path, stage: int, manifest: Manifest | None = None) -> None:
        self.manifest = manifest or Manifest.load(Path(directory) / MANIFEST)
        if not 0 <= stage < self.manifest.num_stages:
            raise UnknownModelError(f"{MODEL_ID} has stages 0..{self.manifest.num_stages - 1}, not {stage}")
        directory = Path(directory)
        entry = self.manifest.stage_shard(stage)
        verify_shard(directory / entry.name, self.manifest)
        verify_shard(directory / CONFIG, self.manifest)
        self.stage, self.num_stages = stage, self.manifest.num_stages
        self.module = Stage.from_file(directory / entry.name, (directory / CONFIG).read_text(), stage,
                                      self.num_stages, entry.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.module.check_input(x)
        return self.module(x)

    def extend(self, x: torch.Tensor, cache: StageCache, logits_from: int | None = None) -> torch.Tensor:
        """Checked ``Stage.extend``: the incremental (KV cache) path."""
        self.module.check_input(x)
        if cache.length + x.shape[1] > MAX_TOKENS:
            raise InvalidInputError(f"sequence length {cache.length + x.shape[1]} is over {MAX_TOKENS}")
        return self.module.extend(x, cache, logits_from)

    def infer(self, input_bytes: bytes) -> bytes:
        out = self.forward(decode_tensor(input_bytes))
        if self.module.is_last:
            return encode_tensor(out[0, -1].argmax().reshape(1))
        return encode_tensor(out.contiguous())

    def commitment(self, output_bytes: bytes) -> bytes:
        """Last stage: the token id exactly. Other stages: hidden states rounded to bfloat16."""
        if self.module.is_last:
            token = decode_tensor(output_bytes)
            if token.dtype != torch.int64 or list(token.shape) != [1]:
                raise InvalidInputError("last stage output is AIVT int64 [1]")
            canonical = encode_tensor(token)
        else:
            canonical = canonical_hidden_states(output_bytes)
        return commitment_digest(MODEL_ID, VERSION, self.stage, canonical)


_RUNNERS: dict[tuple[str, int, int], StageRunner] = {}


def stage_runner(stage_index: int, cache_dir=None, num_stages: int = NUM_STAGES) -> StageRunner:
    """The (per-process cached) runner of one stage, built from the local cache."""
    key = (str(cache_dir), num_stages, stage_index)
    if key not in _RUNNERS:
        _RUNNERS[key] = StageRunner(ensure_smollm2_stages(cache_dir, num_stages), stage_index)
    return _RUNNERS[key]


def run_stage(stage_index: int, stage_input_bytes: bytes, cache_dir=None, num_stages: int = NUM_STAGES) -> bytes:
    """Run one pipeline stage on AIVT input bytes and return its AIVT output bytes."""
    return stage_runner(stage_index, cache_dir, num_stages).infer(stage_input_bytes)
