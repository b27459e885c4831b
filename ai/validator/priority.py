"""How hard a validator competes for CPU on a shared machine: a text proposer's decoding comes first.

A proposer's decoding is the critical path of a text answer, while checking a chunk has slack until the
proposal is complete (the node marks such verify tasks ``proposal_done``). So while this process proposes
nothing and checks a chunk of a proposal still being decoded, it runs at lower priority:

* the checking thread is always ``VERIFY_NICE`` nicer than the rest of the process (Linux applies
  niceness per thread; it orders the threads of one scheduling group: this process, and the others of
  its session), so a proposal decoding here keeps its core;
* a validator that leads its own session (local validators are started so) also makes its session's
  *autogroup* ``VERIFY_NICE`` nicer while it checks such a chunk: Linux shares CPU between sessions
  before thread niceness counts (sched autogroup), so this is what lets another validator's decoding
  go first. It goes back to its level as soon as the check ends, the process proposes, or the check
  is urgent: its proposal is complete, or this validator fell a chunk behind (a task of a later chunk
  of the same computation is queued: on a loaded machine yielding would only pile the checks up for
  after the last token), or it has yielded ``YIELD_AT_MOST`` seconds already (a one-stage check of a
  chunk takes tens of milliseconds: one that yields longer is being starved by others' work). Raising and restoring an autogroup's niceness within 0..19 needs no
  privilege; a validator started from a shell (not a session leader) leaves its shell's session alone.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator, Optional

VERIFY_NICE = int(os.environ.get("AIVM_VERIFY_NICE", "10"))  # "0" turns both off
YIELD_AT_MOST = 0.25  # seconds one check may run yielding; then it competes as usual (a machine loaded by others)
AUTOGROUP = Path("/proc/self/autogroup")


def lower_thread_priority(step: int) -> None:
    """Make the calling thread `step` nicer than it is (Linux: per thread); best effort."""
    if step <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (OSError, AttributeError):  # no per-thread priorities here
        pass


def _read_group_nice(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().split("nice")[1])  # "/autogroup-25 nice 0"
    except (OSError, IndexError, ValueError):
        return None


class Priority:
    """The process's session priority: lowered while it only checks chunks of proposals still decoding."""

    def __init__(self, nice: int = VERIFY_NICE, autogroup: Optional[Path] = AUTOGROUP) -> None:
        self.nice = nice
        self._lock = threading.Lock()
        self._proposing = 0
        self._checking = 0  # checks under way that may yield
        self._hurried = False  # a check under way fell behind: it no longer yields
        leads = os.getsid(0) == os.getpid() if hasattr(os, "getsid") else False
        self._group = autogroup if nice > 0 and autogroup is not None and leads else None
        self.base = _read_group_nice(self._group) if self._group else None
        if self.base is None:
            self._group = None
        self.level = self.base  # the autogroup niceness applied now (None: not managed)

    @contextlib.contextmanager
    def proposing(self) -> Iterator[None]:
        with self._lock:
            self._proposing += 1
            self._apply()
        try:
            yield
        finally:
            with self._lock:
                self._proposing -= 1
                self._apply()

    @contextlib.contextmanager
    def checking(self, urgent: bool) -> Iterator[None]:
        """A chunk check: yields the CPU unless `urgent` (its proposal is complete) or a proposal runs here."""
        if urgent:
            yield
            return
        with self._lock:
            self._checking += 1
            self._apply()
        try:
            yield
        finally:
            with self._lock:
                self._checking -= 1
                self._hurried = self._hurried and self._checking > 0
                self._apply()

    def hurry(self) -> None:
        """The checks under way stop yielding (this validator fell behind: more checks are waiting)."""
        with self._lock:
            self._hurried = True
            self._apply()

    def _apply(self) -> None:
        if self._group is None:
            return
        low = self._checking and not self._proposing and not self._hurried
        want = min(19, self.base + self.nice) if low else self.base
        if want != self.level:
            try:
                self._group.write_text(str(want))
                self.level = want
            except OSError:  # not allowed here: stop trying
                self._group = None
