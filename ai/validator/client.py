"""A validator: registers, attests, heartbeats, runs tasks with real models, signs results.

It talks to the node over JSON-RPC only (any machine that reaches the node):
tasks arrive on a WebSocket subscription (`synergy_aiTasks`), with polling of
`synergy_getValidatorAITasks` as a fallback, and results go back through
`synergy_submitAIPartialResult` signed by the validator's registered PQC keys.

`Behaviour` exists for fault testing (lie, forge, replay, stall, crash): the
honest path is the default and the others are opt-in from the command line.
"""
from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import time
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp
import orjson
from eth_hash.auto import keccak

from ai import protocol
from ai.protocol import TaskVote
from pqc import bundle
from pqc.keys import KeySet
from vm.addresses import to_syn

log = logging.getLogger("aivm.validator")

VERSION = "aivm-validator/0.1.0"
HEARTBEAT_EVERY = 1.0
POLL_EVERY = 2.0
RECONNECT_EVERY = 1.0  # seconds between tries while the node is unreachable
WATCHDOG_EVERY = 0.5


@dataclass
class Behaviour:
    """How this validator misbehaves, for fault tests (honest by default)."""

    lie: bool = False  # compute, then sign a wrong answer
    forge: bool = False  # sign with a key that is not registered
    replay: bool = False  # submit each signed result twice (the second must be refused)
    delay: float = 0.0  # seconds to stall before answering (a timeout when longer than the deadline)
    crash_after: int = 0  # exit the process after this many tasks (0 = never)

    @classmethod
    def parse(cls, text: str) -> "Behaviour":
        b = cls()
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            name, _, value = part.partition("=")
            if name == "honest":
                continue
            if name in ("lie", "forge", "replay"):
                setattr(b, name, True)
            elif name == "delay":
                b.delay = float(value)
            elif name == "crash-after":
                b.crash_after = int(value)
            else:
                raise ValueError(f"unknown behaviour {name!r} (honest, lie, forge, replay, delay=S, crash-after=N)")
        return b


class RpcFailure(Exception):
    pass


class Validator:
    def __init__(self, rpc_url: str, keys: KeySet, stake: int, holds: list[tuple[str, int]],
                 cache_dir=None, behaviour: Optional[Behaviour] = None, endpoint: Any = None,
                 parent_pid: Optional[int] = None) -> None:
        self.parent_pid = parent_pid  # a local validator: exit when the node that started it is gone
        self.rpc_url = rpc_url.rstrip("/")
        self.ws_url = self.rpc_url.replace("http://", "ws://").replace("https://", "wss://")
        self.keys = keys
        self.stake = stake
        self.holds = holds
        self.cache_dir = cache_dir
        self.behaviour = behaviour or Behaviour()
        self.endpoint = endpoint  # an EndpointRunner: serve gpt_oss_chat from our own OpenAI-compatible server
        if endpoint is not None and ("gpt_oss_chat", 0) not in self.holds:
            self.holds = [*self.holds, ("gpt_oss_chat", 0)]
        self.address = protocol.validator_address(keys.signing_keys())
        self.syn = to_syn(self.address)
        self.chain_id = 0
        self._runners: dict[tuple[str, int], Any] = {}
        self._seen: set[str] = set()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._session: Optional[aiohttp.ClientSession] = None
        self._id = 0
        self.tasks_done = 0
        self._forger = KeySet.generate(keys.level, with_kem=False) if self.behaviour.forge else None

    # -- rpc --
    async def rpc(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        async with self._session.post(self.rpc_url, data=orjson.dumps(body),
                                      headers={"Content-Type": "application/json"}) as resp:
            reply = orjson.loads(await resp.read())
        if "error" in reply:
            raise RpcFailure(f"{method}: {reply['error']['message']}")
        return reply["result"]

    def sign(self, message_hash: bytes, result: bool = False) -> str:
        """Sign with the registered keys (a forging validator signs results with unregistered ones)."""
        keys = self._forger if result and self._forger else self.keys
        return "0x" + bundle.sign(keys, message_hash).encode().hex()

    # -- start-up --
    def load_models(self) -> None:
        """Load and verify every shard this validator holds (a tampered file stops start-up)."""
        import torch

        from ai.models import load_model

        torch.set_num_threads(1)
        for model_id, stage in self.holds:
            if model_id == "gpt_oss_chat":
                if self.endpoint is None:
                    raise ValueError("gpt_oss_chat is served from an endpoint: pass --endpoint")
                self._runners[(model_id, stage)] = self.endpoint
            else:
                self._runners[(model_id, stage)] = load_model(model_id, self.cache_dir, stage=stage)

    def attestation(self) -> dict:
        from ai.models import get_manifest

        from ai.models.openai_endpoint import list_endpoint_models

        shards = []
        for model_id, stage in self.holds:
            if model_id == "gpt_oss_chat":
                served = self.endpoint.model or (list_endpoint_models(self.endpoint.endpoint) or ["unknown"])[0]
                shards.append({"model_id": model_id, "stage": 0, "endpoint_model": served})
                continue
            shards.append({"model_id": model_id, "stage": stage,
                           "sha256": get_manifest(model_id, self.cache_dir).stage_shard(stage).sha256})
        try:
            import torch

            gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        except Exception:
            gpu = None
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
        return {"software_version": VERSION, "shards": shards, "cores": os.cpu_count() or 1,
                "memory_mb": int(mem), "gpu": gpu, "platform": platform.machine(), "timestamp": int(time.time())}

    async def join(self) -> None:
        self.chain_id = int(await self.rpc("eth_chainId"), 16)
        signing = self.keys.signing_keys()
        proof = self.sign(protocol.registration_message(self.chain_id, self.address, signing.key_hash, self.stake))
        # the stake as a hex quantity: JSON numbers stop at 64 bits (18.4 ETH); registering again with a
        # total above the locked stake (after a slash) tops it up, if the account can pay the difference
        try:
            await self.rpc("synergy_registerValidator", "0x" + signing.encode().hex(), hex(self.stake), proof)
        except RpcFailure as exc:
            if "cannot stake" not in str(exc) or not await self._registered():
                raise
            log.warning("stake top-up refused (%s): continuing with the stake already locked", exc)
        att = self.attestation()
        await self.rpc("synergy_attestValidator", self.syn, att,
                       self.sign(protocol.attestation_message(self.chain_id, self.address, att)))
        await self.heartbeat()
        log.info("validator %s joined: %s", self.syn, ", ".join(f"{m}/{s}" for m, s in self.holds))

    async def _registered(self) -> bool:
        try:
            await self.rpc("synergy_getValidatorAttestation", self.syn)
            return True
        except RpcFailure:
            return False

    async def heartbeat(self) -> None:
        ts = int(time.time())
        await self.rpc("synergy_validatorHeartbeat", self.syn, ts,
                       self.sign(protocol.heartbeat_message(self.chain_id, self.address, ts)))

    # -- running --
    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=120, sock_connect=5)
        async with aiohttp.ClientSession(timeout=timeout) as self._session:
            watchdog = asyncio.create_task(self._watchdog())
            await asyncio.to_thread(self.load_models)
            await self._join_when_reachable()
            loops = [self._heartbeats(), self._subscription(), self._polling(), self._worker(), watchdog]
            await asyncio.gather(*loops)

    async def _watchdog(self) -> None:
        """A local validator dies with its node (backing up the parent-death signal)."""
        if self.parent_pid is None:
            return
        while True:
            if os.getppid() != self.parent_pid:
                log.error("the node (pid %d) is gone: exiting", self.parent_pid)
                os._exit(0)
            await asyncio.sleep(WATCHDOG_EVERY)

    async def _join_when_reachable(self) -> None:
        """Join, waiting for the node while it is unreachable (started before it, or restarting)."""
        while True:
            try:
                await self.join()
                return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.info("node unreachable (%s): retrying", exc)
                await asyncio.sleep(RECONNECT_EVERY)

    async def _heartbeats(self) -> None:
        last, lost = 0, False
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            now = int(time.time())
            if now == last:  # the node refuses a timestamp that is not after the last
                continue
            try:
                if lost:  # the node came back (perhaps restarted without our records): join again
                    await self.join()
                    lost = False
                await self.heartbeat()
                last = now
            except RpcFailure as exc:
                log.warning("heartbeat failed: %s", exc)
                lost = lost or "not registered" in str(exc) or "attestation" in str(exc)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                if not lost:
                    log.warning("node unreachable (%s): reconnecting", exc)
                lost = True

    async def _subscription(self) -> None:
        while True:
            try:
                async with self._session.ws_connect(self.ws_url, heartbeat=20) as ws:
                    await ws.send_str(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                                    "params": ["synergy_aiTasks", self.syn]}).decode())
                    async for msg in ws:
                        data = orjson.loads(msg.data)
                        if data.get("method") == "eth_subscription":
                            self._offer(data["params"]["result"])
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.debug("task subscription dropped: %s", exc)
            await asyncio.sleep(1.0)

    async def _polling(self) -> None:
        while True:
            await asyncio.sleep(POLL_EVERY)
            try:
                for task in await self.rpc("synergy_getValidatorAITasks", self.syn):
                    self._offer(task)
            except (RpcFailure, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.debug("task poll failed: %s", exc)

    def _offer(self, task: dict) -> None:
        if task.get("task_id") in self._seen or "input" not in task:
            return
        self._seen.add(task["task_id"])
        self._queue.put_nowait(task)

    async def _worker(self) -> None:
        while True:
            task = await self._queue.get()
            try:
                await self.handle(task)
            except (RpcFailure, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.warning("task %s: %s", task["task_id"], exc)
            except Exception:
                log.exception("task %s failed", task["task_id"])
            self.tasks_done += 1
            if self.behaviour.crash_after and self.tasks_done >= self.behaviour.crash_after:
                log.error("crash-after=%d reached: exiting", self.behaviour.crash_after)
                os._exit(3)

    def compute(self, task: dict) -> tuple[bytes, TaskVote]:
        """Run the task's model stage and build the vote an honest validator signs."""
        from ai.models.catalog import MODELS

        model_id, stage = task["model_id"], task["stage"]
        runner = self._runners[(model_id, stage)]
        data = bytes.fromhex(task["input"])
        if "sampling" in task:  # chat (issue 16): temperature > 0, the quorum's sampling rule
            from ai.models.sampling import Sampling, run_last_stage

            output = run_last_stage(runner, data, Sampling.from_json(task["sampling"]), len(task["prefix_ids"]))
        else:
            output = runner.infer(data)
        if self.behaviour.lie:
            output = self._wrong(model_id, stage, output)
        info = MODELS[model_id]
        result_hash = protocol.ZERO32
        if stage == info.num_stages - 1:
            result_hash = keccak(self._result_so_far(model_id, task, output))
        from ai.scheduler.commitments import commitment  # the node recomputes exactly this

        vote = TaskVote(self.chain_id, task["computation_id"], model_id, stage, task["step"],
                        bytes.fromhex(task["request_hash"][2:]), keccak(data), commitment(model_id, stage, output),
                        result_hash)
        return output, vote

    def _result_so_far(self, model_id: str, task: dict, output: bytes) -> bytes:
        if "prefix_ids" not in task:
            return output
        from ai.models import prompt_codec
        from ai.models.tensorio import decode_tensor

        token = int(decode_tensor(output)[0])
        return prompt_codec(self.cache_dir).decode(list(task["prefix_ids"]) + [token]).encode("utf-8")

    @staticmethod
    def _wrong(model_id: str, stage: int, output: bytes) -> bytes:
        """A plausible but wrong answer of the right shape."""
        from ai.models.catalog import MODELS

        if model_id == "gpt_oss_chat":
            return output + b" (or not)"
        if MODELS[model_id].module:
            from ai.models.small import wrong

            return wrong(MODELS[model_id], stage, output)
        if MODELS[model_id].num_stages == 1:
            return bytes([(output[0] + 1) % 10])
        import torch

        from ai.models.tensorio import decode_tensor, encode_tensor

        t = decode_tensor(output)
        if stage == MODELS[model_id].num_stages - 1:
            return encode_tensor((t + 1) % 49152)
        return encode_tensor(t + torch.randn_like(t) * (1 + random.random()))

    async def handle(self, task: dict) -> None:
        if self.behaviour.delay:
            await asyncio.sleep(self.behaviour.delay)
        output, vote = await asyncio.to_thread(self.compute, task)
        signature = self.sign(vote.message_hash, result=True)
        await self.rpc("synergy_submitAIPartialResult", task["task_id"], self.syn, output.hex(), signature)
        if self.behaviour.replay:
            try:
                await self.rpc("synergy_submitAIPartialResult", task["task_id"], self.syn, output.hex(), signature)
                log.error("a replayed submission was accepted: the node should refuse it")
            except RpcFailure as exc:
                log.info("replay refused as expected: %s", exc)
