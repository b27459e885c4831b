"""Model ``price-v1``: a small GRU that forecasts the next closing price from the last 16.

Input: ``abi.encode(uint256[16])`` — 16 closing prices with 18 decimals, oldest first, each > 0
(512 bytes: 16 big-endian 32-byte words). The network sees the 15 log returns (in percent), so it
is scale-free: any asset, any unit.

Output: ``abi.encode(uint256)`` — the forecast of the next price, 18 decimals, computed exactly in
integers from the last price: ``last * (10**6 + ppm) // 10**6``, where ``ppm`` is the predicted
simple return in parts per million, rounded half-to-even and clamped to +-10**5 (+-10 %).

Training data: the S&P 500 and NASDAQ composite daily closes 1999-2014 shipped in the ``arch``
package (``models.marketdata``); 2015-2018 is held out. Weights ship in ``models/weights``; rebuild: ``python -m models.price train``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import marketdata, small
from .catalog import PRICE as INFO
from .errors import InvalidInputError

WINDOW = 16
HIDDEN = 24
EPOCHS = 12
BATCH = 128
MAX_PPM = 100_000
ONE = 10**18


def _sigmoid(a: torch.Tensor) -> torch.Tensor:
    """sigmoid(a) = (1 + tanh(a / 2)) / 2, through tanh's kernel. Trained through torch's own GRU (its
    vectorized sigmoid), price-v1 came out with other weights on an AVX2-only host (2026-12-02) than on the
    hosts its reference root was built on: another manifest root, so validators there would hold other
    bytes. mm-v1 (tanh, linear layers, Adam, the same loop) reproduced its reference root on that host."""
    return torch.tanh(a * 0.5) * 0.5 + 0.5


class PriceGRU(nn.Module):
    """PyTorch's GRU equations (gates r, z, n in its order, its parameters and initialisation), stepped here
    so that the gates go through `_sigmoid`."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(1, HIDDEN, batch_first=True)  # holds the parameters; its own kernel is not run
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 15, 1] returns (percent) -> [N, 1] next return
        g = self.gru
        gi = torch.nn.functional.linear(x, g.weight_ih_l0, g.bias_ih_l0)  # [N, 15, 3H], every step at once
        w_hh, two = g.weight_hh_l0.t(), 2 * HIDDEN
        h = x.new_zeros(x.shape[0], HIDDEN)
        for t in range(x.shape[1]):  # few ops a step: this loop is the model's inference time
            gh = torch.addmm(g.bias_hh_l0, h, w_hh)
            r, z = _sigmoid(gi[:, t, :two] + gh[:, :two]).chunk(2, dim=1)
            n = torch.tanh(gi[:, t, two:] + r * gh[:, two:])
            h = n + z * (h - n)  # (1 - z) * n + z * h
        return self.head(h)


def networks() -> list[nn.Module]:
    return [PriceGRU()]


def check_input(data: bytes) -> None:
    prices = small.words(data, WINDOW, "price-v1 input")
    if min(prices) == 0:
        raise InvalidInputError("price-v1 input prices must all be > 0")


def check_output(data: bytes) -> None:
    small.words(data, 1, "price-v1 output")


def returns_pct(prices) -> list[float]:
    """Log returns in percent; int / int is correctly rounded in Python, so every machine gets the same floats."""
    return [100.0 * math.log(b / a) for a, b in zip(prices, prices[1:])]


def features(data: bytes) -> torch.Tensor:
    r = returns_pct(small.words(data, WINDOW, "price-v1 input"))
    return torch.tensor(r, dtype=torch.float32).reshape(1, WINDOW - 1, 1)


def ppm_of(pred_pct: float) -> int:
    ppm = round(math.expm1(float(pred_pct) / 100.0) * 1e6)
    return max(-MAX_PPM, min(MAX_PPM, ppm))


def answer(data: bytes, out: torch.Tensor) -> bytes:
    last = small.words(data, WINDOW, "price-v1 input")[-1]
    return small.encode_words(last * (10**6 + ppm_of(float(out[0, 0]))) // 10**6)


def encode_input(prices) -> bytes:
    """16 prices (floats or ints in units, not wei) -> the model input (18 decimals)."""
    values = [int(round(float(p) * 10**6)) * 10**12 for p in prices]
    if len(values) != WINDOW:
        raise InvalidInputError(f"price-v1 takes {WINDOW} prices")
    return small.encode_words(*values)


def windows(closes: list[float]):
    """(x: [N, 15] returns %, y: [N] next return %, last: [N] last close, next: [N] next close)."""
    r = np.array(returns_pct(closes), dtype=np.float64)
    xs, ys, last, nxt = [], [], [], []
    for t in range(WINDOW - 1, len(r)):  # r[t] is the return into close t+1
        xs.append(r[t - (WINDOW - 1):t])
        ys.append(r[t])
        last.append(closes[t])
        nxt.append(closes[t + 1])
    return np.array(xs), np.array(ys), np.array(last), np.array(nxt)


def dataset():
    parts = {"train": [], "test": []}
    for name in marketdata.SERIES:
        bars = marketdata.bars(name)
        split = next(i for i, b in enumerate(bars) if b.day >= marketdata.SPLIT)
        closes = [b.close for b in bars]
        parts["train"].append(windows(closes[:split]))
        parts["test"].append(windows(closes[split - WINDOW:]))  # targets from 2015 on
    return {k: tuple(np.concatenate([p[i] for p in v]) for i in range(4)) for k, v in parts.items()}


def train() -> tuple[list[nn.Module], dict]:
    data = dataset()
    x, y, _, _ = data["train"]
    xt = torch.tensor(x, dtype=torch.float32).unsqueeze(-1)
    yt = torch.tensor(y, dtype=torch.float32).unsqueeze(-1)
    model = PriceGRU()
    small.fit_huber(model, xt, yt, EPOCHS, BATCH, lr=3e-3)
    return [model], evaluate(model, data)


@torch.no_grad()
def evaluate(model: nn.Module, data: dict) -> dict:
    x, y, last, nxt = data["test"]
    pred = model(torch.tensor(x, dtype=torch.float32).unsqueeze(-1))[:, 0].double().numpy()
    forecast = last * (1 + np.array([ppm_of(p) for p in pred]) / 1e6)
    mape = float(np.mean(np.abs(forecast - nxt) / nxt))
    naive = float(np.mean(np.abs(last - nxt) / nxt))
    moved = y != 0
    direction = float(np.mean(np.sign(pred[moved]) == np.sign(y[moved])))
    return {
        "dataset": "arch.data sp500 + nasdaq daily closes", "sources": [marketdata.source(n) for n in marketdata.SERIES],
        "train_samples": int(len(data["train"][0])), "test_samples": int(len(y)),
        "test_period": "2015-01-02..2018-12-31", "test_mape": round(mape, 6), "naive_mape": round(naive, 6),
        "test_direction_accuracy": round(direction, 4), "epochs": EPOCHS, "seed": small.SEED,
    }


def main(argv=None) -> int:
    return small.cli(INFO, argv)


if __name__ == "__main__":
    raise SystemExit(main())
