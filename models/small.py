"""The small trained models the shipped contracts call (``price-v1``, ``mm-v1``, ``risk-model``).

Each lives in its own module (``models/price.py``, ``market.py``, ``risk.py``) named by its catalog
entry's ``module`` field, and answers one protocol (``SmallModel``): how to read its input bytes, its
stage networks, how to train them from shipped data, and how to turn the last stage's tensor into the
answer bytes. This module does the rest, the same way for all of them:

* **shipped weights** (``ensure``): the trained stage files ship in ``models/weights/<model_id>/v<version>/``
  (one safetensors file per pipeline stage, ``metrics.json``, ``manifest.json`` with a sha256 per shard);
  ``ensure`` copies them into ``<cache_dir>/<model_id>/v<version>/`` after checking the manifest root against
  the catalog's ``reference_root``. They are not trained on each host: MKL's kernels round by CPU and by
  memory alignment, and a fleet that trained its own would hold different weights;
* **reproduction** (``train``, ``python -m models.<module> train``): seeded training from the data an
  installed package ships: the shipped model up to float32 rounding (``compare_with_shipped``);
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

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

from . import cache
from .catalog import ModelInfo
from .commit import canonical_hidden_states, commitment_digest
from .errors import InvalidInputError, ModelError, ShardIntegrityError, UnknownModelError
from .manifest import Manifest, describe_file, verify_shard

SHIPPED = Path(__file__).resolve().parent / "weights"
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


def shipped_dir(info: ModelInfo) -> Path:
    """Where the trained weights ship in the package: ``models/weights/<model_id>/v<version>/``."""
    return SHIPPED / info.model_id / f"v{info.version}"


def train(info: ModelInfo, out_dir) -> Path:
    """Train from the shipped data (seeded, one thread) into ``<out_dir>/<model_id>/v<version>/``.

    The reproduction of the shipped weights, and how a maintainer makes new ones (``--out models/weights``).
    Not byte-reproducible in general (MKL rounds by CPU and memory alignment; weights then differ by ~1e-6),
    which is why validators load the shipped files instead of training on their own host.
    """
    import torch
    from safetensors.torch import save_file

    module = model_module(info)
    final = cache.model_dir(out_dir, info.model_id, info.version)
    with cache.build_lock(final), cache.staging_dir(final) as tmp:
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
        build_manifest(info, tmp, {k: v for k, v in metrics.items() if k != "train_seconds"}).save(tmp / MANIFEST)
    return final


# How close a rebuild must come to the shipped weights: float32 rounding, not a different model. Training is
# byte-identical only within one process layout: MKL's kernels (CNR off) round by the inputs' memory alignment,
# so importing one more module before training changed price-v1's bytes (max |diff| 9e-7) on 2026-12-04.
REBUILD_WEIGHT_TOLERANCE = 1e-4  # largest |rebuilt - shipped| of any weight
REBUILD_METRIC_TOLERANCE = 1e-3  # largest relative change of a held-out figure


def compare_with_shipped(info: ModelInfo, rebuilt: Path) -> dict:
    """How a rebuild in folder ``rebuilt`` differs from the shipped weights: equal bytes, the largest weight
    difference, and the held-out figures that moved by more than ``REBUILD_METRIC_TOLERANCE``."""
    from safetensors.torch import load_file

    shipped = shipped_dir(info)
    largest = 0.0
    for stage in range(info.num_stages):
        a, b = (load_file(str(d / shard_name(info, stage))) for d in (rebuilt, shipped))
        if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
            return {"identical": False, "max_weight_diff": float("inf"), "moved_metrics": ["(other tensors)"]}
        largest = max([largest, *((a[k] - b[k]).abs().max().item() for k in a)])
    ours, theirs = (json.loads((d / METRICS).read_text()) for d in (rebuilt, shipped))
    moved = sorted(k for k, v in theirs.items() if k != "train_seconds" and not _close(ours.get(k), v))
    names = [shard_name(info, stage) for stage in range(info.num_stages)]
    identical = all(describe_file(rebuilt / n).sha256 == describe_file(shipped / n).sha256 for n in names)
    return {"identical": identical, "max_weight_diff": largest, "moved_metrics": moved}


def _close(ours, theirs) -> bool:
    if isinstance(theirs, float) and isinstance(ours, (int, float)):
        return abs(ours - theirs) <= REBUILD_METRIC_TOLERANCE * max(abs(theirs), 1e-9)
    return ours == theirs


def blas_code_path() -> str:
    """The code path MKL takes on this host, from its ``MKL_VERBOSE`` banner: "generic", "AVX2", "AVX512",
    "AVX512_AMX" (or "unknown"); reported by the rebuild, since a path's kernels round their own way.

    MKL reads ``MKL_VERBOSE`` once, when it starts, so a fresh interpreter runs one matrix product with
    it set (torch's ``get_cpu_capability`` does not tell: an AMD host with AVX-512 reports "AVX512" to
    torch while MKL takes its generic path).
    """
    code = "import torch; torch.ones(8, 8) @ torch.ones(8, 8)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MKL_VERBOSE": "1"},
                         capture_output=True, text=True, timeout=120).stdout
    banner = next((line for line in out.splitlines() if line.startswith("MKL_VERBOSE oneMKL")), "")
    for marker, path in (("Advanced Matrix Extensions", "AVX512_AMX"), ("AVX-512", "AVX512"), ("AVX2", "AVX2"),
                         ("Intel(R) Architecture processors", "generic")):
        if marker in banner:
            return path
    return "unknown"


def _installed(final: Path, info: ModelInfo) -> bool:
    try:
        return Manifest.load(final / MANIFEST).root == info.reference_root and (final / METRICS).is_file()
    except (OSError, ValueError, KeyError, ModelError):
        return False


def ensure(info: ModelInfo, cache_dir=None) -> Path:
    """Install the shipped weights into ``<cache_dir>/<model_id>/v<version>/`` once; return that folder.

    Anything else found there (a build trained on this host by an older release, a half-edited copy) is
    replaced: a validator holds exactly the bytes of ``reference_root``, the network's, or refuses to start.
    """
    final = cache.model_dir(cache_dir, info.model_id, info.version)
    if _installed(final, info):
        return final
    source = shipped_dir(info)
    try:
        manifest = Manifest.load(source / MANIFEST)
    except (OSError, ValueError, KeyError) as exc:
        raise ShardIntegrityError(f"{info.model_id} v{info.version}: shipped weights unreadable in {source}: {exc}") from exc
    if manifest.root != info.reference_root:
        raise ShardIntegrityError(f"{info.model_id} v{info.version}: shipped manifest root {manifest.root} is not "
                                  f"the catalog's {info.reference_root}")
    with cache.build_lock(final):
        if _installed(final, info):
            return final
        with cache.staging_dir(final) as tmp:
            for name in (MANIFEST, METRICS, *(s.name for s in manifest.shards)):
                shutil.copyfile(source / name, tmp / name)
            for shard in manifest.shards:
                verify_shard(tmp / shard.name, manifest)
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
    """``python -m models.<module> train [--out DIR]``: retrain from the shipped data, compare with the shipped weights."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m models.{info.module}", description=f"(re)train {info.model_id}")
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--out", default="rebuilt-models",
                        help="folder to build into (default ./rebuilt-models; models/weights replaces the shipped files)")
    args = parser.parse_args(argv)
    directory = train(info, args.out)
    figures = {k: v for k, v in json.loads((directory / METRICS).read_text()).items() if k != "sources"}
    root = Manifest.load(directory / MANIFEST).root
    print(f"{info.model_id}: {json.dumps(figures)}")
    print(f"weights in {directory}; manifest root {root}")
    diff = compare_with_shipped(info, directory)
    if diff["identical"]:
        print("identical to the shipped weights (the catalog's reference_root)")
    else:
        same = diff["max_weight_diff"] <= REBUILD_WEIGHT_TOLERANCE and not diff["moved_metrics"]
        print(f"other bytes than the shipped weights ({info.reference_root}): largest weight difference "
              f"{diff['max_weight_diff']:.2e}, held-out figures moved: {diff['moved_metrics'] or 'none'} -> "
              f"{'the same model up to float rounding' if same else 'NOT a reproduction'} (MKL code path "
              f"{blas_code_path()}); validators load the shipped files (docs/models.md, Determinism)")
    return 0
