"""JSON-RPC 2.0: envelopes, batches, method table and typed parameters.

Transport-agnostic (HTTP and WebSocket share it). A method is a coroutine
registered with `@method("name")` that receives the node API (`vm.api.NodeApi`)
first; its parameters are parsed from their type annotations, so a wrong count
or type becomes -32602 with words a person understands, never a traceback.
Whatever a handler raises goes through `errors.rpc_error`, the one map from the
node's refusals to JSON-RPC codes; anything else is a bug (-32603, logged).
"""
import inspect
import logging
from typing import Any, Awaitable, Callable, Optional

import orjson

from vm.api import NodeApi
from vm.codec import InvalidValue
from app.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    rpc_error,
)
from app.rpc.params import Param

log = logging.getLogger("aivm.rpc")

MAX_BATCH = 1000

_METHODS: dict[str, "Method"] = {}


class Method:
    def __init__(self, name: str, fn: Callable[..., Awaitable[Any]]) -> None:
        self.name = name
        self.fn = fn
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())[1:]  # the first is the node API
        self.params = [(p.name, p.annotation, p.default) for p in params]
        self.required = sum(1 for p in params if p.default is inspect.Parameter.empty)

    def parse(self, raw: Any) -> list[Any]:
        if raw is None:
            raw = []
        if isinstance(raw, dict):
            raise RpcError(INVALID_PARAMS, f"{self.name}: params must be a list, not an object")
        if not isinstance(raw, list):
            raise RpcError(INVALID_PARAMS, f"{self.name}: params must be a list")
        if len(raw) < self.required or len(raw) > len(self.params):
            want = (
                str(self.required)
                if self.required == len(self.params)
                else f"{self.required} to {len(self.params)}"
            )
            raise RpcError(INVALID_PARAMS, f"{self.name} expects {want} params, got {len(raw)}")
        out = []
        for i, (name, kind, default) in enumerate(self.params):
            if i >= len(raw) or (raw[i] is None and default is not inspect.Parameter.empty):
                out.append(default)
                continue
            try:
                out.append(kind.parse(raw[i]) if isinstance(kind, type) and issubclass(kind, Param) else raw[i])
            except InvalidValue as exc:
                raise RpcError(INVALID_PARAMS, f"{self.name} param {i + 1} ({name}): {exc}") from None
        return out


def method(name: str) -> Callable:
    def register(fn: Callable) -> Callable:
        _METHODS[name] = Method(name, fn)
        return fn

    return register


def method_names() -> list[str]:
    return sorted(_METHODS)


def _error(id_: Any, err: RpcError) -> dict:
    body: dict = {"code": err.code, "message": err.message}
    if err.data is not None:
        body["data"] = err.data
    return {"jsonrpc": "2.0", "id": id_, "error": body}


_SENDS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})


async def handle_one(node: Any, req: Any) -> Optional[dict]:
    """One request object -> one response object (None for notifications); `node` is a Node or its API."""
    if not isinstance(req, dict):
        return _error(None, RpcError(INVALID_REQUEST, "invalid request: expected a JSON object"))
    id_ = req.get("id")
    if id_ is not None and not isinstance(id_, (str, int, float)) or isinstance(id_, bool):
        return _error(None, RpcError(INVALID_REQUEST, "invalid request: id must be a string, number or null"))
    if req.get("jsonrpc") != "2.0":
        return _error(id_, RpcError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"'))
    name = req.get("method")
    if not isinstance(name, str):
        return _error(id_, RpcError(INVALID_REQUEST, 'invalid request: "method" must be a string'))
    m = _METHODS.get(name)
    if m is None:
        return _error(id_, RpcError(METHOD_NOT_FOUND, f"the method {name[:80]} does not exist/is not available"))
    try:
        args = m.parse(req.get("params"))
        api = NodeApi.of(node)
        if name not in _SENDS:  # a send answered before its block's seal: what follows sees that block
            await api.settled()
        result = await m.fn(api, *args)
    except RpcError as err:
        return _error(id_, err)
    except Exception as exc:
        err = rpc_error(exc)
        if err is None:  # a bug must not take the node down: log it, answer -32603
            log.exception("internal error in %s", name)
            err = RpcError(INTERNAL_ERROR, f"internal error while handling {name}")
        return _error(id_, err)
    if "id" not in req:
        return None
    return {"jsonrpc": "2.0", "id": id_, "result": result}


# Methods whose handlers need no current asyncio task (they only read, hop to a thread with
# run_in_executor, or wait on plain futures): the HTTP front runs them without a Task
# (app/rpc/http1.py `drive`). A method added here must keep that true all the way down (no
# asyncio.timeout / TaskGroup / aiohttp client); tests/test_http1.py drives each one that way.
EAGER = frozenset({
    "eth_chainId", "net_version", "eth_blockNumber", "eth_gasPrice", "eth_maxPriorityFeePerGas",
    "web3_clientVersion", "net_listening", "eth_syncing", "eth_accounts", "eth_coinbase", "eth_mining",
    "eth_getTransactionCount", "eth_getBalance", "eth_getCode", "eth_getStorageAt", "eth_call",
    "eth_estimateGas", "eth_getTransactionReceipt", "eth_sendRawTransaction", "eth_getTransactionByHash",
    "eth_getBlockByNumber", "eth_getBlockByHash", "eth_feeHistory",
})


def decode(payload: bytes) -> tuple[Any, Optional[bytes]]:
    """(request object, None), or (None, the parse error's response bytes)."""
    try:
        return orjson.loads(payload), None
    except orjson.JSONDecodeError as exc:
        return None, orjson.dumps(_error(None, RpcError(PARSE_ERROR, f"parse error: {exc}")))


def eager(req: Any) -> bool:
    """Whether every method the decoded request names is in EAGER."""
    if isinstance(req, dict):
        return req.get("method") in EAGER
    if isinstance(req, list) and len(req) <= MAX_BATCH:
        return all(isinstance(r, dict) and r.get("method") in EAGER for r in req)
    return False


async def handle_payload(node: Any, payload: bytes) -> Optional[bytes]:
    """Raw request bytes -> raw response bytes (None when nothing is owed)."""
    req, error = decode(payload)
    if error is not None:
        return error
    return await handle_decoded(node, req)


async def handle_decoded(node: Any, req: Any) -> Optional[bytes]:
    """A decoded request (object or batch) -> raw response bytes (None when nothing is owed)."""
    if isinstance(req, list):
        if not req:
            return orjson.dumps(_error(None, RpcError(INVALID_REQUEST, "invalid request: empty batch")))
        if len(req) > MAX_BATCH:
            return orjson.dumps(
                _error(None, RpcError(INVALID_REQUEST, f"batch too large: {len(req)} > {MAX_BATCH} requests"))
            )
        out = []
        for r in req:  # in order: a batch of dependent txs must apply in order
            resp = await handle_one(node, r)
            if resp is not None:
                out.append(resp)
        return orjson.dumps(out) if out else None
    resp = await handle_one(node, req)
    return None if resp is None else orjson.dumps(resp)
