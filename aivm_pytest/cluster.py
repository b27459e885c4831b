"""In-process validators for contract unit tests: the real scheduler, real models, real keys (test support).

`LocalCluster(chain, n, models)` attaches an AI service to an in-process
`vm.chain.Chain` (through its `services` mapping, where the AI precompiles
look) and runs `n` validators as threads that answer tasks with real models
and ML-DSA signatures, through the same `Scheduler.submit` the RPC uses.
Faults on demand: `crash(i)`, `make_slow(i, seconds)`, `make_liar(i)`, `heal(i)`.
Every `ai.infer` is computed anew (answers are not replayed from earlier tests).

It implements both AI ports (ai/ports.py): `_Hooks` is the scheduler's `ChainHooks` over an in-process chain,
`LocalCluster` the precompiles' `InferenceService`; its validators sign the vote `ai.protocol.task_vote`
builds, as the `aivm validator` process does. It serves the local non-text models, single- and multi-stage
(risk-model runs as 2 rounds, one per stage, each decided by the quorum); text models need the relay and
chunk verification of a real validator process (tests/distributed).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Optional

from ai import protocol
from models import small
from models.catalog import ENDPOINT_MODELS, MODELS
from ai.ports import AIError, ChainHooks, InferenceService
from ai.protocol import TaskRef, task_vote
from ai.records import AIRecords
from ai.scheduler import Scheduler
from ai.service import STAKING_POOL
from pqc import bundle
from pqc.keys import KeySet
from vm.store.kv import MemoryKV

STAKE = 10 * 10**18


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

        self._edit(apply)

    def burn_stake(self, amount: int) -> None:
        self._edit(lambda: self.chain.set_balance(STAKING_POOL, max(0, self.chain.balance(STAKING_POOL) - amount)))

    def read_storage(self, address: bytes, slot: int) -> int:
        return self.chain.storage(address, slot)


class _Validator(threading.Thread):
    def __init__(self, index: int, cluster: "LocalCluster") -> None:
        super().__init__(daemon=True, name=f"aivm-validator-{index}")
        self.cluster = cluster
        self.keys = KeySet.generate(protocol.LEVEL, with_kem=False)
        self.address = protocol.validator_address(self.keys.signing_keys())
        self.tasks: queue.Queue = queue.Queue()
        self.crashed = False
        self.liar = False
        self.delay = 0.0
        self.wake = threading.Event()

    def sign(self, message: bytes) -> bytes:
        return bundle.sign(self.keys, message).encode()

    def run(self) -> None:
        while not self.cluster.stopping.is_set():
            try:
                task = self.tasks.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.delay:
                self.wake.clear()
                if not self.wake.wait(self.delay) and self.delay:
                    pass  # slept the full delay: answer late
            if self.crashed or self.cluster.stopping.is_set():
                continue
            try:
                self.answer(task)
            except AIError:
                pass  # late or closed: the scheduler has moved on, as it would for a remote validator

    def answer(self, task: dict) -> None:
        model_id, stage = task["model_id"], task["stage"]
        data = bytes.fromhex(task["input"])
        output = self.cluster.runner(model_id, stage).infer(data)
        info = MODELS[model_id]
        if self.liar and info.module:
            output = small.wrong(info, stage, output)
        elif self.liar:
            output = bytes([(output[0] + 1) % 10]) if len(output) == 1 else output + b" (or not)"
        vote = task_vote(TaskRef.from_task(self.cluster.chain_id, task), data, output)
        self.cluster.scheduler.submit(task["task_id"], self.address, output, self.sign(vote.message_hash))


class LocalCluster(InferenceService):
    """`n` in-process validators holding `models`, attached to `chain.services.ai`."""

    def __init__(self, chain: Any, n: int = 5, models: Optional[list[str]] = None, task_timeout: float = 2.0,
                 infer_timeout: float = 30.0, cache_dir=None) -> None:
        from models import get_manifest  # builds missing artifacts (torch): only when a cluster starts

        models = list(models or ["digits_cnn"])
        for m in models:
            if m not in MODELS or MODELS[m].generates or m in ENDPOINT_MODELS:
                raise ValueError(f"LocalCluster serves the local non-text models "
                                 f"({', '.join(k for k, i in MODELS.items() if not i.generates and k not in ENDPOINT_MODELS)}), "
                                 f"not {m!r}")
        self.chain = chain
        self.chain_id = chain.config.chain_id
        self.cache_dir = cache_dir
        self.stopping = threading.Event()
        self._runners: dict = {}
        manifests = {m: get_manifest(m, cache_dir) for m in models}
        self.hooks = _Hooks(chain)
        # join_delay 0: a test's validators count at once (a node waits [node] ai_join_delay)
        self.scheduler = Scheduler(AIRecords(MemoryKV()), self.chain_id, manifests, self.hooks,
                                   notify=self._deliver, cache=False, task_timeout=task_timeout, join_delay=0)
        self.infer_timeout = infer_timeout
        self.max_gas_per_execution = 10**9
        self.replay = False  # tests want every call computed, not answered from an earlier test's record
        self.validators = [_Validator(i, self) for i in range(n)]
        for v in self.validators:
            self._join(v, models, manifests)
            v.start()
        self.scheduler.tick()  # the first stake-weighted set, and its on-chain copy, before any block
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="aivm-cluster-ticker")
        self._ticker.start()
        if getattr(chain, "services", None) is None:
            raise ValueError("the chain has no services to attach the AI service to")
        chain.services.ai = self

    def runner(self, model_id: str, stage: int):
        from models import load_model

        key = (model_id, stage)
        if key not in self._runners:
            self._runners[key] = load_model(model_id, self.cache_dir, stage=stage)
        return self._runners[key]

    def _join(self, v: _Validator, models: list[str], manifests: dict) -> None:
        pub = v.keys.signing_keys()
        self.chain.set_balance(v.address, STAKE + 10**18)
        self.scheduler.register(pub.encode(), STAKE,
                                v.sign(protocol.registration_message(self.chain_id, v.address, pub.key_hash, STAKE)))
        att = {"software_version": "aivm-local", "cores": 1, "memory_mb": 4096, "gpu": None,
               "timestamp": int(time.time()),
               "shards": [{"model_id": m, "stage": s, "sha256": manifests[m].stage_shard(s).sha256}
                          for m in models for s in range(MODELS[m].num_stages)]}
        self.scheduler.attest(v.address, att, v.sign(protocol.attestation_message(self.chain_id, v.address, att)))
        self._beat(v)

    def _beat(self, v: _Validator) -> None:
        ts = int(time.time())
        if ts > self.scheduler.validators[v.address].last_heartbeat:
            self.scheduler.heartbeat(v.address, ts, v.sign(protocol.heartbeat_message(self.chain_id, v.address, ts)))

    def _tick(self) -> None:
        while not self.stopping.wait(0.25):
            self.scheduler.tick()
            for v in self.validators:
                if not v.crashed:
                    self._beat(v)

    def _deliver(self, address: bytes, task: dict) -> None:
        for v in self.validators:
            if v.address == address:
                v.tasks.put(task)

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
        return comp.result, comp.certificate, comp.id

    def request_async(self, model_id: str, data: bytes, caller: bytes, selector: bytes, request_id: bytes,
                      max_tokens: Optional[int] = None) -> str:
        raise AIError("asynchronous requests need a node (aivm start): test them over --network")

    # -- faults --
    def flush(self) -> None:
        """Apply the state edits (set copies, burned stake) that waited for a moment outside a block."""
        self.hooks.flush()

    def crash(self, i: int) -> None:
        self.flush()
        self.validators[i].crashed = True

    def make_slow(self, i: int, seconds: float) -> None:
        self.flush()
        self.validators[i].delay = seconds

    def make_liar(self, i: int) -> None:
        self.flush()
        self.validators[i].liar = True

    def heal(self, i: int) -> None:
        """Honest and prompt again, and back in good standing, so a fault never leaks into the next test."""
        self.flush()
        v = self.validators[i]
        v.crashed, v.liar, v.delay = False, False, 0.0
        v.wake.set()
        self.scheduler.restore(v.address)

    def stop(self) -> None:
        self.stopping.set()
        for v in self.validators:
            v.wake.set()
        if self.chain.services.ai is self:
            self.chain.services.ai = None
