"""The WebSocket's request path over both frame kinds: a binary frame (ai/wire.py) is dispatched as the message
it decodes to (no JSON round trip since issue 12, hdn), and answers exactly what the same request as JSON text
gets; batches, notifications and bad frames keep their answers."""
import asyncio
import json

import orjson

from ai import wire


def _exchange(node, frames: list, replies: int) -> list:
    import websockets

    async def go():
        async with websockets.connect(node.ws_url) as ws:
            for f in frames:
                await ws.send(f)
            out = []
            for _ in range(replies):
                msg = await asyncio.wait_for(ws.recv(), 10)
                out.append(wire.loads(msg if isinstance(msg, bytes) else msg.encode()))
            return out

    return asyncio.run(go())


def test_binary_and_text_frames_get_the_same_answers(node):
    long_hex = "0x" + "ab" * 40  # long enough to travel as raw bytes in a binary frame
    call = {"jsonrpc": "2.0", "id": 7, "method": "eth_call", "params": [{"to": "0x" + "00" * 20, "data": long_hex}, "latest"]}
    chain = {"jsonrpc": "2.0", "id": 8, "method": "eth_chainId", "params": []}
    frame = wire.encode(call)
    assert wire.is_frame(frame)
    text = _exchange(node, [json.dumps(call), json.dumps(chain)], 2)
    binary = _exchange(node, [frame, wire.encode(chain, always=True)], 2)
    assert binary == text and text[1]["result"] == "0x7a69"


def test_batches_notifications_and_bad_frames(node):
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
             {"jsonrpc": "2.0", "method": "eth_chainId", "params": []},  # a notification: no answer in the batch
             {"jsonrpc": "2.0", "id": 2, "method": "no_such_method", "params": []}]
    note = {"jsonrpc": "2.0", "method": "eth_chainId", "params": []}
    last = {"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []}
    replies = _exchange(node, [wire.encode(batch, always=True), wire.encode(note, always=True), b"\x00AVB\xff\xff\xff\xff",
                               "{not json", orjson.dumps(batch).decode(), json.dumps(last)], 5)
    by_frame = replies
    assert [r["id"] for r in by_frame[0]] == [1, 2] and by_frame[0][1]["error"]["code"] == -32601
    assert by_frame[1]["error"]["code"] == -32700  # the bad binary frame (the notification got no answer)
    assert by_frame[2]["error"]["code"] == -32700  # the bad JSON text
    assert [r["id"] for r in by_frame[3]] == [1, 2]
    assert by_frame[4] == {"jsonrpc": "2.0", "id": 3, "result": "0x7a69"}
