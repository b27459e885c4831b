"""Greedy text generation for ``distributed_ai_model``, pipelined across stages or on the whole model.

Prompt rule: the input is a UTF-8 user message. It is wrapped in SmolLM2's chat template as a single
user turn (the template adds its default system prompt) with the assistant header appended, then
tokenized without extra special tokens. Generation is greedy (argmax, ties -> lowest id), stops at
``<|im_end|>`` or after ``max_new_tokens``, and the answer is the generated ids decoded with special
tokens skipped, as UTF-8.

Through the quorum, proposers decode with KV caches and verifiers check chunks in one pass
(``models.decoding``, ``ai.scheduler.text_rounds``); ``Generation`` is the node's record of one
request: prompt ids, ``limits`` (max_new_tokens, stop ids), the token ``rule`` (greedy; the place
for a seeded sampling rule) and the tokens agreed so far (``generated``, ``text``: a streamer polls them).
``drive`` / ``generate_pipelined`` feed the full sequence each step, for in-process comparisons.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .commit import commitment_digest
from .errors import InvalidInputError
from .manifest import Manifest, verify_shard
from .smollm2 import MANIFEST, MODEL_ID, NUM_STAGES, TOKENIZER_FILES, VERSION, ensure_smollm2, ensure_smollm2_stages, offline_env
from .tensorio import decode_tensor, encode_tensor

offline_env()
import torch  # noqa: E402

DEFAULT_MAX_NEW_TOKENS = 32
MAX_NEW_TOKENS = 256
MAX_PROMPT_TOKENS = 1024

RunStage = Callable[[int, bytes], bytes]


def _text(prompt: str | bytes) -> str:
    if isinstance(prompt, (bytes, bytearray, memoryview)):
        try:
            return bytes(prompt).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{MODEL_ID} input must be UTF-8 text: {exc}") from None
    return prompt


class PromptCodec:
    """Tokenizer + chat template, verified against the manifest (the driver side needs no weights)."""

    def __init__(self, directory: Path, manifest: Manifest | None = None) -> None:
        from transformers import AutoTokenizer

        directory = Path(directory)
        if manifest is None and (directory / MANIFEST).is_file():
            manifest = Manifest.load(directory / MANIFEST)
        if manifest is not None:
            for name in TOKENIZER_FILES:
                verify_shard(directory / name, manifest)
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        self.stop_ids = frozenset({self.tokenizer.eos_token_id})

    def encode(self, prompt: str | bytes) -> list[int]:
        messages = [{"role": "user", "content": _text(prompt)}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > MAX_PROMPT_TOKENS:
            raise InvalidInputError(f"prompt is {len(ids)} tokens, at most {MAX_PROMPT_TOKENS} are allowed")
        return list(ids)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i not in self.stop_ids], skip_special_tokens=True)


class Generation:
    """One greedy generation, advanced one pipeline pass at a time by whoever runs the stages."""

    def __init__(self, codec: PromptCodec, prompt: str | bytes, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> None:
        if not 0 <= max_new_tokens <= MAX_NEW_TOKENS:
            raise InvalidInputError(f"max_new_tokens must be in 0..{MAX_NEW_TOKENS}, got {max_new_tokens}")
        self.codec = codec
        self.prompt_ids = codec.encode(prompt)
        self.generated: list[int] = []
        self.max_new_tokens = max_new_tokens
        self.done = max_new_tokens == 0

    @property
    def limits(self):
        """When the proposal ends (max_new_tokens, stop ids, a text request's stop strings)."""
        from .decoding import Limits

        request = getattr(self, "request", None)  # a chat text request (models.text_request)
        limits = Limits(self.max_new_tokens, tuple(sorted(self.codec.stop_ids)),
                        tuple(request.stop) if request is not None and request.stop else ())
        limits.decoder = self.codec.decode
        return limits

    @property
    def rule(self) -> dict:
        """The token rule's spec (``models.decoding.token_rule``): greedy, or the request's sampling."""
        sampling = getattr(self, "sampling", None)
        if sampling is not None and not sampling.greedy:
            return {"name": "sample", **sampling.to_json()}
        return {"name": "greedy"}

    def extend(self, tokens: list[int]) -> bool:
        """Append agreed tokens (a verified chunk) one by one through ``accept``; returns ``done``."""
        for token in tokens:
            if self.done:
                raise InvalidInputError("tokens after the end of the generation")
            self.accept(encode_tensor(torch.tensor([token], dtype=torch.int64)))
        return self.done

    def stage0_input(self) -> bytes:
        """AIVT int64 [1, T]: the input of stage 0 for the next step."""
        return encode_tensor(torch.tensor([self.prompt_ids + self.generated], dtype=torch.int64))

    def accept(self, last_stage_output: bytes) -> bool:
        """Append the last stage's token (AIVT int64 [1]); returns ``done``."""
        if self.done:
            raise InvalidInputError("generation is already finished")
        token = decode_tensor(last_stage_output)
        if token.dtype != torch.int64 or list(token.shape) != [1]:
            raise InvalidInputError("last stage output must be AIVT int64 [1]")
        token_id = int(token[0])
        self.generated.append(token_id)
        self.done = token_id in self.codec.stop_ids or len(self.generated) >= self.max_new_tokens
        return self.done

    @property
    def text(self) -> str:
        return self.codec.decode(self.generated)


_CODECS: dict[str, PromptCodec] = {}  # keyed by the cache_dir argument


def prompt_codec(cache_dir=None, num_stages: int = NUM_STAGES) -> PromptCodec:
    """The (per-process cached) tokenizer + chat template of the local build."""
    key = f"{cache_dir}/{num_stages}"
    if key not in _CODECS:
        _CODECS[key] = PromptCodec(ensure_smollm2_stages(cache_dir, num_stages))
    return _CODECS[key]


def drive(gen: Generation, run_stage: RunStage, num_stages: int) -> str:
    """Run ``gen`` to the end: each step passes the sequence through stages 0..num_stages-1 in order."""
    while not gen.done:
        data = gen.stage0_input()
        for stage in range(num_stages):
            data = run_stage(stage, data)
        gen.accept(data)
    return gen.text


def generate_pipelined(prompt: str | bytes, max_new_tokens: int, run_stage: RunStage, cache_dir=None,
                       num_stages: int = NUM_STAGES) -> str:
    """Greedy generation where every step calls ``run_stage(i, bytes) -> bytes`` for i = 0..num_stages-1."""
    return drive(Generation(prompt_codec(cache_dir, num_stages), prompt, max_new_tokens), run_stage, num_stages)


class WholeModel:
    """The unsharded reference: ``LlamaForCausalLM`` loaded from the converted folder, same rules."""

    def __init__(self, cache_dir=None) -> None:
        from transformers import LlamaForCausalLM

        from .pipeline import ATTN_IMPLEMENTATION

        self.directory = ensure_smollm2(cache_dir)
        self.model = LlamaForCausalLM.from_pretrained(
            str(self.directory), dtype=torch.float32, attn_implementation=ATTN_IMPLEMENTATION, local_files_only=True
        ).eval()
        self.codec = PromptCodec(self.directory)

    @torch.no_grad()
    def last_logits(self, ids: list[int]) -> torch.Tensor:
        """Logits [vocab] of the last position for a full-sequence forward (no cache, batch 1)."""
        x = torch.tensor([ids], dtype=torch.int64)
        return self.model(input_ids=x, use_cache=False, logits_to_keep=1).logits[0, -1]

    def generate(self, prompt: str | bytes, max_new_tokens: int) -> str:
        gen = Generation(self.codec, prompt, max_new_tokens)
        while not gen.done:
            token = self.last_logits(gen.prompt_ids + gen.generated).argmax().reshape(1)
            gen.accept(encode_tensor(token))
        return gen.text


_WHOLE: dict[str, WholeModel] = {}


def generate_whole(prompt: str | bytes, max_new_tokens: int, cache_dir=None) -> str:
    """Greedy generation on the unsharded model, for comparison with ``generate_pipelined``."""
    key = str(cache_dir)
    if key not in _WHOLE:
        _WHOLE[key] = WholeModel(cache_dir)
    return _WHOLE[key].generate(prompt, max_new_tokens)


class TextModelRunner:
    """A validator that holds every stage: prompt bytes -> UTF-8 text bytes, via the verified stage files."""

    model_id, version, stage = MODEL_ID, VERSION, None

    def __init__(self, directory: Path, manifest: Manifest | None = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> None:
        from .pipeline import StageRunner

        self.manifest = manifest or Manifest.load(Path(directory) / MANIFEST)
        self.codec = PromptCodec(Path(directory), self.manifest)
        self.stages = [StageRunner(directory, i, self.manifest) for i in range(self.manifest.num_stages)]
        self.max_new_tokens = max_new_tokens

    def run_stage(self, stage_index: int, data: bytes) -> bytes:
        return self.stages[stage_index].infer(data)

    def infer(self, input_bytes: bytes) -> bytes:
        gen = Generation(self.codec, bytes(input_bytes), self.max_new_tokens)
        return drive(gen, self.run_stage, len(self.stages)).encode("utf-8")

    def commitment(self, output_bytes: bytes) -> bytes:
        """The generated text is a function of the token ids, which are committed exactly."""
        return commitment_digest(MODEL_ID, VERSION, None, bytes(output_bytes))
