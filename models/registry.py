"""The model registry: which models exist, their manifests, and ``load_model`` for validators.

Every model answers the same two calls, whatever it is:

    runner = load_model(model_id, cache_dir, stage=None)
    output = runner.infer(input_bytes)        # bytes -> bytes, formats in docs/models.md
    digest = runner.commitment(output)        # 32 bytes to sign; honest validators agree on it

``stage=None`` runs the whole model; ``stage=i`` loads only pipeline stage i's shard. Shards are
verified against a manifest before loading: the one passed in (e.g. as registered on the node) or,
by default, the one written next to the artifacts when they were built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .catalog import DIGITS, MODELS, ModelInfo
from .errors import InvalidInputError, ShardIntegrityError, UnknownModelError
from .manifest import Manifest


class Runner(Protocol):
    model_id: str
    version: str
    stage: int | None

    def infer(self, input_bytes: bytes) -> bytes: ...

    def commitment(self, output_bytes: bytes) -> bytes: ...


def list_models() -> list[ModelInfo]:
    return list(MODELS.values())



def model_info(model_id: str) -> ModelInfo:
    try:
        return MODELS[model_id]
    except KeyError:
        raise UnknownModelError(f"unknown model {model_id!r}; known: {', '.join(MODELS)}") from None


def ensure_model(model_id: str, cache_dir=None) -> Path:
    """Build (train / convert + shard) the model's artifacts once; return the folder with manifest.json."""
    info = model_info(model_id)
    if info.module:  # a small trained model (models/small.py): its module says how to build it
        from .small import ensure

        return ensure(info, cache_dir)
    if model_id == DIGITS.model_id:
        from .digits import ensure_digits

        return ensure_digits(cache_dir)
    from .smollm2 import ensure_smollm2_stages

    return ensure_smollm2_stages(cache_dir)


def get_manifest(model_id: str, cache_dir=None) -> Manifest:
    """The manifest of the locally built artifacts (what the node registers)."""
    return Manifest.load(ensure_model(model_id, cache_dir) / "manifest.json")


def load_model(model_id: str, cache_dir=None, stage: int | None = None, manifest: Manifest | dict | None = None,
               **options) -> Runner:
    """A verified runner for a whole model (``stage=None``) or one pipeline stage.

    ``manifest``: the registered manifest to verify shards against (a ``Manifest`` or its dict);
    ``options``: ``max_new_tokens`` for the whole text model.
    """
    info = model_info(model_id)
    directory = ensure_model(model_id, cache_dir)
    if isinstance(manifest, dict):
        manifest = Manifest.from_dict(manifest)
    if manifest is not None and (manifest.model_id, manifest.version) != (info.model_id, info.version):
        raise ShardIntegrityError(
            f"manifest is for {manifest.model_id} v{manifest.version}, not {info.model_id} v{info.version}"
        )
    if info.module:
        if options:
            raise InvalidInputError(f"options {sorted(options)} do not apply to {model_id}")
        from .small import SmallRunner

        return SmallRunner(info, directory, stage, manifest)
    if options and not (model_id != DIGITS.model_id and stage is None):
        raise InvalidInputError(f"options {sorted(options)} only apply to the whole text model")
    if model_id == DIGITS.model_id:
        from .digits import DigitsRunner

        if stage not in (None, 0):
            raise UnknownModelError(f"{model_id} has a single stage (0), not {stage}")
        return DigitsRunner(directory, manifest)
    if stage is None:
        from .generation import TextModelRunner

        return TextModelRunner(directory, manifest, **options)
    from .pipeline import StageRunner

    return StageRunner(directory, stage, manifest)
