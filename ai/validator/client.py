"""A validator: registers, attests, heartbeats, runs tasks with real models, signs results.

It talks to the node over JSON-RPC only (any machine that reaches the node):
tasks arrive on a WebSocket subscription (`synergy_aiTasks`), with polling of
`synergy_getValidatorAITasks` as a fallback, and results go back on that same
WebSocket (`synergy_submitAIPartialResult`, HTTP when it is down) signed by the
validator's registered PQC keys. On the socket both ways travel binary frames
(`ai.wire`: the same JSON-RPC messages, hidden states and signatures as raw
bytes instead of hex; `AIVM_WIRE_BINARY=0` keeps JSON text).

Text computations (`ai.scheduler.text_rounds`): a *propose* task starts a
decoding thread over the stages it names (KV caches; outputs relayed, signed,
with `synergy_relayAIState`; a remote stage's outputs arrive as *relay*
messages on the task feed); *verify* tasks check one chunk of one stage in a
single forward pass on top of a per-(computation, stage) cache of the agreed
positions. Proposals and verification run on separate threads.

`Behaviour` exists for fault testing (lie, forge, replay, stall, crash): the
honest path is the default and the others are opt-in from the command line.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import gc
import logging
import os
import platform
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp
import orjson

from ai import protocol, wire
from ai.validator import priority
from ai.protocol import ACCEPT, REJECT, TaskRef, TaskVote, task_vote
from pqc import bundle
from pqc.keys import KeySet
from vm.addresses import to_syn
from vm.version import RELEASE

log = logging.getLogger("aivm.validator")

VERSION = f"aivm-validator/{RELEASE}"
HEARTBEAT_EVERY = 1.0
POLL_EVERY = 2.0
PROPOSAL_IDLE = 120.0  # a proposal thread waiting this long for its input gives up
VERIFY_CACHES = 24  # (computation, stage) KV caches a verifier keeps
UPSTREAM_KEPT = 256  # upstream proposals kept for later stages' input_ref (parked chunks refer to theirs)
WS_CALL_TIMEOUT = 60.0
RECONNECT_EVERY = 1.0  # seconds between tries while the node is unreachable
WATCHDOG_EVERY = 0.5
# binary WebSocket frames (ai/wire.py: hidden states and signatures as raw bytes, not hex); "0": JSON text only
BINARY_FRAMES = os.environ.get("AIVM_WIRE_BINARY", "1") != "0"


@dataclass
class Behaviour:
    """How this validator misbehaves, for fault tests (honest by default)."""

    lie: bool = False  # compute, then sign a wrong answer
    lie_from: int = -1  # text proposer: honest tokens before this generated index, wrong ones from it on
    lazy: bool = False  # text verifier: accept every proposal without running the model
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
            if name in ("lie", "forge", "replay", "lazy"):
                setattr(b, name, True)
            elif name == "lie-from":
                b.lie_from = int(value)
            elif name == "delay":
                b.delay = float(value)
            elif name == "crash-after":
                b.crash_after = int(value)
            else:
                raise ValueError(f"unknown behaviour {name!r} (honest, lie, lie-from=N, lazy, forge, replay, delay=S, "
                                 f"crash-after=N)")
        return b


class RpcFailure(Exception):
    pass


class Validator:
    def __init__(self, rpc_url: str, keys: KeySet, stake: int, holds: list[tuple[str, int]],
                 cache_dir=None, behaviour: Optional[Behaviour] = None, endpoint: Any = None,
                 parent_pid: Optional[int] = None, decode_threads: int = priority.DECODE_THREADS,
                 defer_checks: Optional[float] = None) -> None:
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
        self._ws = None
        self._ws_pending: dict[int, asyncio.Future] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._inboxes: dict[str, queue.Queue] = {}  # propose task id -> inputs for its decoding thread
        self._records: dict[tuple, dict] = {}  # (computation, epoch, stage) -> what this proposer made
        self._caches: collections.OrderedDict = collections.OrderedDict()  # (computation, stage) -> StageCache
        self._relays: Optional[asyncio.Queue] = None
        self._closed: set[str] = set()
        self._upstream: collections.OrderedDict = collections.OrderedDict()  # proposals checked, for input_ref
        self._submitting: set = set()  # results sent, their replies not yet in
        self._checking: Optional[dict] = None  # the verify task being computed (event loop only)
        # text verdicts are computed on one thread of lower priority than the proposals' decoding threads, and
        # yield to other validators' decoding while their proposal is not complete (ai/validator/priority.py)
        self.priority = priority.Priority(decode_threads=decode_threads)
        self._checker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verify",
                                                              initializer=priority.checking_thread)
        # seconds a check of a greedy proposal still being decoded waits for its later chunks, to check them in one
        # pass (`_parks`); by default only a local validator's, which shares the node's cores with the proposer
        self.defer_checks = (priority.DEFER_CHECKS if parent_pid is not None else 0.0) if defer_checks is None \
            else defer_checks
        self._parked: dict[tuple, list] = {}  # (computation, epoch, stage) -> verify tasks waiting (event loop only)

    # -- rpc --
    async def rpc(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        async with self._session.post(self.rpc_url, data=orjson.dumps(wire.jsonable(body)),
                                      headers={"Content-Type": "application/json"}) as resp:
            reply = orjson.loads(await resp.read())
        if "error" in reply:
            raise RpcFailure(f"{method}: {reply['error']['message']}")
        return reply["result"]

    async def call(self, method: str, *params: Any) -> Any:
        """JSON-RPC on the task WebSocket when it is up (no new HTTP request per result), else HTTP."""
        ws = self._ws
        if ws is None or ws.closed:
            return await self.rpc(method, *params)
        self._id += 1
        rid = self._id
        fut = self._loop.create_future()
        self._ws_pending[rid] = fut
        try:
            msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}
            await ws.send_bytes((BINARY_FRAMES and wire.encode(msg)) or orjson.dumps(wire.jsonable(msg)))  # raw bytes
            reply = await asyncio.wait_for(fut, WS_CALL_TIMEOUT)
        finally:
            self._ws_pending.pop(rid, None)
        if "error" in reply:
            raise RpcFailure(f"{method}: {reply['error']['message']}")
        return reply["result"]

    async def notify(self, method: str, *params: Any) -> bool:
        """A JSON-RPC notification on the task WebSocket: nothing is owed back when it succeeds, and a
        refusal comes back as an error frame with a null id (app/rpc/dispatch.py answers a failed
        notification), which `_subscription` logs. False when the socket is down (then use `call`)."""
        ws = self._ws
        if ws is None or ws.closed:
            return False
        msg = {"jsonrpc": "2.0", "method": method, "params": list(params)}
        await ws.send_bytes((BINARY_FRAMES and wire.encode(msg)) or orjson.dumps(wire.jsonable(msg)))
        return True

    def sign(self, message_hash: bytes, result: bool = False) -> str:
        """Sign with the registered keys (a forging validator signs results with unregistered ones)."""
        return "0x" + self.sign_bytes(message_hash, result).hex()

    def sign_bytes(self, message_hash: bytes, result: bool = False) -> bytes:
        """`sign`, as the bundle's bytes (a binary frame carries them as they are: no hex round trip)."""
        keys = self._forger if result and self._forger else self.keys
        return bundle.sign(keys, message_hash).encode()

    # -- start-up --
    def load_models(self) -> None:
        """Load and verify every shard this validator holds (a tampered file stops start-up)."""
        from models.catalog import MODELS

        priority.spin_less_when_handing_off(self.holds, MODELS)  # before torch loads
        import torch

        from models import load_model

        torch.set_num_threads(1)
        for model_id, stage in self.holds:
            if model_id == "gpt_oss_chat":
                if self.endpoint is None:
                    raise ValueError("gpt_oss_chat is served from an endpoint: pass --endpoint")
                self._runners[(model_id, stage)] = self.endpoint
            else:
                self._runners[(model_id, stage)] = load_model(model_id, self.cache_dir, stage=stage)
        if any(model_id in MODELS and MODELS[model_id].generates for model_id, _ in self.holds):
            from models import prompt_codec

            prompt_codec(self.cache_dir)  # the tokenizer now (≈1 s), not inside a first proposal's or verdict's time

    def attestation(self) -> dict:
        from models import get_manifest

        from models.openai_endpoint import list_endpoint_models

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
        self._loop = asyncio.get_running_loop()
        self._relays = asyncio.Queue()
        async with aiohttp.ClientSession(timeout=timeout) as self._session:
            watchdog = asyncio.create_task(self._watchdog())
            await asyncio.to_thread(self.load_models)
            gc.collect()  # torch and the shards loaded: their objects out of the cyclic collector's walks
            gc.freeze()  # (app/cli.py `_freeze_heap`: a full walk of that heap takes 100 ms and more)
            await self._join_when_reachable()
            if getattr(self, "bridge_state", None):  # bridge attester (bridge/attester.py), opt-in
                from bridge.attester import start_in_validator

                start_in_validator(self.rpc_url, self.keys, self.bridge_state)
            loops = [self._heartbeats(), self._subscription(), self._polling(), self._worker(), watchdog,
                     self._relay_sender()]
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
                async with self._session.ws_connect(self.ws_url, heartbeat=20, max_msg_size=0) as ws:
                    # a binary frame (ai/wire.py): the node then sends this feed's tasks as binary frames too
                    sub = {"jsonrpc": "2.0", "id": 0, "method": "eth_subscribe", "params": ["synergy_aiTasks", self.syn]}
                    await ws.send_bytes(wire.encode(sub, always=True) if BINARY_FRAMES else orjson.dumps(sub))
                    self._ws = ws
                    async for msg in ws:
                        data = wire.loads(msg.data)
                        if data.get("method") == "eth_subscription":
                            self._offer(data["params"]["result"])
                        elif data.get("id") in self._ws_pending:
                            fut = self._ws_pending.pop(data["id"])
                            if not fut.done():
                                fut.set_result(data)
                        elif data.get("id") is None and isinstance(data.get("error"), dict):  # a notification refused
                            log.info("refused: %s", data["error"].get("message"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.debug("task subscription dropped: %s", exc)
            finally:
                self._ws = None
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
        kind = task.get("kind")
        if kind == "relay":  # the input of a proposal running here: straight to its thread
            inbox = self._inboxes.get(task.get("task_id"))
            if inbox is not None:
                inbox.put(task)
            return
        if kind == "close":  # decided without this task: skip it if it has not started
            self._closed.add(task.get("task_id"))
            return
        if kind == "end":
            inbox = self._inboxes.pop(task.get("task_id"), None)
            if inbox is not None:
                inbox.put(None)
            for key in [k for k in self._records if k[:2] == (task.get("computation_id"), task.get("epoch"))]:
                del self._records[key]
            if task.get("final"):
                for key in [k for k in self._caches if k[0] == task.get("computation_id")]:
                    del self._caches[key]
                for key in [k for k in self._parked if k[0] == task.get("computation_id")]:
                    del self._parked[key]
            return
        if kind == "proposal_done":  # the node's word that the answer now waits on the checks parked here
            for key in [k for k in self._parked if k[:2] == (task.get("computation_id"), task.get("epoch"))]:
                self._release(key)
            return
        if task.get("task_id") in self._seen:
            return
        if kind == "propose":
            self._seen.add(task["task_id"])
            inbox = self._inboxes[task["task_id"]] = queue.Queue()
            threading.Thread(target=self._propose_thread, args=(task, inbox), daemon=True,
                             name=f"propose-{task['task_id'][-12:]}").start()
            return
        if "input" not in task and "input_ref" not in task and not task.get("self_check"):
            return
        self._seen.add(task["task_id"])
        if kind == "verify" and self._checking is not None and self._behind(self._checking, task):
            self.priority.hurry()  # the check under way fell behind: it stops yielding the CPU
        if kind == "verify" and "proposal" in task:  # kept on arrival: the next stage's task may refer to it
            self._upstream[(task["computation_id"], task["epoch"], task["chunk"], task["stage"])] = task["proposal"]
            while len(self._upstream) > UPSTREAM_KEPT:
                self._upstream.popitem(last=False)
        self._queue.put_nowait(task)
        if kind == "verify" and task.get("proposal_done"):  # the answer waits on the checks now: none stays parked
            for key in [k for k in self._parked if k[0] == task.get("computation_id")]:
                self._release(key)

    async def _worker(self) -> None:
        while True:
            task = await self._queue.get()
            if task.get("kind") == "parked":  # a parked batch's time is up (or its proposal is complete)
                batch = self._batch(None, task["key"])
                if all(t["task_id"] in self._closed for t in batch):  # decided without this validator: spare the CPU
                    self._closed.difference_update(t["task_id"] for t in batch)
                    continue
                task = batch[0]
            elif self.skips(task, self._queue._queue) or self._parks(task):
                continue
            else:
                batch = self._batch(task, self._batch_key(task)) if self._batchable(task) else [task]
            try:
                await self.handle(task, batch)
            except (RpcFailure, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.warning("task %s: %s", task["task_id"], exc)
            except Exception:
                log.exception("task %s failed", task["task_id"])
            self.tasks_done += len(batch)
            if self.behaviour.crash_after and self.tasks_done >= self.behaviour.crash_after:
                log.error("crash-after=%d reached: exiting", self.behaviour.crash_after)
                os._exit(3)

    @staticmethod
    def _batchable(task: dict) -> bool:
        """A verifier's check of a greedy proposal's chunk: it may wait and be checked with its neighbours
        (a sampled answer's exact check follows the proposer's path one chunk at a time)."""
        return (task.get("kind") == "verify" and not task.get("self_check")
                and (task.get("rule") or {}).get("name", "greedy") == "greedy")

    @staticmethod
    def _batch_key(task: dict) -> tuple:
        return task.get("computation_id"), task.get("epoch"), task.get("stage")

    def _complete(self, cid) -> bool:
        """A task saying the proposal of computation `cid` is complete is queued."""
        return any(t.get("computation_id") == cid and t.get("proposal_done") for t in self._queue._queue)

    def _parks(self, task: dict) -> bool:
        """Park a check of a proposal still being decoded, for at most ``defer_checks`` seconds from the first
        one parked: on cores shared with the proposer, checking every chunk as it comes takes the CPU (and
        memory bandwidth) decoding needs, while one pass over several chunks costs about what one chunk's does."""
        if (self.defer_checks <= 0 or not self._batchable(task) or task.get("proposal_done")
                or self.behaviour.lazy or self.behaviour.lie or self._complete(task.get("computation_id"))):
            return False
        key = self._batch_key(task)
        parked = self._parked.setdefault(key, [])
        if not parked:
            asyncio.get_running_loop().call_later(self.defer_checks, self._release, key)
        parked.append(task)
        return True

    def _release(self, key: tuple) -> None:
        if self._parked.get(key):
            self._queue.put_nowait({"kind": "parked", "key": key})

    def _batch(self, task: Optional[dict], key: tuple) -> list:
        """`task` (None: a release) with the parked and queued checks of the same proposal and stage, taken
        out of the queue: the run of consecutive chunks from the first; any others go back to the queue's front."""
        queued = self._queue._queue
        more = [t for t in queued if self._batchable(t) and self._batch_key(t) == key]
        for t in more:
            queued.remove(t)
        tasks = sorted([*self._parked.pop(key, []), *([task] if task else []), *more], key=lambda t: t["chunk"])
        run = tasks[:1]
        while len(run) < len(tasks) and tasks[len(run)]["chunk"] == run[-1]["chunk"] + 1:
            run.append(tasks[len(run)])
        for t in reversed(tasks[len(run):]):
            queued.appendleft(t)
        return run

    def skips(self, task: dict, queued) -> bool:
        """A task decided without this validator (closed) that nothing queued builds on (its chunk's cache)."""
        if task["task_id"] not in self._closed:
            return False
        self._closed.discard(task["task_id"])
        key = (task.get("computation_id"), task.get("stage"))
        return not any((t.get("computation_id"), t.get("stage")) == key for t in queued)

    def compute(self, task: dict) -> tuple[bytes, TaskVote]:
        """Run the task's model stage and build the vote an honest validator signs."""
        if task.get("kind") == "verify":
            return self.verify(task)
        model_id, stage = task["model_id"], task["stage"]
        runner = self._runners[(model_id, stage)]
        data = bytes.fromhex(task["input"])
        if "sampling" in task:  # chat (issue 16): temperature > 0, the quorum's sampling rule
            from models.sampling import Sampling, run_last_stage

            output = run_last_stage(runner, data, Sampling.from_json(task["sampling"]), len(task["prefix_ids"]))
        else:
            output = runner.infer(data)
        if self.behaviour.lie:
            output = self._wrong(model_id, stage, output)
        return output, task_vote(TaskRef.from_task(self.chain_id, task), data, output)  # the node rebuilds this

    # -- text: verify chunks of one stage --
    def verify(self, task: dict) -> tuple[bytes, TaskVote]:
        return self.verify_batch([task])[0]

    def _stage_input(self, task: dict):
        """The task's stage input as sent: (the position it starts at, tensor [1, T, ...])."""
        from models.tensorio import decode_tensor

        if "input_ref" in task:  # the proposal this validator got for the stage before
            data = self._upstream.get((task["computation_id"], task["epoch"], task["chunk"], task["stage"] - 1))
            if data is None:
                raise RpcFailure(f"{task['task_id']}: no upstream proposal here to take the input from")
            data = bytes.fromhex(data)
        else:
            data = bytes.fromhex(task["input"])
        return task["input_from"], decode_tensor(data)

    def verify_batch(self, tasks: list) -> list[tuple[bytes, TaskVote]]:
        """Verdicts on consecutive chunks of one stage of one proposal, checked in a single forward pass
        (``models.decoding.verify_chunks``: a verdict per chunk, each as if checked alone)."""
        import torch

        from models.decoding import token_rule, verify_chunk, verify_chunks
        from models.pipeline import StageCache
        from models.tensorio import decode_tensor, encode_tensor

        first = tasks[0]
        if first.get("self_check"):
            ok, stage_input, proposal = self._self_check(first)
            return [((b"\x01" if ok else b"\x00"), self._verdict_vote(first, proposal, stage_input, ok))]
        model_id, stage, cid, start = first["model_id"], first["stage"], first["computation_id"], first["start"]
        inputs = [self._stage_input(t) for t in tasks]
        proposals = [bytes.fromhex(t["proposal"]) for t in tasks]
        # each chunk's own stage input (positions start..end): what its vote names
        own = [encode_tensor(x[:, t["start"] - frm:].contiguous()) for t, (frm, x) in zip(tasks, inputs)]
        if self.behaviour.lazy:  # signs accept without checking (a canary catches it)
            return [(b"\x01", self._verdict_vote(t, p, i, True)) for t, p, i in zip(tasks, proposals, own)]
        key = (cid, stage)
        cache = self._caches.pop(key, None) or StageCache()
        cache.truncate(start)  # positions past the chunk's start were proposed again
        frm, x = inputs[0]
        if cache.length < frm:
            if frm:  # the cache stays as it is: a later task (a re-proposal's) may still build on it
                self._caches[key] = cache
                raise RpcFailure(f"no cache of {cid} stage {stage} up to position {frm}: cannot verify")
            cache = StageCache()
        self._caches[key] = cache
        while len(self._caches) > VERIFY_CACHES:
            self._caches.popitem(last=False)
        # the first chunk's input from where the cache ends, then each later chunk's own positions
        x = torch.cat([x[:, cache.length - frm:], *(xi[:, t["start"] - fi:] for t, (fi, xi) in zip(tasks[1:], inputs[1:]))],
                      dim=1)
        runner, rule = self._runners[(model_id, stage)], token_rule(first.get("rule"))
        if len(tasks) == 1:
            verdicts = [verify_chunk(runner, cache, x, start, decode_tensor(proposals[0]), rule, first["prompt_len"])]
        else:
            chunks = [(t["start"], t["end"], decode_tensor(p)) for t, p in zip(tasks, proposals)]
            verdicts = verify_chunks(runner, cache, x, chunks, rule, first["prompt_len"])
        results = []
        for t, p, i, (ok, why) in zip(tasks, proposals, own, verdicts):
            if not ok:
                log.warning("rejecting %s stage %d chunk %d: %s", cid, stage, t["chunk"], why)
            if self.behaviour.lie:
                ok = not ok
            results.append(((b"\x01" if ok else b"\x00"), self._verdict_vote(t, p, i, ok)))
        return results

    def _verdict_vote(self, task: dict, proposal: bytes, stage_input: bytes, ok: bool) -> TaskVote:
        from models import prompt_codec
        from models.catalog import MODELS

        final = task["stage"] == MODELS[task["model_id"]].num_stages - 1  # only the last stage's vote names the text
        return task_vote(TaskRef.from_task(self.chain_id, task), stage_input, ACCEPT if ok else REJECT,
                         proposal=proposal, codec=prompt_codec(self.cache_dir) if final else None)

    def _self_check(self, task: dict) -> tuple[bool, bytes, bytes]:
        """The proposer's own vote on what it relayed, from its record: (ok, stage input, proposal)."""
        import torch

        from models.tensorio import decode_tensor, encode_tensor

        rec = self._records.get((task["computation_id"], task["epoch"], task["stage"]))
        if rec is None:
            raise RpcFailure(f"no record of proposing {task['computation_id']} stage {task['stage']}")
        start, end = task["start"], task["end"]
        inputs = torch.cat(rec["inputs"], dim=1)[:, start:end]
        if "tokens" in rec:
            proposal = bytes.fromhex(task["proposal"])
            first, tokens = rec["first_token"], [int(t) for t in decode_tensor(proposal)]
            ok = tokens[first:] == rec["tokens"][: max(0, task["tokens_end"] - first)]
        else:
            outputs = torch.cat(rec["outputs"], dim=1)
            ok = outputs.shape[1] >= end
            proposal = encode_tensor(outputs[:, start:end].contiguous())
        return ok, encode_tensor(inputs.contiguous()), proposal

    # -- text: propose --
    def _propose_thread(self, task: dict, inbox: queue.Queue) -> None:
        try:
            with self.priority.proposing():
                self._propose(task, inbox)
        except Exception:
            log.exception("proposal %s failed", task["task_id"])
        finally:
            self._inboxes.pop(task["task_id"], None)

    def _propose(self, task: dict, inbox: queue.Queue) -> None:
        import torch

        from models.catalog import MODELS
        from models.decoding import Limits, StageProposer, token_rule
        from models.tensorio import decode_tensor

        model_id, first, last = task["model_id"], task["first_stage"], task["last_stage"]
        cid, epoch, tid = task["computation_id"], task["epoch"], task["task_id"]
        n_stages = MODELS[model_id].num_stages
        prop = StageProposer([self._runners[(model_id, k)] for k in range(first, last + 1)], token_rule(task["rule"]))
        from models import prompt_codec

        limits, chunk = Limits.from_json(task["limits"], prompt_codec(self.cache_dir).decode), task["chunk_tokens"]
        loop = first == 0 and last == n_stages - 1  # every stage here: relay at chunk ends only
        recs = {k: {"inputs": [], "outputs": []} for k in range(first, last + 1)}
        for k in recs:
            self._records[(cid, epoch, k)] = recs[k]
        if last == n_stages - 1:
            recs[last].update(tokens=[], first_token=task["agreed"])
        tokens: list = [None] * task["agreed"]  # the generated tokens (agreed ones unknown unless stage 0 is here)
        if first == 0:
            tokens = list(task["ids"][task["prompt_len"]:])
        pending: dict[int, list] = {k: [] for k in recs}  # (start, tensor) not relayed yet
        steps = (model_id, first, last)  # the kind of decoding step this proposal times

        def flush() -> None:
            for k, items in pending.items():
                if items:
                    data = torch.cat([t for _, t in items], dim=1 if k < n_stages - 1 else 0)
                    self._send_relay(tid, cid, k, items[0][0], data)
                    items.clear()

        def next_input():
            try:
                msg = inbox.get(timeout=PROPOSAL_IDLE)
            except queue.Empty:
                log.warning("proposal %s: no input for %.0f s, giving up", tid, PROPOSAL_IDLE)
                return None
            return None if msg is None else decode_tensor(bytes.fromhex(msg["data"]))

        replay: list = []  # agreed tokens fed one at a time before decoding on
        if first == 0:
            ids = task["ids"]
            if not getattr(prop.rule, "near_tie", True) and task["agreed"]:
                # a sampled answer proposed again: the verifiers' exact check (and their caches) follow the
                # first proposer's path, the prompt in one pass then one position at a time; a batched
                # prefill of prompt + agreed tokens differs in the low bits and would change sampled tokens
                replay, ids = list(ids[task["prompt_len"]:]), ids[:task["prompt_len"]]
            x = torch.tensor([ids], dtype=torch.int64)
        else:
            x = next_input()
        pos = 0
        while x is not None:
            if first == 0 and x.dim() == 1:  # new tokens from the last stage's proposer
                tokens += [int(t) for t in x]
                if limits.done(tokens):
                    break
                x = x.reshape(1, -1)
            # a greedy decoding step is timed, to choose its thread count, and a greedy prefill runs on the chosen
            # count too (untimed: it is not a step); a sampled answer stays on one thread, as its verifiers' exact
            # check runs (bit-identical across counts here, not relied on)
            greedy = getattr(prop.rule, "near_tie", True)
            step = x.shape[1] == 1 and greedy
            threads = self.priority.proposal_threads(steps) if greedy else 1
            priority.use_torch_threads(threads)
            began = time.perf_counter()
            outs = prop.feed(x, len(tokens))
            if step:
                self.priority.decode.record(steps, threads, time.perf_counter() - began)
            stage_in = x
            for k, out in zip(recs, outs):
                recs[k]["inputs"].append(stage_in)
                if k < n_stages - 1:
                    if self.behaviour.lie and k == last and pos >= task["prompt_len"]:  # a wrong hidden state
                        out = out + torch.randn_like(out) * out.pow(2).mean().sqrt()
                    recs[k]["outputs"].append(out)
                    pending[k].append((pos, out))
                    stage_in = out
                else:
                    index = pos + x.shape[1] - task["prompt_len"]  # the generated token these logits give
                    if index < len(tokens):  # a replayed position: its token is agreed already
                        continue
                    token = out
                    if self.behaviour.lie or 0 <= self.behaviour.lie_from <= index:  # a wrong token (fed back)
                        token = (out + 1) % 49152
                    recs[k]["tokens"].append(int(token[0]))
                    pending[k].append((index, token))
                    tokens.append(int(token[0]))
            pos += x.shape[1]
            done = last == n_stages - 1 and limits.done(tokens)
            boundary = last == n_stages - 1 and not replay and (len(tokens) % chunk == 0 or done)
            if not loop or boundary:
                flush()
            if done:
                break
            if replay:
                x = torch.tensor([[replay.pop(0)]], dtype=torch.int64)
            elif loop:
                x = torch.tensor([[tokens[-1]]], dtype=torch.int64)
            else:
                x = next_input()
        flush()
        log.debug("proposal %s: decoding step seconds by torch thread count %s", tid, self.priority.decode.averages(steps))

    def _send_relay(self, tid: str, cid: str, stage: int, start: int, data) -> None:
        raw, sig = self.signed_relay(cid, stage, start, data)
        self._loop.call_soon_threadsafe(self._relays.put_nowait, (tid, stage, start, raw.hex(), sig))

    def signed_relay(self, cid: str, stage: int, start: int, data) -> tuple[bytes, str]:
        """A proposer's stage output as the node takes it: AIVT bytes and their signature (hex)."""
        from models.tensorio import encode_tensor

        raw = encode_tensor(data.contiguous())
        return raw, self.sign(protocol.relay_message(self.chain_id, cid, stage, start, raw))

    async def _relay_sender(self) -> None:
        """Relays leave in the order they were made (the node refuses gaps), without waiting for replies."""
        async def reply(call, what):
            try:
                await call
            except (RpcFailure, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.warning("relay %s: %s", what, exc)

        while True:
            tid, stage, start, data, sig = await self._relays.get()
            call = asyncio.ensure_future(self.call("synergy_relayAIState", tid, self.syn, stage, start, data, sig))
            await asyncio.sleep(0)  # let it send before the next one is taken
            asyncio.ensure_future(reply(call, f"{tid} stage {stage} at {start}"))

    @staticmethod
    def _wrong(model_id: str, stage: int, output: bytes) -> bytes:
        """A plausible but wrong answer of the right shape."""
        from models.catalog import MODELS

        if model_id == "gpt_oss_chat":
            return output + b" (or not)"
        if MODELS[model_id].module:
            from models.small import wrong

            return wrong(MODELS[model_id], stage, output)
        if MODELS[model_id].num_stages == 1:
            return bytes([(output[0] + 1) % 10])
        import torch

        from models.tensorio import decode_tensor, encode_tensor

        t = decode_tensor(output)
        if stage == MODELS[model_id].num_stages - 1:
            return encode_tensor((t + 1) % 49152)
        return encode_tensor(t + torch.randn_like(t) * (1 + random.random()))

    async def _submit(self, call, task_id: str) -> None:
        try:
            await call
        except RpcFailure as exc:  # late (decided without us) or refused: the node says why
            log.info("task %s: %s", task_id, exc)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("task %s: %s", task_id, exc)
        finally:
            self._submitting.discard(asyncio.current_task())

    def _compute_signed(self, task: dict) -> tuple[bytes, bytes]:
        """The result and its signature (bytes: a binary frame carries them raw, JSON as 0x-hex). On a worker
        thread (the C code releases the GIL, so the loop keeps moving frames meanwhile), except for a
        small model's task (`_light`)."""
        priority.use_torch_threads(1)  # a pool thread first used during a proposal would inherit its count
        return self._signed([self.compute(task)])[0]

    def _signed(self, results: list) -> list[tuple[bytes, bytes]]:
        """(output, vote) pairs -> (output, the vote's signature)."""
        return [(output, self.sign_bytes(vote.message_hash, result=True)) for output, vote in results]

    @staticmethod
    def _light(task: dict) -> bool:
        """A task of a small single-stage model run here (digits_cnn, the models of models/small.py):
        sub-millisecond model, one ML-DSA signature. Text, sampled and endpoint-served tasks go to a thread."""
        from models.catalog import ENDPOINT_MODELS, MODELS

        info = MODELS.get(task.get("model_id"))
        return (info is not None and info.num_stages == 1 and not info.generates and info.model_id not in ENDPOINT_MODELS
                and task.get("kind") is None and "sampling" not in task)

    @staticmethod
    def _behind(task: dict, other: dict) -> bool:
        """`other` (queued) makes checking `task` urgent: its proposal is complete, or it is of a later chunk."""
        return other.get("computation_id") == task.get("computation_id") and (
            bool(other.get("proposal_done")) or other.get("chunk", 0) > task.get("chunk", 0))

    def _hurry_if(self, task: dict) -> None:
        if self._checking is task:
            self.priority.hurry()

    def _checked_signed(self, tasks: list, urgent: bool) -> list[tuple[bytes, bytes]]:
        with self.priority.checking(urgent):  # on the `verify` thread: torch on one thread (`checking_thread`)
            return [self._compute_signed(tasks[0])] if len(tasks) == 1 else self._signed(self.verify_batch(tasks))

    async def handle(self, task: dict, batch: Optional[list] = None) -> None:
        """Compute `task` (with `batch`: the consecutive chunks checked with it, `task` first), sign, submit."""
        batch = batch or [task]
        if self.behaviour.delay:
            await asyncio.sleep(self.behaviour.delay)
        if self._light(task):  # on the loop: a thread hop (futex wake, self-pipe write, 2 switches) costs more
            results = [self._compute_signed(task)]
        else:
            timer = None
            if task.get("kind") == "verify" and not task.get("self_check"):  # a proposer's own vote: cheap, not here
                # urgent once its proposal is complete, or when this validator fell a chunk behind (it then competes
                # for the CPU as usual: on a loaded machine, yielding would only pile the checks up for the end);
                # a parked batch: once its proposal is complete (it was parked while later chunks came)
                if len(batch) > 1:
                    urgent = any(t.get("proposal_done") for t in batch) or self._complete(task.get("computation_id"))
                else:
                    urgent = any(self._behind(task, t) for t in (task, *self._queue._queue))
                run, pool = functools.partial(self._checked_signed, batch, urgent), self._checker
                self._checking = batch[-1]
                if not urgent:  # it yields for a bounded time only (on a machine loaded by others it would crawl)
                    timer = asyncio.get_running_loop().call_later(priority.YIELD_AT_MOST, self._hurry_if, batch[-1])
            else:
                run, pool = (lambda: [self._compute_signed(task)]), None  # None: the loop's default threads
            try:
                results = await asyncio.get_running_loop().run_in_executor(pool, run)
            finally:
                self._checking = None
                if timer is not None:
                    timer.cancel()
        for one, (output, signature) in zip(batch, results):
            await self._send_result(one, output, signature)

    async def _send_result(self, task: dict, output: bytes, signature: bytes) -> None:
        params = (task["task_id"], self.syn, output, signature)
        if not (self.behaviour.replay or self.behaviour.crash_after):
            # pipelined: the next task runs while the node checks this one (a refusal is logged); on the
            # socket as a notification: no reply frame (nor its wake-up) per result, a refusal still comes back
            if not await self.notify("synergy_submitAIPartialResult", *params):
                self._submitting.add(asyncio.ensure_future(self._submit(self.call("synergy_submitAIPartialResult",
                                                                                  *params), task["task_id"])))
            return
        await self.call("synergy_submitAIPartialResult", *params)
        if self.behaviour.replay:
            try:
                await self.call("synergy_submitAIPartialResult", task["task_id"], self.syn, output, signature)
                log.error("a replayed submission was accepted: the node should refuse it")
            except RpcFailure as exc:
                log.info("replay refused as expected: %s", exc)
