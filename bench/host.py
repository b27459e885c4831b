"""How fast the shared machine was during a run, so that sections from different days compare.

The load average says who else was running on this VM, not how fast the host under it was: on
2026-12-02, at load below 1, one-process `generate` took 103-112 ms a token against 43-46 the
evenings before and the in-process transfer rate was 399 tx/s against 1,084, with the tree
unchanged. `probe_ns()` times a fixed pure-Python workload (calls, attribute and dict lookups,
small-int arithmetic: what the node and validators spend their time on), so a reader can tell a
slower tree from a slower host.
"""
from __future__ import annotations

import os
import statistics
import time

ITERATIONS = 200_000


class _Acc:
    __slots__ = ("total",)

    def __init__(self) -> None:
        self.total = 0


def _step(acc: _Acc, table: dict, i: int) -> None:
    acc.total += table.get(i & 63, 0) + (i >> 3)


def _round() -> float:
    acc, table = _Acc(), {i: i * 7 for i in range(64)}
    t0 = time.perf_counter()
    for i in range(ITERATIONS):
        _step(acc, table, i)
    return (time.perf_counter() - t0) / ITERATIONS


def probe_ns(rounds: int = 7) -> float:
    """Median ns per iteration of the fixed workload (about 0.1 s on a quiet host)."""
    return statistics.median(_round() for _ in range(rounds)) * 1e9


def load() -> str:
    """The 1/5/15-minute load averages, as a/b/c."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def describe() -> str:
    """One phrase for a section's header: load average and the interpreter probe."""
    return (f"load average {load()} (1/5/15 min); host probe {probe_ns():.0f} ns per iteration "
            "(bench/host.py: a fixed Python loop, lower is faster)")


if __name__ == "__main__":
    print(describe())
