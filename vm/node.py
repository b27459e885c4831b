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
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Optional

from precompiles.registry import Services  # noqa: F401  (what precompiles may reach; the node lends it)
from vm import dev_controls, txpool
from vm.chain import Chain, ChainConfig, ExecutionResult, MinedBlock, TxRejected
from vm.reader import touches_service_precompile
from vm.wal import BlockRecord, WriteAheadLog

if TYPE_CHECKING:
    from vm.api import NodeApi

log = logging.getLogger("aivm.node")

SHUTDOWN_WAIT = 2.0  # seconds stop() gives the block being sealed, and then the store's close
GIL_SWITCH_INTERVAL = 0.0005  # seconds (CPython's default is 0.005): see Node.start
SETTLE_WAIT = 10.0  # seconds a request waits for a block whose transactions were answered before its seal
INLINE_GAS = 1_000_000  # a lone automine send with at most this much gas may be mined on the loop (Node._inline)


@dataclass
class _Queued:
    tx: Any
    sender: bytes
    future: Optional[asyncio.Future]
    admitted: bool = True  # False: the mining job checks it first (automine's one-hop path)
    rejected: Optional[Exception] = None  # set by the mining job when the check refused it
    early: bool = False  # answer once executed (and in the write-ahead log), before the seal


@dataclass
class NodeOptions:
    block_time: float = 0.0  # 0 = automine
    data_dir: Optional[str] = None  # None = in memory
    chain: ChainConfig = field(default_factory=ChainConfig)


class Node:
    def __init__(self, options: NodeOptions, services: Optional[Services] = None, config: Any = None) -> None:
        self.options = options
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aivm-chain")
        # Held by whoever runs chain work: the chain thread for every job, or the event loop
        # for a lone send it mines itself (`_inline`, which only ever tries it, never waits).
        self._chain_lock = threading.Lock()
        self._jobs = 0  # chain-thread jobs queued or running (under _jobs_lock): inline mining waits its turn
        self._jobs_lock = threading.Lock()
        self._inline_enabled = os.environ.get("AIVM_INLINE_MINING", "1") != "0"
        self._readers = concurrent.futures.ThreadPoolExecutor(self.READERS, thread_name_prefix="aivm-read")
        if options.data_dir:
            self.chain = Chain.open(options.data_dir, options.chain, services)
        else:
            self.chain = Chain.ephemeral(options.chain, services)
        dev_controls.restore(self.chain)
        self.wal: Optional[WriteAheadLog] = None
        if options.data_dir:  # blocks answered before their seal: replay what the store lacks
            self.wal = WriteAheadLog(options.data_dir)
            replayed = replay(self.chain, self.wal.records())
            if replayed:
                log.info("write-ahead log: replayed %d block(s) up to #%d", replayed, self.chain.head_number)
            self.wal.reset()
        self._settling: Optional[asyncio.Future] = None  # the seal of a block answered early
        self._settle_bound: Optional[tuple] = None  # (_settling, its wait bounded by SETTLE_WAIT)
        self._hold_seal = float(os.environ.get("AIVM_TEST_HOLD_SEAL", "0") or 0)  # tests: kill -9 windows
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
        self.dashboard_bridge_source: Any = None  # app.dashboard.sources.BridgeStatusSource of the Bridges view
        self.dashboard_monitor: Any = None  # app.dashboard.monitor.Monitor, made by app.dashboard.install
        self.chat_jobs: Any = None  # app.chat.jobs.ChatJobs of the OpenAI-compatible API
        self.ai_starter: Any = None  # vm.ai_start.AIStarter when the AI layer waits for first use

    # -- lifecycle --
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The chain thread seals in pure Python while the loop answers: with CPython's default
        # 5 ms GIL switch interval a woken loop waits up to 5 ms per hand-over (measured: 10-sender
        # tx/s a third of what it is at 0.5 ms once sends are answered before the seal).
        sys.setswitchinterval(float(os.environ.get("AIVM_SWITCH_INTERVAL", GIL_SWITCH_INTERVAL)))
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
        if self.wal is not None:  # what it holds and the store lacks replays at the next start
            self.wal.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    @cached_property
    def api(self) -> "NodeApi":
        """The one object RPC handlers receive (vm/api.py)."""
        from vm.api import NodeApi

        return NodeApi(self)

    def has_queued(self) -> bool:
        """Whether transactions wait in the queue (any thread: a length read)."""
        return bool(self._queue)

    def queued(self) -> list[_Queued]:
        """A stable copy of the queue (any thread: the loop thread may swap the list while it is read)."""
        return list(self._queue)

    def unqueue(self, entry: _Queued) -> bool:
        """Loop thread: take one entry out of the queue; False when a block being sealed took it already."""
        try:
            self._queue.remove(entry)
        except ValueError:
            return False
        return True

    def submit(self, fn: Callable, *args: Any) -> concurrent.futures.Future:
        """Queue fn on the chain thread from any thread, without an event loop (the AI layer's hooks)."""
        self._count_job(1)
        return self._executor.submit(self._locked, fn, *args)

    def _count_job(self, delta: int) -> None:
        with self._jobs_lock:
            self._jobs += delta

    def _locked(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Chain thread: every job runs holding the chain lock (see `_inline`)."""
        try:
            with self._chain_lock:
                return fn(*args, **kwargs)
        finally:
            self._count_job(-1)

    READERS = 4  # reader threads: a call stuck in the AI precompile leaves the others free

    async def run(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run fn on the chain thread (everything that writes)."""
        loop = asyncio.get_running_loop()
        self._count_job(1)
        return await loop.run_in_executor(self._executor, lambda: self._locked(fn, *args, **kwargs))

    async def read(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run a read-only fn on a reader thread, beside the chain thread, never behind it.

        fn must only read: Chain's state reads, calls and estimates, and the index.
        """
        await self.settled()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(*args, **kwargs))

    async def settled(self) -> None:
        """Wait (bounded) for the seal of a block whose transactions were already answered.

        A send is answered before its block is sealed (`_mine`); every request after it
        (receipts, reads of "latest", block numbers) must see that block, as with Hardhat's
        and Anvil's automine. Blocks that were not answered early (a long AI block) are
        never waited for: reads keep answering from the committed head meanwhile.
        """
        settling = self._settling
        if settling is None or settling.done() or settling.get_loop() is not asyncio.get_running_loop():
            return
        bound = self._settle_bound
        if bound is None or bound[0] is not settling:
            bound = self._settle_bound = (settling, _bounded(settling, SETTLE_WAIT))
        # one bounded future per seal, shared by every request waiting for it (cheaper than a
        # wait_for each, and needs no current task: the HTTP front runs reads without one)
        await asyncio.shield(bound[1])

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

    async def send_raw(self, raw: bytes, early: bool = False) -> tuple[bytes, Optional[ExecutionResult]]:
        """Queue a signed transaction; with automine, return once it is mined.

        `early`: return once it has run and is in the write-ahead log, before its block is
        sealed (the RPC sends: they answer only the hash). The result then has no receipt yet.
        """
        if self.automine:
            # decode and recover here (no chain state needed); the mining job checks it
            txpool.refuse_unsupported_raw(raw)
            tx = self.chain.decode_raw(raw)
            sender = self.chain.sender_of(tx)
            return tx.hash, await self._enqueue(tx, sender, admitted=False, early=early)
        tx, sender = await self.run(self._admit_raw, raw)
        return tx.hash, await self._enqueue(tx, sender)

    async def send_unsigned(self, fields: dict, early: bool = False) -> tuple[bytes, Optional[ExecutionResult]]:
        tx, sender = await self.run(self._admit_unsigned, dict(fields))
        return tx.hash, await self._enqueue(tx, sender, early=early)

    async def _enqueue(self, tx: Any, sender: bytes, admitted: bool = True,
                       early: bool = False) -> Optional[ExecutionResult]:
        replaced = self._replacing.pop(tx.hash, None)
        if replaced is not None:
            txpool.swap_in(self, replaced)
        if admitted:
            self._announce(tx.hash)
        if not self.automine:
            self._queue.append(_Queued(tx, sender, None))
            return None
        fut = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(tx, sender, fut, admitted, early=early))
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
        sealed = asyncio.get_running_loop().create_future()  # set once this block is in the index
        try:
            mined = await self._inline(batch, timestamp, sealed)
            if mined is None:
                mined = await self.run(self._mine, batch, timestamp, sealed)
        except Exception as exc:
            for q in batch:
                if q.future and not q.future.done():
                    q.future.set_exception(exc if isinstance(exc, TxRejected) else TxRejected(f"mining failed: {exc}"))
            sealed.set_result(None)
            raise
        sealed.set_result(None)
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

    async def _inline(self, batch: list[_Queued], timestamp: Optional[int],
                      sealed: asyncio.Future) -> Optional[MinedBlock]:
        """Event loop: mine a lone automine send right here, or return None (then the chain
        thread mines it).

        A sender with one transaction in flight (a script, a test suite with web3.py or ethers)
        otherwise pays two thread hand-overs per transaction, and on a busy machine each waits
        for the scheduler. Only when it cannot stall the loop for long or wait on anything: one
        send, nothing else queued, bounded gas, no AI layer attached (the AI precompile waits for
        validators that talk to this loop), no chain-thread job queued or running (they keep their
        order) and the chain lock free at once (never waited for: the chain thread may be in a
        long block). Same code as the chain thread's job (`_mine`); the lock keeps chain work one
        at a time.

        In memory (no write-ahead log to wait for), an RPC send is answered once its block has
        run and the loop turns once before the seal, so its answer goes out and the sender's next
        request (its receipt) is on its way while the block is sealed; that request waits for the
        seal (`settled`). With a write-ahead log a lone send is answered after the seal, as
        before (an fsync per transaction would cost more than it overlaps).
        """
        if not (self._inline_enabled and len(batch) == 1 and not self._queue and not self._hold_seal
                and batch[0].tx.gas <= INLINE_GAS and self._jobs == 0):
            return None
        services = self.chain.services
        if services is not None and services.ai is not None:
            return None
        if not self._chain_lock.acquire(blocking=False):
            return None
        try:
            steps = self._mine_steps(batch, timestamp, sealed, answer_alone=self.wal is None)
            try:
                next(steps)  # up to the early answer, or the whole block
            except StopIteration as done:
                return done.value
            try:
                await asyncio.sleep(0)  # the answered send's response goes out; then the seal
            except BaseException:  # cancelled: an answered send must still be sealed
                _run_out(steps)
                raise
            return _run_out(steps)
        finally:
            self._chain_lock.release()

    def _mine(self, batch: list[_Queued], timestamp: Optional[int],
              sealed: Optional[asyncio.Future] = None) -> MinedBlock:
        """Chain thread: `_mine_steps` run through."""
        return _run_out(self._mine_steps(batch, timestamp, sealed))

    def _mine_steps(self, batch: list[_Queued], timestamp: Optional[int],
                    sealed: Optional[asyncio.Future] = None, answer_alone: bool = False):
        """Check what is not checked yet, run the block, answer the early sends, seal, then
        release the reservations of what left the queue; a generator that returns the block.

        `answer_alone` (the event loop's inline mining, in memory): a lone early send is
        answered at once, before the seal, and the generator yields there once so that the loop
        can write that answer before it seals (`_inline`).

        Early answers (automine RPC sends) go out once the block has run and its record is
        fsynced in the write-ahead log (in memory: at once), unless the block reached a
        service precompile (AI, consensus, bridges): its replay would depend on validators,
        so it is answered after the seal as before. `_settling` makes the requests that
        follow wait for the seal.
        """
        for q in batch:
            if not q.admitted:
                try:
                    self._admit(q.tx, q.sender)
                except TxRejected as exc:
                    q.rejected = exc
        batch = [q for q in batch if q.rejected is None]
        try:
            builder = self.chain.open_block(timestamp)
            for q in batch:
                builder.add(q.tx, q.sender)
            early = [q for q in batch if q.early and q.future is not None]
            # early when someone waits behind it (other sends in this block or queued), or a lone
            # send mined on the loop in memory (its answer overlaps the seal: see `_inline`)
            alone = answer_alone and len(early) == 1 and not self._queue and self.wal is None
            if early and sealed is not None and (len(early) > 1 or self._queue or self._hold_seal or alone) and not any(
                    touches_service_precompile(r.computation) for r in builder.results):
                if self._answer_before_seal(builder, early, sealed, now=alone):
                    yield
            mined = self.chain.seal_block(builder)
        except Exception:
            for q in batch:
                self._release(q)
            raise
        if self.wal is not None and mined.results:
            self.wal.persisted()
        deferred = {tx.hash for tx, _ in mined.deferred}
        for q in batch:
            if q.tx.hash not in deferred:
                self._release(q)
        return mined

    def _answer_before_seal(self, builder: Any, early: list[_Queued], sealed: asyncio.Future,
                            now: bool = False) -> bool:
        """Chain thread: log the block (fsync in the WAL thread, while this thread seals) and
        answer its early sends once the record is durable. `now` (the event loop, in memory):
        answer them here; True when it did."""
        loop = self._loop or sealed.get_loop()
        by_hash = {r.tx_hash: r for r in builder.results}
        answers = [(q, by_hash[q.tx.hash]) for q in early if q.tx.hash in by_hash]
        if not answers:
            return False

        def answer(error: Optional[BaseException] = None) -> None:  # event loop
            if error is not None:  # not durable: the sends are answered after the seal instead
                return
            self._settling = sealed
            for q, result in answers:
                if not q.future.done():
                    if not q.admitted:
                        q.admitted = True
                        self._announce(q.tx.hash)
                    q.future.set_result(result)

        if self.wal is None and now:
            answer()
            return True
        if self.wal is None:
            loop.call_soon_threadsafe(answer)
        else:
            record = BlockRecord(builder.number, builder.header.parent_hash, builder.header.timestamp,
                                 [(tx.encode(), s) for tx, s in zip(builder.included, builder.senders)])
            self.wal.append(record, lambda error: loop.call_soon_threadsafe(answer, error))
        if self._hold_seal:
            time.sleep(self._hold_seal)
        return False

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


def _bounded(fut: asyncio.Future, timeout: float) -> asyncio.Future:
    """A future done (with None) once `fut` is done, however it ended, or after `timeout` seconds."""
    loop = fut.get_loop()
    out = loop.create_future()

    def release(_: Any = None) -> None:
        if not out.done():
            out.set_result(None)

    fut.add_done_callback(release)
    timer = loop.call_later(timeout, release)
    out.add_done_callback(lambda _: timer.cancel())
    return out


def _run_out(steps: Any) -> Any:
    """Run a generator to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def replay(chain: Chain, records: Any) -> int:
    """Re-mine the logged blocks the store does not hold (start-up), each on its logged
    parent with its logged timestamp; returns how many. A record that does not extend the
    head (another history after a revert) ends the replay."""
    count = 0
    for rec in records:
        if rec.number <= chain.head_number:
            continue  # persisted before the node stopped
        if rec.number != chain.head_number + 1 or rec.parent != chain.head.hash:
            log.warning("write-ahead log: block #%d does not extend the head #%d; not replayed",
                        rec.number, chain.head_number)
            break
        builder = chain.open_block(rec.timestamp)
        for raw, sender in rec.txs:
            builder.add(chain.decode_raw(raw), sender)
        if len(builder.included) != len(rec.txs):
            raise RuntimeError(f"write-ahead log: block #{rec.number} does not replay "
                               f"({builder.rejected or builder.deferred})")
        chain.seal_block(builder)
        count += 1
    return count
