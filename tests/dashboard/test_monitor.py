"""The dashboard monitor's bookkeeping, on the scheduler's own Task/Round/Computation records.

The browser tests run it against real validators; here: votes become
per-round views, a computation finished between two ticks still shows its
votes (task ids come through the notification chain), events reach
subscribers on the event loop, and a scheduler that holds its lock costs the
monitor a skipped tick, never a wait.
"""
from __future__ import annotations

import asyncio
import functools
import threading
import time
import types

from ai.scheduler.core import Computation, Round, Scheduler, Task
from ai.scheduler.validators import Validator
from app.dashboard.monitor import LOCK_WAIT, Monitor, round_views

A, B, C = (bytes([i]) * 20 for i in (1, 2, 3))


def _round(required=2):
    rnd = Round(step=0, stage=0, input=b"x", set_size=3, required=required)
    tasks = {}
    for addr in (A, B, C):
        t = Task(f"t-{addr[0]}", "c1", addr, 0, 0, time.time(), time.time() + 10, round=rnd)
        rnd.tasks[addr] = t
        tasks[t.task_id] = t
    return rnd, tasks


def _scheduler(comp, tasks):
    s = types.SimpleNamespace(
        _lock=threading.RLock(), computations={comp.id: comp}, _tasks=tasks, notify=lambda a, t: None,
        validators={a: Validator(a, b"", 10**19, 0.0, attestation_valid=True, holds=[["digits_cnn", 0]]) for a in (A, B, C)},
        counters={"rewards": 0, "completed": 0, "failed": 0, "computations": 1})
    s.observe = functools.partial(Scheduler.observe, s)  # the scheduler's own bounded-lock read
    s.task = functools.partial(Scheduler.task, s)
    return s


def test_votes_become_round_views_with_agreement():
    rnd, tasks = _round()
    ta, tb, tc = tasks.values()
    ta.status, ta.vote_hash = "Submitted", b"\x01" * 32
    views = round_views(list(tasks.values()))
    assert views[0]["submitted"] == 1 and not views[0]["decided"] and views[0]["votes"][0]["agrees"] is None
    tb.status, tb.vote_hash = "Submitted", b"\x01" * 32
    tc.status, tc.vote_hash = "Submitted", b"\x02" * 32
    view = round_views(list(tasks.values()))[0]
    assert view["decided"] and view["agreeing"] == 2 and view["required"] == 2
    assert [v["agrees"] for v in view["votes"]] == [True, True, False]


def test_a_computation_that_finished_between_ticks_keeps_its_votes_and_events_reach_the_loop():
    rnd, tasks = _round()
    comp = Computation("c1", "digits_cnn", b"x", None, time.time(), status="Running", round=rnd)
    s = _scheduler(comp, tasks)
    node = types.SimpleNamespace(ai=types.SimpleNamespace(scheduler=s))
    got = []

    async def run():
        m = Monitor(node, sample_every=0.0)
        m._loop = asyncio.get_running_loop()
        m.subscribe(got.append)
        m.tick(time.time())  # attaches to the notification chain
        for t in tasks.values():
            s.notify(t.address, {"computation_id": "c1", "task_id": t.task_id})
        for t in tasks.values():  # all votes and the decision land before the next tick
            t.status, t.vote_hash = "Submitted", b"\x01" * 32
        comp.status, comp.round, comp.rounds_done = "Completed", None, 1
        m.tick(time.time())
        await asyncio.sleep(0.05)
        return m

    m = asyncio.run(run())
    finals = [e["computation"] for e in got if e["type"] == "computation" and e["computation"]["status"] == "Completed"]
    assert finals and finals[-1]["rounds"][0]["submitted"] == 3 and finals[-1]["rounds"][0]["decided"]
    assert m.computations()["recent"][0]["id"] == "c1" and m.computations()["in_flight"] == []
    assert {e["type"] for e in got} >= {"computation", "validator", "sample"}
    assert m.history.read()["series"]["ai_completed"]


def test_a_busy_scheduler_costs_a_skipped_tick_not_a_wait():
    rnd, tasks = _round()
    comp = Computation("c1", "digits_cnn", b"x", None, time.time(), status="Running", round=rnd)
    s = _scheduler(comp, tasks)
    m = Monitor(types.SimpleNamespace(ai=types.SimpleNamespace(scheduler=s)), sample_every=3600)
    held, release = threading.Event(), threading.Event()

    def hold():
        with s._lock:
            held.set()
            release.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    held.wait(5)
    m.tick(time.time())  # returns although the lock is still held: it gave up after LOCK_WAIT
    still_held = not s._lock.acquire(blocking=False)
    release.set()
    assert still_held and LOCK_WAIT < 1
    assert m.computations()["in_flight"] == []  # nothing was read: that tick was skipped


def test_a_stake_weighted_round_is_read_through_its_own_decision():
    """Where the scheduler's rounds carry a stake snapshot (stake-weighted quorum), the view follows it."""

    class Snapshot:
        stakes = {A: 50, B: 30, C: 20}

        def weight(self, addresses):
            return sum(self.stakes[a] for a in addresses)

    class WeightedRound(Round):
        def decided(self):
            ballots = {a: t.vote_hash for a, t in self.tasks.items() if t.status == "Submitted"}
            for vote in set(ballots.values()):
                if self.snapshot.weight(a for a, v in ballots.items() if v == vote) >= self.required:
                    return vote
            return None

    rnd = WeightedRound(step=0, stage=0, input=b"x", set_size=3, required=67)
    rnd.snapshot = Snapshot()
    tasks = [Task(f"t{a[0]}", "c1", a, 0, 0, time.time(), time.time() + 10, round=rnd) for a in (A, B, C)]
    for t in tasks:
        rnd.tasks[t.address] = t
    tasks[0].status, tasks[0].vote_hash = "Submitted", b"\x01" * 32
    tasks[1].status, tasks[1].vote_hash = "Submitted", b"\x02" * 32
    view = round_views(tasks)[0]
    assert view["weighted"] and not view["decided"] and view["agreeing_share"] == 0.5
    assert view["required_share"] == 0.67 and view["required"] == "67"
    tasks[2].status, tasks[2].vote_hash = "Submitted", b"\x01" * 32  # 50 + 20 of 100 stake: decided
    view = round_views(tasks)[0]
    assert view["decided"] and view["agreeing"] == 2 and view["agreeing_share"] == 0.7
    assert [v["agrees"] for v in view["votes"]] == [True, False, True]
