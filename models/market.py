"""Model ``mm-v1``: a tabular MLP that quotes a market maker's next price and fee from one period's market conditions.

Input: ``abi.encode(uint256 open, uint256 high, uint256 low, uint256 close, uint256 volume,
uint256 prevVolume)`` — the last period's reference-price bar (18 decimals, ``0 < low <= open, close
<= high``) and the traded volume of that period and the one before (any unit, 0 allowed).

Features (scale-free): log(high/open), log(low/open), log(close/open), log(high/low) in percent,
the close's place in the range ((close-low)/(high-low), 0.5 for a flat bar) and log((volume+1)/(prevVolume+1))
clipped to +-5. The network predicts the next period's close-to-close log return and its high/low
range (both in percent).

Output: ``abi.encode(uint256 price, uint256 feeBps)`` — ``price = close * (10**6 + ppm) // 10**6``
(ppm: the predicted simple return in parts per million, rounded, clamped to +-10**5) and
``feeBps`` = a quarter of the predicted next-period range in basis points, rounded, clamped to 1..1000:
a wider expected swing, a wider fee.

Training data: S&P 500 and NASDAQ daily OHLCV 1999-2014 shipped in the ``arch`` package; 2015-2018
held out. Weights ship in ``models/weights``; rebuild: ``python -m models.market train``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import marketdata, small
from .catalog import MARKET as INFO
from .errors import InvalidInputError

FIELDS = ("open", "high", "low", "close", "volume", "prevVolume")
EPOCHS = 30
BATCH = 128
MAX_PPM = 100_000
FEE_SHARE = 4  # fee = range / FEE_SHARE
FEE_MIN, FEE_MAX = 1, 1000


class MarketMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
        # feature standardisation, fitted on the training set and saved with the weights
        self.register_buffer("mean", torch.zeros(6))
        self.register_buffer("scale", torch.ones(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 6] -> [N, 2] (next return %, next range %)
        return self.net((x - self.mean) / self.scale)


def networks() -> list[nn.Module]:
    return [MarketMLP()]


def _values(data: bytes) -> list[int]:
    o, h, l, c, v, pv = values = small.words(data, len(FIELDS), "mm-v1 input")
    if l == 0:
        raise InvalidInputError("mm-v1 input: low must be > 0")
    if not (l <= o <= h and l <= c <= h):
        raise InvalidInputError("mm-v1 input: need low <= open <= high and low <= close <= high")
    return values


def check_input(data: bytes) -> None:
    _values(data)


def check_output(data: bytes) -> None:
    _, fee = small.words(data, 2, "mm-v1 output")
    if not FEE_MIN <= fee <= FEE_MAX:
        raise InvalidInputError(f"mm-v1 output fee must be {FEE_MIN}..{FEE_MAX} bps, got {fee}")


def feature_row(o, h, l, c, v, pv) -> list[float]:
    """The six features; ratios of ints are correctly rounded, so every machine gets the same floats."""
    where = (c - l) / (h - l) if h != l else 0.5
    flow = max(-5.0, min(5.0, math.log((v + 1) / (pv + 1))))
    return [100 * math.log(h / o), 100 * math.log(l / o), 100 * math.log(c / o), 100 * math.log(h / l), where, flow]


def features(data: bytes) -> torch.Tensor:
    return torch.tensor([feature_row(*_values(data))], dtype=torch.float32)


def quote(close: int, pred_return_pct: float, pred_range_pct: float) -> tuple[int, int]:
    ppm = max(-MAX_PPM, min(MAX_PPM, round(math.expm1(float(pred_return_pct) / 100) * 1e6)))
    fee = max(FEE_MIN, min(FEE_MAX, round(float(pred_range_pct) * 100 / FEE_SHARE)))
    return close * (10**6 + ppm) // 10**6, fee


def answer(data: bytes, out: torch.Tensor) -> bytes:
    close = _values(data)[3]
    return small.encode_words(*quote(close, float(out[0, 0]), float(out[0, 1])))


def encode_input(open_, high, low, close, volume, prev_volume) -> bytes:
    """Prices in units (floats) -> 18 decimals; volumes as integers."""
    wei = [int(round(float(p) * 10**6)) * 10**12 for p in (open_, high, low, close)]
    return small.encode_words(*wei, int(volume), int(prev_volume))


def rows(bars):
    """x: [N, 6], y: [N, 2] (next return %, next range %), today's range %, for days with a previous and a next day."""
    xs, ys, today = [], [], []
    for prev, bar, nxt in zip(bars, bars[1:], bars[2:]):
        f = feature_row(bar.open, bar.high, bar.low, bar.close, bar.volume, prev.volume)
        xs.append(f)
        ys.append([100 * math.log(nxt.close / bar.close), 100 * math.log(nxt.high / nxt.low)])
        today.append(f[3])
    return np.array(xs), np.array(ys), np.array(today)


def dataset():
    parts = {"train": [], "test": []}
    for name in marketdata.SERIES:
        bars = [b for b in marketdata.bars(name) if b.high >= max(b.open, b.close) and b.low <= min(b.open, b.close)]
        split = next(i for i, b in enumerate(bars) if b.day >= marketdata.SPLIT)
        parts["train"].append(rows(bars[:split]))
        parts["test"].append(rows(bars[split - 1:]))
    return {k: tuple(np.concatenate([p[i] for p in v]) for i in range(3)) for k, v in parts.items()}


def train() -> tuple[list[nn.Module], dict]:
    data = dataset()
    x, y, _ = data["train"]
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    model = MarketMLP()
    model.mean.copy_(xt.mean(0))
    model.scale.copy_(xt.std(0).clamp_min(1e-6))
    small.fit_huber(model, xt, yt, EPOCHS, BATCH, lr=2e-3)
    return [model], evaluate(model, data)


@torch.no_grad()
def evaluate(model: nn.Module, data: dict) -> dict:
    x, y, today = data["test"]
    pred = model(torch.tensor(x, dtype=torch.float32)).double().numpy()
    train_range = float(np.mean(data["train"][1][:, 1]))
    range_mae = float(np.mean(np.abs(pred[:, 1] - y[:, 1])))
    ss_res, ss_tot = float(np.sum((pred[:, 1] - y[:, 1]) ** 2)), float(np.sum((y[:, 1] - y[:, 1].mean()) ** 2))
    return {
        "dataset": "arch.data sp500 + nasdaq daily OHLCV", "sources": [marketdata.source(n) for n in marketdata.SERIES],
        "train_samples": int(len(data["train"][0])), "test_samples": int(len(y)), "test_period": "2015-2018",
        "test_range_mae_pct": round(range_mae, 4),
        "persistence_range_mae_pct": round(float(np.mean(np.abs(today - y[:, 1]))), 4),
        "train_mean_range_mae_pct": round(float(np.mean(np.abs(train_range - y[:, 1]))), 4),
        "test_range_r2": round(1 - ss_res / ss_tot, 4),
        "test_return_mae_pct": round(float(np.mean(np.abs(pred[:, 0] - y[:, 0]))), 4),
        "zero_return_mae_pct": round(float(np.mean(np.abs(y[:, 0]))), 4),
        "epochs": EPOCHS, "seed": small.SEED,
    }


def main(argv=None) -> int:
    return small.cli(INFO, argv)


if __name__ == "__main__":
    raise SystemExit(main())
