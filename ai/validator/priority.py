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

And a decoding proposer may use more than one core, where that is faster: while it is the only proposal
in this process its decoding steps run on 1 or ``decode_threads`` torch threads, whichever its own timed
steps say is faster (``ThreadChooser``). Measured: a second thread made one-process `generate` 1.5x faster
on the 2-core host of 2026-12-02, and no faster on that of 2026-12-03, where a proposal decoding on two
threads beside its verifiers took 101 ms a token against 65 ms on one. ``--decode-threads N`` fixes the
count. Checks and small models always run on one thread. The counts are per thread (OpenMP's and MKL's
thread-local settings, which ``torch.set_num_threads`` sets), so a proposal's threads never change a
check's. Thread count never changes an answer: stage outputs are bit-identical at 1 and 2 threads here,
and the verifiers' near-tie rule covers the rest (tests/ai/test_decoding.py checks both directions).

A validator that holds only some stages of a text model hands every decoding step to another process and
waits for the next input; torch's OpenMP (libgomp) keeps an idle worker spinning for 300,000 iterations
after each parallel region (3.5 ms of a core on the bench's host), which took the core the next stage's
process needed. Such a validator starts torch with ``GOMP_SPINCOUNT`` at ``HANDOFF_SPINCOUNT`` (≈0.35 ms,
still longer than the gaps between one step's parallel regions): 3 validators one stage each, 55 -> 48.5
ms a token (medians of 8 runs, the trees before and after alternating). A validator holding every stage
keeps the default: its steps follow one another in the process (5 x 3 was 3 % slower with the lower
count). A ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` set by the user is left as it is.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import statistics
import sys
import threading
from pathlib import Path
from typing import Iterator, Optional

VERIFY_NICE = int(os.environ.get("AIVM_VERIFY_NICE", "10"))  # "0" turns both off
DECODE_THREADS = int(os.environ.get("AIVM_DECODE_THREADS", "0"))  # 0: measured (1 or every core); N: fixed
# seconds a local validator's check of a proposal still decoding waits for later chunks (0: checks each at once)
DEFER_CHECKS = float(os.environ.get("AIVM_DEFER_CHECKS", "2.0"))
YIELD_AT_MOST = 0.25  # seconds one check may run yielding; then it competes as usual (a machine loaded by others)
AUTOGROUP = Path("/proc/self/autogroup")
HANDOFF_SPINCOUNT = 30_000  # libgomp's idle spin (GOMP_SPINCOUNT) for a validator that hands steps to others


def lower_thread_priority(step: int) -> None:
    """Make the calling thread `step` nicer than it is (Linux: per thread); best effort."""
    if step <= 0:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (OSError, AttributeError):  # no per-thread priorities here
        pass


def spin_less_when_handing_off(holds: list[tuple[str, int]], models: dict) -> bool:
    """Before torch loads: a shorter OpenMP idle spin if this validator holds only some stages of a text
    model (see the module's docstring); True if it set one."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    held: dict = collections.defaultdict(set)
    for model_id, stage in holds:
        held[model_id].add(stage)
    if not any(m in models and models[m].generates and len(stages) < models[m].num_stages
               for m, stages in held.items()):
        return False
    os.environ["GOMP_SPINCOUNT"] = str(HANDOFF_SPINCOUNT)
    return True


def cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def use_torch_threads(n: int) -> None:
    """Run the calling thread's torch work on ``n`` threads (a per-thread setting; µs when unchanged)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def checking_thread() -> None:
    """Initializer of the thread that checks chunks: nicer than the rest, torch on one thread."""
    lower_thread_priority(VERIFY_NICE)
    use_torch_threads(1)


class ThreadChooser:
    """Which torch thread count a decoding step runs on, from the timed steps of earlier ones.

    Per kind of step (``key``: model and stage range) it keeps the last ``WINDOW`` step times at each
    count; each count is tried ``WARM`` times first, then the one whose recent steps but the slowest
    average less runs, and now and then a step tries the other (the machine's load changes).
    The slowest of the window is left out: one step stalled by a preemption (40 ms against 11) pushed a
    plain average past the other count's. Not the median either: it ignores a disturbance that comes every
    other step (two threads at 11.5 and 40 ms by turns are slower than one at 17.5). A count's steps older
    than ``STALE`` steps count only while it has no newer ones, so one clean exploring step of the other
    count outweighs a disturbed stretch it lost in.

    When to explore: ``EXPLORE_EVERY`` steps after the last try, and that interval doubles (up to
    ``EXPLORE_MAX``) each time a try is clearly slower than the count in use (``MARGIN``): a try costs a
    whole slower step (5 ms of a stage's 11.5 on one thread, 10 ms of the last stage's 16), which at every
    16th step was 2-4 % of a token's time. A switch starts the interval over.
    One chooser per process.
    """

    WARM = 3
    WINDOW = 5
    EXPLORE_EVERY = 16
    EXPLORE_MAX = 64
    MARGIN = 1.15
    STALE = 2 * EXPLORE_EVERY

    def __init__(self, counts: tuple[int, ...]) -> None:
        self.counts = tuple(dict.fromkeys(counts))
        self._lock = threading.Lock()
        self._times: dict = {}  # key -> {count: deque of the last WINDOW (step number, seconds)}
        self._steps: dict = {}  # key -> steps picked
        self._plans: dict = {}  # key -> _Plan

    def pick(self, key) -> int:
        if len(self.counts) == 1:
            return self.counts[0]
        with self._lock:
            times = self._times.setdefault(key, {n: collections.deque(maxlen=self.WINDOW) for n in self.counts})
            step = self._steps[key] = self._steps.get(key, 0) + 1
            unwarmed = [n for n in self.counts if len(times[n]) < self.WARM]
            if unwarmed:
                return unwarmed[step % len(unwarmed)]
            ranked = sorted(self.counts, key=lambda n: self._typical(times[n], step))
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plans[key] = _Plan(ranked[0], step + self.EXPLORE_EVERY, self.EXPLORE_EVERY)
            elif plan.count != ranked[0]:  # switched: tries as often as at first
                plan.count, plan.interval, plan.due = ranked[0], self.EXPLORE_EVERY, step + self.EXPLORE_EVERY
            if step < plan.due:
                return ranked[0]
            plan.due = step + plan.interval  # until this try's time is recorded
            plan.trying = step
            return ranked[1]

    def record(self, key, count: int, seconds: float) -> None:
        with self._lock:
            window = self._times.get(key, {}).get(count)
            if window is None:
                return
            step = self._steps.get(key, 0)
            window.append((step, seconds))
            plan = self._plans.get(key)
            if plan is not None and plan.trying == step and count != plan.count:
                slower = seconds > self.MARGIN * self._typical(self._times[key][plan.count], step)
                plan.interval = min(2 * plan.interval, self.EXPLORE_MAX) if slower else self.EXPLORE_EVERY
                plan.due, plan.trying = step + plan.interval, None

    def _typical(self, window, now: int) -> float:
        """The mean of the count's recent steps but the slowest (a step stalled by chance aside); its steps of
        the last ``STALE`` if it has any."""
        fresh = [seconds for step, seconds in window if now - step <= self.STALE]
        times = sorted(fresh or [seconds for _, seconds in window])
        return statistics.fmean(times[:-1] or times)

    def averages(self, key) -> dict:
        """The typical step seconds (`_typical`) at each count timed so far."""
        with self._lock:
            now = self._steps.get(key, 0)
            return {n: round(self._typical(w, now), 6) for n, w in self._times.get(key, {}).items() if w}


@dataclasses.dataclass
class _Plan:
    """A chooser's state for one kind of step: the count in use, when the other is next tried, and how often."""

    count: int
    due: int
    interval: int
    trying: Optional[int] = None  # the step number of a try whose time is not recorded yet


def _read_group_nice(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().split("nice")[1])  # "/autogroup-25 nice 0"
    except (OSError, IndexError, ValueError):
        return None


class Priority:
    """The process's session priority: lowered while it only checks chunks of proposals still decoding."""

    def __init__(self, nice: int = VERIFY_NICE, autogroup: Optional[Path] = AUTOGROUP,
                 decode_threads: int = DECODE_THREADS) -> None:
        self.nice = nice
        counts = (1, cores()) if decode_threads <= 0 else (decode_threads,)
        self.decode = ThreadChooser(counts)
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

    def proposal_threads(self, key) -> int:
        """torch threads for a decoding step now: the chooser's pick for the only proposal here, else 1."""
        return self.decode.pick(key) if self._proposing == 1 else 1

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
