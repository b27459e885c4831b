"""Model ``digits_cnn``: a small CNN trained on scikit-learn's bundled 8x8 digits (no network needed).

Input: exactly 64 bytes, one per pixel, row-major (byte ``8*r + c`` is row r, column c), each
0..16 — the same values as ``sklearn.datasets.load_digits().data``. Output: 1 byte, the class id 0..9.

Training is seeded and single-threaded so a rerun on the same CPU produces the same weights; the
weights are cached as one safetensors shard with its manifest (``ensure_digits``). Run
``python -m models.digits train [--cache-dir DIR]`` to (re)train.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import cache
from .catalog import DIGITS
from .commit import commitment_digest
from .errors import InvalidInputError
from .manifest import Manifest, describe_file, verify_shard

MODEL_ID, VERSION = DIGITS.model_id, DIGITS.version
SEED = 0
EPOCHS = 40
TEST_FRACTION = 0.25
WEIGHTS = "digits_cnn.safetensors"
MANIFEST = "manifest.json"
METRICS = "metrics.json"


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def load_split():
    """The fixed train/test split: stratified, ``random_state=SEED``, 25% held out."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    return train_test_split(
        data.data.astype(np.uint8), data.target.astype(np.int64),
        test_size=TEST_FRACTION, random_state=SEED, stratify=data.target,
    )


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(N, 64) pixels 0..16 -> (N, 1, 8, 8) float32 in [0, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)


def train(epochs: int = EPOCHS) -> tuple[DigitsCNN, dict]:
    """Train from scratch with a fixed seed on one thread; returns the model and its metrics."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(SEED)
        x_train, x_test, y_train, y_test = load_split()
        xt, yt = to_tensor(x_train), torch.from_numpy(y_train)
        model = DigitsCNN()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        gen = torch.Generator().manual_seed(SEED)
        start = time.perf_counter()
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 64):
                idx = order[i:i + 64]
                opt.zero_grad()
                nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
        seconds = time.perf_counter() - start
        model.eval()
        accuracy = evaluate(model, x_test, y_test)
    finally:
        torch.set_num_threads(threads)
    metrics = {
        "test_accuracy": accuracy, "test_samples": int(len(y_test)), "train_samples": int(len(y_train)),
        "epochs": epochs, "seed": SEED, "train_seconds": round(seconds, 2),
    }
    return model, metrics


@torch.no_grad()
def evaluate(model: nn.Module, pixels: np.ndarray, labels: np.ndarray) -> float:
    predictions = model(to_tensor(pixels)).argmax(dim=1).numpy()
    return float((predictions == labels).mean())


def build_manifest(directory: Path) -> Manifest:
    metrics = json.loads((directory / METRICS).read_text())
    return Manifest(
        **DIGITS.manifest_fields(),
        shards=(describe_file(directory / WEIGHTS, stage=0),),
        extra={"test_accuracy": metrics["test_accuracy"], "seed": SEED, "dataset": "sklearn.datasets.load_digits"},
    )


def ensure_digits(cache_dir=None, retrain: bool = False) -> Path:
    """Train once (seconds) and cache; return the directory holding weights, metrics and manifest."""
    from safetensors.torch import save_file

    final = cache.model_dir(cache_dir, MODEL_ID, VERSION)
    with cache.build_lock(final):
        if (final / MANIFEST).is_file() and not retrain:
            return final
        with cache.staging_dir(final) as tmp:
            model, metrics = train()
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS))
            (tmp / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
            build_manifest(tmp).save(tmp / MANIFEST)
    return final


def encode_input(pixels) -> bytes:
    """64 pixel values 0..16 (any int sequence or array) -> the 64-byte model input."""
    values = np.asarray(pixels).reshape(-1)
    if values.size != 64 or values.min() < 0 or values.max() > 16:
        raise InvalidInputError("digits input needs 64 pixel values in 0..16")
    return bytes(values.astype(np.uint8).tolist())


class DigitsRunner:
    """What a validator holds for ``digits_cnn``: verified weights and ``infer``/``commitment``."""

    model_id, version, stage = MODEL_ID, VERSION, None

    def __init__(self, directory: Path, manifest: Manifest | None = None) -> None:
        from safetensors.torch import load_file

        self.manifest = manifest or Manifest.load(directory / MANIFEST)
        verify_shard(directory / WEIGHTS, self.manifest)
        self.model = DigitsCNN()
        self.model.load_state_dict(load_file(str(directory / WEIGHTS)))
        self.model.eval()
        f, c = self.model.features, self.model.classifier
        self._params = (f[0].weight, f[0].bias, f[2].weight, f[2].bias, c[1].weight, c[1].bias, c[3].weight, c[3].bias)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """`DigitsCNN.forward` as the same ATen calls in the same order on the same parameters (equal to the
        last bit: tests/ai/test_digits.py), without nn.Module's call machinery: 8 module calls and the
        autograd switch were ≈40 % of an inference (a validator runs one per task)."""
        w1, b1, w2, b2, l1, c1, l2, c2 = self._params
        with torch.inference_mode():
            x = F.max_pool2d(F.relu(F.conv2d(F.relu(F.conv2d(x, w1, b1, 1, 1)), w2, b2, 1, 1)), 2)
            return F.linear(F.relu(F.linear(x.flatten(1), l1, c1)), l2, c2)

    def infer(self, input_bytes: bytes) -> bytes:
        data = bytes(input_bytes)
        if len(data) != 64:
            raise InvalidInputError(f"digits_cnn takes exactly 64 bytes (8x8 pixels 0..16), got {len(data)}")
        pixels = np.frombuffer(data, dtype=np.uint8)
        if pixels.max() > 16:
            raise InvalidInputError(f"digits_cnn pixel values must be 0..16, got {int(pixels.max())}")
        return bytes([int(self.logits(to_tensor(pixels[None, :])).argmax(dim=1))])  # batch shape is always 1

    def commitment(self, output_bytes: bytes) -> bytes:
        out = bytes(output_bytes)
        if len(out) != 1 or out[0] > 9:
            raise InvalidInputError("digits_cnn output is one byte 0..9")
        return commitment_digest(MODEL_ID, VERSION, None, out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.digits", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--cache-dir", default=None, help="models data dir (default $AIVM_MODELS_DIR or ~/.cache/aivm/models)")
    args = parser.parse_args(argv)
    directory = ensure_digits(args.cache_dir, retrain=True)
    metrics = json.loads((directory / METRICS).read_text())
    manifest = Manifest.load(directory / MANIFEST)
    print(f"digits_cnn: test accuracy {metrics['test_accuracy']:.4f} on {metrics['test_samples']} held-out images, "
          f"trained in {metrics['train_seconds']} s; weights {directory / WEIGHTS}; root {manifest.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
