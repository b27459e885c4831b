"""One quorum computation per distinct chat request: dedupe, idempotency, payment, answers.

The official OpenAI clients retry a POST on 408/409/429/5xx and on a timed-out connection. A
retry must never start (or charge) a second computation, so a request is attached to an
existing job when

- it carries the same ``Idempotency-Key`` (per paying account) — a different body under a used
  key is refused with 400 and ``x-should-retry: false``;
- an identical request (same payer, same body) is still running; or
- an identical request finished less than ``RETRY_WINDOW`` seconds ago and this one says it is a
  retry (the clients' ``x-stainless-retry-count`` header).

Who pays: the account named by the ``X-AIVM-Account`` header or the ``user`` field (when it is an
address the node holds keys for, or impersonates), else dev account 0. The fee (the model's gas
price at ``CHAT_GAS_PRICE_WEI`` per gas) is paid by a real transaction from the payer to the
validators' staking pool once the quorum answered, its data naming the computation; validator
rewards are recorded by the scheduler as for any computation. A failed computation costs nothing.

All state here is touched on the event loop only (no lock); the scheduler has its own lock.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Optional

import orjson
from eth_hash.auto import keccak

from models.catalog import MODELS
from models.errors import InvalidInputError
from models.text_request import cut_at_stop
from app.chat.errors import APIError, invalid, unavailable
from app.chat.request import ChatParams, check_model

log = logging.getLogger("aivm.chat")

CHAT_GAS_PRICE_WEI = 10**9  # 1 gwei per gas of the model's price
RETRY_WINDOW = 600.0
KEY_WINDOW = 24 * 3600.0
MAX_KEYS = 10_000
POLL = 0.01  # seconds between looks at the tokens agreed so far
STAKING_POOL = (0x0122).to_bytes(20, "big")


@dataclass
class Job:
    cid: str
    model: str
    params: ChatParams
    data: bytes  # the computation input (text request bytes, seed drawn)
    fingerprint: bytes
    payer: bytes
    fee: int
    prompt_tokens: int
    created: int
    idempotency_key: Optional[str] = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    finished_at: float = 0.0
    payment_tx: Optional[str] = None
    payment_error: Optional[str] = None
    attached: int = 0  # retries / duplicates served from this job

    @property
    def request(self):
        from models.text_request import TextRequest

        return TextRequest.decode(self.data)


def _fingerprint(payer: bytes, params: ChatParams) -> bytes:
    return keccak(payer + b"/" + params.fingerprint_body)


class ChatJobs:
    def __init__(self, node) -> None:
        self.node = node
        self._keys: collections.OrderedDict[tuple, Job] = collections.OrderedDict()
        self._by_fingerprint: dict[bytes, Job] = {}
        self._starting: dict[bytes, asyncio.Future] = {}
        self.started = 0  # computations started by the API (a retry never adds one)

    @property
    def ai(self):
        service = getattr(self.node, "ai", None)
        if service is None:
            status = getattr(self.node, "ai_status", None)
            if status:
                raise unavailable(f"distributed AI is not ready: {status}", "ai_not_ready", retry=True)
            raise unavailable("distributed AI is disabled on this node ([aivm] enabled = false)", "ai_disabled")
        return service

    def models(self) -> list[str]:
        from app.chat.request import TEXT_MODELS

        return [m for m in TEXT_MODELS if m in self.ai.scheduler.manifests]

    # -- who pays --
    def payer(self, params: ChatParams, headers) -> bytes:
        from vm.addresses import parse_any_address

        named, where = headers.get("X-AIVM-Account"), "X-AIVM-Account"
        if not named and params.user and (params.user.startswith("0x") or params.user.startswith("sYn")):
            named, where = params.user, "user"
        if not named:
            return self.node.chain.accounts[0].address
        try:
            address = parse_any_address(named.strip())
        except ValueError as exc:
            raise invalid(f"{where}: not an account address: {exc}", "user" if where == "user" else None) from None
        chain = self.node.chain
        if not any(a.address == address for a in chain.accounts) and address not in getattr(chain, "_impersonated", ()):
            raise APIError(403, f"account 0x{address.hex()} is not unlocked on this node, so it cannot pay for a "
                                "completion (use a dev account, or impersonate it)", "permission_error",
                           "user" if where == "user" else None, "account_not_unlocked")
        return address

    # -- starting or finding the job --
    async def ready(self):
        """The AI service once usable (a request that arrives while validators join waits, bounded)."""
        from vm.errors import NodeError
        from app.rpc.ai import _ready_ai
        from app.rpc.errors import RpcError

        try:
            return await _ready_ai(self.node)
        except (NodeError, RpcError) as exc:
            raise unavailable(exc.message, "ai_disabled" if "disabled" in exc.message else "ai_not_ready") from None

    async def submit(self, params: ChatParams, headers) -> tuple[Job, bool]:
        """The job answering this request, and whether it already existed (a retry / a duplicate)."""
        service = await self.ready()
        check_model(params.model, service.scheduler.manifests)
        payer = self.payer(params, headers)
        fp = _fingerprint(payer, params)
        now = time.time()
        key = headers.get("Idempotency-Key")
        if key is not None and (not key or len(key) > 255):
            raise invalid("Idempotency-Key must be 1..255 characters", code="invalid_idempotency_key")
        if key:
            self._expire_keys(now)
            job = self._keys.get((payer, key))
            if job is not None:
                if job.fingerprint != fp:
                    raise APIError(400, "this Idempotency-Key was already used with a different request body",
                                   "invalid_request_error", None, "idempotency_key_reused")
                job.attached += 1
                return job, True
        job = self._by_fingerprint.get(fp)
        if job is not None:
            running = not job.done.is_set()
            retry = _retry_count(headers) > 0 and now - job.finished_at < RETRY_WINDOW
            if running or retry:
                job.attached += 1
                if key:
                    self._keys[(payer, key)] = job
                return job, True
        starting = self._starting.get(fp)
        if starting is not None:  # an identical request is being started right now: share it
            job = await asyncio.shield(starting)
            job.attached += 1
            return job, True
        future = asyncio.get_running_loop().create_future()
        self._starting[fp] = future
        try:
            job = await self._start(service, params, payer, fp)
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody shared it
            else:
                future.cancel()
            raise
        finally:
            self._starting.pop(fp, None)
        future.set_result(job)
        job.idempotency_key = key
        if key:
            self._keys[(payer, key)] = job
        return job, False

    def _expire_keys(self, now: float) -> None:
        while self._keys and (len(self._keys) > MAX_KEYS or
                              now - next(iter(self._keys.values())).created > KEY_WINDOW):
            self._keys.popitem(last=False)

    async def _start(self, service, params: ChatParams, payer: bytes, fp: bytes) -> Job:
        request = params.request
        if request.temperature > 0 and request.seed is None:  # drawn here, so the quorum certifies it
            request = replace(request, seed=secrets.randbits(63))
        data = request.encode()
        prompt_tokens = await asyncio.to_thread(self._precheck, service, params.model, data)
        fee = MODELS[params.model].gas_price * CHAT_GAS_PRICE_WEI
        balance = await self.node.run(self.node.chain.balance, payer)
        if balance < fee + 10**15:  # the fee plus room for the payment transaction's gas
            raise APIError(402, f"account 0x{payer.hex()} holds {balance} wei; a {params.model} completion costs "
                                f"{fee} wei plus gas", "insufficient_quota", None, "insufficient_quota")
        from ai.ports import AIError

        try:
            max_tokens = request.max_tokens if MODELS[params.model].generates else None
            comp = await service.call(lambda: service.scheduler.initiate(params.model, data, "0x" + payer.hex(),
                                                                              max_tokens=max_tokens))
        except AIError as exc:
            raise invalid(str(exc)) from None
        self.started += 1
        job = Job(comp.id, params.model, params, data, fp, payer, fee, prompt_tokens, int(time.time()))
        self._by_fingerprint[fp] = job
        asyncio.get_running_loop().create_task(self._follow(job))
        return job

    @staticmethod
    def _precheck(service, model: str, data: bytes) -> int:
        """Refuse what no validator could run (prompt too long, …) with the OpenAI param; prompt tokens."""
        if model != "distributed_ai_model":
            return 0
        from models.text_request import ChatGeneration

        try:
            return len(ChatGeneration(service._codec(), data).prompt_ids)
        except InvalidInputError as exc:
            raise invalid(str(exc), getattr(exc, "param", "messages"), getattr(exc, "code", None)) from None

    async def _follow(self, job: Job) -> None:
        """Wait for the quorum (however many HTTP requests watch), pay once, then release watchers."""
        try:
            scheduler = self.ai.scheduler
            while scheduler.get(job.cid).status in ("Pending", "Running"):
                await asyncio.sleep(POLL)
            if scheduler.get(job.cid).status == "Completed":
                await self._pay(job)
        except Exception:
            log.exception("chat job %s", job.cid)
        finally:
            job.finished_at = time.time()
            job.done.set()
            self._forget_old(job.finished_at)

    async def _pay(self, job: Job) -> None:
        from vm.codec import data as hexdata

        try:
            tx_hash, _ = await self.node.send_unsigned({"sender": job.payer, "to": STAKING_POOL, "value": job.fee,
                                                        "data": b"aivm.chat " + job.cid.encode(), "gas": None})
            job.payment_tx = hexdata(tx_hash)
        except Exception as exc:  # the payer spent its balance meanwhile: the answer stands, on record
            job.payment_error = str(exc)
            log.warning("chat payment for %s failed: %s", job.cid, exc)

    def _forget_old(self, now: float) -> None:
        for fp, job in list(self._by_fingerprint.items()):
            if job.done.is_set() and now - job.finished_at > RETRY_WINDOW:
                del self._by_fingerprint[fp]

    # -- reading a job --
    def computation(self, job: Job):
        return self.ai.scheduler.get(job.cid)

    def tokens_so_far(self, job: Job) -> Optional[list[int]]:
        """The token ids the quorum agreed on so far (text model), or None (answered in one round)."""
        gen = self.computation(job).generation
        if gen is None:
            return None
        return list(gen.generated)

    def decode(self, ids: list[int]) -> str:
        return self.ai._codec().decode(ids)

    def answer(self, job: Job) -> dict:
        """content, finish_reason, tool_calls, usage of a completed job."""
        comp = self.computation(job)
        request = job.request
        if job.model == "gpt_oss_chat":
            out = orjson.loads(comp.result)
            calls = out.get("tool_calls")
            usage = out.get("usage") or {}
            return {"content": out.get("content") or "", "tool_calls": calls,
                    "finish_reason": "tool_calls" if calls else out.get("finish_reason") or "stop",
                    "prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0)}
        text = comp.result.decode("utf-8")
        content, stopped = cut_at_stop(text, request.stop)
        gen = comp.generation
        if gen is not None and getattr(gen, "finish_reason", None):
            completion, reason = len(gen.generated), gen.finish_reason
        else:  # a recorded (cached) answer: counted again from its text
            completion = len(self.ai._codec().tokenizer(text, add_special_tokens=False)["input_ids"])
            reason = "length" if completion >= request.max_tokens and not stopped else "stop"
        return {"content": content, "tool_calls": None, "finish_reason": reason,
                "prompt_tokens": job.prompt_tokens, "completion_tokens": completion}

    def failure(self, job: Job) -> Optional[APIError]:
        comp = self.computation(job)
        if comp.status == "Completed":
            return None
        reason = comp.reason or comp.status
        return APIError(503, f"the validator quorum gave no answer: {reason}", "server_error", None, "quorum_failed",
                        headers={"x-aivm-computation-id": job.cid})

    def proof(self, job: Job) -> dict:
        """The extra ``aivm`` field: what synergy_verifyAIResult and the consensus precompile check."""
        comp = self.computation(job)
        cert = comp.certificate or {}
        vote = cert.get("vote") or {}
        return {"computation_id": job.cid, "certificate": cert.get("encoded"), "signers": cert.get("signers", []),
                "threshold": cert.get("threshold"), "level": cert.get("level"), "set_id": cert.get("set_id"),
                "request_hash": "0x" + keccak(job.data).hex(), "result_hash": vote.get("result_hash"),
                "cached": comp.cached, "seed": job.request.seed, "payer": "0x" + job.payer.hex(),
                "fee_wei": str(job.fee), "payment_tx": job.payment_tx, "verify_with": "synergy_verifyAIResult"}


def _retry_count(headers) -> int:
    try:
        return int(headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        return 0
