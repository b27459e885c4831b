"""In-process validators for contract unit tests: the real scheduler, real models, real keys (test support).

`LocalCluster(chain, n, models)` attaches an AI service to an in-process
`vm.chain.Chain` (through its `services`, where the AI precompiles look) and
runs `n` validators as threads that answer tasks with real models and ML-DSA
signatures, through the same `Scheduler` calls the RPC makes (`submit`, `relay`).
Faults on demand: `crash(i)`, `make_slow(i, seconds)`, `make_liar(i)`, `heal(i)`.
Every `ai.infer` is computed anew (answers are not replayed from earlier tests);
`last` is the latest answer with its quorum certificate (for the 0x0118 precompile).

It implements both AI ports (ai/ports.py): `_Hooks` is the scheduler's `ChainHooks` over an in-process chain,
`LocalCluster` the precompiles' `InferenceService`. Its validators are `ai.validator.client.Validator`s with
the transport swapped: the same task routing, model runs, text proposals (KV-cached decoding), chunk
verification and votes (`ai.protocol.task_vote`) as the `aivm validator` process. It serves every local
model: single- and multi-stage (risk-model: one quorum round per stage) and the sharded text model
(distributed_ai_model: one proposer, every chunk of every stage verified by the quorum). The validators
share one loaded copy of each stage; KV caches and proposal records are per validator.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from ai import protocol
from ai.ports import AIError, ChainHooks, InferenceService
from ai.protocol import TaskVote
from ai.records import AIRecords
from ai.scheduler import Scheduler
from ai.service import STAKING_POOL
from ai.validator.client import Behaviour, RpcFailure, Validator
from models import prompt_codec
from models.catalog import ENDPOINT_MODELS, MODELS
from pqc.keys import KeySet
from vm.defaults import AI_DEFAULT_NEW_TOKENS, AI_INFER_TIMEOUT, AI_TASK_TIMEOUT
from vm.store.kv import MemoryKV

log = logging.getLogger("aivm.pytest.cluster")

STAKE = 10 * 10**18


@dataclass(frozen=True)
class Answer:
    """A quorum's answer as a test sees it: `certificate` is what the consensus precompile (0x0118,
    SynQ `quorum.verify`) takes; `vote` the statement its signers signed."""

    computation_id: str
    model_id: str
    input: bytes
    result: bytes
    certificate: bytes
    vote: TaskVote
    signers: tuple

    @classmethod
    def of(cls, comp: Any) -> "Answer":
        cert = comp.certificate
        return cls(comp.id, comp.model_id, comp.input, comp.result, bytes.fromhex(cert["encoded"][2:]),
                   TaskVote.from_json(cert["vote"]), tuple(cert.get("signers", ())))

    @property
    def text(self) -> str:
        return self.result.decode("utf-8")


class _Hooks(ChainHooks):
    """Chain access for an in-process chain that tests drive from one thread.

    State edits (the validator sets' on-chain copies, burned stake) are applied
    at once only on that thread and outside `infer` (never inside a block);
    otherwise they wait for the next `flush()`, which the cluster calls between
    tests (at every fault call and heal).
    """

    def __init__(self, chain: Any) -> None:
        self.chain = chain
        self.owner = threading.current_thread()
        self.busy = False  # inside infer: a block is executing
        self._pending: list = []
        self.kept: dict = {}  # (address, slot) -> value: the set copies written so far
        self._lock = threading.Lock()

    def lock_stake(self, address: bytes, amount: int) -> None:
        self.chain.set_balance(address, self.chain.balance(address) - amount)

    def _edit(self, fn) -> None:
        with self._lock:
            self._pending.append(fn)
        if threading.current_thread() is self.owner and not self.busy:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            todo, self._pending = self._pending, []
        for fn in todo:
            fn()

    def update_storage(self, compute_writes) -> None:
        def apply():
            for address, slot, value in compute_writes(self.chain.storage):
                self.chain.set_storage(address, slot, value)
                self.kept[(address, slot)] = value

        self._edit(apply)

    def reapply(self) -> None:
        """Write the validator sets' on-chain copies again: a test's snapshot revert undoes those written
        during it, while the scheduler's sets (outside the chain) stay; 0x0118 reads the copies."""
        self.flush()
        for (address, slot), value in self.kept.items():
            if self.chain.storage(address, slot) != value:
                self.chain.set_storage(address, slot, value)

    def burn_stake(self, amount: int) -> None:
        self._edit(lambda: self.chain.set_balance(STAKING_POOL, max(0, self.chain.balance(STAKING_POOL) - amount)))

    def read_storage(self, address: bytes, slot: int) -> int:
        return self.chain.storage(address, slot)


class _Validator(Validator):
    """One in-process validator: the `aivm validator` process's own task handling (ai.validator.client:
    `compute`, text proposals, chunk verification, the votes `task_vote` builds), reached by direct calls
    into the scheduler instead of JSON-RPC. Its runners are the cluster's one loaded copy of each stage;
    its KV caches, proposal records and seen/closed tasks are its own."""

    def __init__(self, index: int, cluster: "LocalCluster", holds: list[tuple[str, int]]) -> None:
        super().__init__(rpc_url="http://in-process", keys=KeySet.generate(protocol.LEVEL, with_kem=False),
                         stake=STAKE, holds=holds, cache_dir=cluster.cache_dir)  # no connection is made
        self.cluster = cluster
        self.chain_id = cluster.chain_id
        self._runners = cluster.runners  # shared, read only: a runner keeps no state between calls
        self._queue = queue.Queue()  # what `_offer` queues (verify and plain tasks), from any thread
        self.crashed = False
        self.delay = 0.0
        self.wake = threading.Event()
        # notifications arrive from several threads (the chain's, validators' and proposers' through the
        # scheduler): one at a time, as the process's event loop takes them. Lock order: the scheduler's
        # lock, then this one (`_offer` never calls the scheduler)
        self._offering = threading.Lock()
        self.thread = threading.Thread(target=self._work, daemon=True, name=f"aivm-validator-{index}")

    def raw_sign(self, message: bytes) -> bytes:
        return bytes.fromhex(self.sign(message)[2:])

    def deliver(self, task: dict) -> None:
        """A notification from the scheduler (task, relay, close, end): routed as the process routes it."""
        if not self.crashed:
            with self._offering:
                self._offer(task)

    def _work(self) -> None:
        while not self.cluster.stopping.is_set():
            try:
                task = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.skips(task, list(self._queue.queue)):
                continue
            if self.delay:
                self.wake.clear()
                self.wake.wait(self.delay)  # healed meanwhile: answer now
            if self.crashed or self.cluster.stopping.is_set():
                continue
            try:
                output, signature = self._compute_signed(task)  # bytes, as the process puts them in its frames
                self.cluster.scheduler.submit(task["task_id"], self.address, output, signature)
            except (AIError, RpcFailure) as exc:  # late or closed, or a chunk it has no cache for: as remotely
                log.debug("validator %s, task %s: %s", self.syn, task["task_id"], exc)
            except Exception:
                log.exception("validator %s, task %s failed", self.syn, task["task_id"])

    def _send_relay(self, tid: str, cid: str, stage: int, start: int, data) -> None:
        """A proposer's output, straight into the scheduler (in order: the proposing thread waits for it)."""
        if self.crashed or self.cluster.stopping.is_set():
            return
        raw, sig = self.signed_relay(cid, stage, start, data)
        try:
            self.cluster.scheduler.relay(tid, self.address, stage, start, raw, bytes.fromhex(sig[2:]))
        except AIError as exc:  # closed (proposed again, or decided): the node would refuse it too
            log.debug("relay %s stage %d at %d: %s", tid, stage, start, exc)


class LocalCluster(InferenceService):
    """`n` in-process validators holding `models`, attached to `chain.services.ai`."""

    def __init__(self, chain: Any, n: int = 5, models: Optional[list[str]] = None,
                 task_timeout: Optional[float] = None, infer_timeout: Optional[float] = None, cache_dir=None,
                 max_tokens: int = AI_DEFAULT_NEW_TOKENS) -> None:
        """Timeouts default to 2 s a task and 30 s an answer; with a text model, a node's own defaults
        (a proposer's silence past the task timeout means proposing again with another)."""
        from models import get_manifest, load_model  # builds missing artifacts (torch): only when a cluster starts

        models = list(models or ["digits_cnn"])
        text = any(MODELS[m].generates for m in models if m in MODELS)
        task_timeout = task_timeout or (AI_TASK_TIMEOUT if text else 2.0)
        infer_timeout = infer_timeout or (AI_INFER_TIMEOUT if text else 30.0)
        for m in models:
            if m not in MODELS or m in ENDPOINT_MODELS:
                raise ValueError(f"LocalCluster serves the local models "
                                 f"({', '.join(k for k in MODELS if k not in ENDPOINT_MODELS)}), not {m!r} "
                                 f"(an endpoint model is served from an OpenAI-compatible server: use --network)")
        self.chain = chain
        self.chain_id = chain.config.chain_id
        self.cache_dir = cache_dir
        self.stopping = threading.Event()
        holds = [(m, s) for m in models for s in range(MODELS[m].num_stages)]
        # one loaded copy of each stage for all validators (a text stage is ≈180 MB; a process holds its own)
        self.runners = {(m, s): load_model(m, cache_dir, stage=s) for m, s in holds}
        if text:
            prompt_codec(cache_dir)  # the tokenizer now, not inside the first proposal's time
        manifests = {m: get_manifest(m, cache_dir) for m in models}
        self.hooks = _Hooks(chain)
        # join_delay 0: a test's validators count at once (a node waits [node] ai_join_delay)
        self.scheduler = Scheduler(AIRecords(MemoryKV()), self.chain_id, manifests, self.hooks,
                                   notify=self._deliver, cache=False, task_timeout=task_timeout, join_delay=0,
                                   codec_loader=lambda: prompt_codec(cache_dir), max_new_tokens=max_tokens)
        self.infer_timeout = infer_timeout
        self.max_gas_per_execution = 10**9
        self.replay = False  # tests want every call computed, not answered from an earlier test's record
        self.last: Optional[Answer] = None
        self.validators = [_Validator(i, self, holds) for i in range(n)]
        self._by_address = {v.address: v for v in self.validators}
        for v in self.validators:
            self._join(v, manifests)
            v.thread.start()
        self.scheduler.tick()  # the first stake-weighted set, and its on-chain copy, before any block
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="aivm-cluster-ticker")
        self._ticker.start()
        if getattr(chain, "services", None) is None:
            raise ValueError("the chain has no services to attach the AI service to")
        chain.services.ai = self

    def runner(self, model_id: str, stage: int):
        """The shared runner of one stage (what every validator here computes with)."""
        return self.runners[(model_id, stage)]

    def _join(self, v: _Validator, manifests: dict) -> None:
        pub = v.keys.signing_keys()
        self.chain.set_balance(v.address, STAKE + 10**18)
        self.scheduler.register(pub.encode(), STAKE,
                                v.raw_sign(protocol.registration_message(self.chain_id, v.address, pub.key_hash, STAKE)))
        att = {"software_version": "aivm-local", "cores": 1, "memory_mb": 4096, "gpu": None,
               "timestamp": int(time.time()),
               "shards": [{"model_id": m, "stage": s, "sha256": manifests[m].stage_shard(s).sha256}
                          for m, s in v.holds]}
        self.scheduler.attest(v.address, att, v.raw_sign(protocol.attestation_message(self.chain_id, v.address, att)))
        self._beat(v)

    def _beat(self, v: _Validator) -> None:
        ts = int(time.time())
        if ts > self.scheduler.validators[v.address].last_heartbeat:
            self.scheduler.heartbeat(v.address, ts, v.raw_sign(protocol.heartbeat_message(self.chain_id, v.address, ts)))

    def _tick(self) -> None:
        while not self.stopping.wait(0.25):
            self.scheduler.tick()
            for v in self.validators:
                if not v.crashed:
                    self._beat(v)

    def _deliver(self, address: bytes, task: dict) -> None:
        v = self._by_address.get(address)
        if v is not None:
            v.deliver(task)

    # -- what the AI precompiles call --
    def infer(self, model_id: str, data: bytes, requester: str, timeout: float,
              max_tokens: Optional[int] = None) -> tuple[bytes, dict, str]:
        self.hooks.busy = True  # called inside a block: state edits wait for flush()
        try:
            comp = self.scheduler.initiate(model_id, data, requester, max_tokens=max_tokens)
            comp = self.scheduler.wait(comp.id, timeout)
        finally:
            self.hooks.busy = False
        if comp.status in ("Pending", "Running"):
            comp = self.scheduler.cancel(comp.id, f"timeout: no quorum answer within {timeout:g} s")
        if comp.status != "Completed":
            raise AIError(comp.reason)
        self.last = Answer.of(comp)
        return comp.result, comp.certificate, comp.id

    def request_async(self, model_id: str, data: bytes, caller: bytes, selector: bytes, request_id: bytes,
                      max_tokens: Optional[int] = None) -> str:
        raise AIError("asynchronous requests need a node (aivm start): test them over --network")

    # -- who does what (for fault tests) --
    def index(self, address: bytes) -> int:
        return self.validators.index(self._by_address[address])

    def next_proposer(self, model_id: str = "distributed_ai_model") -> int:
        """The validator that proposes the next text answer (the scheduler's first eligible holder of
        stage 0: every validator here holds every stage), so a test can make exactly it lie."""
        first = self.scheduler.observe(lambda s: s.eligible(model_id, 0, time.time())[0].address, timeout=10)
        return self.index(first)

    def slashed(self, i: int) -> int:
        """Wei validator `i` has been slashed so far."""
        return self.scheduler.validator(self.validators[i].address).slashed

    # -- faults --
    def flush(self) -> None:
        """Apply the state edits (set copies, burned stake) that waited for a moment outside a block."""
        self.hooks.flush()

    def begin_test(self) -> None:
        """Before a test: no answer yet, and the sets' on-chain copies as the scheduler has them."""
        self.last = None
        self.hooks.reapply()

    def crash(self, i: int) -> None:
        self.flush()
        self.validators[i].crashed = True

    def make_slow(self, i: int, seconds: float) -> None:
        self.flush()
        self.validators[i].delay = seconds

    def make_liar(self, i: int) -> None:
        self.flush()
        self.validators[i].behaviour.lie = True  # non-text: a wrong answer; text: wrong tokens or verdicts

    def heal(self, i: int) -> None:
        """Honest and prompt again, and back in good standing, so a fault never leaks into the next test."""
        self.flush()
        v = self.validators[i]
        v.crashed, v.behaviour, v.delay = False, Behaviour(), 0.0
        v.wake.set()
        self.scheduler.restore(v.address)
        self._top_up(v)

    def _top_up(self, v: _Validator) -> None:
        """A slashed stake locked again to the full amount (a validator process registers again to top up)."""
        if self.scheduler.validator(v.address).stake < STAKE:
            pub = v.keys.signing_keys()
            self.chain.set_balance(v.address, self.chain.balance(v.address) + STAKE)
            self.scheduler.register(pub.encode(), STAKE, v.raw_sign(
                protocol.registration_message(self.chain_id, v.address, pub.key_hash, STAKE)))
            self.scheduler.tick()  # the set's new epoch (and its on-chain copy) now, not at the next tick

    def stop(self) -> None:
        self.stopping.set()
        for v in self.validators:
            v.wake.set()
        for v in self.validators:
            v.thread.join(2.0)  # each wakes within 0.2 s, or after the task it is computing
        if self.chain.services.ai is self:
            self.chain.services.ai = None
