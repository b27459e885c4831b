"""The small trained models the shipped contracts call (``price-v1``, ``mm-v1``, ``risk-model``).

Each lives in its own module (``models/price.py``, ``market.py``, ``risk.py``) named by its catalog
entry's ``module`` field, and answers one protocol (``SmallModel``): how to read its input bytes, its
stage networks, how to train them from shipped data, and how to turn the last stage's tensor into the
answer bytes. This module does the rest, the same way for all of them:

* **build on first use** (``ensure``): train seeded on one thread, write one safetensors file per
  pipeline stage plus ``metrics.json`` and ``manifest.json`` (sha256 per shard) under
  ``<cache_dir>/<model_id>/v<version>/``, published atomically under the build lock;
* **verified load** (``SmallRunner``): every shard is re-hashed against the manifest before loading;
* **pipeline stages**: stage ``i`` holds only its own file. Stage 0 reads the model's input bytes;
  a middle stage's output is an ``AIVT`` float32 tensor ``[1, D]`` (the next stage's input); the last
  stage answers ABI-encoded words;
* **commitments** (``commitment``, weight-free, so the node recomputes them): the final answer is
  committed exactly; an intermediate tensor is rounded to bfloat16 first (``models.commit``).

Answers are integers on purpose: every float the networks produce is rounded to an integer (parts
per million, basis points, percent) before it leaves the model, so honest validators agree exactly
except on a rounding boundary (see docs/models.md, "Determinism").
"""
from __future__ import annotations

import hashlib
import importlib
import json
import time
from pathlib import Path
from typing import Protocol

from . import cache
from .catalog import ModelInfo
from .commit import canonical_hidden_states, commitment_digest
from .errors import InvalidInputError, ModelError, UnknownModelError
from .manifest import Manifest, describe_file, verify_shard

MANIFEST = "manifest.json"
METRICS = "metrics.json"
SEED = 0
WORD = 32


class SmallModel(Protocol):
    """What a small model's module provides (see price.py for a worked example)."""

    INFO: ModelInfo

    def check_input(self, data: bytes) -> None: ...  # InvalidInputError unless the bytes follow input_kind

    def check_output(self, data: bytes) -> None: ...  # InvalidInputError unless the bytes follow output_kind

    def features(self, data: bytes):  # checked input bytes -> stage 0's input tensor [1, ...]
        ...

    def networks(self) -> list:  # one fresh torch module per stage (untrained)
        ...

    def train(self) -> tuple[list, dict]:  # seeded training: (stage modules, metrics with held-out figures)
        ...

    def answer(self, data: bytes | None, out) -> bytes:  # the last stage's tensor -> the answer bytes
        ...


def fit_huber(model, x, y, epochs: int, batch: int, lr: float) -> None:
    """The regression models' one training loop: Adam on minibatches shuffled by a SEED-ed generator, Huber
    loss (delta 1); leaves the model in eval mode. Deterministic on one thread, so a build is reproducible."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.huber_loss(model(x[idx]), y[idx], delta=1.0).backward()
            opt.step()
    model.eval()


def model_module(info: ModelInfo) -> SmallModel:
    if not info.module:
        raise UnknownModelError(f"{info.model_id} is not one of the small trained models")
    return importlib.import_module(f"models.{info.module}")


def shard_name(info: ModelInfo, stage: int) -> str:
    if info.num_stages == 1:
        return f"{info.model_id}.safetensors"
    return f"{info.model_id}-stage{stage}-of-{info.num_stages}.safetensors"


# -- words: the ABI's 32-byte big-endian unsigned integers --------------------------------------
def words(data: bytes, count: int, what: str) -> list[int]:
    """``abi.encode`` of ``count`` uint256 values -> the values; anything else is refused."""
    data = bytes(data)
    if len(data) != count * WORD:
        raise InvalidInputError(f"{what} is abi.encode of {count} uint256 values ({count * WORD} bytes), "
                                f"got {len(data)} bytes")
    return [int.from_bytes(data[i:i + WORD], "big") for i in range(0, len(data), WORD)]


def encode_words(*values: int) -> bytes:
    for v in values:
        if not 0 <= v < 2**256:
            raise InvalidInputError(f"{v} does not fit a uint256")
    return b"".join(int(v).to_bytes(WORD, "big") for v in values)


# -- build ---------------------------------------------------------------------------------------
def build_manifest(info: ModelInfo, directory: Path, extra: dict) -> Manifest:
    shards = tuple(describe_file(directory / shard_name(info, s), stage=s) for s in range(info.num_stages))
    return Manifest(**info.manifest_fields(), shards=shards, extra=extra)


def fingerprint(info: ModelInfo) -> str:
    """sha256 of the code and shipped data a build comes from: a cached build of other code is rebuilt."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in [here / "small.py", here / f"{info.module}.py", here / "marketdata.py", *sorted((here / "data").glob("*"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _current(final: Path, build: str) -> bool:
    try:
        return Manifest.load(final / MANIFEST).extra.get("build") == build
    except (OSError, ValueError, KeyError, ModelError):
        return False


def ensure(info: ModelInfo, cache_dir=None, retrain: bool = False) -> Path:
    """Train once (seconds, seeded, one thread) and cache; return the folder with manifest.json.

    A cached build whose recorded ``build`` fingerprint differs from the current code's is rebuilt.
    """
    import torch
    from safetensors.torch import save_file

    module = model_module(info)
    final = cache.model_dir(cache_dir, info.model_id, info.version)
    build = fingerprint(info)
    if not retrain and _current(final, build):
        return final
    with cache.build_lock(final):
        if not retrain and _current(final, build):
            return final
        with cache.staging_dir(final) as tmp:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                torch.manual_seed(SEED)
                start = time.perf_counter()
                nets, metrics = module.train()
                metrics["train_seconds"] = round(time.perf_counter() - start, 2)
            finally:
                torch.set_num_threads(threads)
            for stage, net in enumerate(nets):
                # no metadata: safetensors would write it in random order, and the bytes must repeat
                save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp / shard_name(info, stage)))
            (tmp / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
            extra = {**{k: v for k, v in metrics.items() if k != "train_seconds"}, "build": build}
            build_manifest(info, tmp, extra).save(tmp / MANIFEST)
    return final


def metrics(info: ModelInfo, cache_dir=None) -> dict:
    return json.loads((ensure(info, cache_dir) / METRICS).read_text())


# -- run -----------------------------------------------------------------------------------------
class SmallRunner:
    """A validator's verified handle on a small model: the whole model (``stage=None``) or one stage."""

    def __init__(self, info: ModelInfo, directory: Path, stage: int | None = None,
                 manifest: Manifest | None = None) -> None:
        from safetensors.torch import load_file

        self.info, self.module = info, model_module(info)
        self.model_id, self.version, self.stage = info.model_id, info.version, stage
        n = info.num_stages
        if stage is not None and not 0 <= stage < n:
            raise UnknownModelError(f"{info.model_id} has stages 0..{n - 1}, not {stage}")
        directory = Path(directory)
        self.manifest = manifest or Manifest.load(directory / MANIFEST)
        self.stages = list(range(n)) if stage is None else [stage]
        nets = self.module.networks()
        self.nets = {}
        for s in self.stages:
            entry = self.manifest.stage_shard(s)
            verify_shard(directory / entry.name, self.manifest)
            net = nets[s]
            net.load_state_dict(load_file(str(directory / entry.name)))
            self.nets[s] = net.eval()

    @property
    def first(self) -> bool:
        return self.stages[0] == 0

    @property
    def last(self) -> bool:
        return self.stages[-1] == self.info.num_stages - 1

    def infer(self, input_bytes: bytes) -> bytes:
        import torch

        from .tensorio import decode_tensor, encode_tensor

        data = bytes(input_bytes)
        with torch.no_grad():
            if self.first:
                self.module.check_input(data)
                x = self.module.features(data)
            else:
                x = decode_tensor(data)
                self._check_hidden(x)
            for s in self.stages:
                x = self.nets[s](x)
        if self.last:
            return self.module.answer(data if self.first else None, x)
        return encode_tensor(x.contiguous())

    def _check_hidden(self, x) -> None:
        import torch

        width = self.nets[self.stages[0]].input_width
        if x.dtype != torch.float32 or list(x.shape) != [1, width]:
            raise InvalidInputError(f"{self.model_id} stage {self.stages[0]} takes AIVT float32 [1, {width}], "
                                    f"got {x.dtype} {list(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise InvalidInputError(f"{self.model_id} stage {self.stages[0]} input contains NaN or inf")

    def commitment(self, output_bytes: bytes) -> bytes:
        stage = self.stages[-1] if self.info.num_stages > 1 else 0
        return commitment(self.info, stage, output_bytes)


def commitment(info: ModelInfo, stage: int, output: bytes) -> bytes:
    """The digest validators sign for ``output`` of ``stage`` (the node recomputes it without weights)."""
    output = bytes(output)
    if stage == info.num_stages - 1:
        model_module(info).check_output(output)
        return commitment_digest(info.model_id, info.version, None if info.num_stages == 1 else stage, output)
    return commitment_digest(info.model_id, info.version, stage, canonical_hidden_states(output))


def wrong(info: ModelInfo, stage: int, output: bytes) -> bytes:
    """A plausible, well-formed but wrong answer (fault tests: a lying validator)."""
    output = bytes(output)
    if stage == info.num_stages - 1:
        first = int.from_bytes(output[:WORD], "big")
        first = first - 1 if first > 1 else first + 1  # stays in range for every small model's answer
        return first.to_bytes(WORD, "big") + output[WORD:]
    from .tensorio import decode_tensor, encode_tensor

    return encode_tensor(decode_tensor(output) + 0.5)


def cli(info: ModelInfo, argv=None) -> int:
    """``python -m models.<module> train [--cache-dir DIR]``: retrain, print the held-out figures."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m models.{info.module}", description=f"(re)train {info.model_id}")
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--cache-dir", default=None, help="models data dir (default $AIVM_MODELS_DIR or ~/.cache/aivm/models)")
    args = parser.parse_args(argv)
    directory = ensure(info, args.cache_dir, retrain=True)
    figures = {k: v for k, v in json.loads((directory / METRICS).read_text()).items() if k != "sources"}
    print(f"{info.model_id}: {json.dumps(figures)}")
    print(f"weights in {directory}; manifest root {Manifest.load(directory / MANIFEST).root}")
    return 0
