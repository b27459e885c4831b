"""Errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``), mapped in one place.

The official clients retry 408, 409, 429 and 5xx; every error here says ``x-should-retry``
explicitly, ``false`` wherever sending the same request again cannot give another outcome.
"""
from __future__ import annotations

from typing import Optional

import orjson
from aiohttp import web


class APIError(Exception):
    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: Optional[str] = None,
                 code: Optional[str] = None, retry: bool = False, headers: Optional[dict] = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.retry = retry
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> web.Response:
        headers = {"x-should-retry": "true" if self.retry else "false", **self.headers}
        return web.Response(status=self.status, body=orjson.dumps(self.body()), content_type="application/json",
                            headers=headers)


def invalid(message: str, param: Optional[str] = None, code: Optional[str] = None) -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def not_found(message: str, param: Optional[str] = None, code: Optional[str] = None) -> APIError:
    return APIError(404, message, "invalid_request_error", param, code)


def unavailable(message: str, code: str = "ai_unavailable", retry: bool = False) -> APIError:
    return APIError(503, message, "server_error", None, code, retry=retry)
