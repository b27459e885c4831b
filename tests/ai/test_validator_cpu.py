"""A validator's digits task with less CPU (issue 12, validator side): the same bytes, the same checks.

In process, no node: the vote's encoding from cached parts is eth-abi's byte for byte (and falls back to
eth-abi for anything unusual), the bundle signer makes bundles `pqc.bundle.verify` accepts against the
registered keys only, the digits model's direct ops give the module's logits bit for bit, the wire walks
that skip scalars give the same frames, and a validator answers light tasks as they arrive while fault
behaviours and text work keep the queue.
"""
from __future__ import annotations

import asyncio
import os
import random

import numpy as np
import pytest
import torch
from eth_abi import encode
from eth_abi.exceptions import EncodingError

from ai import protocol, wire
from ai.protocol import DOMAIN_TASK, VOTE_TYPES, TaskVote
from ai.validator.client import Behaviour, Validator
from pqc import bundle
from pqc.errors import VerificationError
from pqc.keys import KeySet


def reference(v: TaskVote) -> bytes:
    return encode(list(VOTE_TYPES), [DOMAIN_TASK, v.chain_id, v.computation_id, v.model_id, v.stage, v.step,
                                     v.request_hash, v.input_hash, v.commitment, v.result_hash])


def test_the_vote_encoding_is_eth_abis_byte_for_byte():
    rng = random.Random(12)
    ids = ["", "a", "ai_00000001", "x" * 31, "y" * 32, "z" * 33, "ü" * 17, "計算" * 40, "c" * 200]
    for i in range(400):
        v = TaskVote(rng.choice([1, 31337, 2**64 + 7, 2**256 - 1]), rng.choice(ids) + str(i),
                     rng.choice(["digits_cnn", "distributed_ai_model", "price-v1", "m" * 70]),
                     rng.choice([0, 1, 2, 65535]), rng.choice([0, 5, 2**32 - 1]),
                     *(rng.randbytes(32) for _ in range(4)))
        assert v.encode() == reference(v)
        assert v.message_hash == protocol.keccak(reference(v))


@pytest.mark.parametrize("fields, error", [
    ({"stage": 65536}, EncodingError), ({"step": -1}, EncodingError), ({"chain_id": 2**256}, EncodingError),
    ({"request_hash": b"\x01" * 33}, EncodingError), ({"stage": True}, EncodingError),
    ({"computation_id": b"bytes"}, EncodingError),
])
def test_a_vote_no_honest_party_builds_is_refused_as_eth_abi_refuses_it(fields, error):
    good = dict(chain_id=1, computation_id="ai_1", model_id="digits_cnn", stage=0, step=0, request_hash=b"\x00" * 32,
                input_hash=b"\x00" * 32, commitment=b"\x00" * 32, result_hash=b"\x00" * 32)
    TaskVote(**good).encode()  # warm the cache of static parts: it must not let a bad value through
    with pytest.raises(error):
        TaskVote(**{**good, **fields}).encode()


def test_a_short_hash_takes_eth_abis_whole_path_and_its_padding():
    v = TaskVote(1, "ai_1", "digits_cnn", 0, 0, b"\x07" * 31, b"\x00" * 32, b"\x00" * 32, b"\x00" * 32)
    assert v.encode() == reference(v)


@pytest.fixture(scope="module")
def keys():
    return KeySet.generate(protocol.LEVEL, with_kem=False)


def test_the_signer_makes_the_bundles_sign_makes_and_only_the_registered_key_verifies(keys):
    signer = bundle.Signer(keys)
    message = os.urandom(32)
    raw = signer.sign(message)
    mine = bundle.SignatureBundle.decode(raw)
    theirs = bundle.sign(keys, message)
    assert (mine.level, [(e.alg_id, e.key_hash) for e in mine.entries]) == \
        (theirs.level, [(e.alg_id, e.key_hash) for e in theirs.entries])
    assert len(raw) == len(theirs.encode())
    bundle.verify(raw, keys.signing_keys(), message, protocol.LEVEL)
    with pytest.raises(VerificationError):
        bundle.verify(raw, keys.signing_keys(), os.urandom(32), protocol.LEVEL)
    other = KeySet.generate(protocol.LEVEL, with_kem=False)
    with pytest.raises(VerificationError, match="different public key"):
        bundle.verify(raw, other.signing_keys(), message, protocol.LEVEL)
    with pytest.raises(VerificationError):  # another key's signer cannot stand in for this one
        bundle.verify(bundle.Signer(other).sign(message), keys.signing_keys(), message, protocol.LEVEL)


def test_a_forging_validator_still_signs_results_with_an_unregistered_key(keys):
    v = Validator("http://127.0.0.1:1", keys, 1, [("digits_cnn", 0)], behaviour=Behaviour(forge=True))
    message = os.urandom(32)
    bundle.verify(v.sign_bytes(message), keys.signing_keys(), message)  # registrations, heartbeats: its own key
    with pytest.raises(VerificationError):
        bundle.verify(v.sign_bytes(message, result=True), keys.signing_keys(), message)


def test_the_digits_models_direct_ops_give_its_logits_bit_for_bit(models_dir, digits_dir):
    from sklearn.datasets import load_digits

    from models import load_model
    from models.digits import forward_fast, to_tensor

    runner = load_model("digits_cnn", models_dir)
    pixels = load_digits().data.astype(np.uint8)
    x = to_tensor(pixels)
    with torch.no_grad():
        module = runner.model(x)
    with torch.inference_mode():
        direct = forward_fast(runner._weights, x)
    assert torch.equal(module, direct)
    assert [runner.infer(bytes(row.tolist()))[0] for row in pixels[:300]] == module[:300].argmax(dim=1).tolist()


def test_the_wire_walks_still_move_every_long_hex_string_and_keep_every_scalar():
    blob, sig = os.urandom(40).hex(), os.urandom(3309)
    msg = {"jsonrpc": "2.0", "id": 7, "method": "m", "params": [
        "short", True, None, 1.5, 2**40, ["0x" + blob, [blob, {"k": "0x" + blob, "n": False}]], ("t", sig),
        {"deep": [[[blob]]], "x": "0x" + "ab" * 31}]}
    frame = wire.encode(msg)
    assert frame.count(bytes.fromhex(blob)) == 4 and sig in frame and b"\xab" * 31 in frame  # 64 chars: moved
    header = frame[8:8 + int.from_bytes(frame[4:8], "big")]
    assert b'"short",true,null,1.5,1099511627776' in header and blob.encode() not in header
    back = wire.decode(frame)
    assert back == wire.jsonable(msg)  # every string restored exactly (bytes as 0x-hex, tuples as lists)
    assert [type(x) for x in back["params"][:5]] == [str, bool, type(None), float, int]


DIGITS_TASK = {"task_id": "ai_1_task_sYn", "computation_id": "ai_1", "model_id": "digits_cnn", "stage": 0,
               "step": 0, "request_hash": "0x" + "00" * 32, "input": "00" * 64}


@pytest.mark.parametrize("behaviour, now", [
    ("honest", True), ("lie", True), ("forge", True),  # a liar or forger is caught by the node, not by a queue
    ("delay=0.1", False), ("replay", False), ("crash-after=3", False),
])
def test_a_light_task_is_answered_as_it_arrives_unless_a_fault_behaviour_needs_the_queue(keys, behaviour, now):
    async def main():
        v = Validator("http://127.0.0.1:1", keys, 1, [("digits_cnn", 0)], behaviour=Behaviour.parse(behaviour))
        task = dict(DIGITS_TASK, task_id=f"ai_1_task_{behaviour}")
        got = v._offer(task)
        assert (got is task) is now and v._queue.qsize() == (0 if now else 1)
        assert v._offer(dict(task)) is None and v._queue.qsize() == (0 if now else 1)  # a task is taken once
        verify = {**task, "task_id": "t2", "kind": "verify", "proposal": "00", "epoch": 0, "chunk": 0}
        assert v._offer(verify) is None and v._queue.qsize() == (1 if now else 2)  # text work: the worker

    asyncio.run(main())


def test_a_task_answered_on_arrival_is_computed_signed_and_sent_once(keys, models_dir, digits_dir):
    """The reader's own answer: the model's output and a signature over the vote the node rebuilds."""
    from ai.scheduler.commitments import commitment
    from models import load_model

    sent = []

    class Socket:
        closed = False

        async def send_bytes(self, data):
            sent.append(wire.loads(data))

    async def main():
        v = Validator("http://127.0.0.1:1", keys, 1, [("digits_cnn", 0)], cache_dir=models_dir)
        v.load_models()
        v.chain_id, v._ws, v._loop = 31337, Socket(), asyncio.get_running_loop()
        image = bytes(range(16)) * 4
        task = dict(DIGITS_TASK, input=image.hex())
        await v._run_task(v._offer(task))
        assert v.tasks_done == 1 and len(sent) == 1
        msg = sent[0]
        assert msg["method"] == "synergy_submitAIPartialResult" and "id" not in msg  # a notification
        tid, syn, output, signature = msg["params"]
        output = bytes.fromhex(output[2:])
        assert (tid, syn, output) == (task["task_id"], v.syn, load_model("digits_cnn", models_dir).infer(image))
        vote = TaskVote(31337, "ai_1", "digits_cnn", 0, 0, b"\x00" * 32, protocol.keccak(image),
                        commitment("digits_cnn", 0, output), protocol.keccak(output))
        bundle.verify(bytes.fromhex(signature[2:]), keys.signing_keys(), vote.message_hash, protocol.LEVEL)

    asyncio.run(main())
