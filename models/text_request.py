"""The text request format: a chat (messages + sampling parameters) as one computation input.

A text model's computation input is either a plain UTF-8 prompt (one user turn, greedy, the
node's default length) or a *text request*: canonical JSON (sorted keys, no spaces) whose
``format`` is ``aivm.chat/1``::

    {"format":"aivm.chat/1","max_tokens":64,"messages":[{"content":"Hi","role":"user"}],
     "seed":7,"stop":["\\n\\n"],"temperature":0.7,"top_p":0.9}

The messages are rendered with the tokenizer's own chat template (multi-turn, system prompt
when given, assistant header appended). The request bytes are what the quorum certifies
(the vote's request hash), so the sampling seed, derived from them, is too.

``ChatGeneration`` is ``Generation`` for a text request: it stops at the end-of-turn token, at
``max_tokens`` or when the decoded text contains a stop string, and records why (``stop`` /
``length``). The certified result is the whole decoded text; an API answer is it cut before the
first stop string.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .errors import InvalidInputError
from .sampling import MAX_TEMPERATURE, Sampling, derive_seed

FORMAT = "aivm.chat/1"
ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGES = 256
MAX_STOP = 4
MAX_STOP_LEN = 64
HARD_MAX_TOKENS = 256  # = generation.MAX_NEW_TOKENS (kept here so this module imports without torch)
_PREFIX = b'{"format":"' + FORMAT.encode() + b'"'


def _fail(message: str, param: str) -> None:
    err = InvalidInputError(message)
    err.param = param  # type: ignore[attr-defined]
    raise err


def _content(value, where: str) -> str:
    """OpenAI content: a string, or a list of text parts (other part types are refused)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        out = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                _fail(f"{where}[{i}]: only text content parts are supported", where)
            out.append(part["text"])
        return "".join(out)
    _fail(f"{where}: expected a string or a list of text parts", where)


@dataclass(frozen=True)
class TextRequest:
    messages: tuple  # of (role, content)
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: Optional[int] = None
    stop: tuple = ()
    tools: Optional[tuple] = None  # OpenAI tool definitions, passed to endpoint-served models
    tool_fields: Optional[tuple] = None  # per message: {"tool_calls": …} / {"tool_call_id": …} or None

    @classmethod
    def build(cls, messages, max_tokens: int, temperature=0.0, top_p=1.0, seed=None, stop=None,
              tools=None) -> "TextRequest":
        """Validate caller-supplied values; errors name the OpenAI parameter (``.param``)."""
        if not isinstance(messages, list) or not messages:
            _fail("messages must be a non-empty array", "messages")
        if len(messages) > MAX_MESSAGES:
            _fail(f"at most {MAX_MESSAGES} messages are allowed", "messages")
        rendered, tool_fields = [], []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                _fail(f"messages[{i}] must be an object", f"messages[{i}]")
            role = m.get("role")
            if role == "developer":
                role = "system"
            if role not in ROLES:
                _fail(f"messages[{i}].role must be one of system, developer, user, assistant, tool; got {role!r}",
                      f"messages[{i}].role")
            content = _content(m.get("content"), f"messages[{i}].content")
            if role != "assistant" and not content and role != "tool":
                _fail(f"messages[{i}].content must not be empty", f"messages[{i}].content")
            rendered.append((role, content))
            extra = {}
            if role == "assistant" and m.get("tool_calls"):
                calls = m["tool_calls"]
                if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict)
                                                          for c in calls):
                    _fail(f"messages[{i}].tool_calls must be an array of function calls", f"messages[{i}].tool_calls")
                extra["tool_calls"] = [{"id": str(c.get("id", "")), "type": "function",
                                        "function": {"name": str(c["function"].get("name", "")),
                                                     "arguments": str(c["function"].get("arguments") or "{}")}}
                                       for c in calls]
            if role == "tool" and m.get("tool_call_id") is not None:
                extra["tool_call_id"] = str(m["tool_call_id"])
            tool_fields.append(extra or None)
        if not any(r == "user" for r, _ in rendered):
            _fail("messages need at least one user message", "messages")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            _fail(f"max_tokens must be a positive integer, got {max_tokens!r}", "max_tokens")
        if max_tokens > HARD_MAX_TOKENS:
            _fail(f"max_tokens is too large: {max_tokens}. This model supports at most {HARD_MAX_TOKENS} "
                  "completion tokens per request", "max_tokens")
        for name, value, lo, hi in (("temperature", temperature, 0, MAX_TEMPERATURE), ("top_p", top_p, 0, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                _fail(f"{name} must be a number in {lo}..{hi}, got {value!r}", name)
        if top_p == 0:
            _fail("top_p must be greater than 0", "top_p")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**64):
            _fail(f"seed must be a 64-bit integer, got {seed!r}", "seed")
        if stop is None:
            stops: tuple = ()
        elif isinstance(stop, str):
            stops = (stop,)
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            stops = tuple(stop)
        else:
            _fail("stop must be a string or an array of strings", "stop")
        if len(stops) > MAX_STOP or any(not s or len(s) > MAX_STOP_LEN for s in stops):
            _fail(f"stop takes at most {MAX_STOP} non-empty strings of at most {MAX_STOP_LEN} characters", "stop")
        if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
            _fail("tools must be an array of tool objects", "tools")
        return cls(tuple(rendered), int(max_tokens), float(temperature), float(top_p), seed, stops,
                   tuple(tools) if tools else None,
                   tuple(tool_fields) if any(tool_fields) else None)

    def chat_messages(self) -> list[dict]:
        """The messages as OpenAI's dicts (tool calls and tool call ids kept, for endpoint-served models)."""
        extras = self.tool_fields or (None,) * len(self.messages)
        return [{"role": r, "content": c, **(x or {})} for (r, c), x in zip(self.messages, extras)]

    def openai_fields(self) -> dict:
        """messages and sampling parameters as an OpenAI chat request names them (optional ones only when set)."""
        out = {"messages": self.chat_messages(),
               "max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}
        if self.seed is not None:
            out["seed"] = self.seed
        if self.stop:
            out["stop"] = list(self.stop)
        if self.tools:
            out["tools"] = list(self.tools)
        return out

    def to_json(self) -> dict:
        return {"format": FORMAT, **self.openai_fields()}

    def encode(self) -> bytes:
        """Canonical bytes: identical requests are identical inputs (one hash, one cache entry)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> "TextRequest":
        try:
            d = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInputError(f"text request is not valid JSON: {exc}") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InvalidInputError(f"text request must have format {FORMAT}")
        messages = d.get("messages")
        if not isinstance(messages, list):
            raise InvalidInputError("text request needs messages")
        return cls.build(messages, d.get("max_tokens"), d.get("temperature", 0.0), d.get("top_p", 1.0),
                         d.get("seed"), d.get("stop"), d.get("tools"))

    def sampling(self, request_bytes: bytes) -> Sampling:
        return Sampling(self.temperature, self.top_p, derive_seed(request_bytes))

    def render(self, tokenizer) -> list[int]:
        """Token ids of the conversation in the model's chat template, assistant header appended."""
        messages = [{"role": r, "content": c} for r, c in self.messages]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def is_text_request(data: bytes) -> bool:
    return bytes(data[: len(_PREFIX)]) == _PREFIX


def cut_at_stop(text: str, stops) -> tuple[str, bool]:
    """``text`` before the first stop string, and whether one occurred."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def new_generation(codec, data: bytes, default_max_new_tokens: int):
    """The scheduler's hook: a ``ChatGeneration`` for a text request, else the plain prompt rule."""
    from .generation import Generation

    if is_text_request(data):
        return ChatGeneration(codec, bytes(data))
    return Generation(codec, data, default_max_new_tokens)


def _chat_generation_class():
    from .generation import MAX_PROMPT_TOKENS, Generation

    class _ChatGeneration(Generation):
        """Generation for a text request: chat-templated prompt, stop strings, sampling parameters."""

        def __init__(self, codec, data: bytes) -> None:
            self.request = TextRequest.decode(data)
            self.codec = codec
            self.prompt_ids = self.request.render(codec.tokenizer)
            if len(self.prompt_ids) > MAX_PROMPT_TOKENS:
                err = InvalidInputError(f"this model's maximum context length is {MAX_PROMPT_TOKENS} prompt tokens; "
                                        f"the messages are {len(self.prompt_ids)} tokens")
                err.param, err.code = "messages", "context_length_exceeded"  # type: ignore[attr-defined]
                raise err
            self.generated = []
            self.max_new_tokens = self.request.max_tokens
            self.done = False
            self.finish_reason: Optional[str] = None
            self.sampling = self.request.sampling(data)

        def accept(self, last_stage_output: bytes) -> bool:
            super().accept(last_stage_output)
            if self.generated[-1] in self.codec.stop_ids:
                self.finish_reason = "stop"
            elif self.request.stop and cut_at_stop(self.text, self.request.stop)[1]:
                self.done, self.finish_reason = True, "stop"
            elif self.done:
                self.finish_reason = "length"
            return self.done

    return _ChatGeneration


class _Lazy:
    cls = None


def ChatGeneration(codec, data: bytes):  # noqa: N802 - a class built on first use (generation imports torch)
    if _Lazy.cls is None:
        _Lazy.cls = _chat_generation_class()
    return _Lazy.cls(codec, data)


def endpoint_answer(endpoint: str, model: Optional[str], data: bytes, timeout: float) -> bytes:
    """An endpoint-served validator's output for a text request: canonical JSON of the first choice.

    ``{"content": str, "finish_reason": str, "tool_calls": [...] | null, "usage": {...}}`` — what the
    quorum compares and certifies. Validators agree when their servers run the same model greedily
    (``temperature = 0``); the request's seed is passed on for servers that honour it.
    """
    from .errors import EndpointError
    from .openai_endpoint import _request, _url, list_endpoint_models

    req = TextRequest.decode(data)
    if model is None:
        models = list_endpoint_models(endpoint, timeout)
        if not models:
            raise EndpointError(f"{endpoint} lists no models")
        model = models[0]
    payload = {"model": model, **req.openai_fields(), "stream": False}
    reply = _request(_url(endpoint, "/v1/chat/completions"), payload, timeout)
    try:
        choice = reply["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"unexpected chat completion response: {json.dumps(reply)[:300]}") from None
    calls = message.get("tool_calls") or None
    if calls:
        calls = [{"id": c.get("id") or f"call_{i}", "type": "function",
                  "function": {"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "{}"}}
                 for i, c in enumerate(calls)]
    usage = reply.get("usage") or {}
    content = message.get("content") or ""
    content, _ = cut_at_stop(content, req.stop)
    out = {"content": content, "finish_reason": choice.get("finish_reason") or "stop", "tool_calls": calls,
           "usage": {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                     "completion_tokens": int(usage.get("completion_tokens") or 0)}}
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
