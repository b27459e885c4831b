"""The running node: one chain, one chain thread, a transaction queue, subscribers.

py-evm is single-threaded, and the AI precompile will block a block's
execution while validators answer over RPC; so every chain write runs on one
dedicated worker thread (`run`) and the asyncio loop stays free to serve
requests. State reads run on a small reader pool (`read`) against the committed
head, each reader thread with its own warm py-evm state (`vm.reader`): they never
queue behind the chain thread. Transactions that arrive while a block is being
sealed are mined together in the next block (automine stays instant for a lone
transaction); with automine a transaction is checked and mined in one chain-thread
job, so a lone sender pays one thread hop, not two.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Optional

from precompiles.registry import Services  # noqa: F401  (what precompiles may reach; the node lends it)
from vm import dev_controls, txpool
from vm.chain import Chain, ChainConfig, ExecutionResult, MinedBlock, TxRejected

if TYPE_CHECKING:
    from vm.api import NodeApi

log = logging.getLogger("aivm.node")

SHUTDOWN_WAIT = 2.0  # seconds stop() gives the block being sealed, and then the store's close


@dataclass
class _Queued:
    tx: Any
    sender: bytes
    future: Optional[asyncio.Future]
    admitted: bool = True  # False: the mining job checks it first (automine's one-hop path)
    rejected: Optional[Exception] = None  # set by the mining job when the check refused it


@dataclass
class NodeOptions:
    block_time: float = 0.0  # 0 = automine
    data_dir: Optional[str] = None  # None = in memory
    chain: ChainConfig = field(default_factory=ChainConfig)


class Node:
    def __init__(self, options: NodeOptions, services: Optional[Services] = None, config: Any = None) -> None:
        self.options = options
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aivm-chain")
        self._readers = concurrent.futures.ThreadPoolExecutor(self.READERS, thread_name_prefix="aivm-read")
        if options.data_dir:
            self.chain = Chain.open(options.data_dir, options.chain, services)
        else:
            self.chain = Chain.ephemeral(options.chain, services)
        dev_controls.restore(self.chain)
        self.started_at = time.time()
        self._queue: list[_Queued] = []
        self._inflight: collections.Counter[bytes] = collections.Counter()  # chain thread only
        self._inflight_hashes: set[bytes] = set()  # chain thread only
        # sender -> the nonce after its last queued tx; written by the chain thread, read by readers
        self._next_nonce: dict[bytes, int] = {}
        self._replacing: dict[bytes, _Queued] = {}  # new tx hash -> queued entry it replaces (txpool.py)
        self._mining: Optional[asyncio.Task] = None
        self._interval: Optional[asyncio.Task] = None
        self._block_listeners: list[Callable[[MinedBlock], None]] = []
        self._pending_listeners: list[Callable[[bytes], None]] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.automine = options.block_time <= 0
        # What the application attaches after start-up: declared here, read through the node API (vm/api.py).
        self.config = config  # vm.config.Config of `aivm start`; None for in-process nodes
        self.ai: Any = None  # the AI service (ai.service.AIService), once [aivm] enabled and its models are loaded
        self.ai_status: Optional[str] = None  # why the AI service is not there yet (None: ready or disabled)
        self.ai_stats: Optional[Callable[[], dict]] = None  # the AI service's counters for synergy_getAIVMStats
        self.bridge: Any = None  # bridge.hub.BridgeHub when [interoperability] bridge_enabled
        self.dashboard_bridge_source: Any = None  # dashboard.sources.BridgeStatusSource of the Bridges view
        self.dashboard_monitor: Any = None  # dashboard.monitor.Monitor, made by dashboard.install
        self.chat_jobs: Any = None  # chat.jobs.ChatJobs of the OpenAI-compatible API

    # -- lifecycle --
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.automine:
            self._interval = asyncio.create_task(self._interval_miner())
        self._uptime = await self.run(self._load_uptime)
        self._heartbeat = asyncio.create_task(self._uptime_heartbeat())

    # -- uptime (kept in the store, so a restart counts its downtime) --
    UPTIME_TICK = 10.0

    def _load_uptime(self) -> dict:
        up = self.chain.index.meta("uptime") or {"first_start": time.time(), "alive": 0.0}
        with self.chain.store.transaction():
            self.chain.index.set_meta("uptime", up)
        return up

    def _save_uptime(self, alive: float) -> None:
        with self.chain.store.transaction():
            self.chain.index.set_meta("uptime", {"first_start": self._uptime["first_start"], "alive": alive})

    def _alive_seconds(self) -> float:
        return self._uptime["alive"] + (time.time() - self.started_at)

    def uptime_percent(self) -> float:
        up = getattr(self, "_uptime", None)
        if up is None:
            return 100.0
        span = time.time() - up["first_start"]
        return 100.0 if span <= 0 else min(100.0, 100.0 * self._alive_seconds() / span)

    async def _uptime_heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.UPTIME_TICK)
            await self.run(self._save_uptime, self._alive_seconds())

    async def stop(self) -> None:
        if self._interval:
            self._interval.cancel()
        if getattr(self, "_heartbeat", None):
            self._heartbeat.cancel()
            try:
                await asyncio.wait_for(self.run(self._save_uptime, self._alive_seconds()), timeout=SHUTDOWN_WAIT)
            except asyncio.TimeoutError:
                pass
        if self._mining:
            try:
                await asyncio.wait_for(asyncio.shield(self._mining), timeout=SHUTDOWN_WAIT)
            except Exception:
                pass
        # reads have no effects: queued ones are dropped, and a read stuck in the AI precompile
        # must not hold the shutdown (it fails when the store closes under it)
        self._readers.shutdown(wait=False, cancel_futures=True)
        try:  # LevelDB is durable per batch: a chain thread still busy after this only skips the tidy close
            await asyncio.wait_for(self.run(self.chain.close), timeout=SHUTDOWN_WAIT)
        except asyncio.TimeoutError:
            log.warning("the chain thread is still busy after %.0f s; closing without waiting", SHUTDOWN_WAIT)
        self._executor.shutdown(wait=False, cancel_futures=True)

    @cached_property
    def api(self) -> "NodeApi":
        """The one object RPC handlers receive (vm/api.py)."""
        from vm.api import NodeApi

        return NodeApi(self)

    def has_queued(self) -> bool:
        """Whether transactions wait in the queue (any thread: a length read)."""
        return bool(self._queue)

    def submit(self, fn: Callable, *args: Any) -> concurrent.futures.Future:
        """Queue fn on the chain thread from any thread, without an event loop (the AI layer's hooks)."""
        return self._executor.submit(fn, *args)

    READERS = 4  # reader threads: a call stuck in the AI precompile leaves the others free

    async def run(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run fn on the chain thread (everything that writes)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def read(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run a read-only fn on a reader thread, beside the chain thread, never behind it.

        fn must only read: Chain's state reads, calls and estimates, and the index.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(*args, **kwargs))

    # -- listeners (filters, subscriptions) --
    def on_block(self, fn: Callable[[MinedBlock], None]) -> None:
        self._block_listeners.append(fn)

    def on_pending(self, fn: Callable[[bytes], None]) -> None:
        self._pending_listeners.append(fn)

    def _publish(self, mined: MinedBlock) -> None:
        for fn in list(self._block_listeners):
            try:
                fn(mined)
            except Exception:
                log.exception("block listener failed")

    # -- transactions --
    def pending_nonce(self, sender: bytes) -> int:
        """Chain thread: the nonce the sender's next transaction must carry."""
        return self.chain.nonce(sender) + self._inflight[sender]

    def read_pending_nonce(self, sender: bytes) -> int:
        """Any thread: the same, without the chain thread (eth_getTransactionCount "pending").

        The queue's entry is read before the head: it is dropped only after the block
        that mined it is published, so either it or the head already counts the tx.
        """
        queued = self._next_nonce.get(sender, 0)
        return max(queued, self.chain.nonce(sender))

    def _admit(self, tx: Any, sender: bytes) -> None:
        """Chain thread: check a transaction against state plus the queue, then reserve it."""
        if tx.hash in self._inflight_hashes:
            raise TxRejected("already known: this transaction is already queued")
        if self.chain.index.transaction(tx.hash) is not None:
            raise TxRejected("already known: this transaction is already mined")
        txpool.refuse_unsupported(tx)
        replaced = txpool.admit_replacement(self, tx, sender)
        if replaced is not None:  # same sender and nonce, higher fee: takes the old one's place
            self._inflight_hashes.discard(replaced.tx.hash)
            self._inflight_hashes.add(tx.hash)
            self._replacing[tx.hash] = replaced
            return
        self.chain.check(tx, sender, expected_nonce=self.pending_nonce(sender))
        self._inflight[sender] += 1
        self._inflight_hashes.add(tx.hash)
        self._next_nonce[sender] = tx.nonce + 1

    def _admit_raw(self, raw: bytes) -> tuple[Any, bytes]:
        txpool.refuse_unsupported_raw(raw)
        tx = self.chain.decode_raw(raw)
        sender = self.chain.sender_of(tx)
        self._admit(tx, sender)
        return tx, sender

    def _admit_unsigned(self, fields: dict) -> tuple[Any, bytes]:
        sender = fields.pop("sender")
        if fields.get("nonce") is None:
            fields["nonce"] = self.pending_nonce(sender)
        tx, sender = self.chain.sign(sender, **fields)
        self._admit(tx, sender)
        return tx, sender

    async def send_raw(self, raw: bytes) -> tuple[bytes, Optional[ExecutionResult]]:
        if self.automine:
            # decode and recover here (no chain state needed); the mining job checks it
            txpool.refuse_unsupported_raw(raw)
            tx = self.chain.decode_raw(raw)
            sender = self.chain.sender_of(tx)
            return tx.hash, await self._enqueue(tx, sender, admitted=False)
        tx, sender = await self.run(self._admit_raw, raw)
        return tx.hash, await self._enqueue(tx, sender)

    async def send_unsigned(self, fields: dict) -> tuple[bytes, Optional[ExecutionResult]]:
        tx, sender = await self.run(self._admit_unsigned, dict(fields))
        return tx.hash, await self._enqueue(tx, sender)

    async def _enqueue(self, tx: Any, sender: bytes, admitted: bool = True) -> Optional[ExecutionResult]:
        replaced = self._replacing.pop(tx.hash, None)
        if replaced is not None:
            txpool.swap_in(self, replaced)
        if admitted:
            self._announce(tx.hash)
        if not self.automine:
            self._queue.append(_Queued(tx, sender, None))
            return None
        fut = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(tx, sender, fut, admitted))
        if self._mining is None or self._mining.done():
            self._mining = asyncio.create_task(self._mine_queue())
        return await fut

    def _announce(self, tx_hash: bytes) -> None:
        for fn in list(self._pending_listeners):
            fn(tx_hash)

    async def _mine_queue(self) -> None:
        while self._queue:
            await self.mine_block()

    async def mine_block(self, timestamp: Optional[int] = None) -> MinedBlock:
        """Seal everything queued (up to the gas limit) into one block."""
        batch, self._queue = self._queue, []
        try:
            mined = await self.run(self._mine, batch, timestamp)
        except Exception as exc:
            for q in batch:
                if q.future and not q.future.done():
                    q.future.set_exception(exc if isinstance(exc, TxRejected) else TxRejected(f"mining failed: {exc}"))
            raise
        by_hash = {r.tx_hash: r for r in mined.results}
        rejected = {tx.hash: why for tx, why in mined.rejected}
        deferred = {tx.hash for tx, _ in mined.deferred}
        requeue = []
        for q in batch:
            if q.rejected is not None:
                if q.future is not None and not q.future.done():
                    q.future.set_exception(q.rejected)
                continue
            if not q.admitted:
                q.admitted = True
                self._announce(q.tx.hash)
            h = q.tx.hash
            if h in deferred:
                requeue.append(q)
            elif q.future is not None and not q.future.done():
                if h in by_hash:
                    q.future.set_result(by_hash[h])
                else:
                    q.future.set_exception(TxRejected(rejected.get(h, "transaction dropped")))
        self._queue[:0] = requeue
        self._publish(mined)
        return mined

    def _mine(self, batch: list[_Queued], timestamp: Optional[int]) -> MinedBlock:
        """Chain thread: check what is not checked yet, mine, then release the
        reservations of what left the queue."""
        for q in batch:
            if not q.admitted:
                try:
                    self._admit(q.tx, q.sender)
                except TxRejected as exc:
                    q.rejected = exc
        batch = [q for q in batch if q.rejected is None]
        try:
            mined = self.chain.mine([(q.tx, q.sender) for q in batch], timestamp)
        except Exception:
            for q in batch:
                self._release(q)
            raise
        deferred = {tx.hash for tx, _ in mined.deferred}
        for q in batch:
            if q.tx.hash not in deferred:
                self._release(q)
        return mined

    async def drop_transaction(self, tx_hash: bytes) -> bool:
        """Take a pending transaction out of the queue (anvil_dropTransaction)."""
        q = txpool.drop(self, tx_hash)
        if q is None:
            return False
        await self.run(self._release, q)
        return True

    def _release(self, q: _Queued) -> None:
        self._inflight[q.sender] -= 1
        if self._inflight[q.sender] <= 0:
            del self._inflight[q.sender]
            self._next_nonce.pop(q.sender, None)
        self._inflight_hashes.discard(q.tx.hash)

    async def _interval_miner(self) -> None:
        while True:
            await asyncio.sleep(self.options.block_time)
            try:
                await self.mine_block()
            except Exception:
                log.exception("interval mining failed")
