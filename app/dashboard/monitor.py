"""The dashboard's monitor: one thread that watches the AI service and the PQC counters.

It never sits in a hot path. Every `interval` seconds it reads under the
scheduler's lock briefly (`Scheduler.observe`, with a timeout: a busy scheduler
costs a skipped tick, never a wait), copies what changed into plain dicts, and hands events to WebSocket
subscribers on the event loop; every `sample_every` seconds it appends the
running totals to the ring buffers in `history`. The one thing it adds to the
scheduler is a link in its task-notification chain, so it learns each task id
the moment it is assigned and can show a round's votes even when the whole
computation finished between two ticks.

Lock order: scheduler lock -> monitor lock (`_lock`); history has its own
leaf lock. The monitor never calls the chain thread while holding either.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from typing import Any, Callable, Optional

from app.dashboard.history import History
from vm.addresses import to_syn
from ai.status import TaskStatus

log = logging.getLogger("aivm.dashboard")

RECENT_COMPUTATIONS = 200  # finished computations kept for the page's first view
LOCK_WAIT = 0.2  # seconds the monitor waits for the scheduler's lock before skipping a tick


def _tally(tasks: list) -> tuple[Optional[bytes], int]:
    counts = collections.Counter(t.vote_hash for t in tasks if t.status == TaskStatus.SUBMITTED and t.vote_hash)
    if not counts:
        return None, 0
    return counts.most_common(1)[0]


def _decision(rnd: Any, tasks: list) -> dict:
    """Who agrees and whether the round is decided, by validator count or, where the round
    carries a stake snapshot (stake-weighted quorum), by the stake behind each vote."""
    best, count = _tally(tasks)
    snap = getattr(rnd, "snapshot", None) if rnd is not None else None
    if snap is not None and callable(getattr(rnd, "decided", None)):
        winner = rnd.decided()
        if winner is not None:
            best = winner
        total = sum(snap.stakes.values()) or 1
        backing = [t.address for t in tasks if t.status == TaskStatus.SUBMITTED and t.vote_hash == best]
        return {"best": best, "agreeing": len(backing), "decided": winner is not None, "weighted": True,
                "agreeing_share": round(snap.weight(backing) / total, 4),
                "required_share": round(rnd.required / total, 4)}
    required = rnd.required if rnd is not None else 0
    return {"best": best, "agreeing": count, "decided": bool(required) and count >= required, "weighted": False}


def round_views(tasks: list) -> list[dict]:
    """Tasks (any order) -> one dict per round, in (step, stage) order, with each vote."""
    groups: dict[tuple, list] = collections.defaultdict(list)
    for t in tasks:
        groups[(t.step, t.stage)].append(t)
    out = []
    for (step, stage), ts in sorted(groups.items()):
        rnd = next((t.round for t in ts if t.round is not None), None)
        d = _decision(rnd, ts)
        votes = []
        for t in sorted(ts, key=lambda t: t.assigned_at):
            agrees = None
            if t.status == TaskStatus.SUBMITTED and d["decided"]:
                agrees = t.vote_hash == d["best"]
            votes.append({"validator": to_syn(t.address), "status": t.status, "agrees": agrees,
                          "latency_ms": round(t.latency * 1000) if t.status == TaskStatus.SUBMITTED else None,
                          "vote": "0x" + t.vote_hash.hex() if t.vote_hash else None})
        view = {"step": step, "stage": stage, "required": rnd.required if rnd is not None else 0,
                "set_size": rnd.set_size if rnd is not None else 0,
                "submitted": sum(1 for t in ts if t.status == TaskStatus.SUBMITTED),
                "agreeing": d["agreeing"], "decided": d["decided"], "weighted": d["weighted"], "votes": votes}
        if d["weighted"]:
            view.update(agreeing_share=d["agreeing_share"], required_share=d["required_share"],
                        required=str(view["required"]))  # wei: a string, like every amount
        out.append(view)
    return out


def computation_view(comp: Any, tasks: list) -> dict:
    cert = comp.certificate or None
    return {
        "id": comp.id, "model_id": comp.model_id, "status": comp.status, "reason": comp.reason,
        "requester": comp.requester, "created": comp.created, "finished": comp.finished or None,
        "cached": comp.cached, "rounds_done": comp.rounds_done,
        "current_round": None if comp.round is None else {"step": comp.round.step, "stage": comp.round.stage},
        "rounds": round_views(tasks),
        "certificate": None if cert is None else {
            "signers": cert.get("signers", []), "threshold": cert.get("threshold"), "level": cert.get("level"),
            "set_id": cert.get("set_id"), "size": (len(cert.get("encoded", "0x")) - 2) // 2},
    }


def validator_view(v: Any, cluster: Optional[int], now: float) -> dict:
    return {
        "address": to_syn(v.address), "hex": "0x" + v.address.hex(), "stake": str(v.stake),
        "score": round(v.score, 2), "uptime": round(v.uptime(now), 4),
        "shards": [f"{m}/{s}" for m, s in v.holds],
        "attested": v.attestation_valid, "attestation_error": "" if v.attestation_valid else v.attestation_error,
        "rewards": str(v.rewards), "slashed": str(v.slashed), "slashed_wei": v.slashed,
        "tasks_completed": v.tasks_completed, "tasks_failed": v.tasks_failed, "timeouts": v.timeouts,
        "agreed": v.agreed, "disagreed": v.disagreed, "cluster": cluster,
        "online": v.heartbeats > 0,
        # where the scheduler keeps them (stake-weighted validator sets): why a validator is out
        "lapsed": bool(getattr(v, "lapsed", False)),
        "ineligible": v.ineligibility(*v.holds[0], now) if v.holds else "holds no shard",
    }


def _validator_digest(view: dict) -> tuple:
    return (view["stake"], view["score"], view["slashed"], view["rewards"], view["attested"],
            round(view["uptime"] * 20) / 20, tuple(view["shards"]),  # uptime in 5% steps: it drifts every tick view["tasks_completed"], view["tasks_failed"],
            view["cluster"], view["online"])


class Monitor:
    def __init__(self, node: Any, interval: float = 0.25, sample_every: float = 2.0, keep: int = 900) -> None:
        self.node = node
        self.interval = interval
        self.sample_every = sample_every
        self.history = History(keep)
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[dict], None]] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._scheduler: Any = None
        self._assigned: collections.deque = collections.deque()  # (computation id, task id), any thread appends
        self._task_ids: dict[str, list[str]] = {}  # computation id -> its task ids, while tracked
        self._tracked: dict[str, dict] = {}  # computation id -> its last view, while not final
        self._seen = 0  # computations in the scheduler's dict already looked at
        self.recent: collections.OrderedDict[str, dict] = collections.OrderedDict()
        self._in_flight: list[dict] = []  # published copy of the tracked views, for readers
        self._validator_list: Optional[list[dict]] = None  # validators as of the last tick, for readers
        self._validators: dict[str, tuple] = {}
        self.verdicts: dict[str, dict] = {}  # computation id -> synergy_verifyAIResult's answer (cached)
        self._last_sample = 0.0

    # -- lifecycle --
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self._thread is not None and self._thread.is_alive():  # a second app over the same node
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="aivm-dashboard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def subscribe(self, send: Callable[[dict], None]) -> Callable[[], None]:
        """`send` is called on the event loop with each event; returns the function that stops it."""
        with self._lock:
            self._subscribers.append(send)

        def cancel() -> None:
            with self._lock:
                if send in self._subscribers:
                    self._subscribers.remove(send)

        return cancel

    def _emit(self, event: dict) -> None:
        with self._lock:
            sends = list(self._subscribers)
        if not sends or self._loop is None or self._loop.is_closed():
            return
        for send in sends:
            try:
                self._loop.call_soon_threadsafe(send, event)
            except RuntimeError:  # the loop closed while the node stops
                return

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick(time.time())
            except Exception:
                log.exception("dashboard monitor tick failed")

    # -- watching --
    def _attach(self, scheduler: Any) -> None:
        """Link into the scheduler's notification chain (called outside its lock, must not block)."""
        original = scheduler.notify
        assigned = self._assigned

        def notify(address: bytes, task: dict) -> None:
            if "task_id" in task:  # a task (not a note about a computation, such as "proposal_done")
                assigned.append((task["computation_id"], task["task_id"]))
            original(address, task)

        scheduler.notify = notify
        self._scheduler = scheduler
        self._seen = 0

    def scheduler(self) -> Any:
        service = self.node.ai  # declared on Node (None until the AI service runs)
        return None if service is None else service.scheduler

    def tick(self, now: float) -> None:
        s = self.scheduler()
        events: list[dict] = []
        if s is not None:
            if s is not self._scheduler:
                self._attach(s)
            from ai.scheduler.core import SchedulerBusy

            try:
                watched, validators = s.observe(
                    lambda s: (self._watch_computations(s), self._validator_views(s, now)), LOCK_WAIT)
            except SchedulerBusy:
                watched = validators = None  # busy: this tick is skipped
            if validators is not None:
                events += watched
                with self._lock:
                    self._validator_list = validators
                events += self._validator_events(validators)
                if now - self._last_sample >= self.sample_every:
                    self._sample_validators(now, validators)
        if now - self._last_sample >= self.sample_every:
            self._last_sample = now
            sample = self._sample(now, s)
            events.append({"type": "sample", "time": now, "sample": sample})
        for e in events:
            self._emit(e)

    def _watch_computations(self, s: Any) -> list[dict]:
        """Under the scheduler's lock: new and changed computations -> events."""
        while self._assigned:
            cid, tid = self._assigned.popleft()
            self._task_ids.setdefault(cid, []).append(tid)
        comps = s.computations
        if len(comps) > self._seen:
            for cid in list(comps)[self._seen:]:
                self._tracked.setdefault(cid, {})
            self._seen = len(comps)
        for cid in self._task_ids:
            self._tracked.setdefault(cid, {})
        events = []
        for cid in list(self._tracked):
            comp = comps.get(cid)
            if comp is None:
                self._tracked.pop(cid)
                continue
            tasks = {tid: t for tid in self._task_ids.get(cid, []) if (t := s.task(tid)) is not None}
            if comp.round is not None:  # tasks assigned before the monitor attached
                for t in comp.round.tasks.values():
                    tasks.setdefault(t.task_id, t)
            view = computation_view(comp, list(tasks.values()))
            if view != self._tracked[cid]:
                self._tracked[cid] = view
                events.append({"type": "computation", "computation": view})
            if comp.status in ("Completed", "Failed"):
                self._tracked.pop(cid)
                self._task_ids.pop(cid, None)
                with self._lock:
                    self.recent[cid] = view
                    self.recent.move_to_end(cid)
                    while len(self.recent) > RECENT_COMPUTATIONS:
                        self.recent.popitem(last=False)
        with self._lock:
            self._in_flight = [v for v in self._tracked.values() if v]
        return events

    def computations(self) -> dict:
        """In flight (as last seen) and recently finished, newest first."""
        with self._lock:
            recent = list(reversed(self.recent.values()))
            in_flight = list(self._in_flight)
        in_flight.sort(key=lambda v: -v["created"])
        return {"in_flight": in_flight, "recent": recent}

    def view(self, cid: str) -> Optional[dict]:
        """A computation as last seen (finished or in flight), None when the monitor has not seen it."""
        with self._lock:
            return self.recent.get(cid) or next((v for v in self._in_flight if v.get("id") == cid), None)

    def validators(self) -> Optional[list[dict]]:
        """Validators as the last tick saw them (at most `interval` old); None before the first."""
        with self._lock:
            return None if self._validator_list is None else list(self._validator_list)

    def validator_views(self, s: Any, now: float) -> list[dict]:
        """Under the scheduler's lock: every validator's view, with its cluster."""
        return self._validator_views(s, now)

    def _validator_views(self, s: Any, now: float) -> list[dict]:
        from ai.scheduler.validators import clusters

        s_validators = list(s.validators.values())
        cluster_of = {}
        for i, group in enumerate(clusters(s_validators), start=1):
            for v in group:
                cluster_of[v.address] = i
        return [validator_view(v, cluster_of.get(v.address), now) for v in s_validators]

    def _validator_events(self, views: list[dict]) -> list[dict]:
        events = []
        for view in views:
            digest = _validator_digest(view)
            before = self._validators.get(view["address"])
            if before != digest:
                self._validators[view["address"]] = digest
                events.append({"type": "validator", "validator": view,
                               "newly_slashed": before is not None and before[2] != view["slashed"]})
        return events

    def _sample_validators(self, now: float, views: list[dict]) -> None:
        for view in views:
            self.history.add_validator(now, view["address"], score=view["score"], uptime=view["uptime"])

    def _sample(self, now: float, s: Any) -> dict:
        from pqc import stats as pqc_stats

        counters = pqc_stats.counters()
        breakdown = pqc_stats.breakdown()
        values = {
            "pqc_verified": counters["signatures_verified"], "pqc_failed": counters["signature_failures"],
            "pqc_encryptions": counters["encryptions"],
            "pqc_by_algorithm": {op: breakdown[op] for op in ("verified", "failed", "encrypted")},
            "pqc_by_level": breakdown["levels"],
        }
        if s is not None:
            c = dict(s.counters)
            values.update(ai_fees=c.get("rewards", 0), ai_completed=c.get("completed", 0),
                          ai_failed=c.get("failed", 0), ai_computations=c.get("computations", 0))
        self.history.add(now, values)
        return values
