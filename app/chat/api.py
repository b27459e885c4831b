"""The OpenAI-compatible API under ``/v1/`` on the node's port: an HTTP layer that only translates.

``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions`` (JSON or server-sent
events). Each answer is a quorum computation (``app.chat.jobs``); the response names it in the
``aivm`` field (computation id, quorum certificate, payment) and in the ``x-aivm-computation-id``
header (plus ``x-aivm-certificate-hash`` = keccak of the certificate when not streaming: the
certificate itself is too large for a header). Streaming sends the tokens as the quorum agrees
them, polled from the computation; the last content chunk carries the ``aivm`` field.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

import orjson
from aiohttp import web
from eth_hash.auto import keccak

from app.chat.errors import APIError, not_found
from app.chat.jobs import POLL, ChatJobs, Job
from app.chat.request import parse_body
from app.rpc.appkeys import NODE
from vm import ai_start

log = logging.getLogger("aivm.chat")

MAX_BODY = 4 * 1024 * 1024


def jobs_of(app: web.Application) -> ChatJobs:
    node = app[NODE]
    jobs = getattr(node, "chat_jobs", None)
    if jobs is None:
        jobs = node.chat_jobs = ChatJobs(node)
    return jobs


def _json(body: dict, status: int = 200, headers: Optional[dict] = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def _guard(handler):
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except APIError as err:
            return err.response()
        except web.HTTPException:
            raise
        except Exception:
            log.exception("chat API: %s %s", request.method, request.path)
            return APIError(500, "internal error in the AIVM chat API (logged on the node)", "server_error",
                            code="internal_error").response()
    return run


@_guard
async def list_models(request: web.Request) -> web.Response:
    jobs = jobs_of(request.app)
    await ai_start.ensure(jobs.node, "GET /v1/models")  # an idle --validators 0 node starts its AI layer
    return _json({"object": "list", "data": [_model(m) for m in jobs.models()]})


@_guard
async def get_model(request: web.Request) -> web.Response:
    jobs = jobs_of(request.app)
    model = request.match_info["model"]
    await ai_start.ensure(jobs.node, "GET /v1/models/{model}")
    if model not in jobs.models():
        raise not_found(f"The model '{model}' does not exist on this node", "model", "model_not_found")
    return _json(_model(model))


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "aivm-validator-quorum"}


@_guard
async def chat_completions(request: web.Request) -> web.StreamResponse:
    jobs = jobs_of(request.app)
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise APIError(413, f"request body too large (max {MAX_BODY} bytes)", code="request_too_large")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise APIError(413, f"request body too large (max {MAX_BODY} bytes)", code="request_too_large") from None
    cfg = getattr(request.app[NODE], "config", None)
    defaults = {"max_tokens": cfg.ai_models.max_tokens, "temperature": cfg.ai_models.temperature} if cfg else {}
    params = parse_body(raw, defaults)
    job, attached = await jobs.submit(params, request.headers)
    headers = {"x-aivm-computation-id": job.cid, "x-request-id": job.cid,
               "x-aivm-deduplicated": "true" if attached else "false"}
    if params.stream:
        return await _stream(request, jobs, job, headers)
    await job.done.wait()
    failure = jobs.failure(job)
    if failure is not None:
        raise failure
    answer = jobs.answer(job)
    proof = jobs.proof(job)
    if proof["certificate"]:
        headers["x-aivm-certificate-hash"] = "0x" + keccak(bytes.fromhex(proof["certificate"][2:])).hex()
    message = {"role": "assistant", "content": answer["content"], "refusal": None, "annotations": []}
    if answer["tool_calls"]:
        message["tool_calls"] = answer["tool_calls"]
    body = {"id": _id(job), "object": "chat.completion", "created": job.created, "model": job.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer["finish_reason"]}],
            "usage": _usage(answer), "system_fingerprint": _fingerprint(job), "service_tier": "default",
            "aivm": proof}
    return _json(body, headers=headers)


def _id(job: Job) -> str:
    return f"chatcmpl-{job.cid}"


def _fingerprint(job: Job) -> str:
    from models.catalog import MODELS

    return f"aivm-{job.model}-v{MODELS[job.model].version}"


def _usage(answer: dict) -> dict:
    p, c = int(answer["prompt_tokens"]), int(answer["completion_tokens"])
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}


class TextStream:
    """Turns the growing decoded text into deltas, never showing text a stop string will cut."""

    def __init__(self, stops) -> None:
        self.stops = tuple(stops)
        self.sent = ""

    def safe(self, text: str) -> str:
        from models.text_request import cut_at_stop

        text, stopped = cut_at_stop(text, self.stops)
        if not stopped:
            hold = 0  # a suffix that may still become a stop string
            for s in self.stops:
                for n in range(min(len(s) - 1, len(text)), 0, -1):
                    if text.endswith(s[:n]):
                        hold = max(hold, n)
                        break
            text = text[: len(text) - hold]
        return text.rstrip("\ufffd")  # an incomplete UTF-8 sequence: wait for its next token

    def delta(self, text: str) -> str:
        text = self.safe(text)
        if not text.startswith(self.sent) or len(text) <= len(self.sent):
            return ""
        out, self.sent = text[len(self.sent):], text
        return out

    def rest(self, final: str) -> str:
        if final.startswith(self.sent):
            out, self.sent = final[len(self.sent):], final
            return out
        return ""  # cannot happen: the final text extends what was agreed token by token


async def _stream(request: web.Request, jobs: ChatJobs, job: Job, headers: dict) -> web.StreamResponse:
    params = job.params
    resp = web.StreamResponse(status=200, headers={**headers, "Content-Type": "text/event-stream; charset=utf-8",
                                                   "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    base = {"id": _id(job), "object": "chat.completion.chunk", "created": job.created, "model": job.model,
            "system_fingerprint": _fingerprint(job), "service_tier": "default"}

    async def send(choices: list, **extra) -> None:
        chunk = {**base, "choices": choices, **extra}
        if params.include_usage and "usage" not in extra:
            chunk["usage"] = None
        await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

    def choice(delta: dict, finish: Optional[str] = None) -> list:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    try:
        await send(choice({"role": "assistant", "content": "", "refusal": None}))
        text = TextStream(job.request.stop)
        seen = 0
        while not job.done.is_set():
            ids = jobs.tokens_so_far(job)
            if ids is not None and len(ids) != seen:
                seen = len(ids)
                piece = text.delta(jobs.decode(ids))
                if piece:
                    await send(choice({"content": piece}))
            try:
                await asyncio.wait_for(job.done.wait(), POLL)
            except asyncio.TimeoutError:
                pass
        failure = jobs.failure(job)
        if failure is not None:
            await resp.write(b"data: " + orjson.dumps(failure.body()) + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            return resp
        answer = jobs.answer(job)
        rest = text.rest(answer["content"])
        if rest:
            await send(choice({"content": rest}))
        if answer["tool_calls"]:
            calls = [{"index": i, **c} for i, c in enumerate(answer["tool_calls"])]
            await send(choice({"tool_calls": calls}))
        await send(choice({}, answer["finish_reason"]), aivm=jobs.proof(job))
        if params.include_usage:
            await send([], usage=_usage(answer))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        # the client went away: the computation goes on (and is paid once); a retry attaches to it
        log.info("chat stream for %s closed by the client", job.cid)
        raise
    return resp


@_guard
async def unknown(request: web.Request) -> web.Response:
    raise not_found(f"Invalid URL ({request.method} {request.path}): the AIVM chat API serves GET /v1/models and "
                    "POST /v1/chat/completions", code="unknown_url")


def add_routes(app: web.Application) -> None:
    """The server's hook (``[aivm] enable_ai_chat``)."""
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_route("*", "/v1/{tail:.*}", unknown)
