"""The node's AI service: the scheduler wired to the chain, the RPC server and local validators.

It owns the model manifests the node registers, the chain hooks (stake
locking and on-chain validator sets, always applied on the chain thread),
task notifications to subscribed validators, the deadline ticker, and the
answers the AI precompile reads.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable, Optional

from eth_abi import encode

from ai.ports import AIError, ChainHooks, InferenceService
from ai.records import AIRecords
from ai.scheduler import Scheduler
from precompiles.ai_request import pending_slot
from vm.chain import ExecutionFailed
from vm import defaults

log = logging.getLogger("aivm.ai")

STAKING_POOL = (0x0122).to_bytes(20, "big")  # holds validators' locked stakes
CALLBACK_SENDER = (0x0121).to_bytes(20, "big")  # the ai_request precompile: callbacks come from it
CALLBACK_GAS = 1_000_000
STAKE_LOCK_TIMEOUT = 30.0  # seconds a registration waits for the chain thread to move its stake
READY_WAIT = defaults.AI_READY_WAIT  # seconds a request that arrives while local validators are still joining waits
SCHEDULER_WORKERS = 32  # threads for RPC-driven scheduler work (signature checks), apart from asyncio's default pool


def load_manifests(model_ids: Optional[list[str]] = None, cache_dir=None) -> dict:
    """Build (train / convert) missing artifacts once, and return their manifests."""
    from models import get_manifest, list_models
    from models.catalog import ENDPOINT_MODELS

    ids = model_ids or [m.model_id for m in list_models()]
    # endpoint-served models have no weights here: validators attest which model their server runs
    return {mid: None if mid in ENDPOINT_MODELS else get_manifest(mid, cache_dir) for mid in ids}


def _expire(fut: asyncio.Future) -> None:
    """A wait's timer ran out: the waiter answers with the computation as it is."""
    if not fut.done():
        fut.set_result(None)


class NodeChainHooks(ChainHooks):
    """Chain access for the scheduler: on the chain thread, whoever calls.

    Writes are queued and never awaited (the chain thread may itself be waiting
    for the scheduler inside the AI precompile); the waits that remain are
    bounded and happen outside the scheduler's lock.
    """

    def __init__(self, node: Any) -> None:
        self.node = node

    @staticmethod
    def _on_chain_thread() -> bool:
        return threading.current_thread().name.startswith("aivm-chain")

    def _on_chain(self, fn: Callable, *args: Any, timeout: float = STAKE_LOCK_TIMEOUT) -> Any:
        if self._on_chain_thread():
            return fn(*args)
        future = self.node.submit(fn, *args)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AIError(f"the chain is busy (a block has been executing for over {timeout:.0f} s); retry") from None

    def _queue_on_chain(self, fn: Callable) -> None:
        # always queued, also from the chain thread itself: there it may be inside a block (the AI
        # precompile starting a computation publishes the set it snapshots), and state edits must
        # land between blocks, in order

        def guarded() -> None:
            try:
                fn()
            except Exception:
                log.exception("validator-set update on chain failed")

        self.node.submit(guarded)

    def lock_stake(self, address: bytes, amount: int) -> None:
        def move():
            chain = self.node.chain
            balance = chain.balance(address)
            if balance < amount:
                raise AIError(f"{'0x' + address.hex()} holds {balance} wei, cannot stake {amount} wei: fund it first")
            chain.set_balance(address, balance - amount)
            chain.set_balance(STAKING_POOL, chain.balance(STAKING_POOL) + amount)

        self._on_chain(move)

    def burn_stake(self, amount: int) -> None:
        """Slashed stake leaves the staking pool (queued on the chain thread, never awaited)."""
        def burn():
            chain = self.node.chain
            chain.set_balance(STAKING_POOL, max(0, chain.balance(STAKING_POOL) - amount))

        self._queue_on_chain(burn)

    def update_storage(self, compute_writes: Callable[[Callable], list]) -> None:
        def apply():
            for address, slot, value in compute_writes(self.node.chain.storage):
                self.node.chain.set_storage(address, slot, value)

        self._queue_on_chain(apply)

    def read_storage(self, address: bytes, slot: int) -> int:
        return self._on_chain(self.node.chain.storage, address, slot)


class AIService(InferenceService):
    """The node's AI service: the precompiles' InferenceService port (ai/ports.py) over the scheduler."""

    replay = True  # a repeated (model, input) is answered from its record, so replays never differ

    def __init__(self, node: Any, manifests: dict, cache: bool = True, task_timeout: float = defaults.AI_TASK_TIMEOUT,
                 cache_dir=None, max_new_tokens: int = defaults.AI_DEFAULT_NEW_TOKENS,
                 infer_timeout: float = defaults.AI_INFER_TIMEOUT,
                 join_delay: Optional[float] = None, heartbeat_grace: Optional[float] = None,
                 hedge_after: Optional[float] = None) -> None:
        self.node = node
        self.cache_dir = cache_dir
        self._subscribers: dict[bytes, list[Callable[[dict], None]]] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[int] = None  # the event loop's thread (ident), once started
        self.scheduler = Scheduler(
            AIRecords(node.chain.store.kv), node.chain.config.chain_id, manifests, NodeChainHooks(node),
            notify=self._notify, cache=cache, task_timeout=task_timeout, codec_loader=self._codec,
            max_new_tokens=max_new_tokens,
            **{k: v for k, v in (("join_delay", join_delay), ("heartbeat_grace", heartbeat_grace),
                                 ("hedge_after", hedge_after)) if v is not None},
        )
        self.infer_timeout = infer_timeout
        self.max_gas_per_execution = defaults.AI_MAX_GAS_PER_EXECUTION  # [aivm] max_gas_per_execution (set by the CLI)
        # scheduler work from RPC handlers: its own threads, so a busy default pool never starves a quorum
        self.executor = concurrent.futures.ThreadPoolExecutor(SCHEDULER_WORKERS, thread_name_prefix="aivm-ai")
        self._ticker: Optional[asyncio.Task] = None
        self._hedger: Optional[asyncio.Task] = None
        self._watcher: Optional[asyncio.Task] = None
        self.scheduler.on_finish = self._on_finish
        self._delivering: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future]] = {}  # computation id -> RPC calls waiting for its end
        self.expected: set[bytes] = set()  # local validators the node waits for before it calls itself ready
        self._ready = threading.Event()
        self.status = "starting"

    def _codec(self):
        from models import prompt_codec

        return prompt_codec(self.cache_dir)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._ticker = asyncio.create_task(self._tick_forever())
        self._hedger = asyncio.create_task(self._hedge_forever())
        self.node.chain.impersonate(CALLBACK_SENDER)  # callbacks come from the precompile's address
        await self.node.run(self._reconcile_sets)
        for cid, _ in list(self.scheduler.records.callbacks()):  # owed since before a restart
            self._loop.create_task(self._deliver(cid))
        if "distributed_ai_model" in self.scheduler.manifests:
            await asyncio.to_thread(self._codec)  # load the tokenizer now, not on the first request

    def _reconcile_sets(self) -> None:
        """Chain thread: AI stage sets are stake-weighted epochs (published by the scheduler's refresh);
        head-count memberships an older version wrote for them are cleared, so no certificate can be
        judged by headcount on an AI stage set."""
        from models.catalog import MODELS
        from ai.protocol import stage_set_id
        from pqc.validators import removal_writes

        chain = self.node.chain
        for v in list(self.scheduler.validators.values()):
            for mid in self.scheduler.manifests:
                for stage in range(MODELS[mid].num_stages):
                    for address, slot, value in removal_writes(v.keys, chain.storage, stage_set_id(mid, stage)):
                        chain.set_storage(address, slot, value)

    # -- readiness: usable means the local validators are registered and eligible --
    def expect(self, addresses: list[bytes]) -> None:
        self.expected = set(addresses)
        self._watcher = asyncio.create_task(self._watch_ready())

    def eligible_count(self) -> int:
        now = time.time()
        return sum(1 for v in list(self.scheduler.validators.values()) if v.ineligibility_any(now) == "")

    def _waiting_for(self) -> list[bytes]:
        now = time.time()
        vs = self.scheduler.validators
        return [a for a in self.expected if a not in vs or vs[a].ineligibility_any(now) != ""]

    async def _watch_ready(self) -> None:
        started = time.time()
        while True:
            missing = self._waiting_for()
            if not missing:
                self._ready.set()
                self.status = "ready"
                log.info("distributed AI ready: %d local validators registered and eligible (%.1f s)",
                         len(self.expected), time.time() - started)
                print(f"distributed AI ready: {len(self.expected)} validators registered and eligible", flush=True)
                return
            self.status = f"waiting for validators ({len(self.expected) - len(missing)} of {len(self.expected)} eligible)"
            await asyncio.sleep(0.25)

    def mark_ready(self) -> None:
        """No local validators: usable as soon as the models are loaded (external ones join over RPC)."""
        self._ready.set()
        self.status = "ready"

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Any thread: wait (bounded) until the local validators can answer."""
        return self._ready.wait(timeout)

    async def stop(self) -> None:
        """Fail what is running (so nobody keeps waiting on it) and stop the background tasks."""
        n = self.scheduler.shutdown("the node is shutting down")
        if n:
            log.info("%d running computations failed: the node is shutting down", n)
        for task in (self._ticker, self._watcher, self._hedger):
            if task:
                task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def call(self, fn: Callable, *args: Any) -> Any:
        """Run scheduler work (signature checks) off the event loop, on the AI threads."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, lambda: fn(*args))

    async def call_light(self, light: bool, fn: Callable, *args: Any) -> Any:
        """fn(*args) on the event loop itself when `light` (the digits path: a model-free initiate, or one
        0.13 ms ML-DSA check and a vote rebuild), else on the AI threads. Two thread hops cost more CPU than
        such work (a futex wake, a self-pipe write, two context switches on a 2-core machine shared with
        the validators); the scheduler's lock is held only briefly, and nothing that holds it waits for
        the loop (notifications are queued), so the loop never waits on itself."""
        if light:
            return fn(*args)
        return await self.call(fn, *args)

    async def _hedge_forever(self) -> None:
        """Spares for slow rounds, soon after HEDGE_AFTER (the 0.5 s tick would be too coarse)."""
        from ai.scheduler.core import HEDGE_AFTER

        while True:
            await asyncio.sleep(HEDGE_AFTER / 3)
            if self.scheduler.hedges_due():
                try:
                    await self.call(self.scheduler.hedge)
                except Exception:
                    log.exception("scheduler hedge failed")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self.call(self.scheduler.tick)
            except Exception:
                log.exception("scheduler tick failed")

    # -- task delivery to WebSocket subscribers --
    def subscribe(self, address: bytes, send: Callable[[dict], None]) -> Callable[[], None]:
        """Deliver `address`'s tasks to `send`; returns the function that stops it."""
        feeds = self._subscribers.setdefault(address, [])
        feeds.append(send)

        def cancel() -> None:
            if send in feeds:
                feeds.remove(send)

        return cancel

    def _soon(self, fn: Callable, *args: Any) -> None:
        """fn(*args) on the event loop, soon: from the loop's own thread without waking it through its
        self-pipe (a write and a wake-up saved per call on the digits path, which runs on the loop)."""
        if self._on_loop():
            self._loop.call_soon(fn, *args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _notify(self, address: bytes, task: dict) -> None:
        """Hand a task to its validator's feeds. On the event loop (the digits path) a feed's `send` is called
        at once: it only queues the frame for its socket's writer (never blocks, never calls back into the
        scheduler), so a task costs no extra loop callback; from other threads it is queued on the loop."""
        sends = list(self._subscribers.get(address, []))
        if not sends or self._loop is None:
            return
        if not self._on_loop():
            for send in sends:
                self._loop.call_soon_threadsafe(send, task)
            return
        for send in sends:
            try:
                send(task)
            except Exception:  # one closed feed must not stop the validator's others
                log.exception("task delivery to a subscriber failed")

    # -- what the AI precompile calls (on the chain thread, inside a block) --
    def infer(self, model_id: str, data: bytes, requester: str, timeout: float,
              max_tokens: Optional[int] = None) -> tuple[bytes, dict, str]:
        """The quorum's answer for (model, input): recorded once, never recomputed.

        `timeout` bounds the whole call, the wait for joining validators included;
        on expiry the computation is failed, so no answer is recorded for a
        transaction that reverted.
        """
        deadline = time.monotonic() + timeout
        self.wait_ready(min(timeout, READY_WAIT))
        comp = self.scheduler.initiate(model_id, data, requester, max_tokens=max_tokens)
        comp = self.scheduler.wait(comp.id, max(0.0, deadline - time.monotonic()))
        if comp.status in ("Pending", "Running"):
            comp = self.scheduler.cancel(comp.id, f"timeout: no quorum answer within ai_infer_timeout ({timeout:g} s)")
        if comp.status != "Completed":
            raise AIError(comp.reason)
        return comp.result, comp.certificate, comp.id

    # -- the asynchronous form (ai_request precompile) --
    def request_async(self, model_id: str, data: bytes, caller: bytes, selector: bytes, request_id: bytes,
                      max_tokens: Optional[int] = None) -> str:
        """Start a computation whose answer is delivered to `caller` in a callback transaction."""
        callback = {"caller": caller.hex(), "selector": selector.hex(), "request_id": request_id.hex()}
        comp = self.scheduler.initiate(model_id, data, "0x" + caller.hex(), callback=callback, max_tokens=max_tokens)
        return comp.id

    def _on_finish(self, comp) -> None:
        if self._loop is None:
            return
        if comp.id in self._waiters:  # read without the loop: a waiter added now still sees the status itself
            if self._on_loop():  # setting a future's result only schedules its waiter: safe under the lock
                self._wake(comp.id)
            else:
                self._loop.call_soon_threadsafe(self._wake, comp.id)
        if comp.callback:  # started by the ai_request precompile in this run (no record read under the lock)
            self._soon(lambda: self._loop.create_task(self._deliver(comp.id)))

    def _wake(self, cid: str) -> None:
        for fut in self._waiters.pop(cid, ()):
            if not fut.done():
                fut.set_result(None)

    async def wait_finished(self, cid: str, timeout: float):
        """Event loop: the computation once it finished, or as it is after `timeout` seconds (no polling)."""
        fut = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(cid, [])
        waiters.append(fut)  # registered before the status is read: a finish in between wakes it
        try:
            # a computation of this run is read in place (a status string is set once, under the lock, before
            # the wake-up is queued); older ones come from the records
            comp = self.scheduler.computations.get(cid) or await self.call(self.scheduler.get, cid)
            if comp.status in ("Pending", "Running") and timeout > 0:
                # a timer of our own instead of asyncio.wait_for (which chains a second future: one more
                # callback and loop pass between the finish and this answer)
                timer = asyncio.get_running_loop().call_later(timeout, _expire, fut)
                try:
                    await fut
                finally:
                    timer.cancel()
            return comp
        finally:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters and self._waiters.get(cid) is waiters:
                del self._waiters[cid]

    async def _deliver(self, cid: str) -> None:
        callback = self.scheduler.records_callback(cid)
        if callback is None or cid in self._delivering:
            return
        self._delivering.add(cid)
        try:
            comp = self.scheduler.get(cid)
            caller = bytes.fromhex(callback["caller"])
            ok = comp.status == "Completed"
            result = comp.result if ok else f"Distributed AI computation failed: {comp.reason}".encode()
            cert = bytes.fromhex(comp.certificate["encoded"][2:]) if ok and comp.certificate else b""
            data = bytes.fromhex(callback["selector"]) + encode(
                ["bytes32", "bool", "bytes", "bytes"], [bytes.fromhex(callback["request_id"]), ok, result, cert])

            def settle() -> None:
                chain = self.node.chain
                slot = pending_slot(caller)
                chain.set_storage(CALLBACK_SENDER, slot, max(0, chain.storage(CALLBACK_SENDER, slot) - 1))
                if chain.balance(CALLBACK_SENDER) < 10**18:
                    chain.set_balance(CALLBACK_SENDER, 10 * 10**18)

            await self.node.run(settle)
            fields = {"sender": CALLBACK_SENDER, "to": caller, "data": data}
            try:
                await self.node.send_unsigned({**fields, "gas": None})
            except ExecutionFailed:  # the contract's callback reverts: deliver anyway, so it is on record
                await self.node.send_unsigned({**fields, "gas": CALLBACK_GAS})
            self.scheduler.records.set_callback(cid, None)
        except Exception:
            log.exception("callback delivery for %s failed", cid)
        finally:
            self._delivering.discard(cid)

    def stats(self) -> dict:
        s = self.scheduler
        active = s.active_validators()  # in some stage's active (stake-weighted) set
        return {
            "distributed_computations": s.counters["computations"],
            "completed_computations": s.counters["completed"],
            "active_validators": active,
            "eligible_validators": self.eligible_count(),
            "total_ai_rewards_distributed": s.counters["rewards"],
            "ai_ready": self.ready,
            "ai_status": self.status,
        }
