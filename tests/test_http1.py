"""The HTTP/1.1 front (app/rpc/http1.py) on a real node, byte by byte over raw sockets.

What a client may do on one connection: pipeline, split a request across packets, send a
chunked body, ask `Expect: 100-continue`, speak HTTP/1.0, send a notification, switch to
the dashboard or a WebSocket after JSON-RPC; what it must not: oversized bodies and heads,
malformed HTTP. Every answer is compared with the aiohttp-only server (`AIVM_HTTP_FAST=0`)
where the two should agree.
"""
import asyncio
import base64
import json
import os
import socket
import struct
import time

import orjson
import pytest

from app.rpc.server import MAX_BODY
from tests.nodeproc import start_node

CHAIN_ID = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    """Two nodes: the front (default) and aiohttp alone (AIVM_HTTP_FAST=0)."""
    fast = start_node(tmp_path_factory.mktemp("fast"))
    old = os.environ.get("AIVM_HTTP_FAST")
    os.environ["AIVM_HTTP_FAST"] = "0"
    try:
        plain = start_node(tmp_path_factory.mktemp("plain"))
    except Exception:
        fast.stop()
        raise
    finally:
        if old is None:
            os.environ.pop("AIVM_HTTP_FAST", None)
        else:
            os.environ["AIVM_HTTP_FAST"] = old
    yield fast, plain
    fast.stop()
    plain.stop()


@pytest.fixture(scope="module")
def node(nodes):
    return nodes[0]


def post(body: bytes, path: str = "/", extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Conn:
    """A raw client socket that reads whole HTTP responses."""

    def __init__(self, port: int):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def _fill(self) -> bool:
        d = self.s.recv(65536)
        self.buf += d
        return bool(d)

    def response(self) -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed; got {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        n = int(headers.get("content-length", 0))
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("closed in the body")
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self) -> bool:
        """True once the server has closed the connection (EOF within the timeout)."""
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self) -> None:
        self.s.close()


def test_pipelined_requests_answered_in_order(node):
    c = Conn(node.port)
    reqs = [{"jsonrpc": "2.0", "id": i, "method": m, "params": []}
            for i, m in enumerate(["eth_chainId", "eth_blockNumber", "eth_accounts", "eth_nope", "net_version"] * 4)]
    c.send(b"".join(post(orjson.dumps(r)) for r in reqs))
    for r in reqs:
        status, headers, body = c.response()
        assert status == 200 and headers["content-type"] == "application/json"
        assert orjson.loads(body)["id"] == r["id"]
    # a send between reads: the reads that follow see its block (settled), in order
    c.send(post(b'{"jsonrpc":"2.0","id":"a","method":"eth_sendTransaction","params":[{"from":"'
                + node.rpc("eth_accounts")["result"][0].encode() + b'","to":"0x' + b"11" * 20 + b'","value":"0x1"}]}')
           + post(b'{"jsonrpc":"2.0","id":"b","method":"eth_blockNumber","params":[]}'))
    sent = orjson.loads(c.response()[2])
    after = orjson.loads(c.response()[2])
    assert sent["id"] == "a" and after["id"] == "b"
    receipt = node.rpc("eth_getTransactionReceipt", sent["result"])["result"]
    assert int(after["result"], 16) >= int(receipt["blockNumber"], 16)
    c.close()


def test_request_split_across_packets(node):
    c = Conn(node.port)
    c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = post(CHAIN_ID) * 2
    for i in range(0, len(data), 7):  # 7-byte packets: the head, the body and the next request cut anywhere
        c.send(data[i:i + 7])
        time.sleep(0.002)
    for _ in range(2):
        status, _, body = c.response()
        assert status == 200 and orjson.loads(body)["result"] == "0x7a69"
    c.close()


def test_chunked_body(nodes):
    body = b'[{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]},' \
           b'{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]}]'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 10]), body[i:i + 10]) for i in range(0, len(body), 10))
    req = b"POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    answers = []
    for n in nodes:
        c = Conn(n.port)
        c.send(req)
        status, _, out = c.response()
        answers.append((status, out))
        c.close()
    assert answers[0] == answers[1] and [r["result"] for r in orjson.loads(answers[0][1])] == ["0x7a69", "31337"]


def test_expect_100_continue(node):
    c = Conn(node.port)
    c.send(f"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {len(CHAIN_ID)}\r\n\r\n".encode())
    status, _, _ = c.response()
    assert status == 100
    c.send(CHAIN_ID)
    status, _, body = c.response()
    assert status == 200 and orjson.loads(body)["result"] == "0x7a69"
    c.close()


def test_http_10_clients(nodes):
    for n in nodes:
        c = Conn(n.port)
        c.send(post(CHAIN_ID, version="1.0"))
        status, headers, body = c.response()
        assert status == 200 and orjson.loads(body)["result"] == "0x7a69"
        assert c.closed(), "HTTP/1.0 without keep-alive: the server closes"
        c.close()
        c = Conn(n.port)
        for _ in range(3):  # keep-alive asked for: kept
            c.send(post(CHAIN_ID, extra="Connection: keep-alive\r\n", version="1.0"))
            status, headers, body = c.response()
            assert status == 200 and headers["connection"].lower() == "keep-alive"
        c.close()


def test_half_closed_client_gets_its_answers(node):
    """(aiohttp alone drops these: it closes on the client's EOF without answering.)"""
    for n in [node]:
        c = Conn(n.port)
        c.send(post(CHAIN_ID) * 3)
        c.s.shutdown(socket.SHUT_WR)  # sent everything, reads on
        for _ in range(3):
            assert orjson.loads(c.response()[2])["result"] == "0x7a69"
        assert c.closed()
        c.close()


def test_connection_close_and_notifications(nodes):
    for n in nodes:
        c = Conn(n.port)
        c.send(post(b'{"jsonrpc":"2.0","method":"eth_chainId","params":[]}'))
        status, headers, body = c.response()
        assert status == 204 and body == b"" and "content-length" not in headers
        c.send(post(CHAIN_ID, extra="Connection: close\r\n"))
        status, headers, body = c.response()
        assert status == 200 and headers["connection"] == "close"
        assert c.closed()
        c.close()


def test_oversized_bodies_refused_with_a_clear_error(nodes):
    for n in nodes:
        c = Conn(n.port)
        c.send(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode() + b"[" * 1000)
        status, _, body = c.response()
        err = orjson.loads(body)["error"]
        assert status == 413 and err["code"] == -32600 and "too large" in err["message"]
        c.close()
    # chunked, no length given: refused once the limit is passed (the front closes the connection there)
    c = Conn(nodes[0].port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b" " * 65536
    try:
        for _ in range(MAX_BODY // len(piece) + 2):
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, _, body = c.response()
    assert status == 413 and "too large" in orjson.loads(body)["error"]["message"]
    c.close()


def test_head_too_large_and_malformed_http(node):
    c = Conn(node.port)
    try:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1024 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, _, _ = c.response()
    assert status == 431
    c.close()
    c = Conn(node.port)
    c.send(post(CHAIN_ID) + b"GARBAGE\r\n\r\n")
    assert c.response()[0] == 200
    assert c.response()[0] == 400
    assert c.closed()
    c.close()
    assert node.rpc("eth_chainId")["result"] == "0x7a69"


def test_json_errors_match_aiohttp_only_server(nodes):
    """Bodies the front answers itself: byte for byte what the aiohttp route answered."""
    bodies = [b"", b"{", b"[]", b"[1]", b"5", b'{"jsonrpc":"2.0","id":1,"method":"eth_nope"}',
              b'{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}', b'{"jsonrpc":"2.0","id":{},"method":"x"}',
              b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}',
              b'[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","method":"eth_chainId"}]',
              orjson.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)]),
              "{\"jsonrpc\":\"2.0\",\"id\":\"💥\",\"method\":\"eth_chainId\"}".encode()]
    for path in ("/", "/rpc", "/?x=1"):
        got = []
        for n in nodes:
            c = Conn(n.port)
            out = []
            for b in bodies:
                c.send(post(b, path))
                status, headers, body = c.response()
                out.append((status, headers.get("content-type"), body))
            got.append(out)
            c.close()
        assert got[0] == got[1]


def test_other_routes_on_the_same_port_and_connection(node):
    # first request not JSON-RPC: the connection is aiohttp's (and its later POSTs still answer)
    c = Conn(node.port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.response()[0] == 405
    c.send(post(CHAIN_ID))
    assert orjson.loads(c.response()[2])["result"] == "0x7a69"
    c.close()
    # JSON-RPC first, then the dashboard, then JSON-RPC again, pipelined: all answered in order
    c = Conn(node.port)
    c.send(post(CHAIN_ID) + b"GET /dashboard/ HTTP/1.1\r\nHost: x\r\n\r\n" + post(CHAIN_ID, "/rpc")
           + b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.response()[0] == 200
    status, headers, page = c.response()
    assert status == 200 and headers["content-type"].startswith("text/html") and b"<html" in page.lower()
    assert orjson.loads(c.response()[2])["result"] == "0x7a69"
    assert c.response()[0] == 405
    c.close()


def _ws_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    head = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126
                            else bytes([0x80 | 126]) + struct.pack(">H", len(payload)))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _ws_read(c: Conn) -> bytes:
    while len(c.buf) < 2:
        c._fill()
    n = c.buf[1] & 0x7F
    start = 2
    if n == 126:
        while len(c.buf) < 4:
            c._fill()
        n, start = struct.unpack(">H", c.buf[2:4])[0], 4
    while len(c.buf) < start + n:
        c._fill()
    data, c.buf = c.buf[start:start + n], c.buf[start + n:]
    return data


@pytest.mark.parametrize("rpc_first", [False, True])
def test_websocket_upgrade_on_the_same_port(node, rpc_first):
    c = Conn(node.port)
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    frame = _ws_frame(CHAIN_ID)
    if rpc_first:  # a JSON-RPC POST, then the upgrade and a frame in the same packet
        c.send(post(CHAIN_ID) + upgrade + frame)
        assert c.response()[0] == 200
    else:
        c.send(upgrade)
    status, headers, _ = c.response()
    assert status == 101 and headers["upgrade"].lower() == "websocket"
    if not rpc_first:
        c.send(frame)
    assert json.loads(_ws_read(c))["result"] == "0x7a69"
    c.send(_ws_frame(b'{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newHeads"]}'))
    assert json.loads(_ws_read(c))["result"].startswith("0x")
    c.close()


def test_many_clients_at_once(node):
    """64 connections × 20 requests, interleaved: every answer has its request's id."""
    async def client(k: int) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", node.port)
        for i in range(20):
            body = orjson.dumps({"jsonrpc": "2.0", "id": f"{k}-{i}", "method": "eth_blockNumber", "params": []})
            w.write(post(body))
            head = await r.readuntil(b"\r\n\r\n")
            n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
            assert orjson.loads(await r.readexactly(n))["id"] == f"{k}-{i}"
        w.close()

    async def main() -> None:
        await asyncio.gather(*(client(k) for k in range(64)))

    asyncio.run(main())


def test_eager_methods_answer_the_same_without_a_task(tmp_path):
    """Every `dispatch.EAGER` method driven without a task (as the front runs it from data_received,
    `http1.drive`): the same bytes as dispatch under a Task; the cheap ones finish in the first step."""
    from app.rpc import dispatch, server  # noqa: F401  (registers the methods)
    from app.rpc.http1 import drive
    from vm.node import Node, NodeOptions

    async def main() -> None:
        node = Node(NodeOptions())
        await node.start()
        a0 = "0x" + node.chain.accounts[0].address.hex()
        sent = await dispatch.handle_decoded(node, {"jsonrpc": "2.0", "id": 0, "method": "eth_sendTransaction",
                                                    "params": [{"from": a0, "to": a0, "value": "0x1"}]})
        tx = orjson.loads(sent)["result"]
        call = {"from": a0, "to": a0, "data": "0x"}
        params = {"eth_getTransactionCount": [a0, "latest"], "eth_getBalance": [a0, "pending"],
                  "eth_getCode": [a0], "eth_getStorageAt": [a0, "0x0"], "eth_call": [call, "latest"],
                  "eth_estimateGas": [call], "eth_getTransactionReceipt": [tx], "eth_getTransactionByHash": [tx],
                  "eth_getBlockByNumber": ["latest", True], "eth_getBlockByHash": ["0x" + "00" * 32, False],
                  "eth_feeHistory": ["0x2", "latest", [50]], "eth_sendRawTransaction": ["0x1234"]}
        loop = asyncio.get_running_loop()
        finished_first = set()
        for name in sorted(dispatch.EAGER):
            req = {"jsonrpc": "2.0", "id": 1, "method": name, "params": params.get(name, [])}
            want = await dispatch.handle_decoded(node, req)
            got = loop.create_future()

            def first_step() -> None:  # a plain callback: no current task, like data_received
                assert asyncio.current_task() is None
                def done(result, error):
                    assert error is None and asyncio.current_task() is None
                    got.set_result(result)

                if drive(loop, dispatch.handle_decoded(node, req), done):
                    finished_first.add(name)

            loop.call_soon(first_step)
            assert await got == want, name
            assert b'"error"' not in want or name == "eth_sendRawTransaction", (name, want)
        assert {"eth_chainId", "eth_blockNumber", "eth_call", "eth_getTransactionReceipt"} <= finished_first
        await node.stop()

    asyncio.run(main())


def test_a_client_that_pipelines_without_reading(node):
    """8,000 requests (≈10 MB of answers) sent before any answer is read (the front stops reading
    while its answers cannot be written); then every answer arrives, in order, and the node still
    serves others meanwhile."""
    import threading

    c = Conn(node.port)
    n = 8000
    data = b"".join(post(orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber",
                                       "params": ["0x0", False]})) for i in range(n))
    sender = threading.Thread(target=c.send, args=(data,))
    sender.start()
    time.sleep(1.0)
    assert node.rpc("eth_chainId")["result"] == "0x7a69"  # another client meanwhile
    for i in range(n):
        status, _, body = c.response()
        assert status == 200 and orjson.loads(body)["id"] == i
    sender.join(10)
    c.close()


def test_drive_runs_a_coroutine_as_a_task_would():
    from app.rpc.http1 import drive

    async def main() -> None:
        loop = asyncio.get_running_loop()
        results = []

        async def body(fut, fail):
            await asyncio.sleep(0)  # a bare yield
            value = await fut
            await asyncio.sleep(0.001)  # a timer's future
            if fail:
                raise KeyError(value)
            return value * 2

        futs = [loop.create_future() for _ in range(3)]
        for i, f in enumerate(futs):
            assert drive(loop, body(f, i == 1), lambda r, e: results.append((r, type(e).__name__ if e else None))) is False
        futs[0].set_result(21)
        futs[1].set_result(5)
        futs[2].cancel()
        for _ in range(50):
            await asyncio.sleep(0.002)
        assert sorted(results, key=str) == sorted([(42, None), (None, "KeyError"), (None, "CancelledError")], key=str)

        async def quick():
            return "now"
        got = []
        assert drive(loop, quick(), lambda r, e: got.append(r)) is True and got == ["now"]

    asyncio.run(main())
