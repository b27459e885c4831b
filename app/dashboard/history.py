"""Ring buffers of sampled figures: what the dashboard's "over time" charts draw.

The node keeps only running totals (rewards paid, signatures verified, a
validator's current score); the dashboard's monitor samples them on its own
thread every few seconds and keeps the last `keep` samples here, so history
costs the scheduler and the chain nothing.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Optional


class Series:
    """[time, value] points, oldest dropped first."""

    def __init__(self, keep: int) -> None:
        self.points: deque = deque(maxlen=keep)

    def add(self, t: float, value: Any) -> None:
        self.points.append((round(t, 3), value))

    def last(self) -> Optional[Any]:
        return self.points[-1][1] if self.points else None

    def since(self, t: float = 0.0) -> list:
        return [list(p) for p in self.points if p[0] > t]


class History:
    """Global series by name, plus one score and one uptime series per validator."""

    def __init__(self, keep: int = 900) -> None:
        self.keep = keep
        self._lock = threading.Lock()  # the monitor writes, RPC handlers read
        self.series: dict[str, Series] = {}
        self.validators: dict[str, dict[str, Series]] = {}

    def add(self, t: float, values: dict[str, Any]) -> None:
        with self._lock:
            for name, value in values.items():
                self.series.setdefault(name, Series(self.keep)).add(t, value)

    def add_validator(self, t: float, address: str, **values: Any) -> None:
        with self._lock:
            per = self.validators.setdefault(address, {})
            for name, value in values.items():
                per.setdefault(name, Series(self.keep)).add(t, value)

    def read(self, names: Optional[list[str]] = None, validators: Optional[list[str]] = None,
             since: float = 0.0) -> dict:
        with self._lock:
            wanted = self.series if names is None else {n: self.series[n] for n in names if n in self.series}
            out = {"series": {n: s.since(since) for n, s in wanted.items()}, "validators": {}}
            for address in validators or []:
                per = self.validators.get(address)
                if per is not None:
                    out["validators"][address] = {n: s.since(since) for n, s in per.items()}
            return out
