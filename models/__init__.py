"""AIVM models: the registry, shard manifests, and the runners every validator imports.

Public API (see docs/models.md for byte formats and the determinism rule)::

    list_models() -> list[ModelInfo]
    get_manifest(model_id, cache_dir=None) -> Manifest            # .to_dict() is plain JSON data
    load_model(model_id, cache_dir=None, stage=None, manifest=None) -> runner
        runner.infer(input_bytes) -> output_bytes
        runner.commitment(output_bytes) -> bytes (32)
    verify_shard(path, manifest, name=None)                         # raises ShardIntegrityError
    ensure_digits(cache_dir) / ensure_smollm2(cache_dir) / ensure_smollm2_stages(cache_dir)
    run_stage(stage_index, stage_input_bytes, cache_dir=None) -> bytes
    generate_pipelined(prompt, max_new_tokens, run_stage, cache_dir=None) -> str
    generate_whole(prompt, max_new_tokens, cache_dir=None) -> str
    chat_completion(endpoint, prompt, max_tokens=..., temperature=0.0, model=None) -> str

Heavy modules (torch, transformers) are imported on first use, so ``import models`` is cheap.
"""
from __future__ import annotations

import importlib

from .errors import (ArtifactError, EndpointError, InvalidInputError, ModelError, ShardIntegrityError,
                     UnknownModelError)
from .manifest import Manifest, Shard, manifest_root, verify_shard

_LAZY = {
    "list_models": "registry", "model_info": "registry", "get_manifest": "registry", "load_model": "registry",
    "ensure_model": "registry", "ModelInfo": "catalog",
    "ensure_digits": "digits", "ensure_smollm2": "smollm2", "ensure_smollm2_stages": "smollm2",
    "run_stage": "pipeline", "stage_runner": "pipeline",
    "generate_pipelined": "generation", "generate_whole": "generation", "Generation": "generation",
    "prompt_codec": "generation",
    "chat_completion": "openai_endpoint",
    "encode_tensor": "tensorio", "decode_tensor": "tensorio",
}

__all__ = ["ArtifactError", "EndpointError", "InvalidInputError", "Manifest", "ModelError", "Shard",
           "ShardIntegrityError", "UnknownModelError", "manifest_root", "verify_shard", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
