"""The node's AI service: the scheduler wired to the chain, the RPC server and local validators.

It owns the model manifests the node registers, the chain hooks (stake
locking and on-chain validator sets, always applied on the chain thread),
task notifications to subscribed validators, the deadline ticker, and the
answers the AI precompile reads.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, Optional

from ai.records import AIRecords
from ai.scheduler import AIError, Scheduler
from ai.scheduler.core import ChainHooks

log = logging.getLogger("aivm.ai")

STAKING_POOL = (0x0122).to_bytes(20, "big")  # holds validators' locked stakes
CALLBACK_SENDER = (0x0121).to_bytes(20, "big")  # the ai_request precompile: callbacks come from it
CALLBACK_GAS = 1_000_000


def load_manifests(model_ids: Optional[list[str]] = None, cache_dir=None) -> dict:
    """Build (train / convert) missing artifacts once, and return their manifests."""
    from ai.models import get_manifest, list_models
    from ai.models.catalog import ENDPOINT_MODELS

    ids = model_ids or [m.model_id for m in list_models()]
    # endpoint-served models have no weights here: validators attest which model their server runs
    return {mid: None if mid in ENDPOINT_MODELS else get_manifest(mid, cache_dir) for mid in ids}


class NodeChainHooks(ChainHooks):
    """Chain access for the scheduler: on the chain thread, whoever calls."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def _on_chain(self, fn: Callable, *args: Any) -> Any:
        if threading.current_thread().name.startswith("aivm-chain"):
            return fn(*args)
        return self.node._executor.submit(fn, *args).result()

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

        if threading.current_thread().name.startswith("aivm-chain"):
            burn()
        else:
            self.node._executor.submit(burn)

    def update_storage(self, compute_writes: Callable[[Callable], list]) -> None:
        def apply():
            for address, slot, value in compute_writes(self.node.chain.storage):
                self.node.chain.set_storage(address, slot, value)

        self._on_chain(apply)

    def read_storage(self, address: bytes, slot: int) -> int:
        return self._on_chain(self.node.chain.storage, address, slot)


class AIService:
    def __init__(self, node: Any, manifests: dict, cache: bool = True, task_timeout: float = 30.0,
                 cache_dir=None, max_new_tokens: int = 32, infer_timeout: float = 120.0,
                 join_delay: Optional[float] = None, heartbeat_grace: Optional[float] = None) -> None:
        self.node = node
        self.cache_dir = cache_dir
        self._subscribers: dict[bytes, list[Callable[[dict], None]]] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.scheduler = Scheduler(
            AIRecords(node.chain.store.kv), node.chain.config.chain_id, manifests, NodeChainHooks(node),
            notify=self._notify, cache=cache, task_timeout=task_timeout, codec_loader=self._codec,
            max_new_tokens=max_new_tokens,
            **{k: v for k, v in (("join_delay", join_delay), ("heartbeat_grace", heartbeat_grace)) if v is not None},
        )
        self.infer_timeout = infer_timeout
        self.max_gas_per_execution = 1_000_000  # [aivm] max_gas_per_execution (set by the CLI)
        self._ticker: Optional[asyncio.Task] = None
        self.scheduler.on_finish = self._on_finish
        self._delivering: set[str] = set()

    def _codec(self):
        from ai.models import prompt_codec

        return prompt_codec(self.cache_dir)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._tick_forever())
        self.node.chain.impersonate(CALLBACK_SENDER)  # callbacks come from the precompile's address
        for cid, _ in list(self.scheduler.records.callbacks()):  # owed since before a restart
            self._loop.create_task(self._deliver(cid))
        if "distributed_ai_model" in self.scheduler.manifests:
            await asyncio.to_thread(self._codec)  # load the tokenizer now, not on the first request

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await asyncio.to_thread(self.scheduler.tick)
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

    def _notify(self, address: bytes, task: dict) -> None:
        sends = list(self._subscribers.get(address, []))
        if not sends or self._loop is None:
            return
        for send in sends:
            self._loop.call_soon_threadsafe(send, task)

    # -- what the AI precompile calls (on the chain thread, inside a block) --
    def infer(self, model_id: str, data: bytes, requester: str, timeout: float) -> tuple[bytes, dict, str]:
        """The quorum's answer for (model, input): recorded once, never recomputed."""
        comp = self.scheduler.initiate(model_id, data, requester)
        comp = self.scheduler.wait(comp.id, timeout)
        if comp.status != "Completed":
            reason = comp.reason or f"no quorum within {timeout:.0f} s"
            raise AIError(reason)
        return comp.result, comp.certificate, comp.id

    # -- the asynchronous form (ai_request precompile) --
    def request_async(self, model_id: str, data: bytes, caller: bytes, selector: bytes, request_id: bytes) -> str:
        """Start a computation whose answer is delivered to `caller` in a callback transaction."""
        callback = {"caller": caller.hex(), "selector": selector.hex(), "request_id": request_id.hex()}
        comp = self.scheduler.initiate(model_id, data, "0x" + caller.hex(), callback=callback)
        return comp.id

    def _on_finish(self, comp) -> None:
        if self._loop is not None and self.scheduler.records_callback(comp.id) is not None:
            self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._deliver(comp.id)))

    async def _deliver(self, cid: str) -> None:
        from eth_abi import encode

        from precompiles.ai_request import pending_slot

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
            from vm.chain import ExecutionFailed

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
            "total_ai_rewards_distributed": s.counters["rewards"],
        }
