"""The distributed inference scheduler: computations -> rounds -> tasks -> quorum.

A computation runs as rounds, one per (step, stage): a single-stage model has
one round; the sharded text model is proposed by one validator per stage
(KV-cached decoding, relayed through the node) and verified a chunk of tokens
at a time, one round per (chunk, stage), all stages at once
(`ai.scheduler.text_rounds`). A round is
handed to eligible holders of that stage (best cluster first); it is decided
when validators holding the level's threshold of the stage's *active stake*
(2/3 at Basic) signed the same vote, whatever their number
(ai/scheduler/validator_set.py). A computation keeps the set snapshots taken
when it started. Late or missing validators are replaced while candidates
remain; when the threshold can no longer be reached, the computation fails
with the reason and no answer.

Thread-safe: RPC handlers (event loop), the block producer (chain thread,
through the AI precompile) and the deadline ticker all call in; one lock
guards the state, and waiting happens on a condition.
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from typing import Any, Callable

from models.catalog import MODELS
from ai.ports import AIError, ChainHooks
from ai.records import AIRecords
from ai.scheduler import economics
from ai.scheduler.computation import (COMPUTATION_TIMEOUT, HEDGE_AFTER, MAX_NEW_TOKENS, TASK_TIMEOUT, Computation,
                                  Round, Task)
from ai.scheduler.registry import ValidatorRegistry
from ai.scheduler.rounds import RoundEngine
from ai.scheduler.text_engine import TextEngine
from ai.scheduler.validator_set import HEARTBEAT_GRACE, JOIN_DELAY, ActiveSets, StageSet
from ai.scheduler.validators import Validator
from ai.status import ComputationStatus as Status, TaskStatus
from vm.addresses import to_syn

log = logging.getLogger("aivm.ai")

# what other modules import from here (the records and limits live in records.py)
__all__ = ["AIError", "COMPUTATION_TIMEOUT", "ChainHooks", "Computation", "HEDGE_AFTER", "MAX_NEW_TOKENS", "Round",
           "Scheduler", "SchedulerBusy", "TASK_TIMEOUT", "Task"]


# seconds past its deadline after which a kept task is surely closed (tick: every 0.5 s); longer than a
# computation may run, so a task id handed out again (kept at its first place in the order) is still seen
OPEN_TASK_SLACK = COMPUTATION_TIMEOUT + 60.0


class SchedulerBusy(AIError):
    """An observer's bounded wait for the scheduler's lock ran out (`Scheduler.observe`)."""


class Scheduler(ValidatorRegistry, RoundEngine, TextEngine):
    """The modules' methods (validators: registry.py, computations: rounds.py, text: text_engine.py) over one
    shared state and lock; here: the state, and the lifecycle (tick, wait, cancel, shutdown, get, tasks_for)."""

    def __init__(self, records: AIRecords, chain_id: int, manifests: dict, hooks: ChainHooks,
                 notify: Callable[[bytes, dict], None] = lambda a, t: None, cache: bool = True,
                 task_timeout: float = TASK_TIMEOUT, codec_loader: Callable[[], Any] = None,
                 max_new_tokens: int = 32, join_delay: float = JOIN_DELAY,
                 heartbeat_grace: float = HEARTBEAT_GRACE, chunk_tokens: int = 0,
                 hedge_after: float = HEDGE_AFTER) -> None:
        from models.decoding import CHUNK_TOKENS

        chunk_tokens = chunk_tokens or CHUNK_TOKENS
        self.records = records
        self.chain_id = chain_id
        self.manifests = manifests  # model_id -> Manifest registered on the node
        self.hooks = hooks
        self.notify = notify
        self.cache = cache
        self.task_timeout = task_timeout
        self._codec_loader = codec_loader
        self.max_new_tokens = max_new_tokens
        self.on_finish: Callable[[Computation], None] = lambda comp: None  # must not block: called under the lock
        self._lock = threading.RLock()
        self._done = threading.Condition(self._lock)
        self.validators: dict[bytes, Validator] = {a: Validator.from_record(r) for a, r in records.validators()}
        self._beats: dict[bytes, collections.deque] = collections.defaultdict(collections.deque)
        self.counters = {"computations": 0, "completed": 0, "failed": 0, "participations": 0,
                         "rewards": 0, "total_time": 0.0, "cached": 0, **records.counters()}
        self.computations: dict[str, Computation] = {}
        self._seq = itertools.count(self.counters["computations"] + 1)
        self._tasks: collections.OrderedDict[str, Task] = collections.OrderedDict()
        self._topping_up: set[bytes] = set()
        stages = [(m, st) for m in manifests if m in MODELS for st in range(MODELS[m].num_stages)]
        self.sets = ActiveSets(stages, join_delay, heartbeat_grace, epochs=self.counters.get("set_epochs"),
                               publish=self._publish_set)
        self._proposals: dict[str, str] = {}  # open propose task id -> computation id
        self._running_text: set[str] = set()
        self._canaries_sent: collections.Counter = collections.Counter()
        self._hedges: dict[int, tuple] = {}  # id(round) -> (when to ask a spare, computation, round)
        self._audits: collections.Counter = collections.Counter()  # (model, stage) -> rounds started (audit slot)
        self.hedge_after = hedge_after  # 0: the spare is asked with the round, not only when it is slow
        self.chunk_tokens = chunk_tokens
        self._recover()

    def _publish_set(self, s: StageSet) -> None:
        """Queue the new epoch's on-chain copy (the consensus precompile checks certificates against it)."""
        from pqc.validators import snapshot_writes

        by_hash = {s.key_hashes[a]: stake for a, stake in s.stakes.items()}
        self.counters["set_epochs"] = self.sets.epochs
        self.hooks.update_storage(lambda read: snapshot_writes(s.set_id, s.epoch, by_hash))
        log.info("validator set %s", s.describe())

    def _burn(self, amount: int) -> None:
        """Slashed stake is burned: it leaves the staking pool on chain (queued, never awaited)."""
        if amount <= 0:
            return
        self.counters["burned"] = str(int(self.counters.get("burned", "0")) + amount)  # wei: a string (> 64 bits)
        self.hooks.burn_stake(amount)

    def _recover(self) -> None:
        """Computations that were running when the node stopped cannot resume: mark them failed."""
        interrupted = {}
        for cid, rec in self.records.computations():
            if rec["status"] in ("Pending", "Running"):
                rec.update(status=Status.FAILED, reason="interrupted by a node restart", finished=time.time())
                interrupted[cid] = rec
        if interrupted:
            self.counters["failed"] += len(interrupted)
            self.records.write(computations=interrupted, counters=self.counters)

    def tick(self) -> None:
        """Time out overdue tasks (and replace them), and computations that ran too long."""
        notes: list = []
        with self._lock:
            now = time.time()
            self._hedge_due(now, notes)
            self.refresh_sets(now)
            for comp in [c for c in self.computations.values() if c.status == "Running"]:
                if now - comp.created > COMPUTATION_TIMEOUT:
                    self._fail(comp, f"Consensus timeout: no result after {COMPUTATION_TIMEOUT:.0f} s")
                    continue
                if comp.text is not None and now - comp.text.last_progress > self.task_timeout:
                    self._text_stalled(comp, notes)
                for rnd in self._open_rounds(comp):
                    if comp.status != "Running":
                        break
                    overdue = [t for t in rnd.tasks.values() if t.status == TaskStatus.ASSIGNED and now > t.deadline]
                    for t in overdue:
                        t.status = TaskStatus.TIMED_OUT
                        v = self.validators[t.address]
                        penalty = economics.timed_out(v)
                        if penalty:  # accepting tasks and never answering, repeatedly: stake too, and out
                            self._burn(penalty)
                            v.attestation_valid, v.lapsed = False, True
                            v.attestation_error = (f"excluded: {v.missed_in_row} assigned tasks in a row never "
                                                   f"answered (slashed {penalty} wei); attest again to return")
                            log.warning("validator %s excluded for stalling: slashed %d wei (burned)",
                                        to_syn(v.address), penalty)
                            self._maybe_remove(v)
                    if overdue:
                        self.records.write(validators={t.address: self.validators[t.address].to_record() for t in overdue})
                        self._settle(comp, rnd, notes)
        self._send(notes)

    def wait(self, cid: str, timeout: float) -> Computation:
        deadline = time.time() + timeout
        with self._done:
            comp = self.get(cid)
            while comp.status in ("Pending", "Running"):
                left = deadline - time.time()
                if left <= 0:
                    break
                self._done.wait(min(left, 1.0))
            return comp

    def cancel(self, cid: str, reason: str) -> Computation:
        """Fail a running computation now (a synchronous caller gave up): no answer is recorded for it."""
        with self._lock:
            comp = self.get(cid)
            if comp.status in ("Pending", "Running"):
                self._fail(comp, reason)
            return comp

    def shutdown(self, reason: str = "the node is shutting down") -> int:
        """Fail every running computation, waking whoever waits on one; returns how many."""
        with self._lock:
            running = [c for c in self.computations.values() if c.status in ("Pending", "Running")]
            for comp in running:
                self._fail(comp, reason)
            return len(running)

    def observe(self, read: Callable[["Scheduler"], Any], timeout: float) -> Any:
        """read(self) under the scheduler's lock, for observers (the dashboard): a consistent view of
        validators, computations and rounds; SchedulerBusy when the lock stays taken `timeout` seconds."""
        if not self._lock.acquire(timeout=timeout):
            raise SchedulerBusy("the AI scheduler is busy; retry")
        try:
            return read(self)
        finally:
            self._lock.release()

    def task(self, task_id: str) -> Task | None:
        """A recent task by id (the last MAX_TASKS_KEPT are kept), None when unknown or forgotten."""
        with self._lock:
            return self._tasks.get(task_id)

    def light_initiate(self, model_id: str) -> bool:
        """Whether starting a computation of this model is light work for the caller's thread (no tokenizer,
        no text rounds: a record write and a round's tasks), so the RPC layer may skip a thread hop."""
        return model_id in MODELS and not MODELS[model_id].generates

    def light_submit(self, task_id: str) -> bool:
        """A hint, read without the lock: whether taking this task's result is light work (a single-stage
        round: one vote rebuilt, one ML-DSA check; no text verdict to decode), so the RPC layer may run it
        on its event loop instead of a thread (AIService.call_light). submit() checks everything again."""
        task = self._tasks.get(task_id)
        return task is not None and task.canary is None and task.round is not None and task.round.proposal is None

    def get(self, cid: str) -> Computation:
        with self._lock:
            comp = self.computations.get(cid)
            if comp is None:
                rec = self.records.computation(cid) if isinstance(cid, str) else None
                if rec is None:
                    raise AIError(f"unknown computation {str(cid)[:80]}")
                comp = Computation.from_record(rec)
            return comp

    def tasks_for(self, address: bytes) -> list[dict]:
        with self._lock:
            proposals = [self.computations[cid].text.by_task[tid].task for tid, cid in self._proposals.items()
                         if self.computations[cid].text.by_task[tid].address == address]
            return proposals + [self.task_json(t) for t in self._open_tasks() if t.address == address]

    def _open_tasks(self) -> list[Task]:
        """Under the lock: the assigned tasks, newest first. The kept tasks (up to MAX_TASKS_KEPT) are in the order
        they were handed out, each due task_timeout after: the walk stops at the first one overdue by far more
        than the ticker's period (it is timed out already), so a validator's poll costs the recent tasks, not
        the 100,000 kept ones, while the lock it holds stops the RPC loop's result intake."""
        horizon = time.time() - OPEN_TASK_SLACK
        out = []
        for t in reversed(self._tasks.values()):
            if t.deadline < horizon:
                break
            if t.status == TaskStatus.ASSIGNED:
                out.append(t)
        return out
