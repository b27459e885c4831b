"""Binary WebSocket frames (ai/wire.py): the same JSON-RPC message, hex moved out as raw bytes."""
import orjson
import pytest

from ai import wire


def test_a_frame_restores_every_string_exactly_and_is_about_half_the_json():
    sig = "0x" + bytes(range(256)).hex() * 13  # an ML-DSA-sized signature, 0x-prefixed
    state = (bytes(range(200)) * 23).hex()  # a hidden-state tensor, no prefix
    msg = {"jsonrpc": "2.0", "id": 7, "method": "synergy_relayAIState",
           "params": ["tid", "sYnabc", 1, 9, state, sig, {"nested": [state, "0xab", "short"]}]}
    frame = wire.encode(msg)
    assert wire.is_frame(frame)
    assert wire.decode(frame) == msg
    assert wire.loads(frame) == msg and wire.loads(orjson.dumps(msg)) == msg
    assert len(frame) < 0.55 * len(orjson.dumps(msg))


def test_nothing_worth_moving_goes_as_json_unless_asked():
    msg = {"jsonrpc": "2.0", "id": 0, "method": "eth_subscribe", "params": ["synergy_aiTasks", "sYn1"]}
    assert wire.encode(msg) is None
    assert wire.decode(wire.encode(msg, always=True)) == msg
    # uppercase or odd-length hex is not moved (it would not read back the same)
    # (nor hex that bytes.fromhex would take: spaces, one upper-case pair, a second prefix)
    for s in ("AB" * 64, "a" * 65, "0x" + "A" * 64, "ab cd " * 20, "0x" + "ab" * 40 + "aB", "0x0x" + "ab" * 40):
        assert wire.encode({"x": s}) is None


def test_a_message_that_looks_like_a_reference_goes_as_json():
    assert wire.encode({"$hex": [0, 1, False], "y": "ab" * 64}) is None


@pytest.mark.parametrize("frame", [
    b"\x00AVB",  # no header length
    b"\x00AVB\x00\x00\x00\x10{}",  # header overruns
    b"\x00AVB\x00\x00\x00\x02{x",  # header not JSON
    b"\x00AVB\x00\x00\x00\x1a" + b'{"a":{"$hex":[0,5,false]}}' + b"abc",  # blob overruns
    b"\x00AVB\x00\x00\x00\x1a" + b'{"a":{"$hex":[0,1,"no!"]}}' + b"abc",  # bad flag
    b"\x00AVB\x00\x00\x00\x1a" + b'{"a":{"$hex":[-1,1,false]}}' + b"abc",
])
def test_a_malformed_frame_is_a_clear_error(frame):
    with pytest.raises(wire.FrameError):
        wire.decode(frame)
