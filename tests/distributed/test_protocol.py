"""The validator protocol, driven by hand: every bad submission gets a clear refusal."""
import threading
import time

import pytest
from sklearn.datasets import load_digits
from web3 import Web3

from ai import protocol
from models import get_manifest, load_model
from pqc import bundle
from pqc.keys import KeySet
from tests.distributed.ai_contract import compiled
from tests.nodeproc import start_node
from vm.addresses import to_syn

IMAGE = bytes(int(x) for x in load_digits().data[7])
IMAGE2 = bytes(int(x) for x in load_digits().data[8])  # not answered before (answers are cached)
IMAGE3 = bytes(int(x) for x in load_digits().data[9])
CONFIG = "[aivm]\nmax_gas_per_execution = 100000\n[node]\nai_task_timeout = 2\nai_infer_timeout = 10\nai_join_delay = 1\n"


class HandValidator:
    def __init__(self, node, chain_id):
        self.node, self.chain_id = node, chain_id
        self.keys = KeySet.generate(protocol.LEVEL, with_kem=False)
        self.pub = self.keys.signing_keys()
        self.address = protocol.validator_address(self.pub)
        self.syn = to_syn(self.address)

    def sign(self, message, keys=None):
        return "0x" + bundle.sign(keys or self.keys, message).encode().hex()

    def call(self, method, *params):
        return self.node.rpc(method, *params, timeout=60)

    def register(self, stake=10**18, proof=None):
        msg = protocol.registration_message(self.chain_id, self.address, self.pub.key_hash, stake)
        return self.call("synergy_registerValidator", "0x" + self.pub.encode().hex(), stake, proof or self.sign(msg))

    def attest(self, shards):
        att = {"software_version": "test", "shards": shards, "cores": 2, "memory_mb": 4096, "gpu": None,
               "timestamp": int(time.time())}
        return self.call("synergy_attestValidator", self.syn, att,
                         self.sign(protocol.attestation_message(self.chain_id, self.address, att)))

    def heartbeat(self, ts=None, keys=None):
        ts = ts or int(time.time())
        return self.call("synergy_validatorHeartbeat", self.syn, ts,
                         self.sign(protocol.heartbeat_message(self.chain_id, self.address, ts), keys))


def error(reply):
    assert "error" in reply, reply
    return reply["error"]["message"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = tmp_path_factory.mktemp("protocol")
    (work / "cfg.toml").write_text(CONFIG)
    node = start_node(work, "--config", str(work / "cfg.toml"))
    deadline = time.monotonic() + 600
    while "error" in node.rpc("synergy_listAIModels") and time.monotonic() < deadline:
        time.sleep(0.5)  # models load in the background
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    art = compiled()
    C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(C.constructor().transact({"from": w3.eth.accounts[0]}))
    yield node, w3, w3.eth.contract(address=r.contractAddress, abi=art["abi"])
    node.stop()


def test_contract_call_without_validators_reverts_with_the_guides_words(env):
    node, w3, ai = env
    from web3.exceptions import ContractLogicError

    with pytest.raises(ContractLogicError, match="Distributed AI computation failed: Validator AI task assignment failed"):
        ai.functions.infer("digits_cnn", IMAGE).call()
    with pytest.raises(ContractLogicError, match="Distributed AI computation failed: unknown model"):
        ai.functions.infer("no_such_model", b"x").call()
    with pytest.raises(ContractLogicError, match="above this node's max_gas_per_execution of 100000"):
        ai.functions.infer("distributed_ai_model", b"hi").call()


def test_registration_attestation_heartbeat_refusals(env):
    node, w3, _ = env
    v = HandValidator(node, 31337)
    other = KeySet.generate(protocol.LEVEL, with_kem=False)
    forged = "0x" + bundle.sign(other, b"\x00" * 32).encode().hex()
    assert "registration proof does not verify" in error(v.register(proof=forged))
    assert "cannot stake" in error(v.register())
    assert "below the minimum" in error(v.register(stake=1))
    node.rpc("hardhat_setBalance", "0x" + v.address.hex(), hex(5 * 10**18))
    ok = v.register()["result"]
    assert ok["validator_address"] == v.syn and ok["address"] == "0x" + v.address.hex()
    assert w3.eth.get_balance(Web3.to_checksum_address(v.address)) == 4 * 10**18  # the stake is locked
    # (this validator serves a text stage, so the next test's digits quorum is its own)
    good = get_manifest("distributed_ai_model").stage_shard(1).sha256
    tampered = "0" * 64 if good != "0" * 64 else "1" * 64
    msg = error(v.attest([{"model_id": "distributed_ai_model", "stage": 1, "sha256": tampered}]))
    assert "does not match the registered manifest" in msg
    att = node.rpc("synergy_getValidatorAttestation", v.syn)["result"]
    assert att["valid"] is False and "tampered" in att["reason"]
    shard = {"model_id": "distributed_ai_model", "stage": 1, "sha256": good}
    assert v.attest([shard])["result"]["holds"] == [["distributed_ai_model", 1]]
    assert "no stage 7" in error(v.attest([{**shard, "stage": 7}]))
    assert "does not verify" in error(v.heartbeat(keys=other))
    ts = int(time.time())
    assert v.heartbeat(ts)["result"]["success"]
    assert "replayed" in error(v.heartbeat(ts))
    assert "not registered" in error(node.rpc("synergy_getValidatorAIStats", to_syn(b"\x01" * 20)))


def test_submissions_unsigned_forged_unassigned_replayed_late(env):
    node, w3, ai = env
    v = HandValidator(node, 31337)
    stranger = HandValidator(node, 31337)
    for x in (v, stranger):
        node.rpc("hardhat_setBalance", "0x" + x.address.hex(), hex(5 * 10**18))
        x.register()
    v.attest([{"model_id": "digits_cnn", "stage": 0, "sha256": get_manifest("digits_cnn").stage_shard(0).sha256}])
    for _ in range(2):
        v.heartbeat()
        time.sleep(1.05)
    assert "unknown model" in error(node.rpc("synergy_initiateDistributedAI", "nope", "00"))
    assert "64 bytes" in error(node.rpc("synergy_initiateDistributedAI", "digits_cnn", "00" * 65))

    cid = node.rpc("synergy_initiateDistributedAI", "digits_cnn", IMAGE.hex())["result"]["computation_id"]
    tasks = node.rpc("synergy_getValidatorAITasks", v.syn)["result"]
    assert [t["computation_id"] for t in tasks] == [cid]
    task = tasks[0]
    assert task["task_id"] == f"{cid}_task_{v.syn}" and task["status"] == "Assigned" and task["model_id"] == "digits_cnn"
    runner = load_model("digits_cnn")
    output = runner.infer(bytes.fromhex(task["input"]))
    vote = protocol.TaskVote(31337, cid, "digits_cnn", 0, 0, bytes.fromhex(task["request_hash"][2:]),
                             Web3.keccak(IMAGE), runner.commitment(output), Web3.keccak(output))
    sig = v.sign(vote.message_hash)
    submit = lambda *p: node.rpc("synergy_submitAIPartialResult", *p)  # noqa: E731
    assert "signature) is required" in error(submit(task["task_id"], v.syn, output.hex()))
    assert "does not verify" in error(submit(task["task_id"], v.syn, output.hex(), stranger.sign(vote.message_hash)))
    wrong = bytes([(output[0] + 1) % 10])
    assert "does not verify" in error(submit(task["task_id"], v.syn, wrong.hex(), sig))  # signed another answer
    assert "not assigned" in error(submit(task["task_id"], stranger.syn, output.hex(), sig))
    assert "malformed" in error(submit(task["task_id"], v.syn, "0a0b", sig))
    assert "unknown task" in error(submit("ai_comp_0_task_x", v.syn, output.hex(), sig))
    # the status call's wait (param 2, seconds): bounded, refused when malformed, woken by the end
    for bad in (-1, 61, "1", True, [1]):
        reply = node.rpc("synergy_getDistributedAIStatus", cid, bad)
        assert reply["error"]["code"] == -32602 and "param 2 (wait)" in reply["error"]["message"], reply
    assert "unknown computation" in error(node.rpc("synergy_getDistributedAIStatus", "ai_comp_0_9", 1))
    t = time.monotonic()
    assert node.rpc("synergy_getDistributedAIStatus", cid, 0.3)["result"]["status"] == "Running"
    assert time.monotonic() - t >= 0.25
    late = threading.Timer(0.5, lambda: submit(task["task_id"], v.syn, output.hex(), sig))
    late.start()
    t = time.monotonic()
    status = node.rpc("synergy_getDistributedAIStatus", cid, 30)["result"]  # one call, answered at the end
    late.join()
    assert status["status"] == "Completed" and 0.4 <= time.monotonic() - t < 20
    assert "replayed" in error(submit(task["task_id"], v.syn, output.hex(), sig))

    status = node.rpc("synergy_getDistributedAIStatus", cid)["result"]
    assert status["status"] == "Completed"
    result = node.rpc("synergy_getDistributedAIResult", cid)["result"]
    assert result["success"] and bytes.fromhex(result["result"]) == output
    verdict = node.rpc("synergy_verifyAIResult", cid)["result"]
    assert verdict["valid"] and verdict["validators"] == [v.syn]

    # the same certificate checks out on-chain, through the consensus precompile
    cert = bytes.fromhex(verdict["certificate"][2:])
    assert ai.functions.check(cert).call()[0] is True
    broken = bytearray(cert)
    broken[-40] ^= 1
    assert ai.functions.check(bytes(broken)).call()[0] is False

    # the precompile answers an identical request from the record, without recomputing
    before = node.rpc("synergy_getAIDistributedStats")["result"]["total_validator_participation"]
    assert ai.functions.infer("digits_cnn", IMAGE).call() == output
    assert node.rpc("synergy_getAIDistributedStats")["result"]["total_validator_participation"] == before

    # late: the deadline (2 s) passes before the answer
    v.heartbeat()
    cid2 = node.rpc("synergy_initiateDistributedAI", "digits_cnn", bytes(64).hex())["result"]["computation_id"]
    task2 = node.rpc("synergy_getValidatorAITasks", v.syn)["result"][0]
    time.sleep(3)
    assert "closed" in error(submit(task2["task_id"], v.syn, output.hex(), sig))
    status = node.rpc("synergy_getDistributedAIStatus", cid2)["result"]
    assert status["status"] == "Failed" and "no quorum possible" in status["reason"]
    assert node.rpc("synergy_getValidatorAIStats", v.syn)["result"]["ai_tasks_failed"] == 1


def test_binary_frames_on_the_task_websocket_carry_tasks_and_signed_results(env):
    """ai/wire.py: a validator that subscribes with a binary frame gets its tasks as binary frames and may
    submit on the same socket in one; a malformed frame is a parse error; a JSON client is unaffected."""
    import asyncio

    import aiohttp
    import orjson

    from ai import wire

    node, _, _ = env
    w = HandValidator(node, 31337)
    node.rpc("hardhat_setBalance", "0x" + w.address.hex(), hex(50 * 10**18))
    assert w.register(stake=15 * 10**18)["result"]["success"]  # outweighs the earlier test's validator
    assert w.attest([{"model_id": "digits_cnn", "stage": 0,
                      "sha256": get_manifest("digits_cnn").stage_shard(0).sha256}])["result"]["success"]
    for _ in range(2):
        assert "result" in w.heartbeat()
        time.sleep(1.05)
    runner = load_model("digits_cnn")
    ws_url = node.url.replace("http://", "ws://")

    async def run():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url) as text_ws, session.ws_connect(ws_url) as ws:
                await ws.send_bytes(b"\x00AVB\x00\x00\x00\x40{broken")
                reply = orjson.loads((await ws.receive(timeout=10)).data)
                assert reply["error"]["code"] == -32700 and "header" in reply["error"]["message"], reply
                sub = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["synergy_aiTasks", w.syn]}
                await ws.send_bytes(wire.encode(sub, always=True))
                assert "result" in orjson.loads((await ws.receive(timeout=10)).data)
                await text_ws.send_str(orjson.dumps({**sub, "id": 2}).decode())  # a JSON client, same feed
                assert "result" in orjson.loads((await text_ws.receive(timeout=10)).data)
                before = node.rpc("synergy_getAIWireStats")["result"]
                cid = node.rpc("synergy_initiateDistributedAI", "digits_cnn", IMAGE2.hex())["result"]["computation_id"]
                msg = await ws.receive(timeout=20)
                assert msg.type == aiohttp.WSMsgType.BINARY and wire.is_frame(msg.data)
                task = wire.decode(msg.data)["params"]["result"]
                text = await text_ws.receive(timeout=20)
                assert text.type == aiohttp.WSMsgType.TEXT
                assert orjson.loads(text.data)["params"]["result"] == task  # the same task, as JSON
                assert task["computation_id"] == cid and len(task["input"]) == 128
                output = runner.infer(bytes.fromhex(task["input"]))
                vote = protocol.TaskVote(31337, cid, "digits_cnn", 0, 0, bytes.fromhex(task["request_hash"][2:]),
                                         Web3.keccak(IMAGE2), runner.commitment(output), Web3.keccak(output))
                submit = {"jsonrpc": "2.0", "id": 3, "method": "synergy_submitAIPartialResult",
                          "params": [task["task_id"], w.syn, output.hex(), w.sign(vote.message_hash)]}
                frame = wire.encode(submit)
                assert len(frame) < 0.55 * len(orjson.dumps(submit))  # the signature travels as raw bytes
                await ws.send_bytes(frame)
                while True:  # a reply (JSON), not another notification
                    reply = wire.loads((await ws.receive(timeout=20)).data)
                    if reply.get("id") == 3:
                        break
                assert reply["result"]["success"] is True, reply
                status = node.rpc("synergy_getDistributedAIStatus", cid, 30)["result"]
                assert status["status"] == "Completed"
                stats = node.rpc("synergy_getAIWireStats")["result"]
                assert stats["binary_frames_in"] > before["binary_frames_in"]
                assert stats["binary_frames_out"] > before["binary_frames_out"]
                assert stats["bytes_in"] - before["bytes_in"] >= len(frame)
                # the same submission again, by HTTP: refused as a replay, with the reason
                assert "replayed" in error(node.rpc("synergy_submitAIPartialResult", *submit["params"]))

                # the validators' fast path: a result sent as a notification, the signature as raw bytes in the
                # frame; taken without a reply frame, and a refusal still comes back (an error frame, id null)
                cid3 = node.rpc("synergy_initiateDistributedAI", "digits_cnn", IMAGE3.hex())["result"]["computation_id"]
                while (task3 := wire.loads((await ws.receive(timeout=20)).data).get("params", {})
                       .get("result", {})).get("computation_id") != cid3:
                    pass
                out3 = runner.infer(bytes.fromhex(task3["input"]))
                vote3 = protocol.TaskVote(31337, cid3, "digits_cnn", 0, 0, bytes.fromhex(task3["request_hash"][2:]),
                                          Web3.keccak(IMAGE3), runner.commitment(out3), Web3.keccak(out3))
                note = {"jsonrpc": "2.0", "method": "synergy_submitAIPartialResult",
                        "params": [task3["task_id"], w.syn, out3, bundle.sign(w.keys, vote3.message_hash).encode()]}
                await ws.send_bytes(wire.encode(note))
                assert node.rpc("synergy_getDistributedAIStatus", cid3, 30)["result"]["status"] == "Completed"
                assert bytes.fromhex(node.rpc("synergy_getDistributedAIResult", cid3)["result"]["result"]) == out3
                await ws.send_bytes(wire.encode(note))  # again: a replay
                while "error" not in (frame := wire.loads((await ws.receive(timeout=20)).data)):
                    assert frame.get("method") == "eth_subscription", frame  # no reply to the accepted one
                assert frame["id"] is None and "replayed" in frame["error"]["message"], frame
                assert task3["task_id"] in frame["error"]["message"]

    stop = threading.Event()

    def beat():  # alive for the whole test: the set drops a validator whose heartbeats stop
        while not stop.wait(1.0):
            w.heartbeat()

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        asyncio.run(run())
    finally:
        stop.set()
        beater.join(10)
