"""Backend for an OpenAI-compatible endpoint (the guide's ``model_endpoint`` / ``gpt_oss_endpoint``).

A validator may serve a model by calling its own server, e.g. ``transformers serve`` with
gpt-oss-20b. Requests are plain HTTP (``urllib``), non-streaming ``/v1/chat/completions``;
``temperature == 0`` means greedy decoding (``transformers serve`` then sets ``do_sample=False``),
which is the only setting whose output validators can agree on. The answer is the first choice's
message content.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from .commit import commitment_digest
from .errors import EndpointError, InvalidInputError

DEFAULT_MAX_TOKENS = 2048
DEFAULT_TEMPERATURE = 0.7


def _url(endpoint: str, path: str) -> str:
    base = endpoint.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}{path}"


def _request(url: str, payload: dict | None, timeout: float) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                     method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise EndpointError(f"{url} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise EndpointError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise EndpointError(f"{url} answered non-JSON: {body[:200]!r}") from None


def list_endpoint_models(endpoint: str, timeout: float = 10.0) -> list[str]:
    """Model ids the endpoint serves (``GET /v1/models``)."""
    data = _request(_url(endpoint, "/v1/models"), None, timeout)
    return [m["id"] for m in data.get("data", [])]


def chat_completion(endpoint: str, prompt: str | bytes, *, model: str | None = None,
                    max_tokens: int = DEFAULT_MAX_TOKENS, temperature: float = DEFAULT_TEMPERATURE,
                    timeout: float = 120.0) -> str:
    """Send one user message and return the assistant's text.

    ``model=None`` asks the server for its models and uses the first (a server pinned to one
    model, like ``transformers serve MODEL``, lists only that one).
    """
    if isinstance(prompt, (bytes, bytearray)):
        try:
            prompt = bytes(prompt).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"prompt must be UTF-8: {exc}") from None
    if max_tokens < 1 or temperature < 0:
        raise InvalidInputError(f"need max_tokens >= 1 and temperature >= 0, got {max_tokens}, {temperature}")
    if model is None:
        models = list_endpoint_models(endpoint, timeout)
        if not models:
            raise EndpointError(f"{endpoint} lists no models; pass model=")
        model = models[0]
    payload = {"model": model, "messages": [{"role": "user", "content": prompt}],
               "max_tokens": int(max_tokens), "temperature": float(temperature), "stream": False}
    if temperature == 0:
        payload["top_p"] = 1.0
    data = _request(_url(endpoint, "/v1/chat/completions"), payload, timeout)
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"unexpected chat completion response: {json.dumps(data)[:300]}") from None
    return content or ""


class EndpointRunner:
    """The runner interface over an endpoint: prompt bytes -> UTF-8 text bytes.

    Built from the node config's ``[aivm] model_endpoint`` or ``[ai_models] gpt_oss_endpoint``,
    ``max_tokens`` and ``temperature`` (``from_config``).
    """

    version, stage = "endpoint", None

    def __init__(self, endpoint: str, model: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                 temperature: float = DEFAULT_TEMPERATURE, timeout: float = 120.0) -> None:
        self.endpoint, self.model = endpoint, model
        self.max_tokens, self.temperature, self.timeout = max_tokens, temperature, timeout
        self.model_id = f"endpoint:{model or 'default'}"

    @classmethod
    def from_config(cls, config: dict) -> "EndpointRunner":
        """``config``: the parsed TOML (sections ``aivm`` / ``ai_models``) or one flat section."""
        ai = config.get("ai_models", config)
        vm = config.get("aivm", config)
        endpoint = ai.get("gpt_oss_endpoint") or vm.get("model_endpoint")
        if not endpoint:
            raise EndpointError("config has neither ai_models.gpt_oss_endpoint nor aivm.model_endpoint")
        return cls(endpoint, model=ai.get("model"), max_tokens=int(ai.get("max_tokens", DEFAULT_MAX_TOKENS)),
                   temperature=float(ai.get("temperature", DEFAULT_TEMPERATURE)))

    def infer(self, input_bytes: bytes) -> bytes:
        from .text_request import endpoint_answer, is_text_request  # chat (issue 16): messages + parameters

        if is_text_request(input_bytes):
            return endpoint_answer(self.endpoint, self.model, bytes(input_bytes), self.timeout)
        return chat_completion(self.endpoint, bytes(input_bytes), model=self.model, max_tokens=self.max_tokens,
                               temperature=self.temperature, timeout=self.timeout).encode("utf-8")

    def commitment(self, output_bytes: bytes) -> bytes:
        """Exact text; only meaningful for consensus with ``temperature = 0``."""
        return commitment_digest(self.model_id, self.version, None, bytes(output_bytes))
