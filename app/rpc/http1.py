"""JSON-RPC POSTs answered straight off the socket; everything else served by aiohttp, on the same port.

Why: aiohttp's request/response objects, its per-connection task and its
writer cost ≈60–120 µs of CPU a request — more than the node's own work for
most reads (eth_chainId ≈2 µs, a cached eth_call ≈6 µs). This protocol parses
HTTP/1.1 with httptools (llhttp, the parser Node.js uses) and answers the one
hot shape — `POST /` or `POST /rpc` with a JSON body — itself; the dispatch is
the same `app.rpc.dispatch` as before, so codes, messages and shapes do not
change.

A connection whose first request is anything else (a WebSocket upgrade, the
dashboard's GETs, `/v1/` chat, another method on `/`) is handed to aiohttp
whole: the bytes read so far are replayed into aiohttp's own protocol and the
transport switched to it, so aiohttp serves it as if it had accepted it. A
connection that starts with JSON-RPC and later asks for something else is
served through aiohttp from that request on: each request is passed on
rebuilt from its parsed head and body (an upgrade: its head, then the raw
bytes that follow).

Bounds: the request head ≤ MAX_HEAD bytes (431 otherwise), the body ≤ the
server's MAX_BODY (413, as before, with the same JSON-RPC error), an idle
keep-alive connection closes after KEEPALIVE seconds, requests on one
connection are answered in order (pipelining). `AIVM_HTTP_FAST=0` serves
everything through aiohttp (for comparisons).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from email.utils import formatdate
from typing import Any, Callable, Optional

import httptools

log = logging.getLogger("aivm.rpc")

MAX_HEAD = 512 * 1024  # bytes of request line + headers (counted by socket reads: ≥ 2 reads of 256 KiB)
MAX_PIPELINE = 64  # parsed requests waiting on one connection before it stops reading (checked per socket read)
KEEPALIVE = 75.0  # seconds an idle keep-alive connection stays open (aiohttp's default)
RPC_PATHS = (b"/", b"/rpc")
SERVER = b"aivm"

_REASONS = {200: b"OK", 204: b"No Content", 400: b"Bad Request", 413: b"Payload Too Large",
            431: b"Request Header Fields Too Large"}
_date = [0, b""]


def _http_date() -> bytes:
    now = int(time.time())
    if _date[0] != now:
        _date[0], _date[1] = now, formatdate(now, usegmt=True).encode()
    return _date[1]


def response(status: int, body: bytes, version: bytes = b"1.1", keep_alive: bool = True,
             content_type: bytes = b"application/json") -> bytes:
    """One HTTP response, headers as aiohttp writes them (Connection only where it differs from the default)."""
    head = [b"HTTP/", version, b" %d " % status, _REASONS.get(status, b"Error"), b"\r\n"]
    if status != 204:
        head += [b"Content-Type: ", content_type, b"\r\nContent-Length: %d\r\n" % len(body)]
    head += [b"Date: ", _http_date(), b"\r\nServer: ", SERVER, b"\r\n"]
    if version == b"1.0" and keep_alive:
        head.append(b"Connection: keep-alive\r\n")
    elif version != b"1.0" and not keep_alive:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    if status != 204:
        head.append(body)
    return b"".join(head)


class _HandOver(Exception):
    """Raised inside the parser's callback: this connection's first request is aiohttp's."""


def drive(loop: asyncio.AbstractEventLoop, coro: Any, on_done: Callable[[Any, Optional[BaseException]], None]) -> bool:
    """Run a coroutine without a Task: its first step now, each later one when what it awaits is
    done (what a Task does, less its object, its scheduling and its cancellation); `on_done(result,
    error)` at the end. True when it finished in the first step. No step has a current task, hence
    `dispatch.EAGER`: only methods that need none."""
    def step(_: Any = None) -> bool:
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            on_done(stop.value, None)
            return True
        except BaseException as exc:  # noqa: B036 - reported, as a Task would hold it
            on_done(None, exc)
            return True
        if yielded is None:  # a bare yield (asyncio.sleep(0)): the next loop turn
            loop.call_soon(step)
        else:  # an asyncio future, as a Task receives it
            yielded._asyncio_future_blocking = False
            yielded.add_done_callback(step)
        return False

    return step()


class _Request:
    __slots__ = ("method", "url", "version", "headers", "body", "keep_alive", "upgrade", "size")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list = []
        self.body: list = []
        self.size = 0
        self.method = b""
        self.version = b"1.1"
        self.keep_alive = True
        self.upgrade = False

    def rebuilt(self) -> bytes:
        """The request as bytes for aiohttp: its head as parsed, its body de-chunked with a Content-Length."""
        out = [self.method, b" ", self.url, b" HTTP/", self.version, b"\r\n"]
        for name, value in self.headers:
            if name.lower() in (b"content-length", b"transfer-encoding"):
                continue
            out += [name, b": ", value, b"\r\n"]
        if self.body or self.method not in (b"GET", b"HEAD"):
            out.append(b"Content-Length: %d\r\n" % self.size)
        out.append(b"\r\n")
        out += self.body
        return b"".join(out)


class Connection(asyncio.Protocol):
    """One client connection (see the module's docstring)."""

    def __init__(self, server: "FastServer") -> None:
        self.server = server
        self.loop = server.loop
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)
        self.req: Optional[_Request] = None
        self.first = True  # no request decided yet: the bytes so far are kept for a hand-over
        self.raw: list = []
        self.head_bytes = 0  # of the request whose head is being read
        self.in_head = False
        self.ready: collections.deque = collections.deque()  # parsed requests waiting for their turn
        self.busy = False  # a request of this connection is being answered
        self.starting = False  # inside `_start`: an answer there returns to `_next`'s loop
        self.proxy: Any = None  # aiohttp's protocol, once this connection is served through it
        self.proxy_out: list = []  # rebuilt requests for it, while answers of ours are still owed
        self.closing = False
        self.proxy_made = False
        self.switching = False  # an upgrade hands the transport to aiohttp once our answers are out
        self.eof = False
        self.write_paused = False  # the transport's buffer is full (pause_writing)
        self.read_paused = False
        self.broken: Optional[tuple] = None  # (status, text, json): refused, answered once what came before is
        self.last = 0.0
        self.timer: Any = None

    # -- asyncio.Protocol --
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.connections.add(self)
        self.last = self.loop.time()
        self.timer = self.loop.call_later(KEEPALIVE, self._idle_check)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.server.connections.discard(self)
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
        if self.proxy_made:
            self.proxy.connection_lost(exc)

    def pause_writing(self) -> None:
        """The client does not read its answers: stop answering and reading until it does."""
        if self.proxy_made:
            return self.proxy.pause_writing()
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        if self.proxy_made:
            return self.proxy.resume_writing()
        self.write_paused = False
        self._flow()
        self._next()

    def _flow(self) -> None:
        """Read while answers can be written and fewer than MAX_PIPELINE requests wait."""
        if self.proxy_made or self.closing:
            return
        stop = self.write_paused or len(self.ready) >= MAX_PIPELINE
        if stop != self.read_paused:
            self.read_paused = stop
            (self.transport.pause_reading if stop else self.transport.resume_reading)()

    def eof_received(self) -> Optional[bool]:
        if self.proxy_made:
            return self.proxy.eof_received()
        if not self.busy and not self.ready:
            return False  # nothing owed: close
        self.eof = True  # half-closed: answer what was asked, then close
        return True

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        if self.broken is not None:  # refused: nothing more is read
            return
        if self.switching:  # a WebSocket upgrade waits for answers owed before it: its bytes queue
            self.proxy_out.append(data)
            return
        if self.first:
            self.raw.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as up:  # a later request upgrades (WebSocket): aiohttp's from here
            self._upgrade(bytes(data[up.args[0]:]) if up.args else b"")
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HandOver):
                return self._hand_over()
            if not isinstance(exc.__context__, _Stop):
                log.error("HTTP parser callback failed", exc_info=exc.__context__)
                self._refuse(400, b"400: Bad Request")
        except httptools.HttpParserError as exc:
            self._refuse(400, f"400: Bad Request ({exc})".encode())
        else:
            if self.in_head:
                self.head_bytes += len(data)
                if self.head_bytes > MAX_HEAD:
                    self._refuse(431, b"431: request head too large")
        self._next()

    # -- parser callbacks --
    def on_message_begin(self) -> None:
        self.req = _Request()
        self.in_head = True
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.req.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.req.headers.append((name, value))

    def on_headers_complete(self) -> None:
        req, parser = self.req, self.parser
        self.in_head = False
        req.method = parser.get_method()
        req.version = parser.get_http_version().encode()
        req.keep_alive = parser.should_keep_alive()
        req.upgrade = parser.should_upgrade()
        ours = self.proxy is None and req.method == b"POST" and not req.upgrade \
            and req.url.split(b"?", 1)[0] in RPC_PATHS
        length = None
        expect = False
        if ours:
            for name, value in req.headers:
                lname = name.lower()
                if lname == b"content-length":
                    length = int(value) if value.isdigit() else None
                elif lname == b"content-encoding" and value.strip().lower() != b"identity":
                    ours = False  # compressed bodies: aiohttp decompresses them
                elif lname == b"expect":
                    expect = value.strip().lower() == b"100-continue"
        if not ours:
            if self.first:
                raise _HandOver()
            req.method = b"PROXY:" + req.method  # this and every later request go to aiohttp
            return
        self.first = False
        self.raw = []
        max_body = self.server.max_body
        if length is not None and length > max_body:
            self._refuse(413, self.server.too_large, json=True)
            raise _Stop()
        if expect and req.version == b"1.1" and not self.busy and not self.ready:
            # (behind answers still owed it would come out of order: the client sends after its wait)
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        req = self.req
        req.size += len(body)
        if req.size > self.server.max_body + (MAX_HEAD if req.method.startswith(b"PROXY:") else 0):
            self._refuse(413, self.server.too_large, json=True)
            raise _Stop()
        req.body.append(body)

    def on_message_complete(self) -> None:
        req, self.req = self.req, None
        if req.method.startswith(b"PROXY:"):
            req.method = req.method[6:]
            self.ready.append(req)
            if self.proxy is None:
                self.proxy = self.server.fallback()
            return
        self.ready.append(req)

    # -- answering --
    def _next(self) -> None:
        """Answer the ready requests in order, each one's first step now (see `_start`)."""
        while self.ready and not self.busy and not self.closing and not self.write_paused:
            req = self.ready.popleft()
            if self.proxy is not None:
                self._to_proxy(req.rebuilt())
                continue
            body = req.body[0] if len(req.body) == 1 else b"".join(req.body)
            self.busy = True
            self._start(req, *self.server.handle(body))
        if not self.busy and self.proxy_out:
            self._flush_proxy()
        if not self.busy and not self.ready and self.broken is not None and not self.proxy_made:
            self._fail(*self.broken)
        self._flow()

    def _start(self, req: _Request, coro: Any, eager: bool) -> None:
        """`eager`: run the dispatch without a Task (`drive`): most requests finish in its first step,
        right here (no loop turn); one that waits (a thread hop, a send) goes on from its future's
        callback. Only for methods that need no current task (`dispatch.EAGER`); the others run in
        a Task of their own, as under aiohttp."""
        if eager:
            self.starting = True
            try:
                drive(self.loop, coro, lambda result, error: self._done(req, result, error))
            finally:
                self.starting = False
            return
        task = self.loop.create_task(coro)
        task.add_done_callback(lambda t: self._finished(req, t))

    def _finished(self, req: _Request, task: asyncio.Task) -> None:
        if task.cancelled():
            return self._done(req, None, asyncio.CancelledError())
        self._done(req, None if task.exception() else task.result(), task.exception())

    def _done(self, req: _Request, result: Any, error: Optional[BaseException]) -> None:
        if error is not None:  # dispatch answers every error itself: this is a bug
            log.error("JSON-RPC dispatch failed", exc_info=error)
            return self._fail(500, b"internal error")
        self._answer(req, result)
        if not self.starting:  # finished later, from a callback: go on with the requests waiting
            self._next()

    def _answer(self, req: _Request, out: Optional[bytes]) -> None:
        self.busy = False
        if self.closing:
            return
        keep = req.keep_alive
        if out is None:
            self.transport.write(response(204, b"", req.version, keep))
        else:
            self.transport.write(response(200, out, req.version, keep))
        if not keep or (self.eof and not self.ready):
            self._close()

    # -- aiohttp for everything else --
    def _hand_over(self) -> None:
        """The first request is not JSON-RPC: aiohttp gets the connection and the bytes read so far."""
        proto = self.server.fallback()
        raw, self.raw = b"".join(self.raw), []
        if self.timer is not None:
            self.timer.cancel()
        self.server.connections.discard(self)
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        proto.data_received(raw)

    def _to_proxy(self, data: bytes) -> None:
        if self.busy or self.proxy_out:
            self.proxy_out.append(data)
            return
        self._proxy_feed(data)

    def _flush_proxy(self) -> None:
        pending, self.proxy_out = self.proxy_out, []
        for data in pending:
            self._proxy_feed(data)
        if self.switching:
            self._switch()

    def _proxy_feed(self, data: bytes) -> None:
        if not self.proxy_made:
            self.proxy_made = True
            self.proxy.connection_made(self.transport)
        if data:
            self.proxy.data_received(data)

    def _upgrade(self, rest: bytes) -> None:
        """A later request upgrades the connection: aiohttp gets its head, the raw bytes after it and
        the transport."""
        if self.req is not None and self.req.method.startswith(b"PROXY:"):  # on_message_complete not seen
            self.on_message_complete()
        self._next()  # (queues it behind answers still owed)
        if self.busy or self.proxy_out:  # our answers first, then the switch
            self.proxy_out.append(rest)
            self.switching = True
            return
        self._proxy_feed(rest)
        self._switch()

    def _switch(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.server.connections.discard(self)
        self.transport.set_protocol(self.proxy)

    # -- closing --
    def _idle_check(self) -> None:
        if self.closing:
            return
        idle = self.loop.time() - self.last
        if idle >= KEEPALIVE and not self.busy and self.proxy is None:
            self._close()
        else:
            self.timer = self.loop.call_later(max(1.0, KEEPALIVE - idle), self._idle_check)

    def _refuse(self, status: int, text: bytes, json: bool = False) -> None:
        """Stop reading; answer the requests that came before, then this refusal, then close."""
        if self.broken is None:
            self.broken = (status, text, json)
            if self.proxy_made:  # aiohttp owns the answers now: just close after them
                self._close()

    def _fail(self, status: int, text: bytes, json: bool = False) -> None:
        if self.closing:
            return
        version = self.req.version if self.req is not None and self.req.version else b"1.1"
        self.transport.write(response(status, text, version, False,
                                      b"application/json" if json else b"text/plain; charset=utf-8"))
        self._close()

    def _close(self) -> None:
        self.closing = True
        self.ready.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def shut(self) -> None:
        """Server shutdown: close now when idle, else once the answer in flight is written."""
        if self.busy:
            self.eof = True  # `_answer` closes after it
            self.ready.clear()
        else:
            self._close()


class _Stop(Exception):
    """Raised inside a parser callback after the connection was failed: stop parsing."""


class FastServer:
    """The listening socket's protocol factory: a `Connection` per client, aiohttp's protocol for hand-overs."""

    def __init__(self, handle: Callable[[bytes], tuple], fallback: Callable[[], Any], max_body: int,
                 too_large: bytes) -> None:
        self.loop = asyncio.get_running_loop()
        self.handle = handle
        self.fallback = fallback
        self.max_body = max_body
        self.too_large = too_large
        self.connections: set = set()

    def __call__(self) -> Connection:
        return Connection(self)

    async def close_connections(self, timeout: float = 1.0) -> None:
        """Close every connection; those answering get up to `timeout` s to write their answer."""
        for conn in list(self.connections):
            conn.shut()
        deadline = self.loop.time() + timeout
        while any(not c.closing for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn._close()

