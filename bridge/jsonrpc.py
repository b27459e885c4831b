"""One small synchronous JSON-RPC 2.0 client over HTTP, for every chain the bridge talks to.

The AIVM node, a foreign EVM chain (Anvil, Hardhat, geth) and the local Solana
chain all speak JSON-RPC over HTTP POST; they differ only in their methods.
So the attester, the relayer, the node's hub and the Solana helpers share this
client and its one error type: a chain that does not answer, answers garbage,
or answers a JSON-RPC error raises :class:`ChainError`, whose text names the
URL and the method (never the parameters, which may carry signed transactions).
"""
from __future__ import annotations

import itertools

import requests


class ChainError(Exception):
    """A chain did not answer, answered an error, or a transaction failed; the text says which.
    `code` and `data` are the JSON-RPC error's, when the chain answered one."""

    def __init__(self, message: str, code: int | None = None, data=None) -> None:
        super().__init__(message)
        self.code, self.data = code, data


class JsonRpcClient:
    """`rpc(method, *params)` -> the result, or ChainError. One keep-alive session per client."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self._ids = itertools.count(1)

    def rpc(self, method: str, *params):
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            body = self.session.post(self.url, json=request, timeout=self.timeout).json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(f"{self.url}: {method} failed: {exc}") from None
        if not isinstance(body, dict):
            raise ChainError(f"{self.url}: {method}: not a JSON-RPC response")
        if "error" in body:
            err = body["error"] if isinstance(body["error"], dict) else {"message": str(body["error"])}
            data = err.get("data")
            raise ChainError(f"{self.url}: {method}: {err.get('message')}" + (f" ({data})" if data else ""),
                             err.get("code"), data)
        if "result" not in body:
            raise ChainError(f"{self.url}: {method}: a response with neither result nor error")
        return body["result"]
