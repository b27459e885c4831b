"""An OpenAI ``/v1/chat/completions`` body -> ``ChatParams``: the text request plus the API's own options.

Everything a caller can get wrong is refused here with the OpenAI parameter it concerns, before
any computation starts. Parameters OpenAI defines that do not change what the quorum computes
(``frequency_penalty = 0``, ``metadata``, ``store``, …) are accepted; ones we cannot honour
(``n > 1``, ``logprobs``, non-zero penalties, ``logit_bias``) are refused rather than ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import orjson

from models.errors import InvalidInputError
from models.text_request import HARD_MAX_TOKENS, TextRequest
from app.chat.errors import APIError, invalid

TEXT_MODELS = ("distributed_ai_model", "gpt_oss_chat")
TOOL_MODELS = ("gpt_oss_chat",)  # endpoint-served: the server's model does the tool calling


@dataclass(frozen=True)
class ChatParams:
    model: str
    request: TextRequest  # seed may still be None: the job draws one when temperature > 0
    stream: bool
    include_usage: bool
    user: Optional[str]
    fingerprint_body: bytes  # the body as the caller sent it, canonical (dedupe of retries)


def parse_body(raw: bytes, defaults: dict) -> ChatParams:
    """``defaults``: ``max_tokens`` and ``temperature`` when the body omits them (the node's [ai_models])."""
    if not raw:
        raise invalid("the request body is empty: send a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter", "model")
    if body.get("messages") is None:
        raise invalid("missing required parameter: 'messages'", "messages", "missing_required_parameter")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise invalid(f"n = {n!r} is not supported: each completion is one quorum computation, send n = 1", "n",
                      "unsupported_value")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise invalid("stream must be a boolean", "stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise invalid("stream_options is only allowed when stream is true", "stream_options")
        if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
            raise invalid("stream_options must be an object with a boolean include_usage", "stream_options")
        include_usage = options.get("include_usage", False)
    for name in ("frequency_penalty", "presence_penalty"):
        value = body.get(name)
        if value not in (None, 0, 0.0):
            raise invalid(f"{name} is not supported by the quorum's sampling rule (send 0 or omit it)", name,
                          "unsupported_parameter")
    if body.get("logprobs") or body.get("top_logprobs") or body.get("logit_bias"):
        raise invalid("logprobs and logit_bias are not supported", "logprobs", "unsupported_parameter")
    tools = body.get("tools") or None
    if tools is not None and model not in TOOL_MODELS:
        raise invalid(f"{model} does not support tool calling; use an endpoint-served model "
                      f"({', '.join(TOOL_MODELS)})", "tools", "unsupported_parameter")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = min(int(defaults.get("max_tokens", HARD_MAX_TOKENS)), HARD_MAX_TOKENS)
    temperature = body.get("temperature")
    if temperature is None:
        temperature = defaults.get("temperature", 1.0)
    top_p = body.get("top_p")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid("user must be a string", "user")
    try:
        request = TextRequest.build(body["messages"], max_tokens, temperature, 1.0 if top_p is None else top_p,
                                    body.get("seed"), body.get("stop"), tools)
    except InvalidInputError as exc:
        raise invalid(str(exc), getattr(exc, "param", None), getattr(exc, "code", None)) from None
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return ChatParams(model, request, stream, include_usage, user, canonical)


def check_model(model: str, available) -> None:
    if model not in TEXT_MODELS or model not in available:
        have = [m for m in TEXT_MODELS if m in available]
        raise APIError(404, f"The model '{model}' does not exist on this node; available: {', '.join(have) or 'none'}",
                       "invalid_request_error", "model", "model_not_found")
