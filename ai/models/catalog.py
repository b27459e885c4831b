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

    def to_dict(self) -> dict:
        return asdict(self)


DIGITS = ModelInfo(
    model_id="digits_cnn",
    version="1",
    architecture="cnn: conv3x3(1->16)-relu-conv3x3(16->32)-relu-maxpool2-fc(512->64)-relu-fc(64->10)",
    input_kind="digits-8x8: 64 bytes, row-major pixels 0..16",
    output_kind="class-id: 1 byte 0..9",
    gas_price=50_000,
    num_stages=1,
)

SMOLLM2 = ModelInfo(
    model_id="distributed_ai_model",
    version="1",
    architecture="llama: SmolLM2-135M-Instruct (30 layers, hidden 576), float32 dequantized from GGUF Q4_1",
    input_kind="utf8-prompt: UTF-8 user message, wrapped in the model's chat template",
    output_kind="utf8-text: greedy completion, UTF-8",
    gas_price=400_000,
    num_stages=3,
)

MODELS: dict[str, ModelInfo] = {m.model_id: m for m in (DIGITS, SMOLLM2)}
