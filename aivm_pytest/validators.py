"""Local validators that answer `ai.infer`, with faults on demand.

A thin layer over `aivm_pytest.cluster.LocalCluster(chain, n=, models=)`:
in-process validators attached to the chain's AI service, with `crash(i)`,
`make_slow(i, seconds)`, `make_liar(i)`, `heal(i)` and `stop()`. What this adds is
bookkeeping, so every fault a test injects is healed when the test ends.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator


def cluster_class() -> Any:
    """`aivm_pytest.cluster.LocalCluster`, imported when a test first asks for validators (it loads the models)."""
    from aivm_pytest.cluster import LocalCluster

    return LocalCluster


class Validators:
    """`validators` fixture: `crash`, `make_slow`, `make_liar`, `heal`, and `faults(...)` as a block."""

    def __init__(self, cluster: Any, n: int) -> None:
        self.cluster = cluster
        self.n = n
        cluster.begin_test()  # `last_answer` is this test's; the set copies a revert undid are back
        self.faulty: set[int] = set()

    def __len__(self) -> int:
        return self.n

    @property
    def last_answer(self) -> Any:
        """The latest quorum answer (`aivm_pytest.cluster.Answer`: `result`, `text`, `certificate` — what
        `quorum.verify` / the 0x0118 precompile takes —, `vote`, `signers`, `computation_id`), or None."""
        return self.cluster.last

    def _check(self, indexes: Iterable[int]) -> list[int]:
        out = list(indexes)
        for i in out:
            if not 0 <= i < self.n:
                raise IndexError(f"validator {i} out of range: there are {self.n} (0..{self.n - 1})")
        return out

    def crash(self, *indexes: int) -> None:
        """These validators stop answering (their votes never arrive)."""
        for i in self._check(indexes):
            self.cluster.crash(i)
            self.faulty.add(i)

    def make_slow(self, *indexes: int, seconds: float) -> None:
        """These validators answer `seconds` late (past the scheduler's deadline, if you like)."""
        for i in self._check(indexes):
            self.cluster.make_slow(i, seconds)
            self.faulty.add(i)

    def make_liar(self, *indexes: int) -> None:
        """These validators answer with a wrong result (the quorum should outvote them)."""
        for i in self._check(indexes):
            self.cluster.make_liar(i)
            self.faulty.add(i)

    def heal(self, *indexes: int) -> None:
        """Back to honest and prompt; all faulty validators when none are named."""
        for i in self._check(indexes or sorted(self.faulty)):
            self.cluster.heal(i)
            self.faulty.discard(i)

    @contextlib.contextmanager
    def faults(self, crash: Iterable[int] = (), lie: Iterable[int] = (), slow: Iterable[int] = (),
               seconds: float = 30.0) -> Iterator["Validators"]:
        """Inject faults for the block only: `with validators.faults(crash=[0], lie=[1]): ...`."""
        self.crash(*crash)
        self.make_liar(*lie)
        if slow:
            self.make_slow(*slow, seconds=seconds)
        try:
            yield self
        finally:
            self.heal(*set(crash) | set(lie) | set(slow))
