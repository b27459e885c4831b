"""Binary WebSocket frames for the validator wire: JSON-RPC with raw bytes where JSON has hex.

A validator's task feed and its replies carry hidden states (float32 [1, n, 576]: 2.3 kB a position)
and ML-DSA signatures (3.3 kB); in JSON they travel as hex, twice their size, and are hex-coded and
parsed at both ends. A binary frame carries the same JSON-RPC message with every long lowercase hex
string moved out of the JSON into raw bytes after it:

    MAGIC (4 bytes) | header length (u32, big-endian) | header (JSON) | blob bytes ...

A moved string is replaced in the header by ``{"$hex": [offset, length, prefixed]}`` (``prefixed``:
it began with ``0x``); decoding restores the exact string, so the methods and their parameters are
unchanged (HTTP and text frames keep working, for any client). The node answers a connection in binary
frames only after its client sent one (a validator sends its subscription request as one).
The magic starts with a zero byte, which no JSON text does, so a frame is never mistaken for JSON.
"""
from __future__ import annotations

import struct
from typing import Any, Optional

import orjson

MAGIC = b"\x00AVB"
MIN_HEX = 64  # shorter hex strings (hashes, addresses) stay in the JSON: moving them saves nothing
_LEN = struct.Struct(">I")


class FrameError(ValueError):
    """A binary frame that does not decode (the request is answered with a parse error)."""


def is_frame(data: bytes) -> bool:
    return data[:4] == MAGIC


def _hex_bytes(text: str) -> Optional[bytes]:
    """The bytes of a lowercase hex string (0x-prefixed or not) that decoding gives back exactly, else None.
    `bytes.fromhex` and a comparison, not a regular expression: the expression took 3.6 ms over a chunk's
    hidden states (194 kB of hex), this takes 0.15 ms (fromhex alone would also take upper case and spaces)."""
    body = text[2:] if text.startswith("0x") else text
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        return None
    return raw if raw.hex() == body else None


def encode(message: Any, always: bool = False) -> Optional[bytes]:
    """The message as one binary frame, or None when it has nothing worth moving (send it as JSON: through
    `jsonable` if it holds bytes); ``always``: a frame even then (a client's first one tells the node it reads
    binary frames). A ``bytes`` value travels as its raw bytes and decodes to its 0x-prefixed hex string."""
    blobs: list[bytes] = []
    size = [0]

    def walk(x):
        if isinstance(x, bytes):  # raw bytes a sender already holds (a signature): moved without a hex round trip
            if len(x) * 2 < MIN_HEX:
                return "0x" + x.hex()
            blobs.append(x)
            ref = {"$hex": [size[0], len(x), True]}
            size[0] += len(x)
            return ref
        if isinstance(x, str):
            raw = _hex_bytes(x) if len(x) >= MIN_HEX else None
            if raw is not None:
                prefixed = x.startswith("0x")
                blobs.append(raw)
                ref = {"$hex": [size[0], len(raw), prefixed]}
                size[0] += len(raw)
                return ref
            return x
        if isinstance(x, dict):
            if "$hex" in x:  # would read back as a reference: this message goes as JSON
                raise FrameError("a $hex key")
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x

    try:
        header = orjson.dumps(walk(message))
    except FrameError:
        return None
    if not blobs and not always:
        return None
    return b"".join([MAGIC, _LEN.pack(len(header)), header, *blobs])


def jsonable(message: Any) -> Any:
    """The message as plain JSON values: raw bytes in it as 0x-hex strings (what `decode` restores them to),
    for the HTTP and JSON-text paths."""
    if isinstance(message, bytes):
        return "0x" + message.hex()
    if isinstance(message, dict):
        return {k: jsonable(v) for k, v in message.items()}
    if isinstance(message, (list, tuple)):
        return [jsonable(v) for v in message]
    return message


def decode(frame: bytes) -> Any:
    """A binary frame's message, every moved string restored."""
    if not is_frame(frame) or len(frame) < 8:
        raise FrameError("not a binary frame")
    (n,) = _LEN.unpack_from(frame, 4)
    if 8 + n > len(frame):
        raise FrameError(f"header of {n} bytes overruns a frame of {len(frame)}")
    try:
        header = orjson.loads(frame[8:8 + n])
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"header is not JSON: {exc}") from None
    body = memoryview(frame)[8 + n:]

    def walk(x):
        if isinstance(x, dict):
            ref = x.get("$hex")
            if ref is not None and len(x) == 1:
                if (not isinstance(ref, list) or len(ref) != 3 or not all(type(v) is int for v in ref[:2])
                        or type(ref[2]) is not bool or ref[0] < 0 or ref[1] < 0 or ref[0] + ref[1] > len(body)):
                    raise FrameError(f"bad blob reference {str(ref)[:60]}")
                text = body[ref[0]:ref[0] + ref[1]].hex()
                return "0x" + text if ref[2] else text
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(header)


def loads(data) -> Any:
    """A message from a frame of either kind (binary frame, or JSON text/bytes)."""
    if isinstance(data, (bytes, bytearray)) and is_frame(data):
        return decode(bytes(data))
    return orjson.loads(data)


# bytes and frames through the node's WebSocket connections since start (app/rpc/server.py counts them;
# `synergy_getAIWireStats` reads them): the bench's bytes-on-the-wire figure
STATS = {"bytes_in": 0, "bytes_out": 0, "frames_in": 0, "frames_out": 0, "binary_frames_in": 0,
         "binary_frames_out": 0}
