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
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from eth_hash.auto import keccak

from ai import protocol
from ai.models.catalog import MODELS
from ai.models.errors import InvalidInputError
from ai.ports import AIError, ChainHooks
from ai.protocol import LEVEL, TaskRef, TaskVote, task_vote
from ai.records import AIRecords
from ai.scheduler import economics
from ai.scheduler import text_rounds
from ai.scheduler.commitments import validate_request
from ai.scheduler.validator_set import HEARTBEAT_GRACE, JOIN_DELAY, ActiveSets, StageSet
from ai.scheduler.validators import MIN_STAKE, Validator, clusters
from pqc import bundle
from pqc.errors import FormatError
from pqc.keys import PublicKeys
from pqc.quorum import QuorumCertificate
from vm import defaults
from vm.addresses import to_syn

log = logging.getLogger("aivm.ai")

SPARE = 1  # validators asked beyond the stake that decides, when a round is slow (HEDGE_AFTER) or a vote fails
HEDGE_AFTER = 0.15  # seconds a round of a single-round model waits for its validators before a spare is asked too
TASK_TIMEOUT = defaults.AI_TASK_TIMEOUT  # seconds a validator has for one task
COMPUTATION_TIMEOUT = 600.0
HEARTBEAT_WINDOW = 60.0
MAX_TASKS_KEPT = 100_000
MAX_NEW_TOKENS = 256  # the cap on a text answer's length (= ai.models.generation.MAX_NEW_TOKENS; a test keeps them equal)


@dataclass
class Task:
    task_id: str
    computation_id: str
    address: bytes
    stage: int
    step: int
    assigned_at: float
    deadline: float
    status: str = "Assigned"  # Assigned | Submitted | TimedOut | Closed
    vote_hash: Optional[bytes] = None
    output: Optional[bytes] = None
    signature: Optional[bytes] = None
    latency: float = 0.0
    round: Optional["Round"] = None  # the round it belongs to (kept to judge late answers)
    winner: Optional[bytes] = None  # the vote the quorum agreed on, once the round is decided
    payload: Optional[dict] = None  # text rounds: what this validator gets beyond the common fields
    canary: Optional[bytes] = None  # text rounds: the wrong proposal this validator was given to check


@dataclass
class Round:
    step: int
    stage: int
    input: bytes
    set_size: int  # members of the snapshot
    required: int  # stake (wei) that decides: snapshot.required
    tasks: dict = field(default_factory=dict)  # address -> Task
    votes: dict = field(default_factory=dict)  # vote hash -> TaskVote
    snapshot: Optional[StageSet] = None  # who counts, with what stake (the computation's, from its start)
    proposal: Optional[bytes] = None  # text chunk: the proposed stage output the round verifies
    start: int = 0  # text chunk: first position (end = start + positions of `input`)
    end: int = 0
    tokens_end: int = 0  # text chunk: generated tokens through this chunk
    epoch: int = 0
    verdict: Optional[bool] = None  # text chunk: accepted (True) or rejected (False) once decided
    winner_hash: Optional[bytes] = None
    votes_by_verdict: dict = field(default_factory=dict)  # text chunk: verdict byte -> TaskVote
    canaries: dict = field(default_factory=dict)  # text chunk: address -> canary Task (outside the tally)

    def ballots(self) -> dict[bytes, bytes]:
        """{validator address: vote hash} of the submitted results."""
        return {a: t.vote_hash for a, t in self.tasks.items() if t.status == "Submitted"}

    def decided(self) -> Optional[bytes]:
        """The vote that holds the threshold of the snapshot's stake, if any: the round's answer."""
        return self.snapshot.decided(self.ballots())

    def can_decide(self) -> bool:
        """Whether the still-open tasks could carry some vote to the threshold."""
        pending = [a for a, t in self.tasks.items() if t.status == "Assigned"]
        return self.snapshot.can_decide(self.ballots(), pending)


@dataclass
class Computation:
    id: str
    model_id: str
    input: bytes
    requester: Optional[str]
    created: float
    status: str = "Pending"  # Pending | Running | Completed | Failed
    reason: str = ""
    finished: float = 0.0
    result: Optional[bytes] = None
    certificate: Optional[dict] = None
    cached: bool = False
    rounds_done: int = 0
    validators: set = field(default_factory=set)
    round: Optional[Round] = None
    generation: Any = None
    sets: dict = field(default_factory=dict)  # stage -> StageSet snapshot taken when the computation started
    max_tokens: Optional[int] = None  # text models: the answer's length limit
    text: Any = None  # text_rounds.TextState while a text computation runs

    @property
    def request_hash(self) -> bytes:
        return keccak(self.input)

    def to_record(self) -> dict:
        return {
            "id": self.id, "model_id": self.model_id, "input": self.input.hex(), "requester": self.requester,
            "created": self.created, "status": self.status, "reason": self.reason, "finished": self.finished,
            "result": None if self.result is None else self.result.hex(), "certificate": self.certificate,
            "cached": self.cached, "rounds": self.rounds_done, "validators": sorted(a.hex() for a in self.validators),
            "max_tokens": self.max_tokens,
        }

    @classmethod
    def from_record(cls, d: dict) -> "Computation":
        c = cls(d["id"], d["model_id"], bytes.fromhex(d["input"]), d["requester"], d["created"], d["status"],
                d["reason"], d["finished"], None if d["result"] is None else bytes.fromhex(d["result"]),
                d["certificate"], d.get("cached", False), d.get("rounds", 0),
                {bytes.fromhex(a) for a in d.get("validators", [])}, max_tokens=d.get("max_tokens"))
        return c


class Scheduler:
    def __init__(self, records: AIRecords, chain_id: int, manifests: dict, hooks: ChainHooks,
                 notify: Callable[[bytes, dict], None] = lambda a, t: None, cache: bool = True,
                 task_timeout: float = TASK_TIMEOUT, codec_loader: Callable[[], Any] = None,
                 max_new_tokens: int = 32, join_delay: float = JOIN_DELAY,
                 heartbeat_grace: float = HEARTBEAT_GRACE, chunk_tokens: int = 0) -> None:
        from ai.models.decoding import CHUNK_TOKENS

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
        self.hedge_after = HEDGE_AFTER
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
                rec.update(status="Failed", reason="interrupted by a node restart", finished=time.time())
                interrupted[cid] = rec
        if interrupted:
            self.counters["failed"] += len(interrupted)
            self.records.write(computations=interrupted, counters=self.counters)

    # -- validators --
    def register(self, public_keys: bytes, stake: int, proof: bytes) -> Validator:
        try:
            keys = PublicKeys.decode(public_keys)
        except FormatError as exc:
            raise AIError(f"invalid public keys: {exc}") from None
        if keys.level != LEVEL:
            raise AIError(f"validators sign AI results at level {LEVEL.title}; these keys are {keys.level.title}")
        address = protocol.validator_address(keys)
        msg = protocol.registration_message(self.chain_id, address, keys.key_hash, stake)
        ok, why = bundle.check(proof, keys, msg, LEVEL)
        if not ok:
            raise AIError(f"registration proof does not verify: {why}")
        if stake < MIN_STAKE:
            raise AIError(f"stake {stake} wei is below the minimum of {MIN_STAKE} wei")
        with self._lock:
            existing = self.validators.get(address)
            if existing is not None and stake <= existing.stake:
                return existing  # same keys, same address: registering twice is harmless
            if address in self._topping_up:
                raise AIError(f"a registration of {to_syn(address)} is already being processed: retry")
            self._topping_up.add(address)
            extra = stake - (existing.stake if existing is not None else 0)
        try:
            self.hooks.lock_stake(address, extra)  # raises AIError when the account cannot pay
        finally:
            with self._lock:
                self._topping_up.discard(address)
        with self._lock:
            v = self.validators.get(address)
            if v is None:
                v = Validator(address, keys.encode(), stake, time.time(), last_seen=time.time())
                self.validators[address] = v
                log.info("validator %s registered with stake %d", to_syn(address), stake)
            else:  # the top-up: a registration with a higher total stake locks the difference
                v.stake += extra
                log.info("validator %s topped its stake up by %d to %d", to_syn(address), extra, v.stake)
            self.records.write(validators={address: v.to_record()})
        return v

    def _verify(self, v: Validator, message: bytes, signature: bytes, what: str) -> None:
        ok, why = bundle.check(signature, v.keys, message, LEVEL)
        if not ok:
            raise AIError(f"{what} signature does not verify under the registered keys of {to_syn(v.address)}: {why}")

    def validator(self, address: bytes) -> Validator:
        v = self.validators.get(address)
        if v is None:
            raise AIError(f"validator {to_syn(address)} is not registered")
        return v

    def attest(self, address: bytes, attestation: dict, signature: bytes) -> Validator:
        with self._lock:
            v = self.validator(address)
        self._verify(v, protocol.attestation_message(self.chain_id, address, attestation), signature, "attestation")
        holds, error = self._check_attestation(attestation)
        if not error and v.stake < MIN_STAKE:
            error = (f"stake {v.stake} wei is below the minimum of {MIN_STAKE} wei: top it up first "
                     f"(synergy_registerValidator again with a total stake of at least {MIN_STAKE} wei)")
        with self._lock:
            now = time.time()
            unchanged = v.attestation_valid and not error and sorted(holds) == sorted(v.holds)
            v.attestation = attestation
            v.attestation_valid = not error
            v.attestation_error = error
            v.holds = holds if not error else []
            if not error:
                v.lapsed, v.last_seen = False, now
                if not unchanged:  # a member re-attesting the same shards keeps its place; others wait
                    v.active_from = now + self.sets.join_delay
            self.records.write(validators={address: v.to_record()})
        if error:
            raise AIError(f"attestation refused: {error}")
        # the active sets (and their on-chain copies) follow at the next refresh, after the join delay
        return v

    def _check_attestation(self, att: dict) -> tuple[list, str]:
        need = {"software_version": str, "shards": list, "cores": int, "memory_mb": int, "timestamp": int}
        for key, kind in need.items():
            if not isinstance(att.get(key), kind):
                return [], f"field {key} missing or not a {kind.__name__}"
        if abs(att["timestamp"] - time.time()) > 300:
            return [], "timestamp is more than 5 minutes off"
        holds = []
        for s in att["shards"]:
            if not isinstance(s, dict) or not {"model_id", "stage"} <= set(s):
                return [], "each shard needs model_id and stage (and sha256, or endpoint_model for an endpoint)"
            if s["model_id"] not in self.manifests:
                return [], f"unknown model {s['model_id']!r}"
            manifest = self.manifests[s["model_id"]]
            if manifest is None:  # served from the validator's own endpoint
                if s["stage"] != 0 or not isinstance(s.get("endpoint_model"), str):
                    return [], f"{s['model_id']} is endpoint-served: attest stage 0 and the endpoint_model it runs"
                holds.append([s["model_id"], 0])
                continue
            try:
                expected = manifest.stage_shard(s["stage"]).sha256
            except Exception:
                return [], f"{s['model_id']} has no stage {s['stage']!r}"
            if s.get("sha256") != expected:
                return [], (f"{s['model_id']} stage {s['stage']} shard hash {str(s.get('sha256'))[:16]}… does not match "
                            f"the registered manifest ({expected[:16]}…): tampered or wrong version")
            holds.append([s["model_id"], s["stage"]])
        return holds, ""

    def heartbeat(self, address: bytes, timestamp: int, signature: bytes) -> Validator:
        with self._lock:
            v = self.validator(address)
        self._verify(v, protocol.heartbeat_message(self.chain_id, address, timestamp), signature, "heartbeat")
        now = time.time()
        if abs(timestamp - now) > 60:
            raise AIError("heartbeat timestamp is more than a minute off")
        with self._lock:
            if timestamp <= v.last_heartbeat:
                raise AIError("heartbeat replayed: its timestamp is not after the last one")
            beats = self._beats[address]
            if not beats:
                v.online_since = now
            beats.append(now)
            while beats and beats[0] < now - HEARTBEAT_WINDOW:
                beats.popleft()
            v.heartbeats = len(beats)
            v.online_since = max(v.online_since, now - HEARTBEAT_WINDOW)
            v.last_heartbeat = timestamp
            v.last_seen = now
            lapsed = v.lapsed and not v.attestation_valid
        if lapsed:  # alive again, but it left the set: only a fresh attestation brings it back
            raise AIError(f"heartbeat recorded, but the attestation lapsed: {v.attestation_error}")
        return v

    def restore(self, address: bytes) -> None:
        """Test clusters only: forget a validator's missed heartbeats and lost score."""
        from ai.scheduler.validators import START_SCORE

        with self._lock:
            v = self.validator(address)
            now = time.time()
            self._beats[address].clear()
            self._beats[address].append(now)  # counts as a fresh heartbeat: a new liveness window
            v.heartbeats, v.online_since, v.last_seen = 1, now, now
            v.score = max(v.score, START_SCORE)
            if v.lapsed and not v.attestation_valid and v.holds and v.stake >= MIN_STAKE:
                v.attestation_valid, v.attestation_error, v.lapsed = True, "", False

    def _refresh_liveness(self, now: float) -> None:
        for address, beats in self._beats.items():
            while beats and beats[0] < now - HEARTBEAT_WINDOW:
                beats.popleft()
            v = self.validators.get(address)
            if v is not None:
                v.heartbeats = len(beats)
                v.online_since = max(v.online_since, now - HEARTBEAT_WINDOW)

    def eligible(self, model_id: str, stage: int, now: float, snapshot: Optional[StageSet] = None) -> list[Validator]:
        """Eligible holders of a stage (members of `snapshot`, when given), best cluster first,
        then the most stake, then the least-used."""
        self._refresh_liveness(now)
        out = []
        for cluster in clusters(list(self.validators.values())):
            ok = [v for v in cluster if not v.ineligibility(model_id, stage, now)
                  and (snapshot is None or v.address in snapshot)]
            # within a cluster: the most stake first (fewest validators to reach the threshold), then the
            # least-used, so every member is asked in turn (and a liar cannot hide at the back)
            out += sorted(ok, key=lambda v: (-(snapshot.stakes[v.address] if snapshot is not None else v.stake),
                                             v.assigned))
        return out

    def refresh_sets(self, now: Optional[float] = None) -> None:
        """Under the lock: lapse the silent, then recompute the active sets (new epochs are published)."""
        now = time.time() if now is None else now
        self._refresh_liveness(now)
        gone = self.sets.expire(self.validators.values(), now)
        for v in gone:
            v.lapsed = True
            log.warning("validator %s left the validator set: %s", to_syn(v.address), v.attestation_error)
        if self.sets.refresh(self.validators.values(), now) or gone:
            self.records.write(validators={v.address: v.to_record() for v in gone}, counters=self.counters)

    def stage_set_size(self, model_id: str, stage: int) -> int:
        """Members of the stage's active set now (from the scheduler's own registry, never the chain)."""
        with self._lock:
            return len(self.sets.snapshot(model_id, stage).stakes)

    def standing(self, address: bytes) -> dict:
        """Whether a validator counts now, in which stage sets, and if not, why."""
        with self._lock:
            v = self.validator(address)
            now = time.time()
            stages = [[m, st] for (m, st), snap in self.sets.current.items() if address in snap]
            why = "" if stages else next(
                (self.sets.why_inactive(v, m, st, now) for m, st in v.holds), "") or \
                (f"attestation: {v.attestation_error}" if not v.attestation_valid else "holds no model stage")
            return {"active": bool(stages), "active_in": stages, "status": why}

    def active_validators(self) -> int:
        """How many validators count in at least one stage's active set."""
        with self._lock:
            return len(self.sets.members())

    def stage_set(self, model_id: str, stage: int) -> StageSet:
        with self._lock:
            return self.sets.snapshot(model_id, stage)

    # -- computations --
    def records_callback(self, cid: str) -> Optional[dict]:
        return self.records.callback(cid) if cid else None

    def max_tokens_for(self, model_id: str, max_tokens: Optional[int]) -> Optional[int]:
        """A text model's answer length (the node's default when not asked); None for other models."""
        if model_id not in MODELS:
            return max_tokens  # initiate() refuses the unknown model with its own message
        if not MODELS[model_id].generates:
            if max_tokens is not None:
                raise AIError(f"max_tokens applies to the pipelined text model; {model_id} does not take it")
            return None
        if max_tokens is None:
            return self.max_new_tokens
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_NEW_TOKENS:
            raise AIError(f"max_tokens must be an integer from 1 to {MAX_NEW_TOKENS}, got {max_tokens!r}")
        return max_tokens

    def answer_key(self, model_id: str, request_hash: bytes, max_tokens: Optional[int] = None) -> bytes:
        """The (model, input[, answer length]) an answer is recorded under."""
        key = model_id.encode() + b"/" + request_hash
        if max_tokens is not None and max_tokens != self.max_new_tokens:
            key += b"/%d" % max_tokens
        return key

    def initiate(self, model_id: str, data: bytes, requester: Optional[str] = None,
                 callback: Optional[dict] = None, max_tokens: Optional[int] = None) -> Computation:
        if model_id not in MODELS or model_id not in self.manifests:
            raise AIError(f"unknown model {model_id!r}; available: {', '.join(sorted(self.manifests))}")
        try:
            validate_request(model_id, data)
        except InvalidInputError as exc:
            raise AIError(str(exc)) from None
        max_tokens = self.max_tokens_for(model_id, max_tokens)
        notes = []
        # the tokenizer may load on first use: never while holding the lock (heartbeats need it)
        generation = self._new_generation(data, max_tokens) if max_tokens is not None else None
        with self._lock:
            n = next(self._seq)
            cid = f"ai_comp_{int(time.time())}_{n}"
            comp = Computation(cid, model_id, bytes(data), requester, time.time(), max_tokens=max_tokens)
            self.computations[cid] = comp
            if callback is not None:  # recorded before any work, so a restart still owes it
                self.records.set_callback(cid, callback)
            self.counters["computations"] = n
            cached = self.recorded(model_id, comp.request_hash, max_tokens) if self.cache else None
            if cached is not None:
                comp.status, comp.result, comp.certificate = "Completed", bytes.fromhex(cached["result"]), cached["certificate"]
                comp.cached, comp.finished = True, time.time()
                comp.validators = {bytes.fromhex(a) for a in cached.get("validators", [])}
                self.counters["completed"] += 1
                self.counters["cached"] += 1
                self._persist(comp)
                self._done.notify_all()
                self.on_finish(comp)
                return comp
            comp.status = "Running"
            self.refresh_sets()  # the set as of now (a new epoch's on-chain copy is queued, never awaited)
            # the computation's sets: a burst of registrations or departures from now on changes nothing here
            comp.sets = {st: self.sets.snapshot(model_id, st) for st in range(MODELS[model_id].num_stages)}
            if generation is not None:
                comp.generation = generation
                self._text_start(comp, notes)
            else:
                self._start_round(comp, 0, 0, comp.input, notes)
            self._persist(comp)
        self._send(notes)
        return comp

    def _new_generation(self, prompt: bytes, max_tokens: int):
        from ai.models.text_request import new_generation  # chat (issue 16): a text request or a plain prompt

        if max_tokens < 1:
            raise AIError(f"max_tokens must be at least 1 for a quorum answer, got {max_tokens}")
        try:
            return new_generation(self._codec_loader(), prompt, max_tokens)
        except InvalidInputError as exc:
            raise AIError(str(exc)) from None

    def recorded(self, model_id: str, request_hash: bytes, max_tokens: Optional[int] = None) -> Optional[dict]:
        """The completed computation that first answered (model, input[, answer length]), if any."""
        cid = self.records.answer(self.answer_key(model_id, request_hash, max_tokens))
        return None if cid is None else self.records.computation(cid)

    def _start_round(self, comp: Computation, step: int, stage: int, data: bytes, notes: list) -> None:
        now = time.time()
        snap = comp.sets[stage]
        rnd = Round(step, stage, data, len(snap.stakes), snap.required, snapshot=snap)
        comp.round = rnd
        candidates = self.eligible(comp.model_id, stage, now, snap)
        reachable = snap.weight(v.address for v in candidates)
        if not snap.met(reachable):
            num, den = snap.threshold
            self._fail(comp, f"Validator AI task assignment failed: {len(candidates)} eligible validators of "
                             f"{comp.model_id} stage {stage} hold {reachable} wei of the set's {snap.total} wei "
                             f"active stake ({len(snap.stakes)} validators, epoch {snap.epoch}); a decision needs "
                             f"{num}/{den} = {snap.required} wei")
            return
        assigned = 0
        for v in candidates:  # enough stake to decide; a spare only if the round is slow (hedge) or a vote fails
            if snap.met(assigned):
                self._hedges[id(rnd)] = (now + self.hedge_after, comp, rnd)
                break
            self._assign(comp, rnd, v, now, notes)
            assigned += snap.stakes[v.address]

    def _hedge_due(self, now: float, notes: list) -> None:
        """Under the lock: each round still undecided HEDGE_AFTER seconds after it started gets SPARE more
        validators (a slow or crashed one then costs that delay, not a task timeout; a fast round costs no
        spare's work: on a shared machine the spare's model run and signature slowed the ones that decide)."""
        for key, (due, comp, rnd) in list(self._hedges.items()):
            if due > now:
                continue
            del self._hedges[key]
            if comp.status != "Running" or rnd.winner_hash is not None:
                continue
            if comp.text is None and comp.round is not rnd:
                continue
            if comp.text is not None and (rnd.epoch != comp.text.epoch or rnd.verdict is not None
                                          or comp.text.rounds.get((rnd.step, rnd.stage)) is not rnd):
                continue
            skip = set(rnd.tasks) | (comp.text.excluded if comp.text is not None else set())
            spare = [v for v in self.eligible(comp.model_id, rnd.stage, now, rnd.snapshot) if v.address not in skip]
            for v in spare[:SPARE]:
                self._assign(comp, rnd, v, now, notes)

    def hedges_due(self) -> bool:
        """Whether some round waits for its spare now (read without the lock: a cheap check, often)."""
        now = time.time()
        try:
            return any(due <= now for due, _, _ in list(self._hedges.values()))
        except RuntimeError:  # changed while read
            return True

    def hedge(self) -> None:
        """Ask spares for the slow rounds (the service calls it often; cheap when there are none)."""
        if not self._hedges:
            return
        notes: list = []
        with self._lock:
            self._hedge_due(time.time(), notes)
        self._send(notes)

    def _assign(self, comp: Computation, rnd: Round, v: Validator, now: float, notes: list) -> None:
        if rnd.proposal is not None:
            self._assign_text(comp, rnd, v, now, notes)
            return
        single = MODELS[comp.model_id].num_stages == 1
        tid = protocol.task_id(comp.id, v.address, rnd.stage, rnd.step, single)
        task = Task(tid, comp.id, v.address, rnd.stage, rnd.step, now, now + self.task_timeout, round=rnd)
        rnd.tasks[v.address] = task
        self._tasks[tid] = task
        v.assigned += 1
        while len(self._tasks) > MAX_TASKS_KEPT:  # finished tasks are kept a while to name replays
            self._tasks.popitem(last=False)
        notes.append((v.address, self.task_json(task)))

    def task_json(self, task: Task) -> dict:
        comp = self.computations[task.computation_id]
        rnd = task.round
        out = {
            "task_id": task.task_id,
            "computation_id": comp.id,
            "validator_address": to_syn(task.address),
            "model_id": comp.model_id,
            "status": task.status,
            "stage": task.stage,
            "step": task.step,
            "deadline": task.deadline,
            "request_hash": "0x" + comp.request_hash.hex(),
        }
        if rnd is not None and task.status == "Assigned" and comp.status == "Running":
            if task.payload is not None:
                out.update(task.payload)
            else:
                out["input"] = rnd.input.hex()
        return out

    def vote_for(self, comp: Computation, rnd: Round, output: bytes) -> TaskVote:
        """The vote an honest validator signs for `output` in this round (text chunk: the verdict byte)."""
        if rnd.proposal is None:
            return task_vote(self._task_ref(comp, rnd), rnd.input, output)
        if output not in rnd.votes_by_verdict:  # every submission of a text round signs one of two votes
            rnd.votes_by_verdict[output] = task_vote(self._task_ref(comp, rnd), rnd.input, output,
                                                     proposal=rnd.proposal, codec=comp.generation.codec)
        return rnd.votes_by_verdict[output]

    def _task_ref(self, comp: Computation, rnd: Round) -> TaskRef:
        return TaskRef(self.chain_id, comp.id, comp.model_id, rnd.stage, rnd.step, comp.request_hash)

    def submit(self, task_id: str, address: bytes, output: bytes, signature: bytes) -> dict:
        """A validator's signed result. The signature is checked outside the lock (the C code releases
        the GIL, so concurrent submissions verify in parallel); the task's state is checked before and
        again after, so a result is counted once and only while its task is open."""
        notes: list = []
        with self._lock:
            task = self._task_of(task_id, address)
            late = task.status == "Closed" and task.winner is not None
            if not late and (task.status in ("TimedOut", "Closed") or time.time() > task.deadline):
                raise AIError(f"task {task_id} is closed: the deadline passed or the round is decided (late submission)")
            comp = self.computations[task.computation_id]
            rnd = task.round
            v = self.validators[address]
            if task.canary is not None:
                return self._judge_canary(comp, task, v, output, signature)
            try:
                vote = self.vote_for(comp, rnd, output)
            except (InvalidInputError, ValueError, IndexError) as exc:
                if late:
                    raise AIError(f"task {task_id} is closed: the deadline passed or the round is decided "
                                  f"(late submission)") from None
                raise AIError(f"result is malformed for {comp.model_id} stage {task.stage}: {exc}") from None
            keys = v.keys
        digest = vote.message_hash  # once: each use would ABI-encode the vote again
        ok, why = bundle.check(signature, keys, digest, LEVEL)
        with self._lock:
            if task.status == "Submitted":
                raise AIError(f"task {task_id} already has a result: replayed submission refused")
            if task.status == "Closed" and task.winner is not None:
                if ok:
                    self._judge_late(task, digest)
            if task.status in ("TimedOut", "Closed") or time.time() > task.deadline:
                raise AIError(f"task {task_id} is closed: the deadline passed or the round is decided (late submission)")
            if not ok:
                raise AIError(f"result signature does not verify under the registered keys of {to_syn(address)}: {why}")
            task.status, task.output, task.signature = "Submitted", bytes(output), bytes(signature)
            task.vote_hash, task.latency = digest, time.time() - task.assigned_at
            rnd.votes[digest] = vote
            self.counters["participations"] += 1
            self._settle(comp, rnd, notes)
        self._send(notes)
        return {"success": True, "task_id": task_id, "status": task.status}

    def _task_of(self, task_id: str, address: bytes) -> Task:
        """Under the lock: the task, if `address` may submit to it now."""
        task = self._tasks.get(task_id)
        if task is None:
            raise AIError(f"unknown task {task_id[:120]}")
        if task.address != address:
            raise AIError(f"task {task_id} is not assigned to {to_syn(address)}")
        if task.status == "Submitted":
            raise AIError(f"task {task_id} already has a result: replayed submission refused")
        return task

    def _judge_canary(self, comp: Computation, task: Task, v: Validator, output: bytes, signature: bytes) -> dict:
        """A verifier that accepts a canary signed a wrong output without checking it: slashed."""
        rnd = task.round
        if output not in (b"\x00", b"\x01"):
            raise AIError("a text chunk verdict is one byte: 01 accept, 00 reject")
        vote = task_vote(self._task_ref(comp, rnd), rnd.input, output, proposal=task.canary,
                         codec=comp.generation.codec)
        ok, why = bundle.check(signature, v.keys, vote.message_hash, LEVEL)
        if not ok:
            raise AIError(f"result signature does not verify under the registered keys of {to_syn(v.address)}: {why}")
        task.status, task.output, task.signature = "Submitted", bytes(output), bytes(signature)
        task.latency = time.time() - task.assigned_at
        if output == b"\x01":
            penalty = economics.slash(v)
            self._maybe_remove(v)
            comp.text.excluded.add(v.address)
            log.warning("validator %s accepted a wrong %s stage %d chunk %d without checking: slashed %d wei",
                        to_syn(v.address), comp.id, rnd.stage, rnd.step, penalty)
        else:
            economics.agreed(v, task.latency)
        self.records.write(validators={v.address: v.to_record()})
        return {"success": True, "task_id": task.task_id, "status": task.status}

    def _judge_late(self, task: Task, digest: bytes) -> None:
        """Under the lock: a signed (and verified) answer that arrives after its round was decided still
        counts against a liar."""
        comp = self.computations.get(task.computation_id)
        if comp is None or task.round is None:
            return
        v = self.validators[task.address]
        if digest != task.winner:
            task.status = "Submitted"
            penalty = economics.slash(v)
            self._burn(penalty)
            self._maybe_remove(v)
            self.records.write(validators={v.address: v.to_record()})
            log.warning("validator %s signed a losing result in %s (after the quorum): slashed %d wei",
                        to_syn(v.address), comp.id, penalty)
            raise AIError(f"task {task.task_id} is closed and its result disagrees with the quorum's: slashed")

    def _settle(self, comp: Computation, rnd: Round, notes: list) -> None:
        """Decide the round if the threshold of stake agrees; replace or fail if it no longer can."""
        best = rnd.decided()
        if best is not None:
            self._decide(comp, rnd, best, notes)
            return
        snap = rnd.snapshot
        if rnd.proposal is not None and not rnd.can_decide():
            rejects = [t for t in rnd.tasks.values() if t.status == "Submitted" and t.output == b"\x00"]
            if 2 * snap.weight(t.address for t in rejects) > snap.total:  # a stake majority rejects: the proposal is wrong
                self._decide(comp, rnd, rejects[0].vote_hash, notes)
                return
        while not rnd.can_decide():
            now = time.time()
            skip = set(rnd.tasks) | (comp.text.excluded if comp.text is not None else set())  # a canary's holder may step in
            spare = [v for v in self.eligible(comp.model_id, rnd.stage, now, snap) if v.address not in skip]
            if not spare:
                snap = rnd.snapshot
                top = max(snap.tally(rnd.ballots()).values(), default=0)
                pending = snap.weight(a for a, t in rnd.tasks.items() if t.status == "Assigned")
                self._fail(comp, f"no quorum possible for {comp.model_id} stage {rnd.stage}: the largest agreeing "
                                 f"stake is {top} wei, {pending} wei pending, {snap.required} wei of "
                                 f"{snap.total} needed (too many validators failed or disagreed)")
                return
            self._assign(comp, rnd, spare[0], now, notes)

    def _decide(self, comp: Computation, rnd: Round, winner: bytes, notes: list) -> None:
        rnd.winner_hash = winner
        self._hedges.pop(id(rnd), None)
        winners = [t for t in rnd.tasks.values() if t.status == "Submitted" and t.vote_hash == winner]
        losers = [t for t in rnd.tasks.values() if t.status == "Submitted" and t.vote_hash != winner]
        for t in rnd.tasks.values():
            if t.status == "Assigned":
                t.status, t.winner = "Closed", winner
                if rnd.proposal is not None:  # a spare's verification is no longer needed: spare its CPU
                    notes.append((t.address, {"kind": "close", "task_id": t.task_id, "computation_id": comp.id}))
                    comp.text.gaps.add((t.address, rnd.stage))  # its cache may now lack this chunk
        for t in losers:
            penalty = economics.slash(self.validators[t.address])
            self._burn(penalty)
            log.warning("validator %s signed a losing result in %s: slashed %d wei (burned)", to_syn(t.address),
                        comp.id, penalty)
            self._maybe_remove(self.validators[t.address])
            if comp.text is not None:
                comp.text.excluded.add(t.address)  # a liar neither proposes, verifies nor is paid here again
        for t in winners:
            economics.agreed(self.validators[t.address], t.latency)
        if comp.text is None:  # text rounds are paid when the answer is agreed (a rejected proposal earns nothing)
            paid = economics.share_fee(MODELS[comp.model_id].gas_price // 100,
                                       [(self.validators[t.address], t.latency) for t in winners])
            self.counters["rewards"] += sum(paid.values())
        comp.validators |= {t.address for t in rnd.tasks.values()}
        comp.rounds_done += 1
        output = winners[0].output
        info = MODELS[comp.model_id]
        touched = {t.address: self.validators[t.address].to_record() for t in winners + losers}
        if comp.text is not None:
            self._text_decided(comp, rnd, winner, winners, output == b"\x01", notes)
            self.records.write(validators={**touched, **self._text_touched(comp)}, counters=self.counters)
            return
        if rnd.stage < info.num_stages - 1:
            self._start_round(comp, rnd.step, rnd.stage + 1, output, notes)
        else:
            self._certify_and_complete(comp, rnd, winner, winners, output)
        self.records.write(validators=touched, counters=self.counters)

    def _certify_and_complete(self, comp: Computation, rnd: Round, winner: bytes, winners: list, result: bytes) -> None:
        vote = rnd.votes[winner]
        if vote.result_hash != keccak(result):
            self._fail(comp, "the quorum's result hash does not match the agreed output")
            return
        snap = rnd.snapshot
        cert = QuorumCertificate(winner, LEVEL, snap.set_id, 1,
                                 tuple((self.validators[t.address].public_keys, t.signature) for t in winners),
                                 snap.epoch)
        comp.certificate = {"vote": vote.to_json(), "encoded": "0x" + cert.encode().hex(),
                            "signers": [to_syn(t.address) for t in winners],
                            "signed_stake": str(snap.weight(t.address for t in winners)),
                            "total_stake": str(snap.total), "required_stake": str(snap.required),
                            "threshold": "%d/%d" % snap.threshold, "epoch": snap.epoch,
                            "set_id": str(cert.set_id), "level": LEVEL.title}
        self._complete(comp, result)

    # -- text generation: one proposal, verified a chunk per round (ai.scheduler.text_rounds) --
    def _open_rounds(self, comp: Computation) -> list:
        if comp.text is not None:
            return [r for r in comp.text.rounds.values() if r.verdict is None]
        return [comp.round] if comp.round is not None else []

    def _text_start(self, comp: Computation, notes: list) -> None:
        comp.text = text_rounds.TextState(comp.generation, MODELS[comp.model_id].num_stages, self.chunk_tokens)
        self._text_propose(comp, notes)

    def _proposing(self) -> collections.Counter:
        busy = collections.Counter()
        for cid in self._running_text:
            st = self.computations[cid].text
            busy.update({p.address for p in st.proposers})
        return busy

    def _choose_proposers(self, comp: Computation) -> Optional[list]:
        """(first stage, last stage, validator) ranges: one validator for all stages if one holds them,
        else the fewest consecutive ranges; the least busy eligible holder first."""
        st, now = comp.text, time.time()
        cands = [[v for v in self.eligible(comp.model_id, k, now) if v.address not in st.excluded]
                 for k in range(st.num_stages)]
        if not all(cands):
            return None
        busy = self._proposing()
        holders = [{v.address for v in c} for c in cands]
        whole = [v for v in cands[0] if all(v.address in h for h in holders)]
        if whole:
            return [(0, st.num_stages - 1, min(whole, key=lambda v: busy[v.address]))]
        out, k = [], 0
        while k < st.num_stages:
            def reach(v):
                j = k
                while j + 1 < st.num_stages and v.address in holders[j + 1]:
                    j += 1
                return j
            v = min(cands[k], key=lambda v: (-reach(v), busy[v.address]))
            out.append((k, reach(v), v))
            k = reach(v) + 1
        return out

    def _text_propose(self, comp: Computation, notes: list) -> None:
        """(Re)start the proposal from the tokens agreed so far, with fresh proposers."""
        st = comp.text
        for rnd in self._open_rounds(comp):
            for t in rnd.tasks.values():
                t.status = "Closed" if t.status == "Assigned" else t.status
        self._text_end(comp, keep=True)
        st.reset(st.epoch + 1)
        if st.epoch > 1:
            log.info("%s: proposing again from %d agreed tokens", comp.id, len(comp.generation.generated))
        chosen = self._choose_proposers(comp)
        if chosen is None:
            self._fail(comp, f"Validator AI task assignment failed: no eligible validator holds every stage of "
                             f"{comp.model_id} to propose with")
            return
        proposers = []
        for first, last, v in chosen:
            tid = f"{comp.id}_e{st.epoch}_propose_st{first}-{last}_task_{to_syn(v.address)}"
            p = text_rounds.Proposer(tid, v.address, first, last, st.epoch)
            st.by_task[tid] = p
            self._proposals[tid] = comp.id
            proposers += [p] * (last - first + 1)
        st.proposers = proposers
        self._running_text.add(comp.id)
        gen = comp.generation
        for p in st.by_task.values():
            comp.validators.add(p.address)
            task = {"kind": "propose", "task_id": p.task_id, "computation_id": comp.id,
                    "validator_address": to_syn(p.address), "model_id": comp.model_id, "status": "Assigned",
                    "stage": p.first, "first_stage": p.first, "last_stage": p.last, "step": 0, "epoch": st.epoch,
                    "request_hash": "0x" + comp.request_hash.hex(), "prompt_len": st.prompt_len,
                    "agreed": len(gen.generated), "limits": gen.limits.to_json(), "rule": gen.rule,
                    "chunk_tokens": st.chunk_tokens, "deadline": time.time() + self.task_timeout}
            if p.first == 0:
                task["ids"] = gen.prompt_ids + list(gen.generated)
            p.task = task
            notes.append((p.address, task))

    def relay(self, task_id: str, address: bytes, stage: int, start: int, data: bytes, signature: bytes) -> dict:
        """A proposer's signed stage output: recorded, forwarded to the next stage's proposer, and
        verification rounds opened for every chunk it completes."""
        notes: list = []
        with self._lock:
            cid = self._proposals.get(task_id)
            v = self.validator(address)
        if cid is None:
            raise AIError(f"unknown proposal task {task_id[:120]}")
        self._verify(v, protocol.relay_message(self.chain_id, cid, stage, start, data), signature, "relay")
        with self._lock:
            comp = self.computations[cid]
            st = comp.text
            p = st.by_task.get(task_id) if st is not None and comp.status == "Running" else None
            if p is None:
                raise AIError(f"proposal {task_id} is closed (the computation ended or is proposed again)")
            if p.address != address:
                raise AIError(f"proposal {task_id} is not assigned to {to_syn(address)}")
            try:
                forward = text_rounds.accept_relay(st, p, stage, start, data)
            except (text_rounds.RelayError, InvalidInputError) as exc:
                raise AIError(f"relay refused: {exc}") from None
            st.wire_bytes += 2 * len(data)
            if forward is not None:
                forward["computation_id"] = cid
                notes.append((st.by_task[forward["task_id"]].address, forward))
                st.wire_bytes += 2 * len(data)
            self._open_chunks(comp, notes)
        self._send(notes)
        return {"success": True}

    def _open_chunks(self, comp: Computation, notes: list) -> None:
        st = comp.text
        while comp.status == "Running" and st.chunk_ready(st.next_chunk):
            chunk = st.next_chunk
            st.next_chunk += 1
            for stage in range(st.num_stages):
                self._open_text_round(comp, chunk, stage, notes)
                if comp.status != "Running":
                    return

    def _open_text_round(self, comp: Computation, chunk: int, stage: int, notes: list) -> None:
        from ai.models.decoding import chunk_bounds

        st, now = comp.text, time.time()
        _, tokens_end, start, end = chunk_bounds(st.prompt_len, chunk, len(st.tokens), st.chunk_tokens)
        snap = comp.sets[stage]
        rnd = Round(chunk, stage, st.stage_input(stage, start, end), len(snap.stakes), snap.required, snapshot=snap,
                    proposal=st.proposal(stage, chunk), start=start, end=end, tokens_end=tokens_end, epoch=st.epoch)
        st.rounds[(chunk, stage)] = rnd
        proposer = self.validators.get(st.proposers[stage].address)
        others = [v for v in self.eligible(comp.model_id, stage, now, snap)
                  if v.address != proposer.address and v.address not in st.excluded]
        chosen = self._cover(snap, [proposer], others)
        if chosen is None:
            reachable = snap.weight([proposer.address] + [v.address for v in others])
            self._fail(comp, f"Validator AI task assignment failed: eligible holders of {comp.model_id} stage {stage} "
                             f"hold {reachable} wei of {snap.total}; the threshold "
                             f"{snap.threshold[0]}/{snap.threshold[1]} needs {snap.required} wei")
            return
        if random.random() < text_rounds.CANARY_RATE:
            # the least-canaried holder first, so every verifier is tested in turn (a lazy one cannot hide);
            # where the others decide without the target, it gets the canary instead of the real task, else
            # (no holder beyond the quorum) a chosen verifier gets the canary as a second task of the round
            first_token = rnd.start - (st.prompt_len - 1) if rnd.step else 0
            bad = text_rounds.canary(rnd.proposal, stage == st.num_stages - 1, first_token)
            ranked = sorted(others, key=lambda v: (self._canaries_sent[v.address], random.random()))
            for target in ranked:
                alt = self._cover(snap, [proposer], [v for v in others if v is not target])
                if alt is None:
                    continue
                chosen = alt
                self._canaries_sent[target.address] += 1
                self._assign_text(comp, rnd, target, now, notes, canary=bad)
                break
            else:
                target = next((v for v in ranked if v in chosen), None)
                if target is not None:
                    self._canaries_sent[target.address] += 1
                    self._assign_text(comp, rnd, target, now, notes, canary=bad)
        for v in [proposer] + chosen:
            self._assign_text(comp, rnd, v, now, notes)
        self._hedges[id(rnd)] = (now + self.task_timeout / 3, comp, rnd)  # a silent verifier: a spare, not a timeout

    @staticmethod
    def _cover(snap: StageSet, first: list, others: list) -> Optional[list]:
        """`others` taken in order after `first` until their stake meets the threshold (no spare for text)."""
        chosen, weight = [], snap.weight(v.address for v in first)
        for v in others:
            if snap.met(weight):
                break
            chosen.append(v)
            weight = snap.weight([v.address for v in first] + [c.address for c in chosen])
        return chosen if snap.met(weight) else None

    def _assign_text(self, comp: Computation, rnd: Round, v: Validator, now: float, notes: list,
                     canary: Optional[bytes] = None) -> None:
        st = comp.text
        tid = f"{comp.id}_e{rnd.epoch}_c{rnd.step}_st{rnd.stage}_task_{to_syn(v.address)}"
        if v.address in rnd.canaries:  # the canary's holder steps in as a spare: a second task of the round
            tid += "_spare"
        task = Task(tid, comp.id, v.address, rnd.stage, rnd.step, now, now + self.task_timeout, round=rnd,
                    canary=canary)
        payload = {"kind": "verify", "epoch": rnd.epoch, "chunk": rnd.step, "start": rnd.start, "end": rnd.end,
                   "tokens_end": rnd.tokens_end, "prompt_len": st.prompt_len, "rule": comp.generation.rule}
        last = rnd.stage == st.num_stages - 1
        if v.address == st.proposers[rnd.stage].address:
            payload["self_check"] = True  # the proposer signs what it relayed, from its own record
            if last:
                payload["proposal"] = rnd.proposal.hex()  # all tokens: a re-proposal's proposer lacks the agreed ones
        else:
            payload["proposal"] = (rnd.proposal if canary is None else canary).hex()
            prev = st.rounds.get((rnd.step - 1, rnd.stage))
            cont = (prev is not None and (v.address in prev.tasks or v.address in prev.canaries)
                    and (v.address, rnd.stage) not in st.gaps)
            st.gaps.discard((v.address, rnd.stage))
            frm = rnd.start if rnd.stage > 0 and cont else 0  # stage 0's ids are tiny: always all of them
            payload["input_from"] = frm
            upstream = st.rounds.get((rnd.step, rnd.stage - 1)) if rnd.stage > 0 else None
            if (frm == rnd.start and upstream is not None and v.address in upstream.tasks
                    and v.address not in upstream.canaries  # which of its two upstream tasks was real is ours to know
                    and v.address != st.proposers[rnd.stage - 1].address):
                payload["input_ref"] = "upstream proposal"  # the proposal of its task for the stage before
            else:
                payload["input"] = (rnd.input if frm == rnd.start else st.stage_input(rnd.stage, frm, rnd.end)).hex()
        st.wire_bytes += sum(len(payload.get(x, "")) for x in ("input", "proposal"))
        task.payload = payload
        if canary is None:
            rnd.tasks[v.address] = task
        else:
            rnd.canaries[v.address] = task
        self._tasks[tid] = task
        while len(self._tasks) > MAX_TASKS_KEPT:
            self._tasks.popitem(last=False)
        notes.append((v.address, self.task_json(task)))

    def _text_decided(self, comp: Computation, rnd: Round, winner: bytes, winners: list, accepted: bool,
                      notes: list) -> None:
        from ai.models.decoding import chunk_bounds

        st = comp.text
        rnd.verdict = accepted
        if rnd.epoch != st.epoch:
            return
        if not accepted:
            self._text_reject(comp, rnd, winner, notes)
            return
        st.accepted.setdefault(rnd.step, set()).add(rnd.stage)
        while len(st.accepted.get(st.agreed_chunks, ())) == st.num_stages:
            chunk = st.agreed_chunks
            first, end, _, _ = chunk_bounds(st.prompt_len, chunk, len(st.tokens), st.chunk_tokens)
            st.agreed_chunks += 1
            if comp.generation.extend(st.tokens[first:end]):
                final = st.rounds[(chunk, st.num_stages - 1)]
                win = [t for t in final.tasks.values() if t.status == "Submitted" and t.vote_hash == final.winner_hash]
                self._text_pay(comp)
                self._text_end(comp)
                self._certify_and_complete(comp, final, final.winner_hash, win, comp.generation.text.encode("utf-8"))
                return

    def _text_pay(self, comp: Computation) -> None:
        """Each certified round of the agreed answer pays its signers, but none who lied in this computation."""
        st = comp.text
        fee = MODELS[comp.model_id].gas_price // 100
        for (chunk, _), rnd in sorted(st.rounds.items()):
            if rnd.verdict and chunk < st.agreed_chunks:
                winners = [(self.validators[t.address], t.latency) for t in rnd.tasks.values()
                           if t.status == "Submitted" and t.vote_hash == rnd.winner_hash and t.address not in st.excluded]
                paid = economics.share_fee(fee, winners)
                self.counters["rewards"] += sum(paid.values())
                st.touched |= set(paid)

    def _text_reject(self, comp: Computation, rnd: Round, winner: bytes, notes: list) -> None:
        st = comp.text
        p = st.proposers[rnd.stage]
        v = self.validators[p.address]
        own = rnd.tasks.get(p.address)
        if own is None or own.status != "Submitted" or own.vote_hash == winner:  # not slashed as a loser yet
            penalty = economics.slash(v)
            self._maybe_remove(v)
            log.warning("validator %s proposed a rejected %s stage %d chunk %d: slashed %d wei",
                        to_syn(v.address), comp.id, rnd.stage, rnd.step, penalty)
        st.excluded.add(p.address)
        st.touched.add(p.address)
        self._text_propose(comp, notes)

    def _text_stalled(self, comp: Computation, notes: list) -> None:
        st = comp.text
        p = text_rounds.stalled_proposer(st)
        if p is None:
            st.last_progress = time.time()  # verification is what runs now: its tasks have deadlines
            return
        economics.timed_out(self.validators[p.address])
        st.excluded.add(p.address)
        st.touched.add(p.address)
        log.warning("proposer %s stalled on %s: proposing again with another", to_syn(p.address), comp.id)
        self._text_propose(comp, notes)

    def _text_touched(self, comp: Computation) -> dict:
        st = comp.text
        out = {a: self.validators[a].to_record() for a in st.touched if a in self.validators}
        st.touched.clear()
        return out

    def _text_end(self, comp: Computation, keep: bool = False) -> None:
        """Tell the proposers to drop their caches; free the proposal (unless it is proposed again)."""
        st = comp.text
        for p in st.by_task.values():
            self._proposals.pop(p.task_id, None)
            try:
                self.notify(p.address, {"kind": "end", "task_id": p.task_id, "computation_id": comp.id,
                                        "epoch": p.epoch, "final": not keep})
            except Exception:
                log.exception("task notification failed")
        if not keep:
            self._running_text.discard(comp.id)
            st.by_task, st.hidden = {}, []

    def _maybe_remove(self, v: Validator) -> None:
        """A validator slashed below the minimum stake leaves the sets (at the next refresh) until it tops up."""
        if v.stake >= MIN_STAKE:
            return
        v.attestation_valid, v.lapsed = False, True
        v.attestation_error = (f"stake slashed to {v.stake} wei, below the minimum of {MIN_STAKE} wei: top it up "
                               f"(synergy_registerValidator with a higher total stake), then attest again")

    def _complete(self, comp: Computation, result: bytes) -> None:
        comp.status, comp.result, comp.finished, comp.round = "Completed", result, time.time(), None
        self.counters["completed"] += 1
        self.counters["total_time"] += comp.finished - comp.created
        if comp.text is not None:
            log.info("%s completed in %.2f s: %d tokens, %d rounds, proposed %d time(s)", comp.id,
                     comp.finished - comp.created, len(comp.generation.generated), comp.rounds_done, comp.text.epoch)
        # always recorded (the AI precompile replays from it); `cache` only decides reuse by initiate()
        self._persist(comp, {self.answer_key(comp.model_id, comp.request_hash, comp.max_tokens): comp.id})
        self._done.notify_all()
        self.on_finish(comp)

    def _fail(self, comp: Computation, reason: str) -> None:
        for rnd in self._open_rounds(comp):
            for t in rnd.tasks.values():
                t.status = "Closed" if t.status == "Assigned" else t.status
        if comp.text is not None:
            self._text_end(comp)
        comp.status, comp.reason, comp.finished, comp.round = "Failed", reason, time.time(), None
        self.counters["failed"] += 1
        log.warning("computation %s failed: %s", comp.id, reason)
        self._persist(comp)
        self._done.notify_all()
        self.on_finish(comp)

    def _persist(self, comp: Computation, answers: Optional[dict] = None) -> None:
        self.records.write(computations={comp.id: comp.to_record()}, answers=answers or {}, counters=self.counters)

    def _send(self, notes: list) -> None:
        for address, task in notes:
            try:
                self.notify(address, task)
            except Exception:
                log.exception("task notification failed")

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
                    overdue = [t for t in rnd.tasks.values() if t.status == "Assigned" and now > t.deadline]
                    for t in overdue:
                        t.status = "TimedOut"
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
            return proposals + [self.task_json(t) for t in self._tasks.values()
                                if t.address == address and t.status == "Assigned"]
