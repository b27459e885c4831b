"""HTTP and WebSocket JSON-RPC on one address.

POST carries single or batch requests; a GET with `Upgrade: websocket` opens a
socket that speaks the same methods plus eth_subscribe. Bodies and batches are
bounded, and nothing a client sends can stop the server. JSON-RPC POSTs are
answered by the thin HTTP/1.1 front of app/rpc/http1.py (httptools); every
other request (WebSocket, dashboard, /v1/ chat) by the aiohttp application
below, on the same port.
"""
import asyncio
import logging
import os
from typing import Any, Optional

import orjson
from aiohttp import WSMsgType, web

from ai import wire
from app.rpc import dispatch, filters
from app.rpc.appkeys import API, NODE, WEBSOCKETS
from app.rpc.errors import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, RpcError, rpc_error

# importing the method modules registers them
from app.rpc import ai, debug, dev, eth, synergy, txpool  # noqa: F401
from app.dashboard import rpc as _dashboard_rpc  # noqa: F401,E402  (the dashboard_* read methods)
from app.rpc import bridge as _bridge_methods  # noqa: F401,E402

log = logging.getLogger("aivm.rpc")

MAX_BODY = 16 * 1024 * 1024  # bytes
MAX_WS_MESSAGE = 16 * 1024 * 1024


def _error_body(code: int, message: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})


async def _http(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
        return await _websocket(request)
    if request.method != "POST":
        return web.Response(
            status=405, text="AIVM JSON-RPC: POST a JSON-RPC request, or open a WebSocket\n",
            headers={"Allow": "POST"},
        )
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.Response(body=_error_body(INVALID_REQUEST, f"request body too large (max {MAX_BODY} bytes)"),
                            status=413, content_type="application/json")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return web.Response(body=_error_body(INVALID_REQUEST, f"request body too large (max {MAX_BODY} bytes)"),
                            status=413, content_type="application/json")
    out = await dispatch.handle_payload(api, body)
    if out is None:
        return web.Response(status=204)
    return web.Response(body=out, content_type="application/json")


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    api = request.app[API]
    ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, heartbeat=30)
    await ws.prepare(request)
    sockets = request.app[WEBSOCKETS]
    sockets.add(ws)
    subs: list[str] = []
    outbox: asyncio.Queue = asyncio.Queue(maxsize=10_000)
    binary = [False]  # the client sent a binary frame (ai/wire.py): its notifications go as binary frames too

    def push(sid: str, item: Any) -> None:
        msg = {"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": sid, "result": item}}
        try:
            outbox.put_nowait((binary[0] and wire.encode(msg)) or orjson.dumps(msg))
        except asyncio.QueueFull:  # a client that does not read loses notifications, not the node
            pass

    async def writer() -> None:
        stats = wire.STATS
        while True:
            msg = await outbox.get()
            stats["bytes_out"] += len(msg)
            stats["frames_out"] += 1
            if wire.is_frame(msg):
                stats["binary_frames_out"] += 1
                await ws.send_bytes(msg)
            else:
                await ws.send_str(msg.decode())

    writer_task = asyncio.create_task(writer())
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            payload = msg.data.encode() if msg.type == WSMsgType.TEXT else msg.data
            wire.STATS["bytes_in"] += len(payload)
            wire.STATS["frames_in"] += 1
            req = _UNPARSED
            if wire.is_frame(payload):
                wire.STATS["binary_frames_in"] += 1
                binary[0] = True
                try:
                    req = wire.decode(payload)  # the message itself: not dumped to JSON to be parsed again
                except wire.FrameError as exc:
                    await outbox.put(_error_body(PARSE_ERROR, f"parse error: {exc}"))
                    continue
            resp = await _ws_request(api, payload, push, subs, req)
            if resp is not None:
                await outbox.put(resp)
    finally:
        sockets.discard(ws)
        writer_task.cancel()
        for sid in subs:
            filters.unsubscribe(api, sid)
    return ws


async def _close_websockets(app: web.Application) -> None:
    """On shutdown: close open sockets (validators' task feeds) instead of waiting for their clients."""
    await asyncio.gather(*(ws.close(code=1001, message=b"node shutting down") for ws in set(app[WEBSOCKETS])),
                         return_exceptions=True)


_UNPARSED = object()


async def _ws_request(api, payload: bytes, push, subs: list, req: Any = _UNPARSED) -> Any:
    """eth_subscribe needs the connection; everything else goes to the dispatcher (`req`: the message when
    the caller parsed it already, a binary frame's)."""
    if req is _UNPARSED:
        try:
            req = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return _error_body(PARSE_ERROR, f"parse error: {exc}")
    if isinstance(req, dict) and req.get("method") == "eth_subscribe" and req.get("jsonrpc") == "2.0":
        params = req.get("params") or []
        try:
            if not isinstance(params, list) or not params:
                raise RpcError(INVALID_PARAMS, "eth_subscribe expects a subscription name")
            sid = filters.subscribe(api, params[0], params[1] if len(params) > 1 else None, push)
        except Exception as exc:
            err = rpc_error(exc)
            if err is None:
                raise
            return orjson.dumps({"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": err.code, "message": err.message}})
        subs.append(sid)
        return orjson.dumps({"jsonrpc": "2.0", "id": req.get("id"), "result": sid})
    return await dispatch.handle_decoded(api, req)  # parsed once; a batch keeps the dispatcher's bounds and order


def make_app(node: Any) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[NODE] = node  # the dashboard and the chat API's routes
    app[API] = node.api  # what every JSON-RPC handler receives (vm/api.py); its filter hub listens from now
    app[WEBSOCKETS] = set()
    app.on_shutdown.append(_close_websockets)
    app.router.add_route("*", "/", _http)
    app.router.add_route("*", "/rpc", _http)
    from app import dashboard  # the web dashboard: GET /dashboard, dashboard_* methods

    dashboard.install(app, node)
    config = node.config
    if config is None or config.aivm.enable_ai_chat:  # the OpenAI-compatible chat API under /v1/ (app/chat/)
        from app.chat.api import add_routes

        add_routes(app)
    return app


class RpcServer:
    """The listening server: `addresses` and `cleanup()` as aiohttp's AppRunner has them."""

    def __init__(self, runner: web.AppRunner, server: Optional[asyncio.AbstractServer] = None,
                 front: Any = None) -> None:
        self.runner, self._server, self._front = runner, server, front

    @property
    def addresses(self) -> list:
        if self._server is None:
            return self.runner.addresses
        return [s.getsockname() for s in self._server.sockets]

    async def cleanup(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._front.close_connections()
        await self.runner.cleanup()  # aiohttp's connections (handed over), its shutdown hooks
        if self._server is not None:
            await self._server.wait_closed()


def _front_handler(api: Any):
    too_large = _error_body(INVALID_REQUEST, f"request body too large (max {MAX_BODY} bytes)")

    def handle(body: bytes) -> tuple:
        """A POST body -> (the dispatch coroutine, whether it may start eagerly)."""
        req, error = dispatch.decode(body)
        if error is not None:
            return _const(error), True
        return dispatch.handle_decoded(api, req), dispatch.eager(req)

    return handle, too_large


async def _const(value: Any) -> Any:
    return value


async def serve(node: Any, host: str, port: int) -> RpcServer:
    runner = web.AppRunner(make_app(node), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    if os.environ.get("AIVM_HTTP_FAST", "1") == "0":  # everything through aiohttp (comparisons)
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        return RpcServer(runner)
    from app.rpc.http1 import FastServer

    handle, too_large = _front_handler(node.api)
    front = FastServer(handle, runner.server, MAX_BODY, too_large)
    server = await asyncio.get_running_loop().create_server(front, host, port, reuse_address=True)
    return RpcServer(runner, server, front)
