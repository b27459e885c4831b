"""A validator checks text chunks at a lower priority while a proposal is still decoding, so a co-located
proposer's decoding (the answer's critical path) keeps its core; once the proposal is complete its checks
run at full priority (ai/validator/priority.py)."""
import asyncio
import os
import subprocess
import sys
import threading

import pytest

from ai import protocol
from ai.validator import client, priority
from pqc.keys import KeySet

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def _thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)  # Linux: the calling thread's


def _handled(v: client.Validator, task: dict, queued=()) -> tuple[int, object]:
    """Run `task` through `Validator.handle`, the model replaced by a probe: (thread niceness, autogroup level)."""
    seen = []
    v._compute_signed = lambda t: (seen.append((_thread_nice(), v.priority.level)), ("01", "0x"))[1]

    async def call(method, *params):
        return {"success": True}

    v.call = call

    async def go():
        for t in queued:
            v._queue.put_nowait(t)
        await v.handle(task)
        await asyncio.gather(*v._submitting)
        while not v._queue.empty():
            v._queue.get_nowait()

    asyncio.run(go())
    return seen[0]


def _validator() -> client.Validator:
    return client.Validator("http://127.0.0.1:1", KeySet.generate(protocol.LEVEL, with_kem=False), 10**18,
                            [("distributed_ai_model", 0)])


def test_chunk_checks_run_on_a_nicer_thread_and_other_work_does_not():
    assert priority.VERIFY_NICE > 0
    v = _validator()
    base = _thread_nice()
    try:
        verify, _ = _handled(v, {"kind": "verify", "task_id": "t1", "computation_id": "c"})
        other, _ = _handled(v, {"kind": "infer", "task_id": "t2"})
        own, _ = _handled(v, {"kind": "verify", "task_id": "t3", "computation_id": "c", "self_check": True})
    finally:
        v._checker.shutdown()
    assert verify == min(19, base + priority.VERIFY_NICE)
    assert other == base  # digits and other one-round work keep the process's priority
    assert own == base  # a proposer's vote on its own record (cheap; its proposal waits on it at the end)
    assert _thread_nice() == base  # the caller's thread is untouched


class FakeGroup:
    """A stand-in for /proc/self/autogroup that records what is written."""

    def __init__(self, tmp_path, nice=0):
        self.path = tmp_path / "autogroup"
        self.path.write_text(f"/autogroup-7 nice {nice}\n")
        self.writes = []

    def install(self, p: priority.Priority):
        p._group, p.base, p.level = self, 0, 0

    def read_text(self):
        return self.path.read_text()

    def write_text(self, text):
        self.writes.append(int(text))
        self.path.write_text(f"/autogroup-7 nice {int(text)}\n")


def test_the_session_yields_only_while_checking_a_proposal_still_decoding(tmp_path):
    v = _validator()
    group = FakeGroup(tmp_path)
    group.install(v.priority)
    low = min(19, priority.VERIFY_NICE)
    try:
        _, level = _handled(v, {"kind": "verify", "task_id": "a", "computation_id": "c"})
        assert level == low and v.priority.level == 0  # lowered for the check, restored after it
        _, level = _handled(v, {"kind": "verify", "task_id": "b", "computation_id": "c", "proposal_done": True})
        assert level == 0  # the proposal is complete: the check is the critical path
        _, level = _handled(v, {"kind": "verify", "task_id": "c1", "computation_id": "c"},
                            queued=[{"kind": "verify", "task_id": "c2", "computation_id": "c", "proposal_done": True}])
        assert level == 0  # a backlog in front of the last chunk is critical too
        _, level = _handled(v, {"kind": "verify", "task_id": "d1", "computation_id": "c"},
                            queued=[{"kind": "verify", "task_id": "d2", "computation_id": "other", "proposal_done": True}])
        assert level == low  # another computation's completion does not make this one urgent
        _, level = _handled(v, {"kind": "verify", "task_id": "g1", "computation_id": "g", "chunk": 1, "stage": 0},
                            queued=[{"kind": "verify", "task_id": "g2", "computation_id": "g", "chunk": 1, "stage": 1}])
        assert level == low  # the other stages of the same chunk: keeping up
        _, level = _handled(v, {"kind": "verify", "task_id": "h1", "computation_id": "g", "chunk": 1, "stage": 2},
                            queued=[{"kind": "verify", "task_id": "h2", "computation_id": "g", "chunk": 2, "stage": 0}])
        assert level == 0  # a chunk behind (a loaded machine): competes as usual rather than pile up for the end
        _, level = _handled(v, {"kind": "infer", "task_id": "e"})
        assert level == 0
        with v.priority.proposing():  # a proposal decoding here: its own process must not yield
            _, level = _handled(v, {"kind": "verify", "task_id": "f", "computation_id": "c"})
        assert level == 0
    finally:
        v._checker.shutdown()
    assert group.writes == [low, 0, low, 0, low, 0]


def test_priority_manages_the_autogroup_only_of_a_session_leader(tmp_path):
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-9 nice 3\n")
    p = priority.Priority(10, group)
    if os.getsid(0) == os.getpid():
        pytest.skip("the test process leads its session")
    assert p.level is None  # a validator started from a shell leaves the shell's session alone
    with p.checking(False):
        assert "nice 3" in group.read_text()


def test_a_session_leader_lowers_and_restores_its_real_autogroup():
    """In a process of its own session (as local validators are started), against /proc/self/autogroup."""
    if not os.path.exists("/proc/self/autogroup"):
        pytest.skip("no sched autogroup in this kernel")
    code = ("import os\n"
            "from ai.validator import priority\n"
            "p = priority.Priority(7)\n"
            "read = lambda: open('/proc/self/autogroup').read().split('nice')[1].strip()\n"
            "with p.checking(False):\n    during = read()\n"
            "with p.proposing():\n    with p.checking(False):\n        proposing = read()\n"
            "print(p.base, during, proposing, read())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         start_new_session=True)
    assert out.returncode == 0, out.stderr
    base, during, proposing, after = map(int, out.stdout.split())
    assert during == min(19, base + 7) and proposing == base and after == base


def test_lower_thread_priority_changes_only_the_calling_thread():
    base, out = _thread_nice(), {}

    def probe():
        priority.lower_thread_priority(3)
        out["nice"] = _thread_nice()

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    assert out["nice"] == min(19, base + 3) and _thread_nice() == base


def test_a_check_under_way_stops_yielding_when_a_later_chunk_arrives(tmp_path):
    """A check that started yielding and is overtaken (the next chunk's task arrives): back to full priority
    at once, not when it ends — on a loaded machine a yielding check could otherwise crawl through the decode."""
    v = _validator()
    group = FakeGroup(tmp_path)
    group.install(v.priority)
    low = min(19, priority.VERIFY_NICE)
    try:
        running = {"kind": "verify", "task_id": "r", "computation_id": "c", "chunk": 0, "stage": 0, "input": "00"}
        with v.priority.checking(False):
            assert v.priority.level == low
            v._checking = running
            v._offer({**running, "task_id": "s", "stage": 1})  # the same chunk's next stage: keeping up
            assert v.priority.level == low
            v._offer({**running, "task_id": "o", "computation_id": "other", "chunk": 5})  # another computation
            assert v.priority.level == low
            v._offer({**running, "task_id": "n", "chunk": 1})  # the next chunk is here: this one is late
            assert v.priority.level == 0
        assert v.priority.level == 0
        with v.priority.checking(False):  # the next check starts afresh
            assert v.priority.level == low
    finally:
        v._checker.shutdown()
    assert group.writes == [low, 0, low, 0]


def test_a_check_yields_for_a_bounded_time_only(tmp_path, monkeypatch):
    """A check starved of CPU by others' work goes back to full priority after YIELD_AT_MOST seconds."""
    import time

    monkeypatch.setattr(priority, "YIELD_AT_MOST", 0.05)
    v = _validator()
    group = FakeGroup(tmp_path)
    group.install(v.priority)
    low = min(19, priority.VERIFY_NICE)
    levels = []

    def slow(t):
        levels.append(v.priority.level)
        time.sleep(0.3)  # a check crawling on a loaded machine
        levels.append(v.priority.level)
        return "01", "0x"

    async def call(method, *params):
        return {"success": True}

    v._compute_signed, v.call = slow, call

    async def go():
        await v.handle({"kind": "verify", "task_id": "slow", "computation_id": "c"})
        await asyncio.gather(*v._submitting)

    try:
        asyncio.run(go())
    finally:
        v._checker.shutdown()
    assert levels == [low, 0]


def test_the_thread_chooser_runs_the_faster_count_and_keeps_trying_the_other():
    chooser = priority.ThreadChooser((1, 2))
    key = ("distributed_ai_model", 0, 2)
    seconds = {1: 0.050, 2: 0.080}  # a host where the second CPU is a sibling of the first: one thread wins
    picks = []
    for _ in range(200):
        n = chooser.pick(key)
        picks.append(n)
        chooser.record(key, n, seconds[n])
    warm = picks[:2 * chooser.WARM]
    assert sorted(warm) == [1] * chooser.WARM + [2] * chooser.WARM  # each count timed before choosing
    later = picks[2 * chooser.WARM:]
    tries = [i for i, n in enumerate(later) if n == 2]
    # the other count is tried, less often while each try confirms the choice: 16, 32, then every 64 steps
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert gaps == [chooser.EXPLORE_EVERY * 2, chooser.EXPLORE_MAX] + [chooser.EXPLORE_MAX] * (len(gaps) - 2)
    assert tries[0] == chooser.EXPLORE_EVERY and len(tries) == 4  # the first after EXPLORE_EVERY chosen steps
    # the machine changes (another process leaves a core free): two threads become faster and are chosen
    seconds = {1: 0.050, 2: 0.030}
    for _ in range(400):
        n = chooser.pick(key)
        chooser.record(key, n, seconds[n])
    assert [chooser.pick(key) for _ in range(10)].count(2) >= 9
    assert chooser.averages(key)[2] < chooser.averages(key)[1]
    assert chooser.pick(("other", 0, 0)) in (1, 2)  # each kind of step is timed on its own
    fixed = priority.ThreadChooser((3,))
    assert {fixed.pick(key) for _ in range(50)} == {3}


def test_only_a_lone_proposal_gets_more_than_one_thread():
    p = priority.Priority(nice=0, autogroup=None, decode_threads=2)
    with p.proposing():
        assert p.proposal_threads("k") == 2
        with p.proposing():  # two proposals in this process: each decodes on one thread
            assert p.proposal_threads("k") == 1
    assert priority.Priority(nice=0, autogroup=None, decode_threads=0).decode.counts == tuple(
        dict.fromkeys((1, priority.cores())))


def test_torch_thread_counts_are_per_thread():
    """A proposal's decoding threads never change a check's (OpenMP's and MKL's counts are thread-local)."""
    import torch

    priority.use_torch_threads(1)
    seen = {}

    def proposal():
        priority.use_torch_threads(2)
        torch.ones(64, 64) @ torch.ones(64, 64)
        seen["proposal"] = torch.get_num_threads()

    t = threading.Thread(target=proposal)
    t.start()
    t.join()
    torch.ones(64, 64) @ torch.ones(64, 64)
    assert seen["proposal"] == 2 and torch.get_num_threads() == 1
    checker = __import__("concurrent.futures").futures.ThreadPoolExecutor(1, initializer=priority.checking_thread)
    try:  # the checking thread starts on one thread even when created while a proposal runs on two
        assert checker.submit(torch.get_num_threads).result(timeout=30) == 1
    finally:
        checker.shutdown()


def test_one_stalled_step_does_not_turn_the_chooser():
    """A preempted step (40 ms against 11) is an outlier, not a slower count: the median keeps two threads."""
    chooser = priority.ThreadChooser((1, 2))
    key = ("distributed_ai_model", 1, 1)
    seconds = {1: 0.0157, 2: 0.0110}
    for i in range(40):
        n = chooser.pick(key)
        chooser.record(key, n, 0.040 if (n == 2 and i == 12) else seconds[n])
    assert [chooser.pick(key) for _ in range(10)].count(2) >= 9


def test_a_burst_of_disturbed_steps_does_not_turn_the_chooser_and_a_steady_one_does():
    """Measured (3 validators one stage each): stage 0's two-thread steps, in order, while other processes ran
    now and then; one thread took 17.5 ms. The median of the last 5 (17.7 ms) turned that chooser to one thread
    for a whole computation; without the slowest of the 5 they average less than one thread, and two stay. A
    disturbance at every other step (two-thread steps then average more than one thread's) turns it to one."""
    key = ("distributed_ai_model", 0, 0)
    chooser = priority.ThreadChooser((1, 2))
    measured = iter([0.0119, 0.0288, 0.0118, 0.0236, 0.0121, 0.0120, 0.0182, 0.0138, 0.0158, 0.0211, 0.0177])
    picks = []
    for _ in range(60):
        n = chooser.pick(key)
        picks.append(n)
        chooser.record(key, n, 0.0175 if n == 1 else next(measured, 0.0115))
    assert picks[2 * chooser.WARM:].count(1) <= 60 // chooser.EXPLORE_EVERY + 1
    steady = priority.ThreadChooser((1, 2))
    twos = 0
    for _ in range(80):
        n = steady.pick(key)
        if n == 2:
            twos += 1
        steady.record(key, n, 0.0175 if n == 1 else (0.040 if twos % 2 else 0.0115))
    assert [steady.pick(key) for _ in range(10)].count(1) >= 9


def test_the_chooser_returns_at_the_first_clean_exploring_step_after_a_disturbed_stretch():
    """Two threads disturbed for a stretch (30 ms against one thread's 17.5) lose; once the disturbance is over,
    the first exploring step of two threads (11.5 ms) outweighs the stretch's steps, now stale. (Tries that
    confirmed one thread during the stretch spaced the next out: it comes within ``EXPLORE_MAX`` steps.)"""
    key = ("distributed_ai_model", 0, 0)
    chooser = priority.ThreadChooser((1, 2))
    disturbed = True
    for i in range(40):
        n = chooser.pick(key)
        chooser.record(key, n, 0.0175 if n == 1 else (0.030 if disturbed else 0.0115))
    assert [chooser.pick(key) for _ in range(5)].count(1) >= 4  # (picks count as steps)
    disturbed = False
    picks = []
    for i in range(3 * chooser.EXPLORE_EVERY):
        n = chooser.pick(key)
        picks.append(n)
        chooser.record(key, n, 0.0175 if n == 1 else 0.0115)
    back = picks.index(2)
    assert back < chooser.EXPLORE_MAX and picks[back:].count(1) <= 2


def test_a_switch_starts_the_tries_over():
    """Tries space out while they confirm the count in use; a switch (the load changed: one thread became the
    faster) starts them over at ``EXPLORE_EVERY``, and once the load is gone two threads come back at a try."""
    key = ("distributed_ai_model", 2, 2)
    chooser = priority.ThreadChooser((1, 2))
    times = {1: 0.025, 2: 0.016}
    for _ in range(200):  # two threads, tries every EXPLORE_MAX steps by now
        n = chooser.pick(key)
        chooser.record(key, n, times[n])
    times = {1: 0.025, 2: 0.040}  # another process takes a core

    def run(steps: int) -> list:
        picks = []
        for _ in range(steps):
            n = chooser.pick(key)
            picks.append(n)
            chooser.record(key, n, times[n])
        return picks

    picks = run(100)
    switch = picks.index(1)
    assert switch <= 4 and picks[switch:switch + chooser.EXPLORE_EVERY] == [1] * chooser.EXPLORE_EVERY
    assert picks[switch + chooser.EXPLORE_EVERY] == 2  # the first try, EXPLORE_EVERY steps after the switch
    assert picks[-20:].count(1) >= 19
    times = {1: 0.025, 2: 0.016}  # and leaves
    picks = run(2 * chooser.EXPLORE_MAX)
    assert picks.index(2) < chooser.EXPLORE_MAX and picks[-10:].count(2) >= 9


def test_a_validator_holding_part_of_a_text_model_spins_less_between_steps(monkeypatch):
    """libgomp's idle spin is shortened (before torch loads) only where the validator hands decoding steps to
    other processes: some stages of a text model, not all; a count or policy the user set stays."""
    import torch

    from models.catalog import MODELS

    monkeypatch.delitem(sys.modules, "torch")  # as in a validator process before it loads its models
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):  # recorded first, so the test leaves neither set
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    every = [("distributed_ai_model", 0), ("distributed_ai_model", 1), ("distributed_ai_model", 2), ("digits_cnn", 0)]
    assert not priority.spin_less_when_handing_off(every, MODELS) and "GOMP_SPINCOUNT" not in os.environ
    assert not priority.spin_less_when_handing_off([("risk-model", 0)], MODELS)  # sharded, but not text
    assert priority.spin_less_when_handing_off([("distributed_ai_model", 1), ("digits_cnn", 0)], MODELS)
    assert os.environ["GOMP_SPINCOUNT"] == str(priority.HANDOFF_SPINCOUNT)
    monkeypatch.setenv("GOMP_SPINCOUNT", "123")
    assert not priority.spin_less_when_handing_off([("distributed_ai_model", 1)], MODELS)
    assert os.environ["GOMP_SPINCOUNT"] == "123"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert not priority.spin_less_when_handing_off([("distributed_ai_model", 1)], MODELS)
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setitem(sys.modules, "torch", torch)  # loaded already: too late to change, nothing set
    assert not priority.spin_less_when_handing_off([("distributed_ai_model", 1)], MODELS)
    assert "GOMP_SPINCOUNT" not in os.environ
